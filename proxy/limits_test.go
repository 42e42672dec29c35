package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/syncbuf"
)

// flood writes prefix, n filler bytes and suffix to w until a write fails.
func flood(w io.Writer, prefix string, n int, suffix string) {
	if _, err := io.WriteString(w, prefix); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte("a"), 64<<10)
	for sent := 0; sent < n; sent += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
	io.WriteString(w, suffix)
}

// tunnelBytesIn is how much the proxy read from the agent on the tunnel of
// client connection c, from the tunnel's audit line once it closed.
func (e *env) tunnelBytesIn(t *testing.T, c net.Conn) int64 {
	t.Helper()
	local := c.LocalAddr().String()
	return e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "tunnel" && r.Client == local }).BytesIn
}

// TestInnerHeaderLimits: inside an intercepted tunnel, as on the listener,
// request headers (and trailers) are capped at about 1 MiB: the agent gets
// 431 (or, for an HTTP/2 header block far over the limit, the connection
// closes) and the proxy stops reading long before the 64 MiB it was sent.
func TestInnerHeaderLimits(t *testing.T) {
	e := newEnv(t, basePolicy, nil)
	const huge = 64 << 20
	const maxRead = 4 << 20 // what the proxy may read before it gives up
	o1 := fmt.Sprintf("o1.test:%d", e.origin.port)
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	tunnel := func(t *testing.T, proto string) (net.Conn, net.Conn) {
		resp, c, _ := e.connect(o1)
		if resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %d", resp.StatusCode)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if proto == "" {
			return c, c
		}
		tc := tls.Client(c, &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{proto}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		if got := tc.ConnectionState().NegotiatedProtocol; got != proto {
			t.Fatalf("ALPN %q; want %q", got, proto)
		}
		return tc, c
	}
	// h1 sends a request whose headers never end in time, reads the answer,
	// and checks how much the proxy read.
	h1 := func(t *testing.T, proto, prefix, path string) {
		w, raw := tunnel(t, proto)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); flood(w, prefix, huge, "\r\n\r\n") }()
		resp, err := http.ReadResponse(bufio.NewReader(w), nil)
		raw.Close()
		wg.Wait()
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d; want 431", resp.StatusCode)
		}
		if n := e.tunnelBytesIn(t, raw); n > maxRead {
			t.Errorf("the proxy read %d MiB of the request before refusing it", n>>20)
		}
		if e.seen.has(path) {
			t.Errorf("%s reached the origin", path)
		}
	}

	t.Run("h1-header", func(t *testing.T) {
		h1(t, "http/1.1", fmt.Sprintf("GET /big HTTP/1.1\r\nHost: %s\r\nX-Big: ", o1), "/big")
	})
	t.Run("h1-many-headers", func(t *testing.T) {
		w, raw := tunnel(t, "http/1.1")
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			bw := bufio.NewWriterSize(w, 64<<10)
			fmt.Fprintf(bw, "GET /many HTTP/1.1\r\nHost: %s\r\n", o1)
			for i := 0; i < huge/32; i++ {
				if _, err := fmt.Fprintf(bw, "X-H%d: %020d\r\n", i, i); err != nil {
					return
				}
			}
			bw.WriteString("\r\n")
			bw.Flush()
		}()
		resp, err := http.ReadResponse(bufio.NewReader(w), nil)
		raw.Close()
		wg.Wait()
		if err != nil || resp.StatusCode != 431 {
			t.Fatalf("%v %v", resp, err)
		}
		if n := e.tunnelBytesIn(t, raw); n > maxRead {
			t.Errorf("the proxy read %d MiB of the request before refusing it", n>>20)
		}
	})
	t.Run("h1-trailer", func(t *testing.T) {
		h1(t, "http/1.1", fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nTrailer: X-Big\r\n\r\n5\r\nhello\r\n0\r\nX-Big: ", o1), "/nothing")
	})
	t.Run("plain-in-tunnel", func(t *testing.T) {
		h1(t, "", fmt.Sprintf("GET /plainbig HTTP/1.1\r\nHost: %s\r\nX-Big: ", o1), "/plainbig")
	})
	t.Run("listener", func(t *testing.T) {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		go flood(c, fmt.Sprintf("GET http://plain.test:%d/outerbig HTTP/1.1\r\nHost: plain.test:%d\r\nX-Big: ", e.plain.port, e.plain.port), huge, "\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 431 {
			t.Fatalf("%v %v", resp, err)
		}
	})

	// h2 speaks HTTP/2 frames by hand: a real client will not send headers
	// over the limit the server advertised.
	h2 := func(t *testing.T) (*http2.Framer, net.Conn) {
		w, raw := tunnel(t, "h2")
		if _, err := io.WriteString(w, http2.ClientPreface); err != nil {
			t.Fatal(err)
		}
		fr := http2.NewFramer(w, w)
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		fr.MaxHeaderListSize = 1 << 20
		if err := fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
		return fr, raw
	}
	pseudo := func(enc *hpack.Encoder, path string) {
		enc.WriteField(hpack.HeaderField{Name: ":method", Value: "GET"})
		enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
		enc.WriteField(hpack.HeaderField{Name: ":authority", Value: o1})
		enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
	}
	// writeBlock sends a header block as HEADERS and CONTINUATION frames of
	// the size the server allows.
	writeBlock := func(fr *http2.Framer, block []byte) error {
		const frag = 16 << 10
		first := block[:min(frag, len(block))]
		rest := block[len(first):]
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: true, EndHeaders: len(rest) == 0}); err != nil {
			return err
		}
		for len(rest) > 0 {
			f := rest[:min(frag, len(rest))]
			rest = rest[len(f):]
			if err := fr.WriteContinuation(1, len(rest) == 0, f); err != nil {
				return err
			}
		}
		return nil
	}

	t.Run("h2-header-list", func(t *testing.T) {
		fr, raw := h2(t)
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		pseudo(enc, "/h2big")
		for i := range 11 { // 11 × 100 kB: over 1 MiB only with the last one
			enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: strings.Repeat("a", 100_000)})
		}
		if err := writeBlock(fr, hb.Bytes()); err != nil {
			t.Fatal(err)
		}
		status := ""
		for status == "" {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if mh, ok := f.(*http2.MetaHeadersFrame); ok && mh.StreamID == 1 {
				status = mh.PseudoValue("status")
			}
		}
		if status != "431" {
			t.Errorf(":status %s; want 431", status)
		}
		raw.Close()
		if e.seen.has("/h2big") {
			t.Error("the request reached the origin")
		}
	})

	t.Run("h2-continuation-flood", func(t *testing.T) {
		fr, raw := h2(t)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			pseudo(enc, "/h2flood")
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndStream: true}); err != nil {
				return
			}
			for i, sent := 0, 0; sent < huge; i++ {
				hb.Reset()
				for hb.Len() < 15<<10 {
					enc.WriteField(hpack.HeaderField{Name: fmt.Sprintf("x-%d", i), Value: strings.Repeat("b", 1000)})
					i++
				}
				sent += hb.Len()
				if err := fr.WriteContinuation(1, false, hb.Bytes()); err != nil {
					return
				}
			}
		}()
		// The server gives up on the connection: GOAWAY, then EOF.
		for {
			if _, err := fr.ReadFrame(); err != nil {
				break
			}
		}
		raw.Close()
		wg.Wait()
		if n := e.tunnelBytesIn(t, raw); n > maxRead {
			t.Errorf("the proxy read %d MiB of header frames before closing", n>>20)
		}
	})
}

// TestAuditFloodBounded: denials with long, distinct paths and names from
// several connections write a bounded number of audit bytes (every field
// clipped, denial lines budgeted per client), the agent's 403s stay short,
// and allowed traffic is still logged one line per request.
func TestAuditFloodBounded(t *testing.T) {
	var log syncbuf.Buffer
	e := newEnv(t, basePolicy, func(c *Config) {
		// One window for the whole test, so the budget is exact.
		c.Audit = audit.NewWith(audit.Options{Window: time.Hour}, &log)
	})
	long := func() string {
		b := make([]byte, 30<<10)
		rand.Read(b)
		return hex.EncodeToString(b) // 60 kB
	}
	const conns, perConn = 8, 20
	var sent int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	check := func(kind string, resp *http.Response, body []byte) {
		if resp.StatusCode != 403 && resp.StatusCode != 400 {
			t.Errorf("%s: %d", kind, resp.StatusCode)
		}
		if len(body) > 8<<10 {
			t.Errorf("%s: a %d-byte refusal", kind, len(body))
		}
		for k, v := range resp.Header {
			if len(strings.Join(v, "")) > 1<<10 {
				t.Errorf("%s: header %s is %d bytes", kind, k, len(strings.Join(v, "")))
			}
		}
	}
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.client(false)
			for j := range perConn {
				p := long()
				var u string
				switch (i + j) % 3 {
				case 0: // refused plain request
					u = fmt.Sprintf("http://blocked.test:%d/%s", e.plain.port, p)
				case 1: // refused request inside a tunnel
					u = fmt.Sprintf("https://l7.test:%d/nope/%s", e.origin.port, p)
				default: // refused CONNECT: a name the policy cannot even parse
					resp, conn, _ := e.connect(p + ".test:443")
					body, _ := io.ReadAll(resp.Body)
					check("CONNECT", resp, body)
					conn.Close()
					mu.Lock()
					sent += int64(len(p))
					mu.Unlock()
					continue
				}
				resp, err := c.Get(u)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				check(u[:20], resp, body)
				mu.Lock()
				sent += int64(len(p))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	written := len(log.String())
	// 20 denial lines per client per window (audit.DefaultPerClient), each
	// with a few clipped fields.
	const bound = audit.DefaultPerClient * 10 << 10
	if written > bound {
		t.Errorf("%d MB of denied paths wrote %d kB of audit log; want at most %d kB", sent>>20, written>>10, bound>>10)
	}
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if len(l) > 10<<10 {
			t.Errorf("a %d-byte audit line: %.200s…", len(l), l)
		}
	}

	// Allowed requests are not budgeted: one line each.
	c := e.client(false)
	for i := range 30 {
		if resp, _ := e.get(c, fmt.Sprintf("http://plain.test:%d/allowed-%d", e.plain.port, i)); resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(log.String(), `"path":"/allowed-`) < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 30 allowed requests logged", strings.Count(log.String(), `"path":"/allowed-`))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
