// Package proxy is the egress proxy of a bottle: an explicit HTTP proxy that
// intercepts TLS with the bottle's CA and judges every request against the
// allowlist. It is the only package that imports goproxy, and it overrides
// every goproxy default on the security path: no built-in CA, no blind
// tunnel for unmatched CONNECTs, no environment proxy, verified upstream TLS,
// timeouts everywhere.
package proxy

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/audit"
)

// Policy is what the proxy asks of the allowlist. *allowlist.Policy
// implements it.
type Policy interface {
	Decide(allowlist.Request) allowlist.Decision
	DecideConnect(host string, port uint16) allowlist.Decision
	CheckDst(host string, port uint16, dst netip.Addr) allowlist.Decision
	AllowCommand(allowlist.Request, allowlist.Decision) string
}

// Config configures a Server. Zero durations take the defaults below.
type Config struct {
	Bottle   string     // name in audit lines and denial messages
	Policy   Policy     // required; replace it later with SetPolicy
	CA       *ca.CA     // required: signs the leaves the agent sees
	Resolver Resolver   // nil: the system resolver
	Audit    *audit.Log // nil: no audit
	Logger   *slog.Logger
	// ExtraRoots are trusted for upstream TLS on top of the embedded Mozilla
	// bundle (a corporate CA, or a test root).
	ExtraRoots []*x509.Certificate
	// AllowHTTP2 offers h2 to agents inside intercepted tunnels. Upstream
	// requests go through the same verified, SSRF-checked transport either way.
	AllowHTTP2 bool

	DialTimeout           time.Duration // TCP connect to an upstream (and DNS lookup)
	TLSHandshakeTimeout   time.Duration // TLS handshake, with the agent and with the upstream
	ResponseHeaderTimeout time.Duration // from request sent to response headers
	IdleTimeout           time.Duration // a tunnel or intercepted connection with no traffic
}

// Defaults. ResponseHeaderTimeout is long because a model API may think for
// minutes before its first byte on a non-streaming call.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 5 * time.Minute
	DefaultIdleTimeout           = 10 * time.Minute
)

// Server is the proxy. It is safe for concurrent use.
type Server struct {
	cfg       Config
	pol       atomic.Pointer[policyBox]
	resolver  Resolver
	dialer    *net.Dialer
	transport *http.Transport
	leaves    *ca.LeafCache
	mitmTLS   *tls.Config
	gp        *goproxy.ProxyHttpServer
	log       *slog.Logger

	selfMu sync.RWMutex
	self   map[netip.AddrPort]bool

	accepted atomic.Int64 // agent connections accepted, for tests and metrics

	mu       sync.Mutex
	servers  []*http.Server
	tunnels  sync.WaitGroup // every open tunnel, intercepted or passthrough
	liveMu   sync.Mutex
	live     map[*tunnelState]struct{}
	draining atomic.Bool
}

type policyBox struct{ p Policy }

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil || cfg.CA == nil {
		return nil, errors.New("proxy: Policy and CA are required")
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.TLSHandshakeTimeout <= 0 {
		cfg.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:    cfg,
		dialer: &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second},
		leaves: ca.NewLeafCache(cfg.CA, ca.DefaultCacheSize),
		log:    cfg.Logger,
		self:   map[netip.AddrPort]bool{},
		live:   map[*tunnelState]struct{}{},
	}
	s.resolver = cfg.Resolver
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}
	s.SetPolicy(cfg.Policy)

	roots := x509.NewCertPool()
	for r := range bundle.Roots() {
		c, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			return nil, fmt.Errorf("embedded root bundle: %w", err)
		}
		if r.Constraint != nil {
			roots.AddCertWithConstraint(c, r.Constraint)
		} else {
			roots.AddCert(c)
		}
	}
	for _, c := range cfg.ExtraRoots {
		roots.AddCert(c)
	}
	s.transport = &http.Transport{
		Proxy:       nil,            // never chain to $HTTPS_PROXY: that may be this proxy
		DialContext: s.dialUpstream, // resolve, check, dial the checked address
		TLSClientConfig: &tls.Config{
			RootCAs:            roots,
			MinVersion:         tls.VersionTLS12,
			ClientSessionCache: tls.NewLRUClientSessionCache(1024),
		},
		ForceAttemptHTTP2:     true, // h2 upstream when the server offers it
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Pass compressed bodies through untouched: the agent asked for them.
		DisableCompression: true,
	}

	// The TLS config the agent's client handshakes with. Explicit session
	// ticket keys make resumption work across intercepted connections
	// (goproxy clones the config per CONNECT; see engine notes §1.8).
	s.mitmTLS = &tls.Config{MinVersion: tls.VersionTLS12}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	s.mitmTLS.SetSessionTicketKeys([][32]byte{key})

	gp := goproxy.NewProxyHttpServer()
	gp.Logger = slogPrintf{s.log}
	gp.Tr = s.transport
	gp.ConnectDial = nil        // NewProxyHttpServer reads $HTTPS_PROXY into this
	gp.ConnectDialWithReq = nil //
	gp.KeepAcceptEncoding = true
	gp.AllowHTTP2 = cfg.AllowHTTP2
	gp.CertStore = certStore{s.leaves}
	gp.ConnectionErrHandler = func(w io.Writer, _ *goproxy.ProxyCtx, _ error) {
		// goproxy's default writes err.Error() to the agent.
		io.WriteString(w, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\nbottle: upstream unreachable\n")
	}
	gp.NonproxyHandler = http.HandlerFunc(s.nonProxy)
	gp.OnRequest().HandleConnectFunc(s.handleConnect)
	gp.OnRequest().DoFunc(s.handleRequest)
	s.gp = gp
	return s, nil
}

// SetPolicy swaps the policy. Requests already admitted finish under the
// old one; the next request on any connection is judged by the new one.
func (s *Server) SetPolicy(p Policy) { s.pol.Store(&policyBox{p}) }

func (s *Server) policy() Policy { return s.pol.Load().p }

// Leaves exposes the leaf cache (for metrics and tests).
func (s *Server) Leaves() *ca.LeafCache { return s.leaves }

// Serve accepts agent connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.addSelf(ln.Addr())
	hs := &http.Server{
		Handler:           s.gp,
		ReadHeaderTimeout: 15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnContext:       withConn,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(trackingListener{Listener: ln, accepted: &s.accepted})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, closes intercepted connections that sit idle
// between requests (and the others as their current request ends), waits for
// the rest until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var err error
	for _, hs := range servers {
		if e := hs.Shutdown(ctx); e != nil && err == nil {
			err = e
		}
	}
	s.closeTunnels(func(ts *tunnelState) bool { return !ts.passthrough && ts.active.Load() == 0 })
	done := make(chan struct{})
	go func() { s.tunnels.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.closeTunnels(func(*tunnelState) bool { return true })
		if err == nil {
			err = ctx.Err()
		}
	}
	s.transport.CloseIdleConnections()
	return err
}

// closeTunnels closes the tunnels that match. Connections are closed outside
// the lock: closing one untracks it.
func (s *Server) closeTunnels(match func(*tunnelState) bool) {
	var conns []*trackedConn
	s.liveMu.Lock()
	for ts := range s.live {
		if match(ts) {
			conns = append(conns, ts.conn)
		}
	}
	s.liveMu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// track registers an open tunnel until its connection closes.
func (s *Server) track(ts *tunnelState) {
	s.tunnels.Add(1)
	s.liveMu.Lock()
	s.live[ts] = struct{}{}
	s.liveMu.Unlock()
}

func (s *Server) untrack(ts *tunnelState) {
	s.liveMu.Lock()
	delete(s.live, ts)
	s.liveMu.Unlock()
	s.tunnels.Done()
}

// tunnelState is kept for the life of one intercepted CONNECT; every request
// inside it is judged against it.
type tunnelState struct {
	host        string // as the agent named it in the CONNECT
	port        uint16
	client      string
	start       time.Time
	rule        string
	conn        *trackedConn
	passthrough bool
	active      atomic.Int32 // requests admitted and not yet answered
}

// reqState follows one request from decision to the end of its response.
type reqState struct {
	tunnel *tunnelState // nil for plain HTTP; set once the request is admitted
	rec    Record
	start  time.Time
	in     *countingBody
	dst    atomic.Value // string
	logged atomic.Bool
}

func (s *Server) handleConnect(hostport string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
	r := ctx.Req
	host, port, err := splitHostPort(hostport, 443)
	if err != nil {
		d := allowlist.Decision{Rule: allowlist.RuleDefault, Reason: fmt.Sprintf("bad CONNECT target %q", hostport)}
		ctx.Resp = s.denyResponse(r, "CONNECT", hostport, 0, "", d, "")
		s.auditConnectDenied(r, hostport, 0, d)
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, hostport
	}
	d := s.policy().DecideConnect(host, port)
	if !d.Allowed {
		hint := s.policy().AllowCommand(allowlist.Request{Scheme: "https", Host: host, Port: port}, d)
		ctx.Resp = s.denyResponse(r, "CONNECT", host, port, "", d, hint)
		s.auditConnectDenied(r, host, port, d)
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, hostport
	}
	tc := connFrom(r.Context())
	if d.Action == allowlist.ActionTunnel {
		return &goproxy.ConnectAction{Action: goproxy.ConnectHijack, Hijack: func(req *http.Request, client net.Conn, _ *goproxy.ProxyCtx) {
			s.tunnel(req, client, tc, host, port, d)
		}}, hostport
	}
	// Where the name leads is checked before the agent is told the tunnel is
	// open, so a rebinding or self-pointing name is refused with a 403 on the
	// CONNECT itself. (Each dial inside the tunnel checks again.)
	if _, _, err := s.resolveChecked(r.Context(), host, port); err != nil {
		var de *dstDeniedError
		if errors.As(err, &de) {
			ctx.Resp = s.denyResponse(r, "CONNECT", host, port, "", de.decision, "")
			s.auditConnectDenied(r, host, port, de.decision)
		} else {
			msg := upstreamError(err)
			ctx.Resp = textResponse(r, http.StatusBadGateway, fmt.Sprintf("bottle: could not reach %s: %s\n", joinHostPort(host, port), msg))
			s.audit(&Record{Bottle: s.cfg.Bottle, Kind: "connect", Client: r.RemoteAddr, Method: "CONNECT", Host: host, Port: port,
				Decision: decisionWord(d.Allowed, d.WouldDeny), Rule: d.Rule, Reason: d.Reason, Status: http.StatusBadGateway, Error: msg})
		}
		return &goproxy.ConnectAction{Action: goproxy.ConnectReject}, hostport
	}
	ts := &tunnelState{host: host, port: port, client: r.RemoteAddr, start: time.Now(), rule: d.Rule}
	ctx.UserData = ts
	ctx.RoundTripper = goproxy.RoundTripperFunc(s.roundTrip)
	if tc != nil {
		ts.conn = tc
		s.track(ts)
		done := func() {
			s.untrack(ts)
			s.audit(&Record{
				Bottle: s.cfg.Bottle, Kind: "tunnel", Client: ts.client, Scheme: "https", Host: host, Port: port,
				Decision: decisionWord(d.Allowed, d.WouldDeny), Rule: d.Rule, Reason: "intercepted: " + d.Reason,
				BytesIn: tc.in.Load(), BytesOut: tc.out.Load(), Duration: ms(time.Since(ts.start)),
			})
		}
		tc.onClose.Store(&done)
	}
	return &goproxy.ConnectAction{Action: goproxy.ConnectMitm, TLSConfig: s.mitmConfig(host, tc)}, hostport
}

// mitmConfig returns the TLS config for one intercepted CONNECT: the leaf is
// for the host the agent named in the CONNECT (which was checked), whatever
// the ClientHello's SNI says.
func (s *Server) mitmConfig(host string, tc *trackedConn) func(string, *goproxy.ProxyCtx) (*tls.Config, error) {
	return func(string, *goproxy.ProxyCtx) (*tls.Config, error) {
		// Called after the hijack, just before the handshake: bound the
		// handshake now (arming earlier would fight net/http's own deadline
		// games during Hijack), and relax to the idle timeout once it is done.
		if tc != nil {
			tc.arm(s.cfg.TLSHandshakeTimeout)
		}
		c := s.mitmTLS.Clone()
		c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.leaves.Get(host)
		}
		c.VerifyConnection = func(tls.ConnectionState) error {
			if tc != nil {
				tc.arm(s.cfg.IdleTimeout)
			}
			return nil
		}
		return c, nil
	}
}

// handleRequest judges every request: plain HTTP ones and each one inside an
// intercepted tunnel. It returns a response only to deny.
func (s *Server) handleRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	ts, inTunnel := ctx.UserData.(*tunnelState)
	scheme := strings.ToLower(r.URL.Scheme)
	if scheme == "" {
		scheme = "http"
	}
	host, port, err := splitHostPort(r.URL.Host, defaultPort(scheme))
	rs := &reqState{start: time.Now()}
	rs.rec = Record{Bottle: s.cfg.Bottle, Kind: "request", Client: r.RemoteAddr, Method: r.Method, Scheme: scheme, Host: host, Port: port, Path: r.URL.EscapedPath()}
	ctx.UserData = rs
	ctx.RoundTripper = goproxy.RoundTripperFunc(s.roundTrip)

	var d allowlist.Decision
	switch {
	case err != nil:
		d = allowlist.Decision{Rule: allowlist.RuleDefault, Reason: fmt.Sprintf("bad request target %q", r.URL.Host)}
	case inTunnel && !sameTarget(host, port, ts.host, ts.port, r.URL.Port() == ""):
		d = allowlist.Decision{Rule: allowlist.RuleDefault, Reason: fmt.Sprintf("request for %s inside a tunnel to %s; a request may only go to the host it connected to", r.URL.Host, joinHostPort(ts.host, ts.port))}
	case r.Host != "" && !sameAuthority(r.Host, host, port, scheme):
		d = allowlist.Decision{Rule: allowlist.RuleDefault, Reason: fmt.Sprintf("Host header %q differs from the request target %s", r.Host, joinHostPort(host, port))}
	}
	if inTunnel {
		host, port = ts.host, ts.port
		rs.rec.Host, rs.rec.Port = host, port
	}
	areq := allowlist.Request{Scheme: scheme, Host: host, Port: port, Method: r.Method, Path: r.URL.EscapedPath()}
	fromPolicy := d.Reason == "" // not refused above for a malformed or mismatched target
	if fromPolicy {
		d = s.policy().Decide(areq)
	}
	rs.rec.Decision, rs.rec.Rule, rs.rec.Reason = decisionWord(d.Allowed, d.WouldDeny), d.Rule, d.Reason
	if !d.Allowed {
		hint := ""
		if fromPolicy {
			hint = s.policy().AllowCommand(areq, d)
		}
		resp := s.denyResponse(r, r.Method, host, port, r.URL.EscapedPath(), d, hint)
		s.finish(rs, resp.StatusCode, "")
		return r, resp
	}
	if inTunnel && ts.conn != nil {
		rs.tunnel = ts
		ts.active.Add(1)
	}
	// The upstream gets exactly the target that was judged.
	r.URL.Host = authority(host, port, scheme)
	r.Host = r.URL.Host
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		rs.in = &countingBody{ReadCloser: r.Body}
		r.Body = rs.in
	}
	return r, nil
}

// roundTrip sends an admitted request upstream. Errors become responses
// here, so that the agent always gets an answer with a reason (goproxy's own
// error paths close the connection or echo internal errors).
func (s *Server) roundTrip(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
	rs, _ := ctx.UserData.(*reqState)
	if rs == nil { // cannot happen: handleRequest runs first
		return nil, errors.New("request was not judged")
	}
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		rs.dst.Store(info.Conn.RemoteAddr().String())
	}}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := s.transport.RoundTrip(req)
	if err != nil {
		var de *dstDeniedError
		if errors.As(err, &de) {
			d := de.decision
			rs.rec.Decision, rs.rec.Rule, rs.rec.Reason = "deny", d.Rule, d.Reason
			resp := s.denyResponse(req, req.Method, rs.rec.Host, rs.rec.Port, rs.rec.Path, d, "")
			s.finish(rs, resp.StatusCode, "")
			return resp, nil
		}
		msg := upstreamError(err)
		resp := textResponse(req, http.StatusBadGateway, fmt.Sprintf("bottle: could not reach %s: %s\n", joinHostPort(rs.rec.Host, rs.rec.Port), msg))
		s.finish(rs, resp.StatusCode, msg)
		return resp, nil
	}
	if s.draining.Load() {
		resp.Close = true // the intercepted connection ends after this response
	}
	if resp.StatusCode == http.StatusSwitchingProtocols || resp.Body == nil || resp.Body == http.NoBody {
		// A 101's body is the upgraded connection (io.ReadWriter); it must
		// reach goproxy unwrapped.
		s.finish(rs, resp.StatusCode, "")
		return resp, nil
	}
	resp.Body = &auditBody{ReadCloser: resp.Body, s: s, rs: rs, status: resp.StatusCode, resp: resp}
	return resp, nil
}

func (s *Server) audit(r *Record) {
	r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	s.cfg.Audit.Write(r)
}

// finish writes the request's audit line once.
func (s *Server) finish(rs *reqState, status int, errMsg string) {
	if !rs.logged.CompareAndSwap(false, true) {
		return
	}
	if ts := rs.tunnel; ts != nil {
		ts.active.Add(-1)
	}
	rs.rec.Status = status
	rs.rec.Error = errMsg
	rs.rec.Duration = ms(time.Since(rs.start))
	if rs.in != nil {
		rs.rec.BytesIn = rs.in.n.Load()
	}
	if v, ok := rs.dst.Load().(string); ok {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			rs.rec.DstIP = ap.Addr().String()
		}
	}
	s.audit(&rs.rec)
}

type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type auditBody struct {
	io.ReadCloser
	resp   *http.Response
	s      *Server
	rs     *reqState
	status int
	n      int64
	once   sync.Once
}

func (b *auditBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

func (b *auditBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		if b.s.draining.Load() {
			// Shutdown began while this response was streaming: goproxy's
			// request loop reads this after writing the response and ends
			// the connection. (Close runs inside that write, on its goroutine.)
			b.resp.Close = true
		}
		b.rs.rec.BytesOut = b.n
		b.s.finish(b.rs, b.status, "")
	})
	return err
}

func (s *Server) auditConnectDenied(r *http.Request, host string, port uint16, d allowlist.Decision) {
	s.audit(&Record{
		Bottle: s.cfg.Bottle, Kind: "connect", Client: r.RemoteAddr, Method: "CONNECT", Host: host, Port: port,
		Decision: "deny", Rule: d.Rule, Reason: d.Reason, Status: http.StatusForbidden,
	})
}

// denyResponse is what the agent sees when something is blocked: 403, the
// deciding rule in headers, and a body a person (or an agent) can act on.
func (s *Server) denyResponse(req *http.Request, method, host string, port uint16, path string, d allowlist.Decision, hint string) *http.Response {
	var b strings.Builder
	target := joinHostPort(host, port)
	if path != "" {
		target += path
	}
	fmt.Fprintf(&b, "bottle: blocked %s %s\nreason: %s (rule %s)\n", method, target, d.Reason, d.Rule)
	if hint != "" {
		fmt.Fprintf(&b, "to allow it, run on the host:\n  %s\n", hint)
	}
	resp := textResponse(req, http.StatusForbidden, b.String())
	resp.Header.Set("X-Bottle-Decision", "deny")
	resp.Header.Set("X-Bottle-Rule", d.Rule)
	return resp
}

func textResponse(req *http.Request, status int, body string) *http.Response {
	resp := goproxy.NewResponse(req, "text/plain; charset=utf-8", status, body)
	resp.Header.Set("Cache-Control", "no-store")
	return resp
}

// nonProxy answers requests addressed to the proxy itself.
func (s *Server) nonProxy(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		io.WriteString(w, "ok\n")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	io.WriteString(w, "bottle: this is the bottle's egress proxy; send requests through it (HTTPS_PROXY=http://THIS_ADDRESS), not to it\n")
}

// upstreamError says why an upstream could not be reached, briefly.
func upstreamError(err error) string {
	var re *resolveError
	var cv *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return re.Error()
	case errors.As(err, &cv):
		return "its TLS certificate is not trusted: " + cv.Err.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case strings.Contains(err.Error(), "connection refused"):
		return "connection refused"
	}
	return "connection failed"
}

func defaultPort(scheme string) uint16 {
	if scheme == "https" || scheme == "wss" {
		return 443
	}
	return 80
}

// splitHostPort splits "host:port" or "host"; IPv6 literals keep no brackets.
func splitHostPort(hp string, def uint16) (string, uint16, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		if strings.Contains(err.Error(), "missing port") {
			return strings.Trim(hp, "[]"), def, nil
		}
		return "", 0, err
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, uint16(n), nil
}

func joinHostPort(host string, port uint16) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// authority is the Host an upstream should see: the port only when it is
// not the scheme's default.
func authority(host string, port uint16, scheme string) string {
	if port == defaultPort(scheme) {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return joinHostPort(host, port)
}

// sameName compares two hosts as the policy would: names normalised, IP
// literals as addresses.
func sameName(a, b string) bool {
	if x, err := netip.ParseAddr(a); err == nil {
		y, err := netip.ParseAddr(b)
		return err == nil && x.Unmap() == y.Unmap()
	}
	x, err1 := allowlist.NormalizeName(a)
	y, err2 := allowlist.NormalizeName(b)
	return err1 == nil && err2 == nil && x == y
}

// sameTarget: an inner request names the CONNECT host, and either no port
// or the CONNECT port.
func sameTarget(host string, port uint16, connHost string, connPort uint16, noPort bool) bool {
	return sameName(host, connHost) && (noPort || port == connPort)
}

// sameAuthority: a Host header names the same host and port as the target.
func sameAuthority(hostHeader, host string, port uint16, scheme string) bool {
	h, p, err := splitHostPort(hostHeader, defaultPort(scheme))
	return err == nil && sameName(h, host) && p == port
}

type certStore struct{ lc *ca.LeafCache }

// Fetch ignores goproxy's generator: leaves come from the bottle CA only.
func (c certStore) Fetch(host string, _ func() (*tls.Certificate, error)) (*tls.Certificate, error) {
	return c.lc.Get(host)
}

// slogPrintf routes goproxy's Printf logging to slog at debug level.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, v ...any) {
	p.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "goproxy")
}
