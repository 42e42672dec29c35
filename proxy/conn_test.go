package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/internal/audit"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// settle waits until the goroutine and FD counts stop falling, and returns
// them.
func settle(t *testing.T) (goroutines, fds int) {
	t.Helper()
	g, f := runtime.NumGoroutine(), openFDs(t)
	for range 20 {
		time.Sleep(50 * time.Millisecond)
		g2, f2 := runtime.NumGoroutine(), openFDs(t)
		if g2 >= g && f2 >= f {
			return g2, f2
		}
		g, f = g2, f2
	}
	return g, f
}

// TestTunnelTimeouts: every tunnel, intercepted or passthrough, is closed if
// the agent sends nothing (or half of something) after the CONNECT, and when
// it goes quiet later; nothing is left behind.
func TestTunnelTimeouts(t *testing.T) {
	e := newEnv(t, basePolicy, func(c *Config) {
		c.TLSHandshakeTimeout = 300 * time.Millisecond
		c.HeaderTimeout = 300 * time.Millisecond
		c.IdleTimeout = 700 * time.Millisecond
	})
	o1 := fmt.Sprintf("o1.test:%d", e.origin.port)
	bottleRoots, originRoots := x509.NewCertPool(), x509.NewCertPool()
	bottleRoots.AddCert(e.bottleCA.Cert)
	originRoots.AddCert(e.testRoot.Cert)
	handshake := func(t *testing.T, c net.Conn, name string, roots *x509.CertPool) *tls.Conn {
		tc := tls.Client(c, &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"http/1.1"}})
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return tc
	}
	// Warm up (a leaf minted, an upstream connection pooled) before the
	// baseline is taken.
	if resp, _ := e.get(e.client(false), "https://"+o1+"/warm"); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	baseG, baseFD := settle(t)

	cases := []struct {
		name   string
		target string
		then   func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader // returns what to read until closed
	}{
		{"intercepted/silent", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader { return br }},
		{"intercepted/half-a-client-hello", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01})
			return br
		}},
		{"intercepted/half-a-plain-request", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: o1")
			return br
		}},
		{"intercepted/tls-then-half-a-request", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			tc := handshake(t, c, "o1.test", bottleRoots)
			io.WriteString(tc, "GET / HTTP/1.1\r\nHost: o1.test\r\n")
			return tc
		}},
		{"intercepted/tls-then-a-stalled-body", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			tc := handshake(t, c, "o1.test", bottleRoots)
			fmt.Fprintf(tc, "POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n0123456789", o1)
			return tc
		}},
		{"intercepted/idle-after-a-request", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			tc := handshake(t, c, "o1.test", bottleRoots)
			fmt.Fprintf(tc, "GET /idle HTTP/1.1\r\nHost: %s\r\n\r\n", o1)
			tbr := bufio.NewReader(tc)
			r, err := http.ReadResponse(tbr, nil)
			if err != nil || r.StatusCode != 200 {
				t.Fatalf("request: %v %v", r, err)
			}
			io.ReadAll(r.Body)
			return tbr
		}},
		{"intercepted/idle-websocket", o1, func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			tc := handshake(t, c, "o1.test", bottleRoots)
			fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", o1)
			tbr := bufio.NewReader(tc)
			if r, err := http.ReadResponse(tbr, nil); err != nil || r.StatusCode != 101 {
				t.Fatalf("upgrade: %v %v", r, err)
			}
			return tbr
		}},
		{"passthrough/silent", fmt.Sprintf("pass.test:%d", e.origin.port), func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader { return br }},
		{"passthrough/idle-after-handshake", fmt.Sprintf("pass.test:%d", e.origin.port), func(t *testing.T, c net.Conn, br *bufio.Reader) io.Reader {
			return handshake(t, c, "pass.test", originRoots)
		}},
	}
	const perCase = 10
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for range perCase {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, c, br := e.connect(tc.target)
					defer c.Close()
					if resp.StatusCode != 200 {
						t.Errorf("CONNECT: %d", resp.StatusCode)
						return
					}
					r := tc.then(t, c, br)
					readClosed(t, r, c)
				}()
			}
			wg.Wait()
		})
	}
	// A plain-HTTP upgrade is a tunnel too.
	t.Run("plain/idle-websocket", func(t *testing.T) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		target := fmt.Sprintf("plain.test:%d", e.plain.port)
		fmt.Fprintf(c, "GET http://%s/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		if r, err := http.ReadResponse(br, nil); err != nil || r.StatusCode != 101 {
			t.Fatalf("upgrade: %v %v", r, err)
		}
		readClosed(t, br, c)
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		g, fd := settle(t)
		if g <= baseG+5 && fd <= baseFD+5 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("after every tunnel closed: %d goroutines (baseline %d), %d FDs (baseline %d)\n%s",
				g, baseG, fd, baseFD, buf[:runtime.Stack(buf, true)])
		}
	}
	if rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "tunnel" && strings.Contains(r.Error, "without traffic") }); rec.Host == "" {
		t.Errorf("idle close not logged: %+v", rec)
	}
}

// earlyConn sends a CONNECT in the same write as the first bytes of the
// tunnel (a ClientHello), as clients that do not wait for the 200 do.
type earlyConn struct {
	net.Conn
	connect []byte
	br      *bufio.Reader
}

func (c *earlyConn) Write(p []byte) (int, error) {
	if c.connect != nil {
		b := append(c.connect, p...)
		c.connect = nil
		if _, err := c.Conn.Write(b); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *earlyConn) Read(p []byte) (int, error) {
	if c.br == nil {
		c.br = bufio.NewReader(c.Conn)
		resp, err := http.ReadResponse(c.br, &http.Request{Method: "CONNECT"})
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("CONNECT: %s", resp.Status)
		}
	}
	return c.br.Read(p)
}

// TestEarlyBytesAfterConnect: bytes that arrive with the CONNECT request
// (net/http has buffered them) reach the tunnel, passthrough and intercepted.
func TestEarlyBytesAfterConnect(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	for _, tc := range []struct {
		host string
		root *x509.Certificate
	}{{"pass.test", e.testRoot.Cert}, {"o1.test", e.bottleCA.Cert}} {
		t.Run(tc.host, func(t *testing.T) {
			raw, err := net.Dial("tcp", e.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			raw.SetDeadline(time.Now().Add(10 * time.Second))
			target := fmt.Sprintf("%s:%d", tc.host, e.origin.port)
			ec := &earlyConn{Conn: raw, connect: []byte(fmt.Sprintf("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target))}
			roots := x509.NewCertPool()
			roots.AddCert(tc.root)
			tlc := tls.Client(ec, &tls.Config{ServerName: tc.host, RootCAs: roots, NextProtos: []string{"http/1.1"}})
			if err := tlc.Handshake(); err != nil {
				t.Fatalf("handshake after CONNECT+ClientHello in one write: %v", err)
			}
			fmt.Fprintf(tlc, "GET /early HTTP/1.1\r\nHost: %s\r\n\r\n", target)
			r, err := http.ReadResponse(bufio.NewReader(tlc), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r.Body)
			if r.StatusCode != 200 || !strings.Contains(string(body), "/early") {
				t.Errorf("%d %q", r.StatusCode, body)
			}
		})
	}
}

// TestClientRanges: with Config.Clients set, a peer outside it is closed on
// before a byte is read, and one inside it is served.
func TestClientRanges(t *testing.T) {
	e := newEnv(t, basePolicy, func(c *Config) {
		c.Clients = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	})
	u := fmt.Sprintf("http://plain.test:%d/from", e.plain.port)

	outside, err := net.Dial("tcp", e.addr) // from 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	fmt.Fprintf(outside, "GET %s-outside HTTP/1.1\r\nHost: plain.test\r\n\r\n", u)
	outside.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := io.Copy(io.Discard, outside); n != 0 || isTimeout(err) {
		t.Errorf("a peer outside the client ranges got %d bytes (err %v)", n, err)
	}
	if got := e.proxy.RefusedPeers(); got != 1 {
		t.Errorf("RefusedPeers %d; want 1", got)
	}
	if e.seen.has("/from-outside") {
		t.Error("a request from outside the client ranges was served")
	}

	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c := e.client(false)
	c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}
	if resp, body := e.get(c, u+"-inside"); resp.StatusCode != 200 {
		t.Errorf("a peer inside the client ranges: %d %q", resp.StatusCode, body)
	}
	if got := e.proxy.RefusedPeers(); got != 1 {
		t.Errorf("RefusedPeers %d after an allowed peer; want 1", got)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestSessionResumption: an agent that reconnects to an intercepted host
// resumes its TLS session (the proxy's ticket keys are shared by every
// intercepted connection), and the resumed session gets the same leaf.
func TestSessionResumption(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	cfg := &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(8)}
	target := fmt.Sprintf("o1.test:%d", e.origin.port)
	for i, wantResumed := range []bool{false, true} {
		resp, conn, _ := e.connect(target)
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		tc := tls.Client(conn, cfg)
		// A request, so that the session ticket (sent after the TLS 1.3
		// handshake) is read.
		fmt.Fprintf(tc, "GET /resume HTTP/1.1\r\nHost: %s\r\n\r\n", target)
		r, err := http.ReadResponse(bufio.NewReader(tc), nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("connection %d: %v %v", i, r, err)
		}
		io.ReadAll(r.Body)
		if got := tc.ConnectionState().DidResume; got != wantResumed {
			t.Errorf("connection %d: resumed %v; want %v", i, got, wantResumed)
		}
		tc.Close()
	}
}

func TestHeaderHas(t *testing.T) {
	h := http.Header{"Connection": {"keep-alive, Upgrade"}, "upgrade": {"h2c,", " WebSocket "}}
	for _, tc := range []struct {
		name, value string
		want        bool
	}{
		{"Connection", "upgrade", true},
		{"connection", "keep-alive", true},
		{"Upgrade", "websocket", true},
		{"Upgrade", "h2c", true},
		{"Upgrade", "", false},
		{"Connection", "close", false},
		{"Proxy-Connection", "keep-alive", false},
	} {
		if got := headerHas(h, tc.name, tc.value); got != tc.want {
			t.Errorf("headerHas(%q, %q) = %v, want %v", tc.name, tc.value, got, tc.want)
		}
	}
	r := &http.Request{RequestURI: "http://a.test/", Header: http.Header{"Proxy-Authorization": {"x"}, "Proxy-Connection": {"keep-alive"},
		"Connection": {"close"}, "Accept-Encoding": {"gzip"}}}
	removeProxyHeaders(r)
	if r.RequestURI != "" || len(r.Header) != 1 || r.Header.Get("Accept-Encoding") != "gzip" {
		t.Errorf("after removeProxyHeaders: %q %v", r.RequestURI, r.Header)
	}
	r.Header = http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}
	removeProxyHeaders(r)
	if r.Header.Get("Connection") != "Upgrade" {
		t.Errorf("a WebSocket handshake lost its Connection: %v", r.Header)
	}
}
