package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
)

// lookupLog is a resolver that remembers every name it was asked for, to
// prove a refused name was never looked up.
type lookupLog struct {
	Resolver
	mu    sync.Mutex
	names []string
}

func (l *lookupLog) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	l.mu.Lock()
	l.names = append(l.names, strings.TrimSuffix(strings.ToLower(host), "."))
	l.mu.Unlock()
	return l.Resolver.LookupNetIP(ctx, network, host)
}

func (l *lookupLog) asked(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.names {
		if n == name {
			return true
		}
	}
	return false
}

// withLookupLog installs a lookupLog in front of the env's resolver.
func withLookupLog(l *lookupLog) func(*Config) {
	return func(c *Config) {
		l.Resolver = c.Resolver
		c.Resolver = l
	}
}

// tunnelTo opens a CONNECT to target and a TLS client over it that trusts
// only the bottle CA, for sending requests by hand inside one tunnel.
func (e *env) tunnelTo(target, serverName string) (*tls.Conn, *bufio.Reader) {
	e.t.Helper()
	return e.tunnelWith(target, serverName, "")
}

// tunnelToRaw is tunnelTo with a CONNECT that asks for a raw tunnel.
func (e *env) tunnelToRaw(target, serverName string) (*tls.Conn, *bufio.Reader) {
	e.t.Helper()
	return e.tunnelWith(target, serverName, contract.RawTunnelHeader+": raw\r\n")
}

func (e *env) tunnelWith(target, serverName, hdr string) (*tls.Conn, *bufio.Reader) {
	e.t.Helper()
	resp, c, br := e.connectWith(target, hdr)
	if resp.StatusCode != 200 {
		e.t.Fatalf("CONNECT %s: %s", target, resp.Status)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	tc := tls.Client(&bufConn{Conn: c, r: br}, &tls.Config{RootCAs: roots, ServerName: serverName, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		e.t.Fatalf("TLS in the tunnel to %s: %v", target, err)
	}
	return tc, bufio.NewReader(tc)
}

// bufConn reads what a bufio.Reader already holds before the connection.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// roundTrip1 sends one HTTP/1.1 request on a tunnel and reads its response.
func roundTrip1(t *testing.T, c *tls.Conn, br *bufio.Reader, host, path, accept string) (*http.Response, string) {
	t.Helper()
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	if accept != "" {
		req += "Accept: " + accept + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s%s in the tunnel: %v", host, path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestDeniedTunnel: a CONNECT the policy refuses, to a name on a port an
// intercepting rule names, is answered 200 and served under a leaf of the
// bottle's CA; every request in it gets the readable 403 (text, or JSON
// for a client that prefers it, with X-Bottle-Denied). The name is never
// looked up nor dialled; the CONNECT is audited as the denial and each
// request on its own line. A request for another host in that tunnel is
// refused as fronting, and a policy reloaded to allow the host lets the
// next request in the same tunnel through.
func TestDeniedTunnel(t *testing.T) {
	lookups := &lookupLog{}
	e := newEnv(t, basePolicy, withLookupLog(lookups))
	o := e.origin.port
	before := e.origin.conns()

	// A real client: the page, the header, the hint.
	resp, body := e.get(e.client(false), fmt.Sprintf("https://blocked.test:%d/x/y?token=s3cret", o))
	for _, want := range []string{
		fmt.Sprintf("bottle: blocked GET blocked.test:%d/x/y\n", o),
		fmt.Sprintf("reason: no rule allows GET blocked.test:%d/x/y (rule default)\n", o),
		"cause: no-rule\n",
		fmt.Sprintf("  bottle allow add blocked.test --port %d --bottle t1\n", o),
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "s3cret") {
		t.Errorf("page holds the query:\n%s", body)
	}
	if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Denied") != "no-rule" || resp.Header.Get("X-Bottle-Decision") != "deny" {
		t.Errorf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	if resp.TLS == nil || resp.TLS.PeerCertificates[0].Issuer.CommonName != e.bottleCA.Cert.Subject.CommonName {
		t.Errorf("not served under the bottle CA: %+v", resp.TLS)
	}
	conn := e.waitAudit(func(r audit.Record) bool { return r.Kind == "connect" && r.Host == "blocked.test" })
	if conn.Decision != audit.DecisionDeny || conn.Status != 200 || conn.Port != o {
		t.Errorf("CONNECT line %+v", conn)
	}
	wantCause(t, conn, allowlist.CauseNoRule)
	req := e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Host == "blocked.test" && r.Path == "/x/y" })
	if req.Decision != audit.DecisionDeny || req.Status != 403 {
		t.Errorf("request line %+v", req)
	}

	// By hand, in one tunnel: JSON, fronting, then a reload.
	tc, br := e.tunnelTo(fmt.Sprintf("blocked.test:%d", o), "blocked.test")
	defer tc.Close()
	resp, body = roundTrip1(t, tc, br, fmt.Sprintf("blocked.test:%d", o), "/api?q=1", "application/json")
	var j map[string]any
	if err := json.Unmarshal([]byte(body), &j); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("JSON page: %v %q\n%s", err, resp.Header.Get("Content-Type"), body)
	}
	wantJSON := map[string]any{"error": "blocked", "host": "blocked.test", "port": float64(o), "method": "GET", "path": "/api",
		"cause": "no-rule", "rule": "default", "allow_command": fmt.Sprintf("bottle allow add blocked.test --port %d --bottle t1", o), "approval_id": ""}
	for k, v := range wantJSON {
		if j[k] != v {
			t.Errorf("JSON %s = %v; want %v", k, j[k], v)
		}
	}
	if !strings.Contains(fmt.Sprint(j["reason"]), "no rule allows GET blocked.test") {
		t.Errorf("JSON reason %v", j["reason"])
	}
	resp, body = roundTrip1(t, tc, br, fmt.Sprintf("o1.test:%d", o), "/", "")
	if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Denied") != "fronting" || !strings.Contains(body, "inside a tunnel") {
		t.Errorf("fronting in a denied tunnel: %d %v\n%s", resp.StatusCode, resp.Header, body)
	}
	if lookups.asked("blocked.test") || lookups.asked("o1.test") || e.origin.conns() != before || e.seen.has("/x/y") {
		t.Fatalf("a refused name was looked up or dialled (lookups %v)", lookups.names)
	}

	pol, err := allowlist.Parse("reload.yaml", []byte(strings.Replace(e.policy, "deny:\n", fmt.Sprintf("  - host: blocked.test\n    ports: [%d]\ndeny:\n", o), 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.SetPolicy(pol)
	resp, body = roundTrip1(t, tc, br, fmt.Sprintf("blocked.test:%d", o), "/later", "")
	if resp.StatusCode != 200 || !strings.Contains(body, "hello from blocked.test") {
		t.Errorf("after the reload: %d\n%s", resp.StatusCode, body)
	}
}

// TestDeniedTunnelDenyRule: a deny rule's refusal is shown inside TLS too,
// with the command that removes the rule.
func TestDeniedTunnelDenyRule(t *testing.T) {
	e := newEnv(t, basePolicy+"  - host: evil.test\n", nil) // basePolicy ends in its deny list
	resp, body := e.get(e.client(false), fmt.Sprintf("https://evil.test:%d/", e.origin.port))
	if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Denied") != "deny-rule" || !strings.Contains(body, "bottle allow rm --deny evil.test") {
		t.Errorf("%d %v\n%s", resp.StatusCode, resp.Header, body)
	}
}

// TestDeniedConnectNotPageable: what cannot be shown a page in TLS keeps
// the 403 on the CONNECT: an IP literal, the port of a protocol that is
// not HTTP, a port no intercepting rule names, a host whose only rule is
// passthrough, and a client that asked for a raw tunnel.
func TestDeniedConnectNotPageable(t *testing.T) {
	lookups := &lookupLog{}
	e := newEnv(t, basePolicy, withLookupLog(lookups))
	o := e.origin.port
	for _, tc := range []struct {
		target string
		raw    bool
		cause  allowlist.Cause
	}{
		{fmt.Sprintf("127.0.0.9:%d", o), false, allowlist.CauseNoRule},
		{"blocked.test:22", false, allowlist.CauseNoRule},
		{"blocked.test:3306", false, allowlist.CauseNoRule},
		{"blocked.test:4444", false, allowlist.CauseNoRule},
		{fmt.Sprintf("pass.test:%d", e.plain.port), false, allowlist.CausePort},
		{fmt.Sprintf("blocked.test:%d", o), true, allowlist.CauseNoRule},
	} {
		var resp *http.Response
		if tc.raw {
			resp, _, _ = e.connectRaw(tc.target)
		} else {
			resp, _, _ = e.connect(tc.target)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Denied") != tc.cause.String() || !strings.Contains(string(body), "cause: "+tc.cause.String()) {
			t.Errorf("CONNECT %s (raw %v): %d %v\n%s", tc.target, tc.raw, resp.StatusCode, resp.Header, body)
		}
	}
	if lookups.asked("blocked.test") || lookups.asked("pass.test") {
		t.Errorf("a refused name was looked up: %v", lookups.names)
	}
}

// TestPrefersJSON: only an Accept that ranks JSON at least as high as text
// gets the JSON page; a wildcard gets text.
func TestPrefersJSON(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                    false,
		"*/*":                                 false,
		"application/json":                    true,
		"application/problem+json":            true,
		"application/json, text/plain;q=0.5":  true,
		"text/html, application/json;q=0.9":   false,
		"application/json;q=0":                false,
		"text/*;q=0.1, application/json;q=.5": true,
	} {
		if got := prefersJSON([]string{accept}); got != want {
			t.Errorf("prefersJSON(%q) = %v; want %v", accept, got, want)
		}
	}
}
