package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"bottle.dev/bottle/bench/workload"
	"bottle.dev/bottle/ca"
)

// TestServer: every site is served by its own name over HTTP/2 and
// HTTP/1.1, with a leaf for that name from the test root; an unknown name
// is answered 421.
func TestServer(t *testing.T) {
	root, err := ca.New("simnet-test-root", 0)
	if err != nil {
		t.Fatal(err)
	}
	sites := []workload.Site{
		{Host: "a.bench.test", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "a "+r.Proto) })},
		{Host: "b.bench.test", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b "+r.Proto) })},
	}
	srv := Server(sites, ca.NewLeafCache(root, 0))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	addr := ln.Addr().String()
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: h2,
			// every name is this server, on loopback
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
		}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr}
		for host, want := range map[string]string{"a.bench.test": "a ", "b.bench.test": "b ", "c.bench.test": "simnet: no site c.bench.test"} {
			resp, err := c.Get("https://" + host + "/")
			if err != nil {
				t.Fatalf("h2=%v %s: %v", h2, host, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			proto := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
			if !strings.HasPrefix(string(b), want) || resp.Proto != proto {
				t.Errorf("h2=%v %s: %s %q, want %s %q...", h2, host, resp.Proto, b, proto, want)
			}
			if host == "c.bench.test" && resp.StatusCode != http.StatusMisdirectedRequest {
				t.Errorf("unknown site: status %d", resp.StatusCode)
			}
			if leaf := resp.TLS.PeerCertificates[0]; leaf.VerifyHostname(host) != nil {
				t.Errorf("leaf for %s names %v", host, leaf.DNSNames)
			}
		}
		tr.CloseIdleConnections()
	}
}

// TestHosts: every scenario's allowlist host is a site name given to the
// container (the npm registry among them).
func TestHosts(t *testing.T) {
	hs := Hosts()
	found := false
	for _, h := range hs {
		if h == workload.NPMHost {
			found = true
		}
		if !strings.HasSuffix(h, ".bench.test") {
			t.Errorf("host %q is not under bench.test", h)
		}
	}
	if !found {
		t.Errorf("Hosts() = %v lacks %s", hs, workload.NPMHost)
	}
}
