package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// reloadPolicy is basePolicy with an h1-only origin (h1.test), all of whose
// origins reach 127.0.0.1 only through the cidr rule.
var reloadPolicy = strings.NewReplacer(
	"  - cidr: 127.0.0.1/32\n    ports: [{{ORIGIN}},", "  - host: h1.test\n    ports: [{{ORIGIN1}}]\n  - cidr: 127.0.0.1/32\n    ports: [{{ORIGIN}}, {{ORIGIN1}},",
).Replace(basePolicy)

// setPolicy parses yaml and makes it the proxy's policy.
func (e *env) setPolicy(yaml string) {
	e.t.Helper()
	pol, err := allowlist.Parse("reload.yaml", []byte(yaml))
	if err != nil {
		e.t.Fatalf("policy: %v\n%s", err, yaml)
	}
	e.proxy.SetPolicy(pol)
}

// withoutCIDR is e's policy with the cidr rule that lets names reach
// 127.0.0.1 pointed elsewhere.
func (e *env) withoutCIDR() string {
	if !strings.Contains(e.policy, "  - cidr: 127.0.0.1/32\n") {
		e.t.Fatal("policy has no cidr rule for 127.0.0.1")
	}
	return strings.Replace(e.policy, "  - cidr: 127.0.0.1/32\n", "  - cidr: 127.0.0.9/32\n", 1)
}

// busy starts a streaming request that holds an upstream connection until
// the test ends.
func (e *env) busy(c *http.Client, u string) {
	e.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "data: first\n" {
		e.t.Fatalf("stream %s: %q %v", u, line, err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
}

// TestPolicyChangeReachesOpenConnections: after a policy change, no request
// travels over an upstream connection the new policy would not dial: not on
// a tunnel opened before the change, not on a new client connection, not
// while the old upstream connection is kept busy (h1) or shared (h2).
func TestPolicyChangeReachesOpenConnections(t *testing.T) {
	cases := []struct {
		name   string
		scheme string
		host   string
		port   func(*env) uint16
	}{
		{"tunnel-h2-upstream", "https", "o1.test", func(e *env) uint16 { return e.origin.port }},
		{"tunnel-h1-upstream", "https", "h1.test", func(e *env) uint16 { return e.origin1.port }},
		{"plain-http", "http", "plain.test", func(e *env) uint16 { return e.plain.port }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, reloadPolicy, nil)
			t.Cleanup(func() { close(e.release) })
			base := fmt.Sprintf("%s://%s:%d", tc.scheme, tc.host, tc.port(e))
			e.busy(e.client(false), base+"/sse")
			b := e.client(false) // keeps one tunnel (or one proxy connection) open
			if resp, body := e.get(b, base+"/before"); resp.StatusCode != 200 {
				t.Fatalf("before: %d %q", resp.StatusCode, body)
			}
			e.setPolicy(e.withoutCIDR())
			for _, c := range []struct {
				name   string
				client *http.Client
			}{{"same connection", b}, {"new connection", e.client(false)}} {
				path := "/after-" + strings.ReplaceAll(c.name, " ", "-")
				resp, err := c.client.Get(base + path)
				if err != nil {
					if tc.scheme == "https" && c.name == "new connection" && strings.Contains(err.Error(), "Forbidden") {
						continue // refused at the CONNECT: fine too
					}
					t.Fatalf("%s: %v", c.name, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("Proxy-Status"), "error=destination_ip_prohibited") {
					t.Errorf("%s: %d %q %q", c.name, resp.StatusCode, resp.Header.Get("Proxy-Status"), body)
				}
				wantCause(t, e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "request" && r.Path == path }), allowlist.CauseSpecialAddress)
				if e.seen.has(path) {
					t.Errorf("%s: the origin served %s after the policy stopped allowing its address", c.name, path)
				}
			}
		})
	}
}

// readClosed waits for c to be closed by the proxy: a read that ends in
// EOF or a reset, not in the test's own deadline.
func readClosed(t *testing.T, r io.Reader, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("connection still open")
	}
}

// TestPolicyChangeClosesTunnels: a passthrough tunnel the new policy would
// not open (its CONNECT, or the address it went to), and an upgraded stream
// whose CONNECT or request it would refuse, are closed, with an audit line
// that says why; the others stay open.
func TestPolicyChangeClosesTunnels(t *testing.T) {
	passthroughTLS := func(t *testing.T, e *env) (*tls.Conn, net.Conn) {
		resp, conn, _ := e.connect(fmt.Sprintf("pass.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		roots := x509.NewCertPool()
		roots.AddCert(e.testRoot.Cert)
		tc := tls.Client(conn, &tls.Config{ServerName: "pass.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		return tc, conn
	}
	get := func(t *testing.T, tc *tls.Conn, br *bufio.Reader, path string) {
		t.Helper()
		fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: pass.test\r\n\r\n", path)
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, r.StatusCode)
		}
	}
	closedRecord := func(t *testing.T, e *env, host string, cause allowlist.Cause, want string) {
		t.Helper()
		rec := e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == host && r.Decision == "deny" })
		if !strings.Contains(rec.Reason, "closed: ") || !strings.Contains(rec.Reason, want) {
			t.Errorf("audit reason %q; want it to say %q", rec.Reason, want)
		}
		wantCause(t, rec, cause)
	}

	t.Run("passthrough-rule-removed", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		tc, conn := passthroughTLS(t, e)
		br := bufio.NewReader(tc)
		get(t, tc, br, "/one")
		e.setPolicy(strings.Replace(e.policy, "  - host: pass.test\n", "  - host: pass-renamed.test\n", 1))
		readClosed(t, br, conn)
		closedRecord(t, e, "pass.test", allowlist.CauseNoRule, "refuses CONNECT pass.test")
	})

	t.Run("passthrough-now-intercepted", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		tc, conn := passthroughTLS(t, e)
		br := bufio.NewReader(tc)
		get(t, tc, br, "/one")
		e.setPolicy(strings.Replace(e.policy, "    tls: passthrough\n", "", 1))
		readClosed(t, br, conn)
		closedRecord(t, e, "pass.test", allowlist.CauseNotPassthrough, "no longer a passthrough target")
	})

	t.Run("passthrough-address-no-longer-allowed", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		tc, conn := passthroughTLS(t, e)
		br := bufio.NewReader(tc)
		get(t, tc, br, "/one")
		e.setPolicy(e.withoutCIDR())
		readClosed(t, br, conn)
		closedRecord(t, e, "pass.test", allowlist.CauseSpecialAddress, "no longer lets pass.test")
	})

	t.Run("passthrough-unaffected", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		tc, _ := passthroughTLS(t, e)
		br := bufio.NewReader(tc)
		get(t, tc, br, "/one")
		e.setPolicy(strings.Replace(e.policy, "  - host: o3.test\n", "  - host: o3-renamed.test\n", 1))
		get(t, tc, br, "/two") // still open
	})

	t.Run("passthrough-report-mode", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		tc, _ := passthroughTLS(t, e)
		br := bufio.NewReader(tc)
		get(t, tc, br, "/one")
		report := strings.Replace(e.policy, "version: 1\n", "version: 1\nmode: report\n", 1)
		e.setPolicy(strings.Replace(report, "  - host: pass.test\n", "  - host: pass-renamed.test\n", 1))
		get(t, tc, br, "/two") // report mode only reports
		tc.Close()
		rec := e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "pass.test" })
		if rec.Decision != "would-deny" || !strings.Contains(rec.Reason, "refuses CONNECT pass.test") {
			t.Errorf("audit %+v", rec)
		}
		wantCause(t, rec, allowlist.CauseNoRule)
	})

	// wsOpen upgrades a connection to the /ws echo and checks it echoes.
	wsOpen := func(t *testing.T, w io.Writer, r *bufio.Reader, target, host string) {
		t.Helper()
		fmt.Fprintf(w, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", target, host)
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", resp, err)
		}
	}
	echo := func(t *testing.T, w io.Writer, r *bufio.Reader, msg string) {
		t.Helper()
		io.WriteString(w, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(r, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
	interceptedWS := func(t *testing.T, e *env) (*tls.Conn, *bufio.Reader, net.Conn) {
		resp, conn, _ := e.connect(fmt.Sprintf("o1.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		roots := x509.NewCertPool()
		roots.AddCert(e.bottleCA.Cert)
		tc := tls.Client(conn, &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
		br := bufio.NewReader(tc)
		wsOpen(t, tc, br, "/ws", fmt.Sprintf("o1.test:%d", e.origin.port))
		echo(t, tc, br, "ping")
		return tc, br, conn
	}

	t.Run("intercepted-websocket-host-denied", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		_, br, conn := interceptedWS(t, e)
		e.setPolicy(strings.Replace(e.policy, "deny:\n", "deny:\n  - host: o1.test\n", 1))
		readClosed(t, br, conn)
		closedRecord(t, e, "o1.test", allowlist.CauseDenyRule, "refuses CONNECT o1.test")
	})

	t.Run("intercepted-websocket-address-no-longer-allowed", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		_, br, conn := interceptedWS(t, e)
		e.setPolicy(e.withoutCIDR())
		readClosed(t, br, conn)
		closedRecord(t, e, "o1.test", allowlist.CauseSpecialAddress, "no longer lets o1.test")
	})

	t.Run("intercepted-websocket-unaffected", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		tc, br, _ := interceptedWS(t, e)
		e.setPolicy(strings.Replace(e.policy, "deny:\n", "deny:\n  - host: o2.test\n", 1))
		echo(t, tc, br, "still there")
	})

	t.Run("plain-http-websocket", func(t *testing.T) {
		e := newEnv(t, basePolicy, nil)
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		target := fmt.Sprintf("plain.test:%d", e.plain.port)
		wsOpen(t, conn, br, "http://"+target+"/ws", target)
		echo(t, conn, br, "ping")
		e.setPolicy(strings.Replace(e.policy, "deny:\n", "deny:\n  - host: plain.test\n", 1))
		readClosed(t, br, conn)
		closedRecord(t, e, "plain.test", allowlist.CauseDenyRule, "refuses the upgraded request GET plain.test")
	})
}

// TestPolicyChangeCutsRequestsInFlight: a streaming response the new policy
// would refuse (its host, or the address it came from) is cut, visibly, and
// its audit line says why.
func TestPolicyChangeCutsRequestsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		narrow    func(*env) string
		cause     allowlist.Cause
	}{
		{"tunnel-host-denied", "https://o1.test:{{ORIGIN}}/sse", func(e *env) string {
			return strings.Replace(e.policy, "deny:\n", "deny:\n  - host: o1.test\n", 1)
		}, allowlist.CauseDenyRule},
		{"tunnel-address-no-longer-allowed", "https://o1.test:{{ORIGIN}}/sse", (*env).withoutCIDR, allowlist.CauseSpecialAddress},
		{"plain-host-denied", "http://plain.test:{{PLAIN}}/sse", func(e *env) string {
			return strings.Replace(e.policy, "deny:\n", "deny:\n  - host: plain.test\n", 1)
		}, allowlist.CauseDenyRule},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, basePolicy, nil)
			t.Cleanup(func() { close(e.release) })
			u := strings.NewReplacer("{{ORIGIN}}", fmt.Sprint(e.origin.port), "{{PLAIN}}", fmt.Sprint(e.plain.port)).Replace(tc.url)
			resp, err := e.client(false).Get(u)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if line, _ := br.ReadString('\n'); line != "data: first\n" {
				t.Fatalf("first event %q", line)
			}
			e.setPolicy(tc.narrow(e))
			rest, err := io.ReadAll(br)
			if err == nil || strings.Contains(string(rest), "second") {
				t.Errorf("the stream went on after the policy refused it: %q %v", rest, err)
			}
			rec := e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/sse" })
			if rec.Decision != "deny" || !strings.HasPrefix(rec.Reason, "closed: the policy") {
				t.Errorf("audit %+v", rec)
			}
			wantCause(t, rec, tc.cause)
		})
	}
}

// hookResolver calls hook before answering for name.
type hookResolver struct {
	Resolver
	name string
	hook func()
}

func (h hookResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if strings.EqualFold(strings.TrimSuffix(host, "."), h.name) && h.hook != nil {
		h.hook()
	}
	return h.Resolver.LookupNetIP(ctx, network, host)
}

// TestPolicyChangeDuringDial: a policy change that lands while an upstream
// connection is being made (after the request was judged, before the
// connection is used) keeps the connection from being used when the new
// policy refuses its address.
func TestPolicyChangeDuringDial(t *testing.T) {
	var swap func()
	e := newEnv(t, reloadPolicy, func(c *Config) {
		c.Resolver = hookResolver{Resolver: c.Resolver, name: "plain.test", hook: func() {
			if swap != nil {
				swap()
			}
		}}
	})
	narrower := e.withoutCIDR()
	swap = func() { swap = nil; e.setPolicy(narrower) }
	resp, body := e.get(e.client(false), fmt.Sprintf("http://plain.test:%d/during-dial", e.plain.port))
	if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("Proxy-Status"), "destination_ip_prohibited") {
		t.Errorf("%d %q %q", resp.StatusCode, resp.Header.Get("Proxy-Status"), body)
	}
	if e.seen.has("/during-dial") {
		t.Error("the origin got the request over a connection the new policy refuses")
	}
	wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Path == "/during-dial" }), allowlist.CauseSpecialAddress)
}
