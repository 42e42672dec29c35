// Package proxy is the egress proxy of a bottle: an explicit HTTP proxy that
// intercepts TLS with the bottle's CA and judges every request against the
// allowlist. It is the only package that imports goproxy, and it overrides
// every goproxy default on the security path: no built-in CA, no blind
// tunnel for unmatched CONNECTs, no environment proxy, verified upstream TLS,
// timeouts everywhere.
//
// CONNECT is handled here, not by goproxy: goproxy's hijack action drops the
// bytes net/http buffered with the CONNECT request, and its interception loop
// reads inner requests with a parser that bounds neither header size nor
// time. An intercepted tunnel is terminated here and served by an
// http.Server of its own (header size and time limits, HTTP/2), whose
// requests go through goproxy's request path exactly as plain-HTTP proxy
// requests do: one judging function, one round trip, one response writer.
//
// Credentials (Config.Secrets, package secret/guard) and DLP (Config.DLP)
// apply to what the proxy intercepts: plain-HTTP requests and the requests
// inside an intercepted tunnel, after the policy admits them (secrets.go
// says in what order). Passthrough tunnels (TLS the sidecar cannot read)
// and the raw bytes of an upgraded stream after its 101 (a WebSocket) are
// not inspected; the request that asks for the upgrade is. Compressed
// request bodies are not looked into either, nor request trailers by DLP
// (the guard checks them as headers when the body ends).
//
// The git gate (git.go) applies to requests to a repository the
// allowlist's `git:` declares, whichever rule admits them: the receive-pack
// advertisement gets no-thin, and a push is read into a private spool, its
// refs judged and its pack scanned before anything of it goes upstream.
//
// A refusal is answered so that the agent can read it: the 403 page
// (deny.go) says what was blocked, why, the cause (also in the
// X-Bottle-Denied header) and the `bottle allow` command that would allow
// it, as JSON for a client that prefers it. A CONNECT the policy refuses,
// to a name on a port that carries HTTP, is answered 200 and intercepted
// without resolving or dialling anything (deniedTunnel), so that the page
// reaches HTTPS clients too, request by request; what cannot be shown a
// page inside TLS (an IP literal, a non-HTTP port, a passthrough-only
// host, a client that asked for a raw tunnel) keeps the 403 on the
// CONNECT. With approvals (Config.Approvals, `approvals: ask`) a refusal
// a human may overrule is held while one decides (hold.go).
//
// Report mode (allowlist `mode: report`) exists to observe before enforcing,
// so it lets through everything enforce would refuse on policy grounds and
// marks it would-deny in the audit log, whatever refused it: a rule, the
// address guard (a name that resolves to a loopback, private or link-local
// address), a request that names another host than its tunnel, a passthrough
// ClientHello whose SNI is missing or names another host. What report mode
// does not let through: a dial to the proxy's own listening addresses, a
// malformed target (there is nothing to dial), a CONNECT inside a tunnel, a
// peer outside Config.Clients, the size and time limits, and the refusals
// of the guard: a credential's real value in a request (secret-leak) and a
// placeholder sent to a host its credential is not bound to
// (credential-misuse), for a bottle under observation must not leak its
// keys either. A DLP finding in `dlp: block` is a would-deny in report
// mode.
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
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"
	"golang.org/x/crypto/x509roots/fallback/bundle"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/secret/guard"
)

// Policy is what the proxy asks of the allowlist. *allowlist.Policy
// implements it.
type Policy interface {
	Decide(allowlist.Request) allowlist.Decision
	DecideConnect(host string, port uint16) allowlist.Decision
	CheckDst(host string, port uint16, dst netip.Addr) allowlist.Decision
	// AllowCommand is the `bottle allow` command a denial suggests, for
	// the allowlist scope names (the bottle's own: the 403 is read inside
	// it, and the command is run on the host).
	AllowCommand(req allowlist.Request, d allowlist.Decision, scope allowlist.HintScope) string
	// Mode says whether refusals the proxy makes on its own (a Host that
	// differs from the target, a passthrough SNI that differs from the
	// CONNECT host) block or are only reported.
	Mode() allowlist.Mode
	// DLPFor says what DLP does with an admitted request: report, block,
	// or nothing (the rule that admits it says `dlp: off`).
	DLPFor(allowlist.Request) allowlist.DLPMode
	// GitRepoFor returns the `git:` entry whose repository a request's
	// host and escaped path address, and which smart-HTTP endpoint; nil
	// when none does (git.go).
	GitRepoFor(host, path string) (*allowlist.GitRepo, allowlist.GitService)
	// Git returns the `git:` entries, in file order.
	Git() []*allowlist.GitRepo
	// Approvals and ApprovalTimeout are `approvals:` and
	// `approval_timeout:` (Config.ApprovalsFlag overrides the first).
	Approvals() allowlist.ApprovalMode
	ApprovalTimeout() time.Duration
	// ApprovalRules are the rules an approval of a denied request would
	// write (always) and allow for the session (host): allowlist's.
	ApprovalRules(req allowlist.Request, d allowlist.Decision) (always []allowlist.RuleSpec, host allowlist.RuleSpec)
	// ConnectPageable says whether a refused CONNECT can be answered with
	// the readable 403 inside the tunnel (deniedTunnel).
	ConnectPageable(host string, port uint16, d allowlist.Decision) bool
}

// Approver holds a request the policy denied while a human decides
// (approvals: ask). The sidecar's broker (package approval) implements it
// on the approvals channel; the proxy only asks.
//
// The proxy asks only for denials a human may overrule: causes no-rule,
// port, method and path. A deny rule, the address guard, fronting, a
// malformed request, a secret, a git ref or scan finding is refused at
// once, as before.
type Approver interface {
	// Ask files q (or joins the pending request with q's Key, which then
	// counts one more) and blocks until a human decides, timeout passes,
	// or ctx ends (the agent hung up). It returns the request's id and
	// the decision; on timeout or ctx end the verdict is approval.Deny
	// and By says "timeout" or "agent gone".
	Ask(ctx context.Context, q approval.Request, timeout time.Duration) (string, approval.Decision)
	// Granted returns the id of the session grant (Verdict Host) that
	// admits req (Method "" for a CONNECT), if one does.
	Granted(req allowlist.Request) (id string, ok bool)
}

// Config configures a Server. Zero durations and sizes take the defaults
// below.
type Config struct {
	Bottle   string     // name in audit lines, and in the commands denials suggest (--bottle NAME)
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
	// Clients are the peer addresses allowed to connect; a connection from
	// anywhere else is closed before a byte is read. Empty: any peer. The
	// sidecar sets the internal network's range: a listener bound to the
	// internal address is reachable from the egress side too.
	Clients []netip.Prefix
	// SelfTest says whether a host is the launcher's self-test probe's;
	// the audit lines about it are marked SelfTest. Nil: none is.
	SelfTest func(host string) bool
	// Secrets are the credentials the proxy injects on their hosts and
	// keeps from going anywhere else (see secrets.go). Nil: none; replace
	// them later with SetSecrets.
	Secrets *guard.Set
	// DLP detects well-known secret formats in requests. Nil: no pattern
	// detection (the real values of Secrets are still refused).
	DLP Patterns
	// ResignAWS re-signs a request to a host an aws credential is bound
	// to, from the placeholder keys to the real ones (secret/sigv4). Nil:
	// such requests are refused with a 403 that says re-signing is not
	// available.
	ResignAWS guard.Resigner
	// GitSpool is the private directory where the git gate spools a push
	// while it inspects it ("": the system's temporary directory), and
	// GitMaxPack the largest push body it takes (0:
	// contract.DefaultGitMaxPack). See git.go.
	GitSpool   string
	GitMaxPack int64
	// Approvals holds denials a human may overrule while one decides,
	// when the policy (or ApprovalsFlag) says ask. Nil: never held.
	Approvals Approver
	// ApprovalsFlag overrides the policy's approvals: when not "" ("ask"
	// or "off": the sidecar's --approvals).
	ApprovalsFlag string

	DialTimeout           time.Duration // TCP connect to an upstream (and DNS lookup)
	TLSHandshakeTimeout   time.Duration // TLS handshake, with the agent and with the upstream; also CONNECT to the agent's first byte
	ResponseHeaderTimeout time.Duration // from request sent to response headers
	HeaderTimeout         time.Duration // an agent's request headers, on the listener and inside tunnels
	IdleTimeout           time.Duration // any agent connection or tunnel with no traffic
	MaxHeaderBytes        int           // an agent's request headers (and trailers), on the listener and inside tunnels
}

// Defaults. ResponseHeaderTimeout is long because a model API may think for
// minutes before its first byte on a non-streaming call.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 5 * time.Minute
	DefaultHeaderTimeout         = 15 * time.Second
	DefaultIdleTimeout           = 10 * time.Minute
	DefaultMaxHeaderBytes        = 1 << 20
)

// keepAliveTimeout bounds how long a plain-HTTP agent connection waits for
// its next request.
const keepAliveTimeout = 2 * time.Minute

// Server is the proxy. It is safe for concurrent use.
type Server struct {
	cfg      Config
	gen      atomic.Pointer[generation]
	secrets  atomic.Pointer[guard.Set]
	reloadMu sync.Mutex // serialises SetPolicy
	resolver Resolver
	dialer   *net.Dialer
	upTLS    *tls.Config // upstream TLS, cloned into each generation's transport
	leaves   *ca.LeafCache
	mitmTLS  *tls.Config
	gp       *goproxy.ProxyHttpServer
	inner    *http.Server // serves every intercepted tunnel
	log      *slog.Logger

	selfMu sync.RWMutex
	self   map[netip.AddrPort]bool

	accepted     atomic.Int64 // agent connections accepted, for tests and metrics
	refusedPeers atomic.Int64 // connections closed for coming from outside Clients

	mu      sync.Mutex
	servers []*http.Server
	tunnels sync.WaitGroup // every open tunnel: intercepted, passthrough, upgraded
	liveMu  sync.Mutex
	live    map[*tunnelState]struct{}
	reqs    map[*reqState]struct{} // requests sent upstream and not finished
	gitSem  chan struct{}          // a slot per push being spooled (MaxPushes)
	held    holds                  // requests held for approval, per client (hold.go)
}

// generation is one policy with the transport that serves it. A transport's
// pool holds connections dialled after the address check of its own policy,
// so a new policy gets a new transport: no request judged by it can travel
// over a connection an older, wider policy let through.
type generation struct {
	p        Policy
	tr       *http.Transport
	inflight atomic.Int64 // requests sent on tr and not yet finished
	retired  atomic.Bool
}

// retire closes the idle connections of a generation that is no longer
// current; its busy ones go when their requests end.
func (g *generation) retire() {
	g.retired.Store(true)
	g.tr.CloseIdleConnections()
}

func (g *generation) release() {
	if g.inflight.Add(-1) == 0 && g.retired.Load() {
		// The last response has ended, but its connection goes back to the
		// pool asynchronously (after the body's EOF is seen).
		time.AfterFunc(time.Second, g.tr.CloseIdleConnections)
	}
}

// New builds a Server from cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil || cfg.CA == nil {
		return nil, errors.New("proxy: Policy and CA are required")
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&cfg.DialTimeout, DefaultDialTimeout},
		{&cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout},
		{&cfg.ResponseHeaderTimeout, DefaultResponseHeaderTimeout},
		{&cfg.HeaderTimeout, DefaultHeaderTimeout},
		{&cfg.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.GitMaxPack <= 0 {
		cfg.GitMaxPack = contract.DefaultGitMaxPack
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
		reqs:   map[*reqState]struct{}{},
		gitSem: make(chan struct{}, MaxPushes),
	}
	s.secrets.Store(cfg.Secrets)
	s.resolver = cfg.Resolver
	if s.resolver == nil {
		s.resolver = net.DefaultResolver
	}

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
	s.upTLS = &tls.Config{
		RootCAs:    roots,
		MinVersion: tls.VersionTLS12,
		// Shared by every generation: resuming a session skips no check,
		// as the address is checked before the dial.
		ClientSessionCache: tls.NewLRUClientSessionCache(1024),
	}
	s.SetPolicy(cfg.Policy)

	// The TLS config the agent's client handshakes with. Explicit session
	// ticket keys make resumption work across intercepted connections: each
	// one gets a clone of this config (mitmConfig), and crypto/tls makes
	// automatic ticket keys lazily, on the config a handshake uses. This
	// one is never used itself, so each clone would make keys of its own
	// and could not read a ticket another clone issued.
	s.mitmTLS = &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if cfg.AllowHTTP2 {
		s.mitmTLS.NextProtos = []string{"h2", "http/1.1"}
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, err
	}
	s.mitmTLS.SetSessionTicketKeys([][32]byte{key})

	gp := goproxy.NewProxyHttpServer()
	gp.Logger = slogPrintf{s.log}
	// Every request is sent by the RoundTripper handleRequest sets, through
	// the current generation's transport. goproxy's own transport is only a
	// backstop that must never carry anything: NewProxyHttpServer's reads
	// $HTTP(S)_PROXY.
	gp.Tr = &http.Transport{Proxy: nil, DialContext: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("proxy: request was not judged")
	}}
	gp.ConnectDial = nil        // NewProxyHttpServer reads $HTTPS_PROXY into this
	gp.ConnectDialWithReq = nil //
	gp.KeepAcceptEncoding = true
	gp.KeepHeader = true // handleRequest removes the proxy headers itself (removeProxyHeaders)
	gp.ConnectionErrHandler = func(w io.Writer, _ *goproxy.ProxyCtx, _ error) {
		// goproxy's default writes err.Error() to the agent.
		io.WriteString(w, "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 29\r\nConnection: close\r\n\r\nbottle: upstream unreachable\n")
	}
	gp.NonproxyHandler = http.HandlerFunc(s.nonProxy)
	// CONNECT never reaches goproxy (serveAgent and serveInner take it), and
	// goproxy's default for a CONNECT no handler claims is a blind tunnel:
	// refuse, should one ever get there.
	gp.OnRequest().HandleConnectFunc(func(host string, ctx *goproxy.ProxyCtx) (*goproxy.ConnectAction, string) {
		a := newAnswer(http.StatusForbidden, "bottle: CONNECT is not allowed here\n")
		a.header.Set("Proxy-Status", proxyStatus("http_request_denied", "CONNECT is not allowed here"))
		ctx.Resp = a.response(ctx.Req)
		return goproxy.RejectConnect, host
	})
	gp.OnRequest().DoFunc(s.handleRequest)
	s.gp = gp

	protos := new(http.Protocols)
	protos.SetHTTP1(true)
	if cfg.AllowHTTP2 {
		protos.SetHTTP2(true)
		protos.SetUnencryptedHTTP2(true) // prior-knowledge h2c in a plain tunnel
	}
	s.inner = &http.Server{
		Handler:           http.HandlerFunc(s.serveInner),
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes, // h2: MAX_HEADER_LIST_SIZE too
		Protocols:         protos,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: 100,
			// The smallest frame size keeps each connection's read buffer
			// small: an agent may hold thousands of connections.
			MaxReadFrameSize: 16 << 10,
		},
		BaseContext: func(l net.Listener) context.Context {
			if tl, ok := l.(*tunnelListener); ok {
				return context.WithValue(context.Background(), tunnelKey{}, tl.ts)
			}
			return context.Background()
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// SetPolicy swaps the policy. Every request judged from now on is judged by
// p and sent over connections dialled under p. What is already open is
// judged again, and what p refuses is cut, saying why in its audit line:
// requests in flight (a long download, upload or stream) that p would refuse
// or whose upstream address it would not dial, passthrough tunnels whose
// CONNECT or destination address it would refuse, and upgraded streams (raw
// bytes after a 101) whose CONNECT, request or address it would refuse.
// Intercepted tunnels stay open: each request in them is judged by p, and a
// refused one gets a 403 the agent can read.
func (s *Server) SetPolicy(p Policy) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	g := &generation{p: p}
	g.tr = s.newTransport(g)
	old := s.gen.Swap(g)
	if old == nil {
		return
	}
	old.retire()
	for _, ts := range s.liveTunnels() {
		s.judgeTunnel(ts, g)
	}
	for _, rs := range s.inflightRequests() {
		s.judgeRequest(rs, p)
	}
}

func (s *Server) newTransport(g *generation) *http.Transport {
	return &http.Transport{
		Proxy: nil, // never chain to $HTTPS_PROXY: that may be this proxy
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return s.dialUpstream(ctx, g, addr) // resolve, check, dial the checked address
		},
		// A clone each: configuring h2 writes to the transport's tls.Config.
		TLSClientConfig:        s.upTLS.Clone(),
		ForceAttemptHTTP2:      true, // h2 upstream when the server offers it
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    s.cfg.TLSHandshakeTimeout,
		ResponseHeaderTimeout:  s.cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: int64(s.cfg.MaxHeaderBytes),
		// Pass compressed bodies through untouched: the agent asked for them.
		DisableCompression: true,
	}
}

func (s *Server) policy() Policy { return s.gen.Load().p }

// Leaves exposes the leaf cache (for metrics and tests).
func (s *Server) Leaves() *ca.LeafCache { return s.leaves }

// RefusedPeers counts connections closed for coming from outside
// Config.Clients.
func (s *Server) RefusedPeers() int64 { return s.refusedPeers.Load() }

// Serve accepts agent connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.addSelf(ln.Addr())
	protos := new(http.Protocols)
	protos.SetHTTP1(true) // the agent speaks plain HTTP/1 to the proxy
	hs := &http.Server{
		Handler:           http.HandlerFunc(s.serveAgent),
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       keepAliveTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		Protocols:         protos,
		ConnContext:       withConn,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	s.servers = append(s.servers, hs)
	s.mu.Unlock()
	err := hs.Serve(agentListener{Listener: ln, s: s})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// serveAgent is the handler of the agent's connections to the proxy.
func (s *Server) serveAgent(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		s.serveConnect(w, r)
		return
	}
	s.serveProxy(w, r)
}

// Shutdown stops accepting, closes intercepted connections that sit idle
// between requests (and the others as their current request ends), waits for
// the rest until ctx ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := append(slices.Clone(s.servers), s.inner)
	s.mu.Unlock()
	// Upgraded streams have no request boundary to wait for.
	s.closeTunnels(func(ts *tunnelState) bool { return ts.upgraded() })
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, hs := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = hs.Shutdown(ctx) }()
	}
	wg.Wait()
	err := errors.Join(errs...)
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
	s.gen.Load().tr.CloseIdleConnections()
	return err
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
	// net.JoinHostPort's result, in one allocation instead of two (the
	// port's string and the join): it is made for every request.
	var buf [64]byte
	b := buf[:0]
	if strings.IndexByte(host, ':') >= 0 {
		b = append(append(append(b, '['), host...), ']')
	} else {
		b = append(b, host...)
	}
	b = append(b, ':')
	return string(strconv.AppendUint(b, uint64(port), 10))
}

// parseAddr is netip.ParseAddr for what could be an IP literal: names,
// which most hosts are, are told apart without the error (and its
// allocation) ParseAddr makes of them. Every form ParseAddr takes starts
// with a digit (IPv4) or holds a colon (IPv6).
func parseAddr(h string) (netip.Addr, bool) {
	if h == "" || !(h[0] >= '0' && h[0] <= '9' || strings.IndexByte(h, ':') >= 0) {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(h)
	return a, err == nil
}

// canonicalHost is the form a target is resolved, dialled, minted for and
// logged in: an IP literal as given, a name as the policy normalises it
// (lower case, IDN in punycode), so that the name judged is the name used.
// A name that does not normalise is returned as given: the policy refuses
// it, with the reason.
func canonicalHost(h string) string {
	if _, ok := parseAddr(h); ok {
		return h
	}
	if n, err := allowlist.NormalizeName(h); err == nil {
		return n
	}
	return h
}

// authority is the Host an upstream should see: the port only when it is
// not the scheme's default.
func authority(host string, port uint16, scheme string) string {
	if port == allowlist.DefaultPort(scheme) {
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
	if x, ok := parseAddr(a); ok {
		y, ok := parseAddr(b)
		return ok && x.Unmap() == y.Unmap()
	}
	if a == b {
		// The same string, which normalises to itself when it
		// normalises at all (canonicalHost made one of them so).
		_, err := allowlist.NormalizeName(a)
		return err == nil
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
	h, p, err := splitHostPort(hostHeader, allowlist.DefaultPort(scheme))
	return err == nil && sameName(h, host) && p == port
}

// slogPrintf routes goproxy's Printf logging to slog at debug level.
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, v ...any) {
	p.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)), "component", "goproxy")
}
