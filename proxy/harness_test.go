package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/syncbuf"
)

// mapResolver resolves test names from a map; anything else fails, so no
// test ever reaches a real resolver.
type mapResolver map[string][]netip.Addr

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := m[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// rebindResolver answers a name with one address the first time and
// another ever after: a DNS rebinding attack in miniature.
type rebindResolver struct {
	mapResolver
	name        string
	first, then netip.Addr
	n           atomic.Int64
}

func (r *rebindResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if strings.TrimSuffix(strings.ToLower(host), ".") == r.name {
		if r.n.Add(1) == 1 {
			return []netip.Addr{r.first}, nil
		}
		return []netip.Addr{r.then}, nil
	}
	return r.mapResolver.LookupNetIP(ctx, network, host)
}

// unicodeName is an IDN test name; unicodeASCII is its punycode form.
const (
	unicodeName  = "bücher.test"
	unicodeASCII = "xn--bcher-kva.test"
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// countingListener counts accepted connections, to prove a denial never
// reached an upstream.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// upstream is an HTTPS (or plain) test origin on a loopback address.
type upstream struct {
	srv  *httptest.Server
	ln   *countingListener
	port uint16
}

func (u *upstream) conns() int64 { return u.ln.n.Load() }

// env is a proxy wired to test origins. Names resolve through a map: to
// loopback addresses of this machine, or to addresses the proxy must refuse
// to dial (a private or link-local one); nothing leaves the machine.
type env struct {
	t        testing.TB
	bottleCA *ca.CA
	testRoot *ca.CA
	proxy    *Server
	addr     string // proxy host:port
	audit    *syncbuf.Buffer
	origin   *upstream // HTTPS, h1 and h2, on 127.0.0.1
	origin1  *upstream // HTTPS, h1 only, on 127.0.0.1
	plain    *upstream // plain HTTP on 127.0.0.1
	victim   *upstream // HTTPS on 127.0.0.2: must never be reached
	rogue    *upstream // HTTPS with a certificate from an unknown CA
	release  chan struct{}
	policy   string
	seen     pathLog // every path an origin served

	sink        syncbuf.Buffer // every body byte /sink received (up to 1 MiB a request)
	upstreamSaw syncbuf.Buffer // the credential headers and query of each /echo
	gotData     chan struct{}  // closed when /sink has received its first bytes
	gotOnce     sync.Once
	secrets     []string // values and placeholders no audit line may hold
}

// pathLog records the paths the origins were asked for, to prove a refused
// request never reached one.
type pathLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *pathLog) add(p string) {
	l.mu.Lock()
	l.paths = append(l.paths, p)
	l.mu.Unlock()
}

func (l *pathLog) has(p string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Contains(l.paths, p)
}

func (e *env) originHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s proto=%s path=%s", r.Host, r.Proto, r.URL.Path)
	})
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		var size int64
		fmt.Sscan(r.URL.Query().Get("n"), &size)
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		// Without a length the body is sent as it is written (chunked
		// on HTTP/1.1), as git-http-backend's pack is.
		io.CopyN(w, zeros{}, size)
	})
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select { // the second event waits until the client has seen the first
		case <-e.release:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		fmt.Fprint(w, "data: second\n\n")
	})
	// /echo answers with what it was sent: the request's headers and
	// query in the body, and its credential headers in the answer's.
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		fmt.Fprintf(&e.upstreamSaw, "%s %q %q %q\n", host, r.Header.Values("X-Api-Key"), r.Header.Values("Authorization"), r.URL.RawQuery)
		w.Header().Set("X-Echo-Key", r.Header.Get("X-Api-Key"))
		w.Header().Set("X-Echo-Authorization", r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"header": r.Header, "query": r.URL.RawQuery})
	})
	// /trailer-echo answers with the X-Api-Key it got in a trailer, as a
	// gRPC server puts its error message (which may quote the key) in
	// grpc-message.
	mux.HandleFunc("/trailer-echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Echo-Key")
		io.WriteString(w, "body\n")
		w.Header().Set("X-Echo-Key", r.Header.Get("X-Api-Key"))
	})
	// /trailers answers with the request trailers it got, one NAME: VALUE
	// a line.
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for k, vs := range r.Trailer {
			for _, v := range vs {
				fmt.Fprintf(w, "%s: %s\n", k, v)
			}
		}
	})
	// /sink keeps every body byte it receives, and says when the first
	// ones came.
	sink := func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		var n int64
		for {
			k, err := r.Body.Read(buf)
			if k > 0 {
				if n < 1<<20 {
					e.sink.Write(buf[:k])
				}
				n += int64(k)
				e.gotOnce.Do(func() { close(e.gotData) })
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		fmt.Fprintf(w, "%d", n)
	}
	mux.HandleFunc("/sink", sink)
	mux.HandleFunc("/sink/", sink)
	// /sse-echo is an event stream that says what X-Api-Key it got, once
	// per event; the second event waits for the client to have seen the
	// first.
	mux.HandleFunc("/sse-echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: first key=%s\n\n", r.Header.Get("X-Api-Key"))
		w.(http.Flusher).Flush()
		select {
		case <-e.release:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		fmt.Fprintf(w, "data: second key=%s\n\n", r.Header.Get("X-Api-Key"))
	})
	mux.HandleFunc("/truncate", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection (h1) or stream (h2) ends mid-body
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "not an upgrade", 400)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		// The subprotocol chosen is echoed, as a WebSocket server must:
		// some APIs take their token as one (browsers cannot set
		// Authorization on a WebSocket).
		proto := ""
		if p := r.Header.Get("Sec-WebSocket-Protocol"); p != "" {
			proto = "Sec-WebSocket-Protocol: " + p + "\r\n"
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n" + proto + "\r\n")
		brw.Flush()
		io.Copy(c, brw) // echo
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.seen.add(r.URL.Path)
		mux.ServeHTTP(w, r)
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// listen listens on ip (port 0) or on an exact ip:port.
func listen(t testing.TB, addr string) *countingListener {
	if !strings.Contains(addr, ":") {
		addr += ":0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return &countingListener{Listener: ln}
}

func (e *env) startTLS(ip string, root *ca.CA, h2 bool) *upstream {
	leaves := ca.NewLeafCache(root, 0)
	ln := listen(e.t, ip)
	srv := httptest.NewUnstartedServer(e.originHandler())
	srv.Listener = ln
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rogue origin's handshake failures are expected
	srv.EnableHTTP2 = h2
	srv.TLS = &tls.Config{GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := chi.ServerName
		if name == "" {
			name = ip
		}
		return leaves.Get(name)
	}}
	srv.StartTLS()
	e.t.Cleanup(srv.Close)
	return &upstream{srv: srv, ln: ln, port: uint16(ln.Addr().(*net.TCPAddr).Port)}
}

// newEnv starts the origins and a proxy whose policy is policyTmpl with
// {{ORIGIN}}, {{PLAIN}}, {{VICTIM}}, {{ROGUE}} and {{PROXY}} replaced by ports.
func newEnv(t testing.TB, policyTmpl string, opt func(*Config)) *env {
	t.Helper()
	e := &env{t: t, audit: &syncbuf.Buffer{}, release: make(chan struct{}), gotData: make(chan struct{})}
	// Registered first, so it runs last (after the proxy's shutdown has
	// written the lines of the tunnels still open): every line a test made
	// says why exactly when it denies, and none holds a secret.
	t.Cleanup(func() {
		checkCauses(t, e.auditLines())
		checkNoSecrets(t, e.audit.String(), e.secrets)
	})
	var err error
	if e.bottleCA, err = ca.New("test-bottle", 0); err != nil {
		t.Fatal(err)
	}
	if e.testRoot, err = ca.New("test-root", 0); err != nil {
		t.Fatal(err)
	}
	unknownRoot, _ := ca.New("unknown-root", 0)
	e.origin = e.startTLS("127.0.0.1", e.testRoot, true)
	e.origin1 = e.startTLS("127.0.0.1", e.testRoot, false)
	e.victim = e.startTLS("127.0.0.2", e.testRoot, false)
	e.rogue = e.startTLS("127.0.0.1", unknownRoot, false)
	pln := listen(t, "127.0.0.1")
	psrv := httptest.NewUnstartedServer(e.originHandler())
	psrv.Listener = pln
	psrv.Start()
	t.Cleanup(psrv.Close)
	e.plain = &upstream{srv: psrv, ln: pln, port: uint16(pln.Addr().(*net.TCPAddr).Port)}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	_, pport, _ := net.SplitHostPort(e.addr)
	e.policy = strings.NewReplacer(
		"{{ORIGIN}}", fmt.Sprint(e.origin.port),
		"{{ORIGIN1}}", fmt.Sprint(e.origin1.port),
		"{{PLAIN}}", fmt.Sprint(e.plain.port),
		"{{VICTIM}}", fmt.Sprint(e.victim.port),
		"{{ROGUE}}", fmt.Sprint(e.rogue.port),
		"{{PROXY}}", pport,
	).Replace(policyTmpl)
	pol, err := allowlist.Parse("test.yaml", []byte(e.policy))
	if err != nil {
		t.Fatalf("test policy: %v\n%s", err, e.policy)
	}
	cfg := Config{
		Bottle: "t1",
		Policy: pol,
		CA:     e.bottleCA,
		// Every line, so tests can look for each denial; the per-client
		// budget has its own test.
		Audit:      audit.NewWith(audit.Options{PerClient: 1 << 30}, e.audit),
		ExtraRoots: []*x509.Certificate{e.testRoot.Cert},
		AllowHTTP2: true,
		Resolver: mapResolver{
			"o1.test":          addrs("127.0.0.1"),
			"o2.test":          addrs("127.0.0.1"),
			"o3.test":          addrs("127.0.0.1"),
			"l7.test":          addrs("127.0.0.1"),
			"plain.test":       addrs("127.0.0.1"),
			"pass.test":        addrs("127.0.0.1"),
			"blocked.test":     addrs("127.0.0.1"),
			"rogue.test":       addrs("127.0.0.1"),
			"self.test":        addrs("127.0.0.1"),
			"loop.test":        addrs("127.0.0.2"),
			"private.test":     addrs("10.0.0.1"),
			"linklocal.test":   addrs("169.254.169.254"),
			"mixed.test":       addrs("169.254.169.254", "127.0.0.1"),
			"mapped.test":      addrs("::ffff:127.0.0.2"),
			"v6loop.test":      addrs("::1"),
			"nat64.test":       addrs("64:ff9b::7f00:2"),
			"report-only.test": addrs("127.0.0.1"),
			"h1.test":          addrs("127.0.0.1"),
			"raw.test":         addrs("127.0.0.1"),
			"greet.test":       addrs("127.0.0.1"),
			"refused.test":     addrs("127.0.0.1"),
			unicodeASCII:       addrs("127.0.0.1"), // the resolver knows names in punycode only
		},
	}
	if opt != nil {
		opt(&cfg)
	}
	if e.proxy, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	// Everything the proxy runs is labelled role=proxy (goroutines inherit
	// their creator's labels, and the upstream transport's are made by the
	// proxy's handlers), so a benchmark's CPU profile can show the proxy's
	// share apart from the client's and the origin's:
	//	go tool pprof -tagfocus role=proxy
	go pprof.Do(context.Background(), pprof.Labels("role", "proxy"), func(context.Context) { e.proxy.Serve(ln) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.proxy.Shutdown(ctx)
	})
	return e
}

// client is an HTTP client that trusts only the bottle CA and sends
// everything through the proxy.
func (e *env) client(h2 bool) *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	pu, _ := url.Parse("http://" + e.addr)
	tr := &http.Transport{
		Proxy:             http.ProxyURL(pu),
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: h2,
	}
	e.t.Cleanup(tr.CloseIdleConnections) // before the proxy shuts down
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func (e *env) caFile() string {
	p := filepath.Join(e.t.TempDir(), "bottle-ca.pem")
	if err := os.WriteFile(p, e.bottleCA.CertPEM(), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// connect sends a raw CONNECT and returns the response and the connection.
func (e *env) connect(target string) (*http.Response, net.Conn, *bufio.Reader) {
	e.t.Helper()
	return e.connectWith(target, "")
}

// connectRaw sends a CONNECT that says its tunnel carries no HTTP (as
// bottle-probe connect does): a refusal is the CONNECT's own 403, never a
// page inside TLS.
func (e *env) connectRaw(target string) (*http.Response, net.Conn, *bufio.Reader) {
	e.t.Helper()
	return e.connectWith(target, contract.RawTunnelHeader+": raw\r\n")
}

// connectWith sends a CONNECT with the extra header lines hdr.
func (e *env) connectWith(target, hdr string) (*http.Response, net.Conn, *bufio.Reader) {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, hdr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		e.t.Fatalf("CONNECT %s: %v", target, err)
	}
	return resp, c, br
}

// auditLines returns the audit records written so far.
func (e *env) auditLines() []audit.Record {
	var out []audit.Record
	for _, l := range strings.Split(strings.TrimSpace(e.audit.String()), "\n") {
		if l == "" {
			continue
		}
		var r audit.Record
		if err := jsonUnmarshal([]byte(l), &r); err != nil {
			e.t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// waitAudit waits for an audit record matching f (lines are written when a
// response body is closed, which may trail the client by a moment).
func (e *env) waitAudit(f func(audit.Record) bool) audit.Record {
	e.t.Helper()
	return e.waitAuditT(e.t, f)
}

// checkCauses fails t if a line that denies (or would) has no cause, or
// "unknown" or "allowed" for one, or if a line that allows has one.
func checkCauses(t testing.TB, lines []audit.Record) {
	t.Helper()
	for _, r := range lines {
		denies := r.Decision == audit.DecisionDeny || r.Decision == audit.DecisionWouldDeny
		if denies && (r.Cause == "" || r.Cause == allowlist.CauseUnknown.String() || r.Cause == allowlist.CauseAllowed.String()) || !denies && r.Cause != "" {
			t.Errorf("audit line with decision %s and cause %q: %+v", r.Decision, r.Cause, r)
		}
	}
}

// wantCause fails t unless rec carries cause: the key of a denial's cause,
// and none on an allowed line.
func wantCause(t testing.TB, rec audit.Record, cause allowlist.Cause) {
	t.Helper()
	want := cause.String()
	if cause == allowlist.CauseAllowed {
		want = ""
	}
	if rec.Cause != want {
		t.Errorf("audit cause %q; want %q in %+v", rec.Cause, want, rec)
	}
}

// waitAuditT is waitAudit for a subtest: a failure ends t, not the test
// that made the env.
func (e *env) waitAuditT(t testing.TB, f func(audit.Record) bool) audit.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, r := range e.auditLines() {
			if f(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching audit line in:\n%s", e.audit.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
