package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// tlsThrough handshakes over an open tunnel and sends one GET; it returns
// the response body, or an error when the handshake fails.
func tlsThrough(t *testing.T, conn net.Conn, cfg *tls.Config, host, path string) (string, error) {
	t.Helper()
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(conn, cfg)
	if err := tc.Handshake(); err != nil {
		return "", err
	}
	fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(r.Body)
	tc.Close() // the tunnel's audit line is written when it ends
	return string(b), nil
}

// TestReportModeMarksEveryWouldDeny: in report mode everything enforce would
// refuse goes through, marked would-deny whatever refused it (the policy,
// the address guard, a request or SNI that names another host than the
// CONNECT), except a
// dial to the proxy itself, which is refused in every mode.
func TestReportModeMarksEveryWouldDeny(t *testing.T) {
	pol := strings.NewReplacer(
		"version: 1\n", "version: 1\nmode: report\n",
		"deny:\n", "  - host: passloop.test\n    ports: [{{VICTIM}}]\n    tls: passthrough\ndeny:\n",
	).Replace(basePolicy)
	e := newEnv(t, pol, func(c *Config) {
		c.Resolver.(mapResolver)["passloop.test"] = addrs("127.0.0.2")
	})
	c := e.client(false)
	originRoots := x509.NewCertPool()
	originRoots.AddCert(e.testRoot.Cert)
	wouldDeny := func(t *testing.T, cause allowlist.Cause, what string, f func(audit.Record) bool) {
		t.Helper()
		rec := e.waitAuditT(t, func(r audit.Record) bool { return f(r) && r.Decision != "allow" })
		if rec.Decision != "would-deny" || !strings.Contains(rec.Reason, what) {
			t.Errorf("audit %+v; want would-deny for %q", rec, what)
		}
		wantCause(t, rec, cause)
	}

	t.Run("address-guard-intercepted", func(t *testing.T) {
		resp, body := e.get(c, fmt.Sprintf("https://loop.test:%d/report", e.victim.port))
		if resp.StatusCode != 200 || !strings.Contains(body, "hello from loop.test") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		wouldDeny(t, allowlist.CauseSpecialAddress, "a loopback address", func(r audit.Record) bool { return r.Kind == "request" && r.Host == "loop.test" })
		c.Transport.(*http.Transport).CloseIdleConnections()
		wouldDeny(t, allowlist.CauseSpecialAddress, "a loopback address", func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "loop.test" })
	})
	t.Run("address-guard-plain", func(t *testing.T) {
		resp, _ := e.get(c, fmt.Sprintf("http://loop.test:%d/report-plain", e.victim.port))
		if resp.StatusCode == 403 {
			t.Fatalf("report mode refused: %d", resp.StatusCode)
		}
		wouldDeny(t, allowlist.CauseSpecialAddress, "a loopback address", func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/report-plain" })
	})
	t.Run("address-guard-passthrough", func(t *testing.T) {
		resp, conn, _ := e.connect(fmt.Sprintf("passloop.test:%d", e.victim.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		if _, err := tlsThrough(t, conn, &tls.Config{ServerName: "passloop.test", RootCAs: originRoots}, "passloop.test", "/"); err != nil {
			t.Fatal(err)
		}
		wouldDeny(t, allowlist.CauseSpecialAddress, "a loopback address", func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "passloop.test" })
	})
	t.Run("host-differs-inside-tunnel", func(t *testing.T) {
		resp, conn, _ := e.connect(fmt.Sprintf("o1.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		roots := x509.NewCertPool()
		roots.AddCert(e.bottleCA.Cert)
		body, err := tlsThrough(t, conn, &tls.Config{ServerName: "o1.test", RootCAs: roots}, fmt.Sprintf("o2.test:%d", e.origin.port), "/fronted")
		if err != nil || !strings.Contains(body, "hello from o2.test") {
			t.Fatalf("%q %v", body, err)
		}
		wouldDeny(t, allowlist.CauseFronting, "inside a tunnel to o1.test", func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/fronted" })
	})
	t.Run("sni-differs", func(t *testing.T) {
		resp, conn, _ := e.connect(fmt.Sprintf("pass.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		if _, err := tlsThrough(t, conn, &tls.Config{ServerName: "o2.test", RootCAs: originRoots}, "o2.test", "/"); err != nil {
			t.Fatalf("report mode closed a tunnel with another SNI: %v", err)
		}
		wouldDeny(t, allowlist.CauseSNIMismatch, "SNI", func(r audit.Record) bool {
			return r.Kind == "tunnel" && r.Host == "pass.test" && strings.Contains(r.Reason, "differs")
		})
	})
	t.Run("no-sni", func(t *testing.T) {
		resp, conn, _ := e.connect(fmt.Sprintf("pass.test:%d", e.origin.port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		if _, err := tlsThrough(t, conn, &tls.Config{InsecureSkipVerify: true}, "pass.test", "/"); err != nil {
			t.Fatalf("report mode closed a tunnel without SNI: %v", err)
		}
		wouldDeny(t, allowlist.CauseSNIMissing, "without SNI", func(r audit.Record) bool { return r.Kind == "tunnel" && strings.Contains(r.Reason, "without SNI") })
	})
	t.Run("own-address-refused-in-every-mode", func(t *testing.T) {
		_, pport, _ := net.SplitHostPort(e.addr)
		resp, _, _ := e.connect("self.test:" + pport)
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("Proxy-Status"), "proxy_loop_detected") {
			t.Errorf("CONNECT to self: %d %q", resp.StatusCode, resp.Header.Get("Proxy-Status"))
		}
		wantCause(t, e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "connect" && r.Host == "self.test" && r.Decision == "deny" }), allowlist.CauseOwnAddress)
		r, body := e.get(e.client(false), "http://self.test:"+pport+"/healthz")
		if r.StatusCode != 403 || !strings.Contains(body, "proxy's own address") {
			t.Errorf("plain request to self: %d %q", r.StatusCode, body)
		}
		wantCause(t, e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/healthz" && r.Decision == "deny" }), allowlist.CauseOwnAddress)
	})
	t.Run("malformed-target-refused-in-every-mode", func(t *testing.T) {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET http://plain.test:99999/ HTTP/1.1\r\nHost: plain.test:99999\r\n\r\n")
		r, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil || r.StatusCode != 400 {
			t.Errorf("%v %v", r, err)
		}
		rec := e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "request" && r.Host == "plain.test:99999" })
		if rec.Decision != "deny" || rec.Status != 400 {
			t.Errorf("audit %+v", rec)
		}
		wantCause(t, rec, allowlist.CauseBadTarget)
	})
}

// noSNIPolicy is a policy whose passthrough rules all say `sni: optional`.
type noSNIPolicy struct{ Policy }

func (p noSNIPolicy) DecideConnect(host string, port uint16) allowlist.Decision {
	d := p.Policy.DecideConnect(host, port)
	if d.Action == allowlist.ActionTunnel {
		d.AllowNoSNI = true
	}
	return d
}

// TestPassthroughSNI: a passthrough tunnel that carries TLS must name the
// CONNECT host in its SNI, unless the rule makes the SNI optional (then an
// SNI, if present, must still match); one that does not carry TLS is
// relayed as it is.
func TestPassthroughSNI(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	originRoots := x509.NewCertPool()
	originRoots.AddCert(e.testRoot.Cert)
	pass := fmt.Sprintf("pass.test:%d", e.origin.port)
	open := func(t *testing.T) net.Conn {
		resp, conn, _ := e.connect(pass)
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		return conn
	}
	strict := e.proxy.policy()

	t.Run("no-sni-refused", func(t *testing.T) {
		before := e.origin.conns()
		if _, err := tlsThrough(t, open(t), &tls.Config{InsecureSkipVerify: true}, "pass.test", "/nosni"); err == nil {
			t.Error("a ClientHello without SNI was relayed")
		}
		if e.origin.conns() != before {
			t.Error("upstream was dialled")
		}
		rec := e.waitAuditT(t, func(r audit.Record) bool {
			return r.Kind == "tunnel" && r.Decision == "deny" && strings.Contains(r.Reason, "without SNI")
		})
		if !strings.Contains(rec.Reason, "sni: optional") {
			t.Errorf("reason %q does not say how to allow it", rec.Reason)
		}
		wantCause(t, rec, allowlist.CauseSNIMissing)
	})
	t.Run("no-sni-allowed-by-rule", func(t *testing.T) {
		e.proxy.SetPolicy(noSNIPolicy{strict})
		defer e.proxy.SetPolicy(strict)
		body, err := tlsThrough(t, open(t), &tls.Config{InsecureSkipVerify: true}, "pass.test", "/nosni-ok")
		if err != nil || !strings.Contains(body, "/nosni-ok") {
			t.Errorf("%q %v", body, err)
		}
	})
	t.Run("other-sni-refused-even-when-optional", func(t *testing.T) {
		e.proxy.SetPolicy(noSNIPolicy{strict})
		defer e.proxy.SetPolicy(strict)
		if _, err := tlsThrough(t, open(t), &tls.Config{ServerName: "o2.test", RootCAs: originRoots}, "o2.test", "/"); err == nil {
			t.Error("a mismatched SNI was relayed")
		}
		rec := e.waitAuditT(t, func(r audit.Record) bool {
			return r.Kind == "tunnel" && r.Decision == "deny" && strings.Contains(r.Reason, `SNI "o2.test"`)
		})
		wantCause(t, rec, allowlist.CauseSNIMismatch)
	})
	t.Run("ip-literal-needs-no-sni", func(t *testing.T) {
		// Clients never put an address in SNI (RFC 6066 §3), so to an IP
		// literal, no SNI is what matches; a name there does not.
		e.setPolicy(fmt.Sprintf("version: 1\nallow:\n  - cidr: 127.0.0.1/32\n    ports: [%d]\n    tls: passthrough\n", e.origin.port))
		defer e.proxy.SetPolicy(strict)
		target := fmt.Sprintf("127.0.0.1:%d", e.origin.port)
		dial := func() net.Conn {
			resp, conn, _ := e.connect(target)
			if resp.StatusCode != 200 {
				t.Fatalf("CONNECT %s: %d", target, resp.StatusCode)
			}
			return conn
		}
		if body, err := tlsThrough(t, dial(), &tls.Config{InsecureSkipVerify: true}, "127.0.0.1", "/ip-literal"); err != nil || !strings.Contains(body, "/ip-literal") {
			t.Errorf("no SNI to an address: %q %v", body, err)
		}
		if _, err := tlsThrough(t, dial(), &tls.Config{ServerName: "pass.test", InsecureSkipVerify: true}, "pass.test", "/"); err == nil {
			t.Error("an SNI naming a host was relayed to an address")
		}
		rec := e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "tunnel" && r.Host == "127.0.0.1" && r.Decision == "deny" })
		wantCause(t, rec, allowlist.CauseSNIMismatch)
	})
	t.Run("malformed-client-hello-refused", func(t *testing.T) {
		conn := open(t)
		// A TLS handshake record header, then bytes that are no ClientHello.
		conn.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0xff, 0xff, 0xff, 0xff, 0xff})
		readClosed(t, conn, conn)
		rec := e.waitAuditT(t, func(r audit.Record) bool {
			return r.Kind == "tunnel" && r.Decision == "deny" && strings.Contains(r.Reason, "malformed")
		})
		if rec.Error == "" {
			t.Errorf("audit %+v has no parse error", rec)
		}
		wantCause(t, rec, allowlist.CauseBadClientHello)
	})
	t.Run("not-tls-relayed", func(t *testing.T) {
		echo := listen(t, "127.0.0.1")
		t.Cleanup(func() { echo.Close() })
		go func() {
			for {
				c, err := echo.Accept()
				if err != nil {
					return
				}
				go func() { defer c.Close(); io.Copy(c, c) }()
			}
		}()
		port := echo.Addr().(*net.TCPAddr).Port
		e.setPolicy(fmt.Sprintf("version: 1\nallow:\n  - host: raw.test\n    ports: [%d]\n    tls: passthrough\n  - cidr: 127.0.0.1/32\n    ports: [%d]\n", port, port))
		defer e.proxy.SetPolicy(strict)
		resp, conn, br := e.connect(fmt.Sprintf("raw.test:%d", port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		io.WriteString(conn, "SSH-2.0-test\r\n")
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, err := br.ReadString('\n')
		if err != nil || line != "SSH-2.0-test\r\n" {
			t.Errorf("non-TLS passthrough: %q %v", line, err)
		}
	})
	t.Run("server-speaks-first", func(t *testing.T) {
		// MySQL, SMTP, FTP: the client waits for the server's greeting.
		greet := listen(t, "127.0.0.1")
		t.Cleanup(func() { greet.Close() })
		go func() {
			for {
				c, err := greet.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					io.WriteString(c, "220 greet.test ready\r\n")
					line, _ := bufio.NewReader(c).ReadString('\n')
					io.WriteString(c, "250 got "+line)
				}()
			}
		}()
		port := greet.Addr().(*net.TCPAddr).Port
		e.setPolicy(fmt.Sprintf("version: 1\nallow:\n  - host: greet.test\n    ports: [%d]\n    tls: passthrough\n  - cidr: 127.0.0.1/32\n    ports: [%d]\n", port, port))
		defer e.proxy.SetPolicy(strict)
		resp, conn, br := e.connect(fmt.Sprintf("greet.test:%d", port))
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if line, err := br.ReadString('\n'); err != nil || line != "220 greet.test ready\r\n" {
			t.Fatalf("greeting: %q %v", line, err)
		}
		io.WriteString(conn, "HELO me\r\n")
		if line, err := br.ReadString('\n'); err != nil || line != "250 got HELO me\r\n" {
			t.Errorf("reply: %q %v", line, err)
		}
	})
	t.Run("late-client-hello-still-checked", func(t *testing.T) {
		// An agent that waits past serverFirstWait before its ClientHello
		// gets the upstream dialed early, but its SNI is checked all the same.
		conn := open(t)
		time.Sleep(2 * serverFirstWait)
		if _, err := tlsThrough(t, conn, &tls.Config{ServerName: "o2.test", RootCAs: originRoots}, "o2.test", "/late"); err == nil {
			t.Error("a mismatched SNI sent late was relayed")
		}
		rec := e.waitAuditT(t, func(r audit.Record) bool {
			return r.Kind == "tunnel" && r.Decision == "deny" && strings.Contains(r.Reason, `SNI "o2.test"`) && r.Host == "pass.test"
		})
		wantCause(t, rec, allowlist.CauseSNIMismatch)
		conn = open(t)
		time.Sleep(2 * serverFirstWait)
		if body, err := tlsThrough(t, conn, &tls.Config{ServerName: "pass.test", RootCAs: originRoots}, "pass.test", "/late-ok"); err != nil || !strings.Contains(body, "/late-ok") {
			t.Errorf("a matching SNI sent late: %q %v", body, err)
		}
	})
}

// TestUnicodeNames: a name the agent writes in Unicode is judged, resolved,
// minted for and sent upstream in its punycode form.
func TestUnicodeNames(t *testing.T) {
	pol := strings.Replace(basePolicy, "deny:\n", "  - host: "+unicodeName+"\n    ports: [{{ORIGIN}}, {{PLAIN}}]\ndeny:\n", 1)
	e := newEnv(t, pol, nil)
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)

	for _, connect := range []string{
		fmt.Sprintf("CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n", unicodeName, e.origin.port, unicodeASCII, e.origin.port),
		fmt.Sprintf("CONNECT %s:%d HTTP/1.0\r\n\r\n", unicodeName, e.origin.port),
	} {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(conn, connect)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%q: %v %v", connect, resp, err)
		}
		tc := tls.Client(&prefixedConn{Conn: conn, r: br}, &tls.Config{ServerName: unicodeASCII, RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("%q: handshake: %v", connect, err)
		}
		if names := tc.ConnectionState().PeerCertificates[0].DNSNames; len(names) != 1 || names[0] != unicodeASCII {
			t.Errorf("leaf names %v; want [%s]", names, unicodeASCII)
		}
		fmt.Fprintf(tc, "GET /idn HTTP/1.1\r\nHost: %s:%d\r\n\r\n", unicodeASCII, e.origin.port)
		r, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || !strings.Contains(string(body), "hello from "+unicodeASCII) {
			t.Errorf("%q: %d %q", connect, r.StatusCode, body)
		}
	}

	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET http://%s:%d/idn-plain HTTP/1.1\r\nHost: %s:%d\r\n\r\n", unicodeName, e.plain.port, unicodeASCII, e.plain.port)
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(string(body), "hello from "+unicodeASCII) {
		t.Errorf("plain: %d %q", r.StatusCode, body)
	}
}

// prefixedConn reads from r (which has buffered part of Conn) first.
type prefixedConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
