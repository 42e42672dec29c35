package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/audit"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

const basePolicy = `version: 1
allow:
  - host: o1.test
    ports: [{{ORIGIN}}]
  - host: o2.test
    ports: [{{ORIGIN}}]
  - host: o3.test
    ports: [{{ORIGIN}}]
  - host: plain.test
    ports: [{{PLAIN}}]
  - host: l7.test
    ports: [{{ORIGIN}}]
    methods: [GET, delete]
    paths: ["/ok/**"]
  - host: pass.test
    ports: [{{ORIGIN}}]
    tls: passthrough
  - host: rogue.test
    ports: [{{ROGUE}}]
  - host: loop.test
    ports: [{{VICTIM}}]
  - host: private.test
    ports: [{{VICTIM}}]
  - host: linklocal.test
    ports: [{{VICTIM}}]
  - host: mapped.test
    ports: [{{VICTIM}}]
  - host: v6loop.test
    ports: [{{VICTIM}}]
  - host: nat64.test
    ports: [{{VICTIM}}]
  - host: mixed.test
    ports: [{{ORIGIN}}]
  - host: self.test
    ports: [{{PROXY}}]
  # The test origins live on 127.0.0.1: names may reach it only through this.
  - cidr: 127.0.0.1/32
    ports: [{{ORIGIN}}, {{PLAIN}}, {{ROGUE}}, {{PROXY}}]
deny:
  - host: l7.test
    methods: [DELETE]
`

func (e *env) get(c *http.Client, u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		e.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestMITMAllowed(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	c := e.client(false)
	u := fmt.Sprintf("https://o1.test:%d/hello?token=s3cr3t", e.origin.port)
	resp, body := e.get(c, u)
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from o1.test") {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
	// The agent sees a leaf for the name it asked for, issued by its bottle CA.
	leaf := resp.TLS.PeerCertificates[0]
	if leaf.Issuer.CommonName != e.bottleCA.Cert.Subject.CommonName || leaf.DNSNames[0] != "o1.test" {
		t.Errorf("leaf issuer %q names %v", leaf.Issuer.CommonName, leaf.DNSNames)
	}
	if err := leaf.CheckSignatureFrom(e.bottleCA.Cert); err != nil {
		t.Errorf("leaf not signed by the bottle CA: %v", err)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Host == "o1.test" })
	if rec.Decision != "allow" || rec.Rule != "allow[0]" || rec.Status != 200 || rec.Method != "GET" || rec.Path != "/hello" || rec.DstIP != "127.0.0.1" || rec.BytesOut == 0 || rec.Bottle != "t1" {
		t.Errorf("audit record %+v", rec)
	}
	wantCause(t, rec, allowlist.CauseAllowed)
	if strings.Contains(e.audit.String(), "s3cr3t") {
		t.Errorf("query string in audit log:\n%s", e.audit.String())
	}
	// Keep-alive: a second request reuses the intercepted connection.
	resp, _ = e.get(c, fmt.Sprintf("https://o1.test:%d/again", e.origin.port))
	if resp.StatusCode != 200 {
		t.Errorf("second request: %d", resp.StatusCode)
	}
}

func TestPlainHTTP(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	resp, body := e.get(e.client(false), fmt.Sprintf("http://plain.test:%d/x", e.plain.port))
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from plain.test") {
		t.Fatalf("status %d body %q", resp.StatusCode, body)
	}
}

func TestUpstreamTLSVerified(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	for _, h2 := range []bool{false, true} {
		resp, body := e.get(e.client(h2), fmt.Sprintf("https://rogue.test:%d/", e.rogue.port))
		if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "not trusted") {
			t.Errorf("h2=%v: untrusted upstream gave %d %q", h2, resp.StatusCode, body)
		}
		if h2 && resp.ProtoMajor != 2 {
			t.Errorf("client did not speak h2 to the proxy: %s", resp.Proto)
		}
	}
}

// TestHTTP2Client: with h2 towards the agent, requests still go through the
// verified, SSRF-checked transport and the same policy.
func TestHTTP2Client(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	c := e.client(true)
	resp, body := e.get(c, fmt.Sprintf("https://o1.test:%d/h2", e.origin.port))
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d proto %s body %q", resp.StatusCode, resp.Proto, body)
	}
	if !strings.Contains(body, "proto=HTTP/2.0") {
		t.Errorf("upstream not reached over h2: %q", body)
	}
	resp, body = e.get(c, fmt.Sprintf("https://l7.test:%d/nope", e.origin.port))
	if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Rule") != "default" {
		t.Errorf("h2 L7 denial: %d %q", resp.StatusCode, body)
	}
	wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/nope" }), allowlist.CausePath)
}

// TestRebindingAtDial: a name that passes the CONNECT check and then
// resolves elsewhere is refused when the proxy dials, over h1 and h2.
func TestRebindingAtDial(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		var res *rebindResolver
		e := newEnv(t, strings.Replace(basePolicy, "deny:\n", "  - host: rebind.test\n    ports: [{{ORIGIN}}]\ndeny:\n", 1), func(c *Config) {
			res = &rebindResolver{mapResolver: c.Resolver.(mapResolver), name: "rebind.test", first: netip.MustParseAddr("127.0.0.1"), then: netip.MustParseAddr("127.0.0.2")}
			c.Resolver = res
		})
		// Something listening where the rebound name points, to prove it
		// is never reached.
		trap := listen(t, fmt.Sprintf("127.0.0.2:%d", e.origin.port))
		go func() {
			for {
				c, err := trap.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		t.Cleanup(func() { trap.Close() })
		resp, body := e.get(e.client(h2), fmt.Sprintf("https://rebind.test:%d/", e.origin.port))
		if resp.StatusCode != 403 || !strings.Contains(body, "127.0.0.2, a loopback address") {
			t.Errorf("h2=%v: %d %q", h2, resp.StatusCode, body)
		}
		if res.n.Load() < 2 || trap.n.Load() != 0 {
			t.Errorf("h2=%v: %d lookups, %d connections to the rebound address", h2, res.n.Load(), trap.n.Load())
		}
		rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Host == "rebind.test" })
		if rec.Decision != "deny" || rec.DstIP != "" {
			t.Errorf("h2=%v: audit %+v", h2, rec)
		}
		wantCause(t, rec, allowlist.CauseSpecialAddress)
	}
}

// TestBattery runs the adversarial cases the proxy decides on its own.
func TestBattery(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	c := e.client(false)

	t.Run("A1_connect_blocked_host", func(t *testing.T) {
		// The CONNECT is answered 200 and the page is inside the tunnel
		// (TestDeniedTunnel has the details).
		before := e.origin.conns()
		resp, body := e.get(c, fmt.Sprintf("https://blocked.test:%d/", e.origin.port))
		if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Decision") != "deny" || resp.Header.Get("X-Bottle-Rule") != "default" {
			t.Errorf("status %d headers %v", resp.StatusCode, resp.Header)
		}
		if !strings.Contains(string(body), "bottle allow add blocked.test --port") {
			t.Errorf("body lacks the allow command: %q", body)
		}
		if e.origin.conns() != before {
			t.Error("upstream was dialled")
		}
		rec := e.waitAudit(func(r audit.Record) bool {
			return r.Kind == "connect" && r.Host == "blocked.test" && r.Decision == "deny"
		})
		wantCause(t, rec, allowlist.CauseNoRule)
	})

	t.Run("A2_plain_http_blocked_host", func(t *testing.T) {
		before := e.plain.conns()
		resp, body := e.get(c, fmt.Sprintf("http://blocked.test:%d/upload?x=1", e.plain.port))
		if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Decision") != "deny" {
			t.Errorf("status %d", resp.StatusCode)
		}
		for _, want := range []string{"GET", "blocked.test", "/upload", "reason:", "bottle allow add blocked.test --port"} {
			if !strings.Contains(body, want) {
				t.Errorf("denial body lacks %q:\n%s", want, body)
			}
		}
		if e.plain.conns() != before {
			t.Error("upstream was dialled")
		}
		rec := e.waitAudit(func(r audit.Record) bool { return r.Host == "blocked.test" && r.Kind == "request" && r.Status == 403 })
		wantCause(t, rec, allowlist.CauseNoRule)
	})

	t.Run("A5_ip_literals", func(t *testing.T) {
		p := e.victim.port
		for _, tc := range []struct {
			host  string // as the audit line has it
			cause allowlist.Cause
		}{
			{"127.0.0.2", allowlist.CauseNoRule},
			{"2130706434", allowlist.CauseBadName},
			{"0x7f000002", allowlist.CauseBadName},
			{"0177.0.0.2", allowlist.CauseBadName},
			{"::1", allowlist.CauseNoRule},
			{"::ffff:127.0.0.2", allowlist.CauseNoRule},
		} {
			target := joinHostPort(tc.host, p)
			resp, _, _ := e.connect(target)
			if resp.StatusCode != 403 {
				t.Errorf("CONNECT %s: %d", target, resp.StatusCode)
			}
			wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == tc.host }), tc.cause)
		}
		if n := e.victim.conns(); n != 0 {
			t.Errorf("victim saw %d connections", n)
		}
	})

	t.Run("A6_allowed_host_other_port", func(t *testing.T) {
		before := e.origin.conns()
		defer func() {
			if e.origin.conns() != before {
				t.Error("upstream was dialled")
			}
		}()
		for _, port := range []uint16{22, 25, e.plain.port} {
			// A raw tunnel: a port a rule intercepts would get the page inside
			// (TestDeniedTunnel).
			resp, _, _ := e.connectRaw(fmt.Sprintf("o1.test:%d", port))
			if resp.StatusCode != 403 {
				t.Errorf("CONNECT o1.test:%d: %d", port, resp.StatusCode)
			}
			rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == "o1.test" && r.Port == port })
			wantCause(t, rec, allowlist.CausePort)
		}
	})

	t.Run("A10_rebinding_to_special_addresses", func(t *testing.T) {
		for _, host := range []string{"loop.test", "private.test", "linklocal.test", "mapped.test", "v6loop.test", "nat64.test"} {
			resp, _, _ := e.connect(fmt.Sprintf("%s:%d", host, e.victim.port))
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 403 || !strings.Contains(string(body), "only a cidr rule can allow that") {
				t.Errorf("CONNECT %s: %d %q", host, resp.StatusCode, body)
			}
			wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Host == host && r.Kind == "connect" && r.Decision == "deny" }), allowlist.CauseSpecialAddress)
			// Plain HTTP has no CONNECT: the check happens at the dial.
			resp2, body2 := e.get(c, fmt.Sprintf("http://%s:%d/", host, e.victim.port))
			if resp2.StatusCode != 403 || !strings.Contains(body2, "only a cidr rule can allow that") {
				t.Errorf("GET http://%s: %d %q", host, resp2.StatusCode, body2)
			}
			rec := e.waitAudit(func(r audit.Record) bool { return r.Host == host && r.Kind == "request" })
			if rec.Decision != "deny" || rec.Status != 403 {
				t.Errorf("%s audit %+v", host, rec)
			}
			wantCause(t, rec, allowlist.CauseSpecialAddress)
		}
		if n := e.victim.conns(); n != 0 {
			t.Errorf("victim saw %d connections", n)
		}
		// A name with one bad and one good address reaches only the good one.
		resp, _ := e.get(c, fmt.Sprintf("https://mixed.test:%d/", e.origin.port))
		if resp.StatusCode != 200 {
			t.Errorf("mixed.test: %d", resp.StatusCode)
		}
	})

	t.Run("A11_proxy_own_address", func(t *testing.T) {
		accepted := e.proxy.accepted.Load()
		defer func() {
			// Each CONNECT above is one accepted connection from the test;
			// a dial to itself would add more.
			if got := e.proxy.accepted.Load() - accepted; got != 4 {
				t.Errorf("proxy accepted %d connections; want 4 (3 CONNECTs + 1 request)", got)
			}
		}()
		pip, pport, _ := net.SplitHostPort(e.addr)
		for _, tc := range []struct {
			host  string
			cause allowlist.Cause
		}{
			{pip, allowlist.CauseOwnAddress},         // the cidr rule allows the address and port
			{"self.test", allowlist.CauseOwnAddress}, // a host rule allows the name, which resolves there
			{"localhost", allowlist.CauseNoRule},     // no rule names it
		} {
			resp, _, _ := e.connectRaw(tc.host + ":" + pport)
			if resp.StatusCode != 403 {
				t.Errorf("CONNECT %s: %d", tc.host, resp.StatusCode)
			}
			wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == tc.host }), tc.cause)
		}
		resp, body := e.get(e.client(false), "http://self.test:"+pport+"/healthz") // a new client: one new connection
		if resp.StatusCode != 403 || !strings.Contains(body, "proxy's own address") || strings.Contains(body, "bottle allow add") {
			t.Errorf("plain request to self: %d %q", resp.StatusCode, body)
		}
		wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/healthz" }), allowlist.CauseOwnAddress)
	})

	t.Run("A13_domain_fronting", func(t *testing.T) {
		before := e.origin.conns()
		defer func() {
			if e.origin.conns() != before {
				t.Error("upstream was dialled")
			}
		}()
		roots := x509.NewCertPool()
		roots.AddCert(e.bottleCA.Cert)
		for _, fc := range []struct {
			inner string
			path  string
			cause allowlist.Cause
		}{
			{fmt.Sprintf("GET /front1 HTTP/1.1\r\nHost: o2.test:%d\r\n\r\n", e.origin.port), "/front1", allowlist.CauseFronting},
			{fmt.Sprintf("GET https://o2.test:%d/front2 HTTP/1.1\r\nHost: o1.test:%d\r\n\r\n", e.origin.port, e.origin.port), "/front2", allowlist.CauseFronting},
			{fmt.Sprintf("GET /front3 HTTP/1.1\r\nHost: o1.test:%d\r\n\r\n", e.origin.port+1), "/front3", allowlist.CauseFronting},
		} {
			inner := fc.inner
			resp, conn, _ := e.connect(fmt.Sprintf("o1.test:%d", e.origin.port))
			if resp.StatusCode != 200 {
				t.Fatalf("CONNECT: %d", resp.StatusCode)
			}
			tc := tls.Client(conn, &tls.Config{ServerName: "o1.test", RootCAs: roots})
			if err := tc.Handshake(); err != nil {
				t.Fatal(err)
			}
			io.WriteString(tc, inner)
			r, err := http.ReadResponse(bufio.NewReader(tc), nil)
			if err != nil {
				t.Fatalf("%q: %v", inner, err)
			}
			body, _ := io.ReadAll(r.Body)
			if r.StatusCode != 403 || !strings.Contains(string(body), "inside a tunnel to o1.test") && !strings.Contains(string(body), "differs") {
				t.Errorf("%q: %d %q", inner, r.StatusCode, body)
			}
			wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Path == fc.path }), fc.cause)
		}
	})

	t.Run("A16_connect_inside_a_tunnel", func(t *testing.T) {
		resp, conn, _ := e.connect(fmt.Sprintf("o1.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		roots := x509.NewCertPool()
		roots.AddCert(e.bottleCA.Cert)
		tc := tls.Client(conn, &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
		fmt.Fprintf(tc, "CONNECT o2.test:%d HTTP/1.1\r\nHost: o2.test:%d\r\n\r\n", e.origin.port, e.origin.port)
		r, err := http.ReadResponse(bufio.NewReader(tc), &http.Request{Method: "CONNECT"})
		if err != nil || r.StatusCode != http.StatusMethodNotAllowed {
			t.Fatalf("CONNECT inside a tunnel: %v %v", r, err)
		}
		rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == "o2.test" })
		if rec.Decision != "deny" || rec.Status != http.StatusMethodNotAllowed || rec.Port != e.origin.port || !strings.Contains(rec.Reason, "inside a tunnel to o1.test") {
			t.Errorf("audit %+v", rec)
		}
		wantCause(t, rec, allowlist.CauseConnectInTunnel)
	})

	t.Run("A14_sni_mismatch_on_passthrough", func(t *testing.T) {
		before := e.origin.conns()
		resp, conn, _ := e.connect(fmt.Sprintf("pass.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT pass.test: %d", resp.StatusCode)
		}
		roots := x509.NewCertPool()
		roots.AddCert(e.testRoot.Cert)
		tc := tls.Client(conn, &tls.Config{ServerName: "o2.test", RootCAs: roots})
		if err := tc.Handshake(); err == nil {
			t.Error("handshake with a mismatched SNI succeeded")
		}
		if e.origin.conns() != before {
			t.Error("upstream was dialled")
		}
		rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "pass.test" && r.Decision == "deny" })
		if !strings.Contains(rec.Reason, "SNI") {
			t.Errorf("audit %+v", rec)
		}
		wantCause(t, rec, allowlist.CauseSNIMismatch)
	})

	t.Run("A15_method_and_path", func(t *testing.T) {
		// Only the one allowed request below may reach the origin, over at
		// most one new upstream connection.
		before := e.origin.conns()
		defer func() {
			if e.origin.conns()-before > 1 {
				t.Errorf("denied requests reached the upstream (%d new connections)", e.origin.conns()-before)
			}
		}()
		cases := []struct {
			method, path, rule string
			status             int
			cause              allowlist.Cause
		}{
			{"GET", "/ok/a/b", "allow[4]", 200, allowlist.CauseAllowed},
			{"GET", "/nope", "default", 403, allowlist.CausePath},
			{"POST", "/ok/a", "default", 403, allowlist.CauseMethod},
			{"DELETE", "/ok/a", "deny[0]", 403, allowlist.CauseDenyRule},
			{"GET", "/ok/%2e%2e/secret", "default", 403, allowlist.CausePath},
			{"GET", "/ok/..;/secret", "default", 403, allowlist.CauseBadPathParams},
		}
		for _, tc := range cases {
			req, _ := http.NewRequest(tc.method, fmt.Sprintf("https://l7.test:%d%s", e.origin.port, tc.path), nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s: %d %q", tc.method, tc.path, resp.StatusCode, body)
			}
			if tc.status == 403 {
				if got := resp.Header.Get("X-Bottle-Rule"); got != tc.rule {
					t.Errorf("%s %s: rule %q; want %q", tc.method, tc.path, got, tc.rule)
				}
				if tc.rule == "default" && tc.cause != allowlist.CauseBadPathParams && !strings.Contains(string(body), "allow[4]") {
					t.Errorf("%s %s: body does not name the rule that covers the host: %q", tc.method, tc.path, body)
				}
			}
			rec := e.waitAudit(func(r audit.Record) bool {
				return r.Kind == "request" && r.Host == "l7.test" && r.Method == tc.method && r.Path == tc.path
			})
			wantCause(t, rec, tc.cause)
		}
	})
}

// TestJudgeMismatch: a request whose target is not what it must be is
// refused with the cause that says which: inside a tunnel, another host or
// port than the CONNECT's; anywhere, a Host header other than the target
// (net/http reads an absolute-form request's Host from its target, so this
// is a check no agent reaches through the listener); a target that does not
// parse. Report mode lets the first two through, marked.
func TestJudgeMismatch(t *testing.T) {
	s, err := New(Config{Policy: mustPolicy(t, "version: 1\nallow:\n  - host: a.test\n  - host: b.test\n"), CA: mustCA(t)})
	if err != nil {
		t.Fatal(err)
	}
	tunnel := &tunnelState{host: "a.test", port: 443, scheme: "https"}
	tests := []struct {
		name   string
		in     reqInput
		ts     *tunnelState
		kind   verdictKind
		cause  allowlist.Cause
		reason string
	}{
		{"allowed", reqInput{scheme: "https", urlHost: "a.test", hostHeader: "a.test", method: "GET", path: "/", noPort: true}, tunnel, byPolicy, allowlist.CauseAllowed, "matches allow[0]"},
		{"another host in the tunnel", reqInput{scheme: "https", urlHost: "b.test", hostHeader: "b.test", method: "GET", path: "/", noPort: true}, tunnel, mismatch, allowlist.CauseFronting, "inside a tunnel to a.test:443"},
		{"another port in the tunnel", reqInput{scheme: "https", urlHost: "a.test:8443", hostHeader: "a.test:8443", method: "GET", path: "/"}, tunnel, mismatch, allowlist.CauseFronting, "inside a tunnel to a.test:443"},
		{"Host header differs", reqInput{scheme: "http", urlHost: "a.test", hostHeader: "b.test", method: "GET", path: "/", noPort: true}, nil, mismatch, allowlist.CauseHostMismatch, `Host header "b.test" differs`},
		{"Host header names another port", reqInput{scheme: "http", urlHost: "a.test", hostHeader: "a.test:81", method: "GET", path: "/", noPort: true}, nil, mismatch, allowlist.CauseHostMismatch, "differs from the request target a.test:80"},
		{"bad target", reqInput{scheme: "http", urlHost: "a.test:0", method: "GET", path: "/"}, nil, malformed, allowlist.CauseBadTarget, `bad request target "a.test:0"`},
	}
	for _, tt := range tests {
		_, d, kind := s.judge(s.policy(), &tt.in, tt.ts)
		if kind != tt.kind || d.Cause != tt.cause || d.Allowed != (tt.cause == allowlist.CauseAllowed) || !strings.Contains(d.Explain(), tt.reason) {
			t.Errorf("%s: kind %d, %+v; want kind %d, %s, reason with %q", tt.name, kind, d, tt.kind, tt.cause, tt.reason)
		}
	}
	report := mustPolicy(t, "version: 1\nmode: report\nallow:\n  - host: a.test\n")
	_, d, kind := s.judge(report, &reqInput{scheme: "https", urlHost: "c.test", hostHeader: "c.test", method: "GET", path: "/", noPort: true}, tunnel)
	if kind != mismatch || !d.Allowed || !d.WouldDeny || d.Cause != allowlist.CauseFronting || !strings.Contains(d.Explain(), "; and no rule allows") {
		t.Errorf("report mode: kind %d, %+v", kind, d)
	}
}

func mustPolicy(t *testing.T, yaml string) *allowlist.Policy {
	t.Helper()
	p, err := allowlist.Parse("p.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPassthroughTunnel(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	resp, conn, _ := e.connect(fmt.Sprintf("pass.test:%d", e.origin.port))
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.testRoot.Cert)
	tc := tls.Client(conn, &tls.Config{ServerName: "pass.test", RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake through tunnel: %v", err)
	}
	// Not intercepted: the agent sees the origin's own certificate.
	if got := tc.ConnectionState().PeerCertificates[0].Issuer.CommonName; got != e.testRoot.Cert.Subject.CommonName {
		t.Errorf("issuer %q", got)
	}
	fmt.Fprintf(tc, "GET /tunnelled HTTP/1.1\r\nHost: pass.test\r\nConnection: close\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(string(body), "/tunnelled") {
		t.Errorf("%d %q", r.StatusCode, body)
	}
	tc.Close()
	rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "pass.test" })
	if rec.Decision != "allow" || rec.DstIP != "127.0.0.1" || rec.BytesIn == 0 || rec.BytesOut == 0 {
		t.Errorf("audit %+v", rec)
	}
}

func TestStreamingSSE(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	resp, err := e.client(false).Get(fmt.Sprintf("https://o1.test:%d/sse", e.origin.port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	// The upstream has not finished: it waits for e.release, which only
	// happens after the first event arrived here.
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	close(e.release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: second") {
		t.Errorf("rest %q", rest)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	resp, conn, _ := e.connect(fmt.Sprintf("o1.test:%d", e.origin.port))
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	tc := tls.Client(conn, &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
	fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: o1.test:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", e.origin.port)
	br := bufio.NewReader(tc)
	r, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != 101 {
		t.Fatalf("upgrade: %d", r.StatusCode)
	}
	for _, msg := range []string{"ping", "pong and more"} {
		io.WriteString(tc, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo %q: %q %v", msg, buf, err)
		}
	}
}

// TestLargeBodies moves 100 MB each way through an intercepted tunnel and
// checks that the proxy streams them rather than holding them in memory.
func TestLargeBodies(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	c := e.client(false)
	const size = 100 << 20
	var peak uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	go func() {
		defer wg.Done()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	resp, err := c.Post(fmt.Sprintf("https://o1.test:%d/upload", e.origin.port), "application/octet-stream", io.LimitReader(zeros{}, size))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != fmt.Sprint(size) {
		t.Errorf("upload: origin received %s bytes", got)
	}
	resp, err = c.Get(fmt.Sprintf("https://o1.test:%d/download?n=%d", e.origin.port, size))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, _ := io.Copy(h, resp.Body)
	resp.Body.Close()
	close(stop)
	wg.Wait()
	want := sha256.New()
	io.CopyN(want, zeros{}, size)
	if n != size || !bytes.Equal(h.Sum(nil), want.Sum(nil)) {
		t.Errorf("download: %d bytes", n)
	}
	// Client, proxy and origin share this heap; buffering either body would
	// add 100 MB.
	if grew := int64(peak) - int64(base.HeapInuse); grew > 48<<20 {
		t.Errorf("heap grew by %d MB while moving 100 MB each way", grew>>20)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/upload" })
	if rec.BytesIn != size {
		t.Errorf("audit bytes_in %d", rec.BytesIn)
	}
}

func TestLeafMintedOncePerHost(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	before := e.proxy.Leaves().Mints()
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A new client each time: a new CONNECT and handshake.
			resp, err := e.client(false).Get(fmt.Sprintf("https://o3.test:%d/", e.origin.port))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if got := e.proxy.Leaves().Mints() - before; got != 1 {
		t.Errorf("%d mints for o3.test; want 1", got)
	}
}

func TestReportMode(t *testing.T) {
	e := newEnv(t, strings.Replace(basePolicy, "version: 1\n", "version: 1\nmode: report\n", 1), nil)
	resp, body := e.get(e.client(false), fmt.Sprintf("https://report-only.test:%d/", e.origin.port))
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from report-only.test") {
		t.Fatalf("report mode blocked: %d %q", resp.StatusCode, body)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Host == "report-only.test" && r.Kind == "request" })
	if rec.Decision != "would-deny" || rec.Rule != "default" {
		t.Errorf("audit %+v", rec)
	}
	wantCause(t, rec, allowlist.CauseNoRule)
}

func TestSetPolicy(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	c := e.client(false)
	u := fmt.Sprintf("https://o1.test:%d/", e.origin.port)
	if resp, _ := e.get(c, u); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	stricter := strings.Replace(e.policy, "  - host: o1.test\n", "  - host: o1-renamed.test\n", 1)
	pol, err := allowlist.Parse("new.yaml", []byte(stricter))
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.SetPolicy(pol)
	// Same keep-alive connection, next request: judged by the new policy.
	if resp, _ := e.get(c, u); resp.StatusCode != 403 {
		t.Errorf("after: %d", resp.StatusCode)
	}
}

func TestNonProxyRequests(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	resp, err := http.Get("http://" + e.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + e.addr + "/")
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("origin-form request: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestSSRFClassification drives resolveChecked with each address form a
// resolver could return for an allowed name.
func TestSSRFClassification(t *testing.T) {
	tests := []struct {
		addr  string
		allow bool
	}{
		{"93.184.216.34", true},
		{"2606:4700::1111", true},
		{"127.0.0.1", false},
		{"127.1.2.3", false},
		{"10.0.0.1", false},
		{"172.16.5.5", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"::1", false},
		{"::", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fd00:ec2::254", false},
		{"ff02::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:93.184.216.34", true}, // unmapped: an ordinary IPv4 address
		{"64:ff9b::a9fe:a9fe", false},
		{"2002:a9fe:a9fe::1", false},
		{"2001:0:a9fe:a9fe::1", false},
	}
	pol, err := allowlist.Parse("p.yaml", []byte("version: 1\nallow:\n  - host: x.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		s, err := New(Config{Policy: pol, CA: mustCA(t), Resolver: mapResolver{"x.test": addrs(tt.addr)}})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := s.resolveChecked(context.Background(), pol, "x.test", 443)
		if tt.allow != (err == nil && len(got) == 1) {
			t.Errorf("%s: allowed=%v err=%v; want allowed=%v", tt.addr, err == nil, err, tt.allow)
		}
	}
}

// TestCurl uses the real curl: GET, a large POST, HTTP/2 and a denial.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is required (apt-get install curl)")
	}
	e := newEnv(t, basePolicy, nil)
	cafile := e.caFile()
	curl := func(args ...string) (string, string, error) {
		base := []string{"-sS", "--max-time", "30", "-x", "http://" + e.addr, "--cacert", cafile}
		cmd := exec.Command("curl", append(base, args...)...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no proxy variables from the environment
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	u := fmt.Sprintf("https://o1.test:%d", e.origin.port)
	if out, errs, err := curl(u + "/curl"); err != nil || !strings.Contains(out, "hello from o1.test") {
		t.Errorf("GET: %q %q %v", out, errs, err)
	}
	if out, errs, err := curl("--http2", "-w", " %{http_version}", u+"/curl2"); err != nil || !strings.Contains(out, "proto=HTTP/2.0") || !strings.HasSuffix(out, " 2") {
		t.Errorf("--http2: %q %q %v", out, errs, err)
	}
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 20<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, err := curl("--data-binary", "@"+big, u+"/upload"); err != nil || out != fmt.Sprint(20<<20) {
		t.Errorf("POST 20 MB: %q %q %v", out, errs, err)
	}
	out, errs, err := curl("-w", "%{http_code}", fmt.Sprintf("http://blocked.test:%d/", e.plain.port))
	if err != nil || !strings.HasSuffix(out, "403") || !strings.Contains(out, "bottle allow add blocked.test") {
		t.Errorf("denied plain: %q %q %v", out, errs, err)
	}
	// A refused HTTPS host: the page inside the tunnel, which curl prints.
	out, errs, err = curl("-w", "%{http_code}", fmt.Sprintf("https://blocked.test:%d/", e.origin.port))
	if err != nil || !strings.HasSuffix(out, "403") || !strings.Contains(out, "reason: no rule allows GET blocked.test") || !strings.Contains(out, "bottle allow add blocked.test") {
		t.Errorf("denied CONNECT: curl said %q %q (%v)", out, errs, err)
	}
}

func mustCA(t *testing.T) *ca.CA {
	t.Helper()
	c, err := ca.New("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestShutdownDrains: Shutdown closes intercepted connections idle between
// requests at once and lets a request in flight finish.
func TestShutdownDrains(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	idle := e.client(false)
	if resp, _ := e.get(idle, fmt.Sprintf("https://o1.test:%d/", e.origin.port)); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	busy, err := e.client(false).Get(fmt.Sprintf("https://o2.test:%d/sse", e.origin.port))
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(busy.Body)
	if line, _ := br.ReadString('\n'); line != "data: first\n" {
		t.Fatalf("first event %q", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- e.proxy.Shutdown(ctx) }()
	// The in-flight stream is not cut: it ends when the origin finishes.
	close(e.release)
	rest, err := io.ReadAll(br)
	busy.Body.Close()
	if err != nil || !strings.Contains(string(rest), "data: second") {
		t.Errorf("in-flight stream: %q %v", rest, err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Shutdown: %v (tunnels left open until the deadline)", err)
	}
	e.waitAudit(func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "o1.test" })
}

// TestSelfTestMarked: the lines about the host Config.SelfTest names (a
// refused CONNECT to it, a refused plain request) are marked SelfTest; a
// line about any other host is not, whatever the request says of itself.
func TestSelfTestMarked(t *testing.T) {
	e := newEnv(t, basePolicy, func(c *Config) {
		c.SelfTest = func(host string) bool { return host == "bottle-self-test-x.invalid" }
	})
	for _, target := range []string{"bottle-self-test-x.invalid:443", "bottle-self-test-y.invalid:443"} {
		if resp, _, _ := e.connectRaw(target); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("CONNECT %s: %s", target, resp.Status)
		}
	}
	for _, host := range []string{"bottle-self-test-x.invalid", "blocked.test"} {
		req, _ := http.NewRequest("GET", "http://"+host+"/p", nil)
		req.Header.Set("X-Bottle-Self-Test", "true")
		resp, err := e.client(false).Do(req)
		if err != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("GET %s: %v %v", host, resp, err)
		}
		resp.Body.Close()
	}
	marked := map[string]bool{}
	for _, r := range e.auditLines() {
		marked[r.Kind+" "+r.Host] = r.SelfTest
	}
	want := map[string]bool{
		"connect bottle-self-test-x.invalid": true, "connect bottle-self-test-y.invalid": false,
		"request bottle-self-test-x.invalid": true, "request blocked.test": false,
	}
	if !maps.Equal(marked, want) {
		t.Errorf("marked: %v; want %v", marked, want)
	}
}

// TestConnectionCloseStaysOnTheAgentsHop: an agent that sends "Connection:
// close" on every request (Node's proxy agents do) gets its connection
// closed, but the proxy keeps its pooled upstream connection: three such
// requests, over h1 and h2 upstreams, dial each origin once.
func TestConnectionCloseStaysOnTheAgentsHop(t *testing.T) {
	e := newEnv(t, reloadPolicy, nil)
	for host, o := range map[string]*upstream{"o1.test": e.origin, "h1.test": e.origin1} {
		before := o.conns()
		for i := range 3 {
			c := e.client(false)
			req, _ := http.NewRequest("GET", fmt.Sprintf("https://%s:%d/close/%d", host, o.port, i), nil)
			req.Close = true
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !resp.Close {
				t.Errorf("request %d: status %d, close %v (want 200, the agent's connection closed)", i, resp.StatusCode, resp.Close)
			}
		}
		if n := o.conns() - before; n != 1 {
			t.Errorf("%s: %d upstream connections for three requests, want 1", host, n)
		}
	}
}
