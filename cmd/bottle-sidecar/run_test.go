package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/dnsfwd"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/syncbuf"
)

// fakeDNS answers every A query for *.test with 127.0.0.1 and counts queries.
func fakeDNS(t *testing.T) (string, *int64) {
	t.Helper()
	var n int64
	var mu sync.Mutex
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		n++
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Qtype == dns.TypeA && strings.HasSuffix(q.Name, ".test.") {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String(), &n
}

type sidecar struct {
	t        *testing.T
	dir      string
	state    string // the sidecar's writable state (status file, audit file)
	proxy    string
	dns      string
	stdout   *syncbuf.Buffer
	stderr   *syncbuf.Buffer
	origin   *httptest.Server
	saw      syncbuf.Buffer     // the X-Api-Key of each request the origin served
	sawReq   chan *http.Request // each request the origin served, when set (a copy of its headers)
	root     *ca.CA
	bottleCA *ca.CA
	done     chan int
	cancel   context.CancelFunc
}

// startSidecar runs `bottle-sidecar run` in-process against a loopback
// HTTPS origin; policy may use {{PORT}} for the origin's port.
func startSidecar(t *testing.T, policy string, extra ...string) *sidecar {
	t.Helper()
	return startSidecarWith(t, policy, nil, extra...)
}

// startSidecarWith is startSidecar with prepare run on the config dir
// before the sidecar starts.
func startSidecarWith(t *testing.T, policy string, prepare func(*sidecar), extra ...string) *sidecar {
	t.Helper()
	sc := &sidecar{t: t, dir: t.TempDir(), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}, done: make(chan int, 1), sawReq: make(chan *http.Request, 16)}
	sc.state = t.TempDir()
	var err error
	if sc.root, err = ca.New("origin-root", 0); err != nil {
		t.Fatal(err)
	}
	leaves := ca.NewLeafCache(sc.root, 0)
	sc.origin = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(&sc.saw, "key=%s\n", r.Header.Get("X-Api-Key"))
		if sc.sawReq != nil {
			select {
			case sc.sawReq <- &http.Request{Method: r.Method, Host: r.Host, URL: r.URL, Header: r.Header.Clone()}:
			default:
			}
		}
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
	if prepare != nil {
		prepare(sc)
	}
	upstream, _ := fakeDNS(t)
	ctx, cancel := context.WithCancel(context.Background())
	sc.cancel = cancel
	go func() {
		sc.done <- run(ctx, append([]string{"run", "--config-dir", sc.dir, "--proxy-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", "--mcp-listen", "127.0.0.1:0",
			"--upstream-dns", upstream, "--bottle", "sc", "--status-file", filepath.Join(sc.state, "reload.json")}, extra...), sc.stdout, sc.stderr)
	}()
	t.Cleanup(sc.stop)
	deadline := time.Now().Add(5 * time.Second)
	for (sc.proxy == "" || sc.dns == "") && time.Now().Before(deadline) {
		out := sc.stderr.String()
		if m := regexp.MustCompile(`msg="proxy listening" addr=(\S+)`).FindStringSubmatch(out); m != nil {
			sc.proxy = m[1]
		}
		if m := regexp.MustCompile(`msg="dns listening" addr=(\S+)`).FindStringSubmatch(out); m != nil {
			sc.dns = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if sc.proxy == "" || sc.dns == "" {
		t.Fatalf("sidecar did not start:\n%s", sc.stderr.String())
	}
	return sc
}

func (sc *sidecar) port() string {
	_, p, _ := net.SplitHostPort(sc.origin.Listener.Addr().String())
	return p
}

// writePolicy writes p as the allowlist and returns what it wrote.
func (sc *sidecar) writePolicy(p string) []byte {
	sc.t.Helper()
	if sc.origin != nil {
		p = strings.ReplaceAll(p, "{{PORT}}", sc.port())
	}
	if err := atomicfile.Write(filepath.Join(sc.dir, "allowlist.yaml"), []byte(p)); err != nil {
		sc.t.Fatal(err)
	}
	return []byte(p)
}

// waitStatus waits for the reload status file to record an attempt that
// satisfies ok, and returns it; the test fails if none comes. The sidecar
// writes the file after every attempt it makes, and at no other time.
func (sc *sidecar) waitStatus(what string, ok func(contract.ReloadStatus) bool) contract.ReloadStatus {
	sc.t.Helper()
	path := filepath.Join(sc.state, "reload.json")
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := contract.ReadStatus(path)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			sc.t.Fatalf("no reload status for %s: last %+v %v", what, st, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitTried waits for the status of an attempt to load data.
func (sc *sidecar) waitTried(data []byte) contract.ReloadStatus {
	sc.t.Helper()
	h := contract.Hash(data)
	return sc.waitStatus("content "+h[:12], func(st contract.ReloadStatus) bool { return st.Tried == h })
}

func (sc *sidecar) stop() {
	sc.cancel()
	select {
	case code := <-sc.done:
		if code != 0 {
			sc.t.Errorf("run exited %d:\n%s", code, sc.stderr.String())
		}
		sc.done <- code
	case <-time.After(15 * time.Second):
		sc.t.Error("run did not stop")
	}
}

func (sc *sidecar) client() *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(sc.bottleCA.Cert)
	pu, _ := url.Parse("http://" + sc.proxy)
	tr := &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: roots}}
	sc.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (sc *sidecar) status(c *http.Client, host string) (int, bool) {
	sc.t.Helper()
	reused := false
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://%s:%s/x", host, sc.port()), nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, err := c.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "Forbidden") {
			return 403, false
		}
		sc.t.Fatalf("GET %s: %v", host, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, reused
}

const sidecarPolicy = `version: 1
allow:
  - host: a.test
    ports: [{{PORT}}]
  - cidr: 127.0.0.1/32
    ports: [{{PORT}}]
`

func TestRunProxyAndDNS(t *testing.T) {
	sc := startSidecar(t, sidecarPolicy)
	c := sc.client()
	if st, _ := sc.status(c, "a.test"); st != 200 {
		t.Errorf("allowed host: %d", st)
	}
	if st, _ := sc.status(c, "b.test"); st != 403 {
		t.Errorf("blocked host: %d", st)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"probe", "dns", "a.test", "@" + sc.dns}, &out, &errb); code != probeOK || !strings.Contains(out.String(), "127.0.0.1") {
		t.Errorf("probe dns allowed: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"probe", "dns", "b.test", "@" + sc.dns}, &out, &errb); code != probeBlocked {
		t.Errorf("probe dns blocked: %d %q", code, out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"health", "--proxy", sc.proxy, "--dns", sc.dns}, &out, &errb); code != 0 {
		t.Errorf("health: %d %q", code, errb.String())
	}
	sc.stop()
	lines := map[string]audit.Record{} // by kind and host or name
	for _, l := range strings.Split(strings.TrimSpace(sc.stdout.String()), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if r.Bottle != "sc" {
			t.Errorf("audit line of bottle %q: %s", r.Bottle, l)
		}
		lines[r.Kind+" "+r.Host+r.Name] = r
	}
	for key, want := range map[string]struct{ decision, cause string }{
		"request a.test": {"allow", ""},
		"connect b.test": {"deny", "no-rule"},
		"dns b.test":     {"deny", "no-rule"},
	} {
		if r, ok := lines[key]; !ok || r.Decision != want.decision || r.Cause != want.cause {
			t.Errorf("audit line %q: %+v; want %s, cause %q, in:\n%s", key, r, want.decision, want.cause, sc.stdout.String())
		}
	}
	if !strings.Contains(sc.stderr.String(), "dns totals") {
		t.Errorf("no totals on shutdown:\n%s", sc.stderr.String())
	}
}

func TestReload(t *testing.T) {
	sc := startSidecar(t, sidecarPolicy)
	c := sc.client()
	if st, _ := sc.status(c, "a.test"); st != 200 {
		t.Fatalf("a.test: %d", st)
	}
	// An open passthrough-free keep-alive connection to a.test, and a raw
	// CONNECT tunnel opened before the reload.
	conn, err := net.Dial("tcp", sc.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT a.test:%s HTTP/1.1\r\nHost: a.test\r\n\r\n", sc.port())
	br := bufio.NewReader(conn)
	if resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"}); err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(sc.bottleCA.Cert)
	tunnel := tls.Client(conn, &tls.Config{ServerName: "a.test", RootCAs: roots})
	tbr := bufio.NewReader(tunnel)
	get := func(host string) int {
		fmt.Fprintf(tunnel, "GET /t HTTP/1.1\r\nHost: %s:%s\r\n\r\n", host, sc.port())
		resp, err := http.ReadResponse(tbr, nil)
		if err != nil {
			t.Fatalf("request in tunnel: %v", err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := get("a.test"); st != 200 {
		t.Fatalf("in tunnel before reload: %d", st)
	}

	// b.test becomes allowed, a.test is dropped: once the status file
	// says the change is applied, it is in force.
	good := sc.writePolicy(strings.Replace(sidecarPolicy, "a.test", "b.test", 1))
	if st := sc.waitTried(good); !st.OK || st.Applied != st.Tried {
		t.Fatalf("the change was not applied: %+v", st)
	}
	if st, _ := sc.status(sc.client(), "b.test"); st != 200 {
		t.Fatalf("b.test after the change was applied: %d", st)
	}
	// The connections opened before the reload are still open, and their
	// next request is judged by the new policy.
	if st, reused := sc.status(c, "a.test"); st != 403 || !reused {
		t.Errorf("keep-alive connection after reload: status %d, reused %v", st, reused)
	}
	if st := get("a.test"); st != 403 {
		t.Errorf("tunnel after reload: %d", st)
	}

	// A bad file is rejected; the policy in force stays.
	bad := sc.writePolicy("version: 1\nallow:\n  - host: \"*\"\n")
	if st := sc.waitTried(bad); st.OK || st.Applied != contract.Hash(good) {
		t.Fatalf("a bad file was applied: %+v", st)
	}
	if log := sc.stderr.String(); !strings.Contains(log, "policy rejected") || !strings.Contains(log, "allowlist.yaml:3:11:") {
		t.Fatalf("bad file not reported:\n%s", log)
	}
	if st, _ := sc.status(sc.client(), "b.test"); st != 200 {
		t.Errorf("after a bad file, b.test: %d", st)
	}

	// SIGHUP re-reads the file even when unchanged. Once the good file is
	// back in force, the poller has nothing more to do (it re-reads only a
	// changed file), so a newer status can only come from the signal.
	sc.writePolicy(string(good))
	last := sc.waitTried(good)
	reloads := strings.Count(sc.stderr.String(), "policy reloaded")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	st := sc.waitStatus("the SIGHUP", func(st contract.ReloadStatus) bool { return st.Time.After(last.Time) })
	if !st.OK || st.Tried != contract.Hash(good) || st.Applied != st.Tried {
		t.Errorf("after SIGHUP: %+v", st)
	}
	if n := strings.Count(sc.stderr.String(), "policy reloaded"); n != reloads+1 {
		t.Errorf("%d reloads logged after SIGHUP; want %d:\n%s", n, reloads+1, sc.stderr.String())
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	write := func(policy string) string {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte(policy), 0o644)
		c, _ := ca.New("x", 0)
		c.Save(dir)
		return dir
	}
	args := func(dir string, more ...string) []string {
		return append([]string{"run", "--config-dir", dir, "--proxy-listen", "127.0.0.1:0", "--dns-listen", "127.0.0.1:0", "--mcp-listen", "", "--upstream-dns", "127.0.0.1:1"}, more...)
	}
	var out, errb bytes.Buffer
	bad := write("version: 1\nallow:\n  - host: \"*\"\n  - cidr: 10.0.0.1\n")
	if code := run(context.Background(), args(bad), &out, &errb); code != 2 || !strings.Contains(errb.String(), "allowlist.yaml:3:11:") || !strings.Contains(errb.String(), "allowlist.yaml:4:11:") {
		t.Errorf("bad allowlist: exit %d\n%s", code, errb.String())
	}
	good := write("version: 1\n")
	os.Chmod(filepath.Join(good, "ca.key"), 0o644)
	errb.Reset()
	if code := run(context.Background(), args(good), &out, &errb); code != 2 || !strings.Contains(errb.String(), "chmod 600") {
		t.Errorf("readable key: exit %d\n%s", code, errb.String())
	}
	os.Chmod(filepath.Join(good, "ca.key"), 0o600)
	for _, tc := range []struct {
		extra []string
		want  string
	}{
		{[]string{"--upstream-ca", "/nonexistent.pem"}, "nonexistent.pem"},
		{[]string{"--upstream-dns", "nonsense"}, "want HOST:PORT"},
		{[]string{"--internal-cidr", "203.0.113.0/24"}, "no address in that range"},
		{[]string{"--internal-cidr", "bogus"}, "--internal-cidr"},
	} {
		errb.Reset()
		if code := run(context.Background(), args(good, tc.extra...), &out, &errb); code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d\n%s", tc.extra, code, errb.String())
		}
	}
	errb.Reset()
	if code := run(context.Background(), args(t.TempDir()), &out, &errb); code != 2 || !strings.Contains(errb.String(), "allowlist.yaml") {
		t.Errorf("empty config dir: exit %d\n%s", code, errb.String())
	}
}

// TestInternalCIDR: with --internal-cidr the sidecar listens only on its
// addresses inside the range.
func TestInternalCIDR(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte("version: 1\n"), 0o644)
	c, _ := ca.New("x", 0)
	c.Save(dir)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncbuf.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--config-dir", dir, "--proxy-listen", ":0", "--dns-listen", ":0", "--mcp-listen", ":0",
			"--upstream-dns", "127.0.0.1:1", "--internal-cidr", "127.0.0.0/8"}, &out, &errb)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(errb.String(), "dns listening") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	for _, l := range strings.Split(errb.String(), "\n") {
		if m := regexp.MustCompile(`listening" addr=(\S+)`).FindStringSubmatch(l); m != nil {
			if !strings.HasPrefix(m[1], "127.") {
				t.Errorf("listening outside the internal range: %s", l)
			}
		}
	}
	for _, what := range []string{"proxy", "mcp"} {
		if !strings.Contains(errb.String(), `msg="`+what+` listening" addr=127.0.0.1:`) {
			t.Errorf("no %s listener on the internal address:\n%s", what, errb.String())
		}
	}
}

func TestProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	defer ln.Close()
	var out, errb bytes.Buffer
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"probe", "tcp", ln.Addr().String()}, probeOK},
		{[]string{"probe", "tcp", closedAddr}, probeRefused},
		{[]string{"probe", "tcp", "nonsense"}, probeUsage},
		{[]string{"probe", "udp", "x"}, probeUsage},
		{[]string{"probe", "dns", "x.test"}, probeUsage},
		{[]string{"probe", "http", "ftp://x"}, probeUsage},
		{[]string{"probe"}, probeUsage},
	} {
		out.Reset()
		if code := run(context.Background(), tc.args, &out, &errb); code != tc.code {
			t.Errorf("%v: exit %d; want %d (%s)", tc.args, code, tc.code, out.String())
		}
	}
	// probe http through the proxy named by the environment.
	sc := startSidecar(t, sidecarPolicy)
	t.Setenv("HTTPS_PROXY", "http://"+sc.proxy)
	t.Setenv("HTTP_PROXY", "http://"+sc.proxy)
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(cafile, sc.bottleCA.CertPEM(), 0o644)
	for _, tc := range []struct {
		url  string
		code int
	}{
		{fmt.Sprintf("https://a.test:%s/", sc.port()), probeOK},
		// Refused over https: the proxy opens the tunnel and answers the
		// request in it with its 403 (X-Bottle-Denied), which is blocked
		// exactly as a CONNECT's 403 is.
		{fmt.Sprintf("https://b.test:%s/", sc.port()), probeBlocked},
		{fmt.Sprintf("http://b.test:%s/", sc.port()), probeBlocked},
	} {
		out.Reset()
		if code := run(context.Background(), []string{"probe", "--cacert", cafile, "http", tc.url}, &out, &errb); code != tc.code {
			t.Errorf("probe http %s: exit %d; want %d (%s)", tc.url, code, tc.code, out.String())
		}
	}
	if code := run(context.Background(), []string{"health", "--proxy", closedAddr, "--dns", "", "--timeout", "500ms"}, &out, &errb); code != 1 {
		t.Errorf("health against nothing: %d", code)
	}
}

// TestReloadStatusFile: the sidecar records every load attempt, so the CLI
// can tell "applied" from "rejected" without reading any log the agent can
// write into.
func TestReloadStatusFile(t *testing.T) {
	sc := startSidecar(t, sidecarPolicy)
	first := []byte(strings.ReplaceAll(sidecarPolicy, "{{PORT}}", sc.port()))
	st := sc.waitTried(first)
	if !st.OK || st.Applied != contract.Hash(first) || st.Mode != "enforce" || st.Allow == 0 {
		t.Errorf("at start: %+v", st)
	}
	good := sc.writePolicy(strings.Replace(sidecarPolicy, "a.test", "b.test", 1))
	if st := sc.waitTried(good); !st.OK || st.Applied != st.Tried || st.Errors != "" {
		t.Errorf("after a good change: %+v", st)
	}
	bad := sc.writePolicy("version: 1\nallow:\n  - host: \"*\"\n")
	st = sc.waitTried(bad)
	if st.OK || st.Applied != contract.Hash(good) || !strings.Contains(st.Errors, "allowlist.yaml:3:11:") {
		t.Errorf("after a bad change: %+v", st)
	}
}

// TestAuditFileOnly: with --audit-log the audit goes to the (rotated) file
// and not to stdout, which is the engine's log and has no cap of its own.
func TestAuditFileOnly(t *testing.T) {
	state := t.TempDir()
	sc := startSidecar(t, sidecarPolicy, "--audit-log", filepath.Join(state, "egress.jsonl"), "--audit-max-bytes", "4096")
	for i := range 30 { // distinct, so the audit's per-client budget (20 a second) still writes most
		sc.status(sc.client(), fmt.Sprintf("blocked-%d-%s.test", i, strings.Repeat("x", 40)))
	}
	sc.status(sc.client(), "a.test")
	deadline := time.Now().Add(3 * time.Second)
	var data []byte
	for time.Now().Before(deadline) {
		data, _ = os.ReadFile(filepath.Join(state, "egress.jsonl"))
		if strings.Contains(string(data), `"host":"a.test"`) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(string(data), `"host":"a.test"`) {
		t.Fatalf("audit file:\n%s", data)
	}
	if sc.stdout.String() != "" {
		t.Errorf("the audit also went to stdout:\n%s", sc.stdout.String())
	}
	if _, err := os.Stat(filepath.Join(state, "egress.jsonl.1")); err != nil {
		t.Errorf("the audit file was not rotated at 4096 bytes: %v", err)
	}
}

// TestSelfTestMarked: while the config directory's selftest file names the
// launcher's self-test name, the audit lines about that name (its DNS
// query, its request through the proxy) are marked selftest, and no other
// line is: not another name with the prefix (a guess at the token), not a
// request that says it is the self-test's, not the same name once the file
// is gone (the self-test is over, and the agent's image may run), and an
// agent's repeat of the name is never folded into the self-test's line.
func TestSelfTestMarked(t *testing.T) {
	auditPath := filepath.Join(t.TempDir(), contract.AuditFile)
	sc := startSidecar(t, sidecarPolicy, "--audit-log", auditPath)
	c := sc.client()
	name := contract.SelfTestPrefix + "0123456789ab.invalid"
	guess := contract.SelfTestPrefix + "000000000000.invalid"
	window := filepath.Join(sc.dir, contract.SelfTestFile)
	ask := func(name, qtype, path string, header ...string) {
		t.Helper()
		if a, err := dnsfwd.Query(context.Background(), sc.dns, name, qtype); err != nil || a.Rcode != "REFUSED" {
			t.Fatalf("dns %s %s: %+v %v", name, qtype, a, err)
		}
		req, _ := http.NewRequest("GET", "http://"+name+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("GET %s: %v %v", req.URL, resp, err)
		}
		resp.Body.Close()
	}
	if err := os.WriteFile(window, []byte(name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ask(name, "A", "/")                                                      // the self-test's probes
	ask(guess, "A", "/guess", "X-Bottle-Self-Test", "true", "Selftest", "1") // the agent, during the window
	os.Remove(window)
	ask(name, "A", "/")     // the agent, after: the same request, as if it had learnt the name
	ask(name, "AAAA", "/x") // and new ones
	sc.stop()

	type line struct {
		kind, target string
		selftest     bool
	}
	var got []line
	data, _ := os.ReadFile(auditPath)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		if r.Kind == audit.KindDNS {
			got = append(got, line{r.Kind, r.Name + " " + r.QType, r.SelfTest})
		} else {
			got = append(got, line{r.Kind, r.Host + r.Path, r.SelfTest})
		}
	}
	want := []line{
		{"dns", name + " A", true},
		{"request", name + "/", true},
		{"dns", guess + " A", false},
		{"request", guess + "/guess", false},
		{"dns", name + " A", false},
		{"request", name + "/", false},
		{"dns", name + " AAAA", false},
		{"request", name + "/x", false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("audit lines (kind, target, selftest):\n got %v\nwant %v\n%s", got, want, data)
	}
}
