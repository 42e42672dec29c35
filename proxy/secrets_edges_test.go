package proxy

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/audit"
)

// TestResponseTrailerRedacted: a bound host that echoes the real value in
// a response trailer (a gRPC server's grpc-message quoting the key it
// refused) must not hand it to the agent: trailers are redacted like
// headers.
func TestResponseTrailerRedacted(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, vals := newSecretEnv(t, secretPolicy, nil)
			c := e.client(h2)
			hdr := vals["hdr"]
			resp, err := c.Do(mkReq(t, "GET", fmt.Sprintf("https://o1.test:%d/trailer-echo", e.origin.port), nil, "X-Api-Key", hdr.Placeholder))
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			got := resp.Trailer.Get("X-Echo-Key")
			if got == hdr.Value {
				t.Fatalf("the agent got the real value in a response trailer")
			}
			if got != hdr.Placeholder {
				t.Errorf("trailer X-Echo-Key %q; want the placeholder", got)
			}
		})
	}
}

// TestRequestTrailerChecked: a placeholder in a request trailer, sent to a
// host its credential is not bound to, is refused as in a header: the
// upstream never receives it.
func TestRequestTrailerChecked(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, vals := newSecretEnv(t, secretPolicy, nil)
			c := e.client(h2)
			ph := vals["git"].Placeholder
			req := mkReq(t, "POST", fmt.Sprintf("https://o2.test:%d/trailers", e.origin.port), io.NopCloser(strings.NewReader("some body")))
			req.ContentLength = -1
			req.Trailer = http.Header{"X-Leak": {ph}}
			resp, body := e.do(c, req)
			if strings.Contains(body, ph) {
				t.Fatalf("the upstream received the placeholder in a trailer: %d %q", resp.StatusCode, body)
			}
			if resp.StatusCode != 403 {
				t.Errorf("%d %q; want 403", resp.StatusCode, body)
			}
		})
	}
}

// TestUpgradeResponseRedacted: the 101 of a bound host that echoes the
// WebSocket subprotocol, in which the agent put the placeholder (the
// proxy swaps it for the value in every header), must not show the agent
// the real value: the answer's headers are redacted as any answer's are.
func TestUpgradeResponseRedacted(t *testing.T) {
	e, vals := newSecretEnv(t, secretPolicy, nil)
	hdr := vals["hdr"]
	o1 := fmt.Sprintf("o1.test:%d", e.origin.port)
	resp, c, _ := e.connect(o1)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	tc := tls.Client(c, &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
	defer tc.Close()
	fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: token.%s\r\n\r\n", o1, hdr.Placeholder)
	r, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil || r.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", r, err)
	}
	got := r.Header.Get("Sec-WebSocket-Protocol")
	if strings.Contains(got, hdr.Value) {
		t.Fatalf("the agent got the real value in the 101's Sec-WebSocket-Protocol")
	}
	if got != "token."+hdr.Placeholder {
		t.Errorf("Sec-WebSocket-Protocol %q; want the placeholder back", got)
	}
}

// TestDLPMatchNotInAuditPath: a DLP finding in the path of a request is
// audited by its rule id, never the match: the audit line's path must not
// hold the secret the agent tried to send (here in block mode, where the
// request is refused and the secret sent nowhere but the log).
func TestDLPMatchNotInAuditPath(t *testing.T) {
	pol := strings.Replace(secretPolicy, "version: 1\n", "version: 1\ndlp: block\n", 1)
	e, _ := newSecretEnv(t, pol, func(c *Config) { c.DLP = fakeDLP{} })
	c := e.client(false)
	resp, _ := e.do(c, mkReq(t, "GET", fmt.Sprintf("https://o2.test:%d/paste/FAKESECRET-77", e.origin.port), nil))
	if resp.StatusCode != 403 {
		t.Fatalf("%d; want 403", resp.StatusCode)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return strings.HasPrefix(r.Path, "/paste") })
	if strings.Contains(e.audit.String(), "FAKESECRET-77") {
		t.Errorf("the audit holds the DLP match: path %q", rec.Path)
	}
}
