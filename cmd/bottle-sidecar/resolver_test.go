package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/syncbuf"
)

// countingDNS answers A queries for *.test with 127.0.0.1 and counts the
// queries for each name.
type countingDNS struct {
	addr string
	a    atomic.Int64 // queries for a.test
}

func startCountingDNS(t *testing.T) *countingDNS {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &countingDNS{addr: pc.LocalAddr().String()}
	c.serve(t, pc)
	return c
}

func (c *countingDNS) serve(t *testing.T, pc net.PacketConn) {
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		q := r.Question[0]
		if q.Name == "a.test." && q.Qtype == dns.TypeA {
			c.a.Add(1)
		}
		m := new(dns.Msg)
		m.SetReply(r)
		if q.Qtype == dns.TypeA && strings.HasSuffix(q.Name, ".test.") {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
}

// silentDNS is a resolver that has died: it reads queries and never answers.
func silentDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// startSidecarArgs is startSidecar with the DNS flags given by the test.
func startSidecarArgs(t *testing.T, policy string, dnsArgs ...string) *sidecar {
	t.Helper()
	sc := &sidecar{t: t, dir: t.TempDir(), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan int, 1)}
	var err error
	if sc.root, err = ca.New("origin-root", 0); err != nil {
		t.Fatal(err)
	}
	leaves := ca.NewLeafCache(sc.root, 0)
	sc.origin = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "origin %s %s", r.Host, r.URL.Path)
	}))
	sc.origin.TLS = &tls.Config{GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) { return leaves.Get(chi.ServerName) }}
	sc.origin.StartTLS()
	t.Cleanup(sc.origin.Close)
	if sc.bottleCA, err = ca.New("sc", 0); err != nil {
		t.Fatal(err)
	}
	if err := sc.bottleCA.Save(sc.dir); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sc.dir, "upstream-ca.pem"), sc.root.CertPEM(), 0o644)
	sc.writePolicy(policy)
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel = cancel
	args := append([]string{"run", "--config-dir", sc.dir, "--proxy-listen", "127.0.0.1:0", "--mcp-listen", "", "--bottle", "sc"}, dnsArgs...)
	go func() { sc.done <- run(ctx, args, sc.stdout, sc.stderr) }()
	t.Cleanup(sc.stop)
	wantDNS := true
	for i, a := range dnsArgs {
		if a == "--dns-listen" && i+1 < len(dnsArgs) && dnsArgs[i+1] == "" {
			wantDNS = false
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out := sc.stderr.String()
		if m := regexp.MustCompile(`msg="proxy listening" addr=(\S+)`).FindStringSubmatch(out); m != nil {
			sc.proxy = m[1]
		}
		if m := regexp.MustCompile(`msg="dns listening" addr=(\S+)`).FindStringSubmatch(out); m != nil {
			sc.dns = m[1]
		}
		if sc.proxy != "" && (sc.dns != "" || !wantDNS) {
			return sc
		}
	}
	t.Fatalf("sidecar did not start:\n%s", sc.stderr.String())
	return nil
}

// TestRunOneResolver: the proxy and the forwarder use every --upstream-dns
// (the first one dead here) and one cache between them.
func TestRunOneResolver(t *testing.T) {
	up := startCountingDNS(t)
	sc := startSidecarArgs(t, sidecarPolicy, "--dns-listen", "127.0.0.1:0", "--upstream-dns", silentDNS(t)+","+up.addr)
	c := sc.client()
	if st, _ := sc.status(c, "a.test"); st != 200 {
		t.Fatalf("allowed host with the first upstream dead: %d", st)
	}
	m := new(dns.Msg)
	m.SetQuestion("a.test.", dns.TypeA)
	r, _, err := (&dns.Client{Net: "udp", Timeout: 5 * time.Second}).Exchange(m, sc.dns)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("forwarder: %v %v", r, err)
	}
	if n := up.a.Load(); n != 1 {
		t.Errorf("the upstream was asked %d times for a.test A; want once (the proxy's lookup, then the cache)", n)
	}
}

// TestRunProxyWithoutDNS: with --dns-listen empty, the proxy still resolves
// through the servers of --resolv-conf, and without any it does not start.
func TestRunProxyWithoutDNS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out, errb syncbuf.Buffer
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte("version: 1\n"), 0o644)
	c, _ := ca.New("x", 0)
	c.Save(dir)
	code := run(ctx, []string{"run", "--config-dir", dir, "--proxy-listen", "127.0.0.1:0", "--dns-listen", "", "--mcp-listen", "",
		"--resolv-conf", filepath.Join(t.TempDir(), "missing")}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "no upstream resolvers") {
		t.Errorf("no resolv.conf and no --upstream-dns: exit %d\n%s", code, errb.String())
	}

	// resolv.conf names servers without a port (53 is implied), so the
	// fake must listen on port 53 of a loopback address of its own.
	pc, err := net.ListenPacket("udp", "127.0.0.77:53")
	if err != nil {
		t.Skipf("cannot listen on port 53 (%v): the rest needs it", err)
	}
	up := &countingDNS{addr: pc.LocalAddr().String()}
	up.serve(t, pc)
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(rc, []byte("nameserver 127.0.0.77\n"), 0o644)
	sc := startSidecarArgs(t, sidecarPolicy, "--dns-listen", "", "--resolv-conf", rc)
	if st, _ := sc.status(sc.client(), "a.test"); st != 200 {
		t.Errorf("allowed host without the forwarder: %d", st)
	}
	if up.a.Load() == 0 {
		t.Error("the resolv.conf server was not asked")
	}
}
