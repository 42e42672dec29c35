package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Benchmarks compare each proxy path with the same request made directly to
// the same origin, in the same run, so that what the machine can do cancels
// out. Read them as ratios:
//
//	go test ./proxy -run '^$' -bench . -benchtime 3s
//
// Client, proxy and origin share this machine's cores, so the ratios are
// what an agent on the same box would see.

const benchBulk = 32 << 20

// wildResolver resolves every *.bench.test name to loopback, for first-contact
// benchmarks that need a new host each time.
type wildResolver struct{ mapResolver }

func (w wildResolver) LookupNetIP(ctx context.Context, n, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, ".bench.test") {
		return addrs("127.0.0.1"), nil
	}
	return w.mapResolver.LookupNetIP(ctx, n, host)
}

func benchEnv(b *testing.B) *env {
	e := newEnv(b, strings.Replace(basePolicy, "deny:\n", "  - host: \"**.bench.test\"\n    ports: [{{ORIGIN}}]\ndeny:\n", 1), func(c *Config) {
		c.Resolver = wildResolver{c.Resolver.(mapResolver)}
		c.AllowHTTP2 = false
	})
	return e
}

// clientFor builds a client that trusts roots, through the proxy or direct.
func (e *env) clientFor(root *x509.Certificate, viaProxy, keepAlive bool) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(root)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: roots},
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: 64,
	}
	if viaProxy {
		pu, _ := url.Parse("http://" + e.addr)
		tr.Proxy = http.ProxyURL(pu)
	} else {
		// Direct: the test names resolve to the origin's loopback address.
		origin := fmt.Sprintf("127.0.0.1:%d", e.origin.port)
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, origin)
		}
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func fetch(b *testing.B, c *http.Client, u string) int64 {
	resp, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("%s: %d", u, resp.StatusCode)
	}
	return n
}

func BenchmarkBulk(b *testing.B) {
	e := benchEnv(b)
	cases := []struct {
		name   string
		client *http.Client
		host   string
	}{
		{"direct", e.clientFor(e.testRoot.Cert, false, true), "o1.test"},
		{"tunnel", e.clientFor(e.testRoot.Cert, true, true), "pass.test"},
		{"mitm", e.clientFor(e.bottleCA.Cert, true, true), "o1.test"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			u := fmt.Sprintf("https://%s:%d/download?n=%d", tc.host, e.origin.port, benchBulk)
			b.SetBytes(benchBulk)
			for b.Loop() {
				if n := fetch(b, tc.client, u); n != benchBulk {
					b.Fatalf("got %d bytes", n)
				}
			}
		})
	}
}

// BenchmarkBulkCPU is one large intercepted download, as a git clone's pack
// is: the agent speaking HTTP/2 (git's libcurl does) or HTTP/1.1 to the
// proxy, the origin HTTP/2, the body with a Content-Length or without one
// (chunked, as git-http-backend sends it). cpu-ms/MB is the whole process's
// CPU (client, proxy and origin) per MB; the direct cases are the same
// download without the proxy, so the difference is the proxy's. Profile
// the proxy's part with
//
//	go test ./proxy -run '^$' -bench BulkCPU -cpuprofile cpu.out
//	go tool pprof -tagfocus role=proxy -top cpu.out
func BenchmarkBulkCPU(b *testing.B) {
	const size = 128 << 20
	e := newEnv(b, basePolicy, nil) // AllowHTTP2
	for _, tc := range []struct {
		name     string
		viaProxy bool
		h2       bool
		chunked  bool
	}{
		{"direct-h2-chunked", false, true, true},
		{"mitm-h2-chunked", true, true, true},
		{"mitm-h2-length", true, true, false},
		{"direct-h1-chunked", false, false, true},
		{"mitm-h1-chunked", true, false, true},
		{"mitm-h1-length", true, false, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			root := e.testRoot.Cert
			if tc.viaProxy {
				root = e.bottleCA.Cert
			}
			c := e.clientFor(root, tc.viaProxy, true)
			tr := c.Transport.(*http.Transport)
			if tc.h2 {
				// git's libcurl (nghttp2) takes frames of 16 KiB.
				tr.ForceAttemptHTTP2 = true
				tr.HTTP2 = &http.HTTP2Config{MaxReadFrameSize: 16 << 10}
			} else {
				tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			u := fmt.Sprintf("https://o1.test:%d/download?n=%d", e.origin.port, size)
			if tc.chunked {
				u += "&chunked=1"
			}
			b.SetBytes(size)
			var cpu time.Duration
			for b.Loop() {
				t0 := cpuTime()
				if n := fetch(b, c, u); n != size {
					b.Fatalf("got %d bytes", n)
				}
				cpu += cpuTime() - t0
			}
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N)/(size>>20), "cpu-ms/MB")
		})
	}
}

// cpuTime is the process's user and system CPU so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkSmallRequests(b *testing.B) {
	e := benchEnv(b)
	cases := []struct {
		name      string
		root      *x509.Certificate
		viaProxy  bool
		keepAlive bool
	}{
		{"direct-keepalive", e.testRoot.Cert, false, true},
		{"mitm-keepalive", e.bottleCA.Cert, true, true},
		{"direct-newconn", e.testRoot.Cert, false, false},
		{"mitm-newconn", e.bottleCA.Cert, true, false},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := e.clientFor(tc.root, tc.viaProxy, tc.keepAlive)
			u := fmt.Sprintf("https://o1.test:%d/", e.origin.port)
			fetch(b, c, u) // warm: leaf minted, pools filled
			b.ReportAllocs()
			b.ResetTimer()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fetch(b, c, u)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkFirstContact: every request goes to a host the proxy has not seen,
// so each one mints a leaf (the cold path of a new CONNECT).
func BenchmarkFirstContact(b *testing.B) {
	e := benchEnv(b)
	c := e.clientFor(e.bottleCA.Cert, true, false)
	var n atomic.Int64
	before := e.proxy.Leaves().Mints()
	for b.Loop() {
		fetch(b, c, fmt.Sprintf("https://h%d.bench.test:%d/", n.Add(1), e.origin.port))
	}
	if got := e.proxy.Leaves().Mints() - before; int64(got) != n.Load() {
		b.Fatalf("%d mints for %d new hosts", got, n.Load())
	}
}
