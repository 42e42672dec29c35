package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elazarl/goproxy"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// serveInner serves one request inside an intercepted tunnel: it gives the
// request the absolute target goproxy's request path expects, from its Host
// (or :authority) as goproxy's own interception loop did, and the tunnel's
// scheme. handleRequest then holds it to the CONNECT target.
func (s *Server) serveInner(w http.ResponseWriter, r *http.Request) {
	ts := tunnelFrom(r.Context())
	if ts == nil { // cannot happen: the inner server only serves tunnels
		http.Error(w, "bottle: request outside a tunnel", http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodConnect {
		// A CONNECT inside a tunnel would be a tunnel no policy judged.
		a := newAnswer(http.StatusMethodNotAllowed, "bottle: CONNECT inside a tunnel is not allowed\n")
		a.header.Set("Proxy-Status", proxyStatus("http_request_denied", "CONNECT inside a tunnel"))
		for k, v := range a.header {
			w.Header()[k] = v
		}
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
		rec := &audit.Record{Kind: audit.KindConnect, Client: r.RemoteAddr, Method: r.Method, Host: r.Host,
			Decision: audit.DecisionDeny, Rule: allowlist.RuleDefault, Cause: allowlist.CauseConnectInTunnel.String(),
			Reason: fmt.Sprintf("CONNECT %s inside a tunnel to %s", r.Host, joinHostPort(ts.host, ts.port)), Status: a.status}
		if host, port, err := splitHostPort(r.Host, 443); err == nil {
			rec.Host, rec.Port = canonicalHost(host), port
		}
		s.record(rec)
		return
	}
	if !r.URL.IsAbs() {
		r.URL.Host = r.Host
		if r.URL.Host == "" {
			r.URL.Host = joinHostPort(ts.host, ts.port)
		}
	}
	r.URL.Scheme = ts.scheme // what the tunnel carries, not what a request line claims
	s.serveIntercepted(w, r)
}

// serveProxy runs a proxy request (plain HTTP, or one from inside a tunnel)
// through goproxy: handleRequest judges it, roundTrip sends it.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	rw := &respWriter{ResponseWriter: w}
	s.gp.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), respWriterKey{}, rw)))
	if rw.hijacked != nil {
		// goproxy relays an upgraded stream until one side ends, and leaves
		// the agent's connection open.
		rw.hijacked.Close()
	}
	if rw.aborted.Load() {
		// The response body failed midway. goproxy ends the response as if
		// it were complete (a chunked one gets its last chunk); abort
		// instead, so that the agent sees a truncated response as one.
		panic(http.ErrAbortHandler)
	}
}

type respWriterKey struct{}

// respWriter is the ResponseWriter goproxy writes responses to. It flushes
// each write of a response of unknown length (goproxy's request path only
// flushes event streams and declared-chunked ones, so a streamed response
// would sit in the server's buffer), and remembers a hijacked connection.
type respWriter struct {
	http.ResponseWriter
	stream   bool
	hijacked net.Conn
	aborted  atomic.Bool // the upstream body failed
}

func (w *respWriter) WriteHeader(code int) {
	if code >= 200 {
		h := w.Header()
		w.stream = h.Get("Content-Length") == "" || strings.HasPrefix(h.Get("Content-Type"), "text/event-stream")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *respWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if w.stream && err == nil {
		w.Flush()
	}
	return n, err
}

func (w *respWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.hijacked = c
	}
	return c, brw, err
}

func (w *respWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// reqInput is what a request is judged on, kept so that it can be judged
// again by a newer policy before it is sent.
type reqInput struct {
	scheme, urlHost, hostHeader, method, path string
	noPort                                    bool // the target named no port
}

type verdictKind uint8

const (
	byPolicy  verdictKind = iota // the policy decided; the allow command applies
	mismatch                     // the Host or target differs from what it must be
	malformed                    // nothing to judge: 400, never let through
)

// reqState follows one request from decision to the end of its response.
type reqState struct {
	in       reqInput
	req      allowlist.Request // what was judged
	kind     verdictKind
	gen      *generation // the policy that judged it; its transport sends it
	tunnel   *tunnelState
	conn     *trackedConn // the agent connection of a plain-HTTP request
	rw       *respWriter
	cancel   context.CancelFunc // ends the upstream request
	d        allowlist.Decision // the last decision on it
	rec      audit.Record
	start    time.Time
	body     *countingBody
	sent     bool // counted in gen.inflight
	dst      atomic.Pointer[upstreamConn]
	logged   atomic.Bool
	closedBy atomic.Pointer[cut] // why a policy change cut it
	sec      *reqSecrets         // what the guard and DLP did; nil when neither looked
	git      *gitReq             // a request to a repository of `git:` the gate edits (git.go); nil for the rest
	approval string              // the approval (or session grant) that admitted what the policy refused; set before it is sent
	asked    string              // the approval asked for and not granted, for the 403
}

// admit is what a human says of a request the policy refused with d:
// the approval that opened its tunnel admits it, else a session grant or
// a held request approved in time (overrule). It returns the decision to
// act on and the approval's id.
func (s *Server) admit(ctx context.Context, p Policy, rs *reqState, d allowlist.Decision) (allowlist.Decision, string) {
	if id := rs.tunnelApproval(); id != "" && allowlist.Holdable(d.Cause) {
		return approvedDecision(id, fmt.Sprintf("allowed by approval %s of the CONNECT: %s", id, d.Explain())), id
	}
	return s.overrule(ctx, p, holdRequest, rs.rec.Client, rs.req, d)
}

func (rs *reqState) tunnelApproval() string {
	if rs.tunnel == nil {
		return ""
	}
	return rs.tunnel.approval
}

// rejudge judges rs again by p, before it is sent or while it is in
// flight. What an approval admitted stays admitted, unless p refuses it
// for a cause no approval overrules (a deny rule added since).
func (s *Server) rejudge(p Policy, rs *reqState) (allowlist.Request, allowlist.Decision, verdictKind) {
	req, d, kind := s.judge(p, &rs.in, rs.tunnel)
	if !d.Allowed && kind == byPolicy && allowlist.Holdable(d.Cause) {
		id := rs.approval
		if id == "" {
			id = rs.tunnelApproval()
		}
		if id != "" {
			d = approvedDecision(id, fmt.Sprintf("allowed by approval %s: %s", id, d.Explain()))
		}
	}
	return req, d, kind
}

// judge decides a request by p. Inside a tunnel the request must name the
// CONNECT host (domain fronting is refused); everywhere, the Host header
// must name the request target. In report mode such a mismatch goes where
// the request says, judged as such, marked would-deny.
func (s *Server) judge(p Policy, in *reqInput, ts *tunnelState) (allowlist.Request, allowlist.Decision, verdictKind) {
	host, port, err := splitHostPort(in.urlHost, allowlist.DefaultPort(in.scheme))
	if err != nil {
		return allowlist.Request{}, allowlist.Decision{Rule: allowlist.RuleDefault, Cause: allowlist.CauseBadTarget, Reason: fmt.Sprintf("bad request target %q", in.urlHost)}, malformed
	}
	host = canonicalHost(host)
	var why string
	var cause allowlist.Cause
	switch {
	case ts != nil && !sameTarget(host, port, ts.host, ts.port, in.noPort):
		cause = allowlist.CauseFronting
		why = fmt.Sprintf("request for %s inside a tunnel to %s; a request may only go to the host it connected to", in.urlHost, joinHostPort(ts.host, ts.port))
	case in.hostHeader != "" && !sameAuthority(in.hostHeader, host, port, in.scheme):
		cause = allowlist.CauseHostMismatch
		why = fmt.Sprintf("Host header %q differs from the request target %s", in.hostHeader, joinHostPort(host, port))
	}
	if ts != nil && why == "" {
		host, port = ts.host, ts.port
	}
	req := allowlist.Request{Scheme: in.scheme, Host: host, Port: port, Method: in.method, Path: in.path}
	if why == "" {
		return req, p.Decide(req), byPolicy
	}
	d := allowlist.Decision{Rule: allowlist.RuleDefault, Cause: cause, Reason: why}
	if p.Mode() == allowlist.Report {
		pd := p.Decide(req)
		d.Allowed, d.WouldDeny, d.Action = true, true, allowlist.ActionIntercept
		if pd.WouldDeny {
			d.Reason += "; and " + pd.Explain()
		}
	}
	return req, d, mismatch
}

// handleRequest judges every request: plain HTTP ones and each one inside an
// intercepted tunnel. It returns a response only to refuse.
func (s *Server) handleRequest(r *http.Request, ctx *goproxy.ProxyCtx) (*http.Request, *http.Response) {
	ts := tunnelFrom(r.Context())
	g := s.gen.Load()
	scheme := strings.ToLower(r.URL.Scheme)
	if scheme == "" {
		scheme = "http"
	}
	rs := &reqState{
		in:     reqInput{scheme: scheme, urlHost: r.URL.Host, hostHeader: r.Host, method: r.Method, path: r.URL.EscapedPath(), noPort: r.URL.Port() == ""},
		gen:    g,
		tunnel: ts,
		conn:   connFrom(r.Context()),
		start:  time.Now(),
	}
	rs.rw, _ = r.Context().Value(respWriterKey{}).(*respWriter)
	ctx.UserData = rs
	ctx.RoundTripper = goproxy.RoundTripperFunc(s.roundTrip)
	areq, d, kind := s.judge(g.p, &rs.in, ts)
	rs.req, rs.kind = areq, kind
	rs.rec = audit.Record{Kind: audit.KindRequest, Client: r.RemoteAddr, Method: r.Method, Scheme: scheme, Host: areq.Host, Port: areq.Port, Path: rs.in.path}
	if kind == malformed {
		rs.rec.Host = r.URL.Host
	}
	rs.decided(d)
	if !d.Allowed && kind == byPolicy {
		// A human may let it through (approvals: ask): this blocks while
		// one decides.
		var id string
		d, id = s.admit(r.Context(), g.p, rs, d)
		if d.Allowed {
			rs.approval = id
		} else {
			rs.asked = id
		}
		rs.decided(d)
	}
	if !d.Allowed {
		return r, s.refuse(r, rs, d)
	}
	// The upstream gets exactly the target that was judged.
	r.URL.Host = authority(areq.Host, areq.Port, scheme)
	r.Host = r.URL.Host
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		rs.body = &countingBody{ReadCloser: r.Body}
		r.Body = rs.body
	}
	if resp := s.guardRequest(r, rs); resp != nil {
		return r, resp
	}
	// The git gate runs last: the guard has judged the headers and put the
	// credential on them; the gate replaces only the body (git.go).
	if resp := s.gitRequest(r, rs); resp != nil {
		return r, resp
	}
	removeProxyHeaders(r)
	return r, nil
}

// removeProxyHeaders does what goproxy.RemoveProxyHeaders does to a request
// about to be sent (goproxy's KeepHeader is set, so that goproxy does not:
// its version formats the URL for a debug line on every request, logging
// on or off, and splits the Connection and Upgrade headers to look for a
// WebSocket handshake), in the same place: after the handlers, only for a
// request that is sent. Accept-Encoding stays (KeepAcceptEncoding).
func removeProxyHeaders(r *http.Request) {
	r.RequestURI = "" // must be empty on a client request
	r.Header.Del("Proxy-Connection")
	r.Header.Del("Proxy-Authenticate")
	r.Header.Del("Proxy-Authorization")
	// A WebSocket handshake keeps its Connection: Upgrade.
	if !headerHas(r.Header, "Connection", "Upgrade") || !headerHas(r.Header, "Upgrade", "websocket") {
		r.Header.Del("Connection")
	}
}

// headerHas reports whether a comma-separated element of one of h's values
// under name (any case) is value (any case), as goproxy's headerContains
// does, without splitting.
func headerHas(h http.Header, name, value string) bool {
	for k, vs := range h {
		if !strings.EqualFold(k, name) {
			continue
		}
		for _, v := range vs {
			for v != "" {
				var e string
				e, v, _ = strings.Cut(v, ",")
				if strings.EqualFold(value, strings.TrimSpace(e)) {
					return true
				}
			}
		}
	}
	return false
}

func (rs *reqState) decided(d allowlist.Decision) {
	rs.d = d
	setDecision(&rs.rec, d)
}

// refuse answers a request the policy (or the proxy) refused, and logs it.
func (s *Server) refuse(r *http.Request, rs *reqState, d allowlist.Decision) *http.Response {
	var a *answer
	switch rs.kind {
	case malformed:
		a = newAnswer(http.StatusBadRequest, "bottle: "+audit.Clip(d.Explain())+"\n")
		a.header.Set("Proxy-Status", proxyStatus("http_request_error", d.Explain()))
	case mismatch:
		a = denyAnswer(r.Method, rs.req.Host, rs.req.Port, rs.in.path, d, "")
	default:
		a = denial{method: r.Method, host: rs.req.Host, port: rs.req.Port, path: rs.in.path, d: d,
			hint: rs.gen.p.AllowCommand(rs.req, d, s.hintScope()), approvalID: rs.asked}.answer()
	}
	s.finish(rs, a.status, "")
	return a.response(r)
}

// roundTrip sends an admitted request upstream. Errors become responses
// here, so that the agent always gets an answer with a reason (goproxy's own
// error paths close the connection or echo internal errors).
func (s *Server) roundTrip(req *http.Request, ctx *goproxy.ProxyCtx) (*http.Response, error) {
	rs, _ := ctx.UserData.(*reqState)
	if rs == nil { // cannot happen: handleRequest runs first
		return nil, errors.New("request was not judged")
	}
	// In flight from here until finish: a policy change judges it again
	// (registered before the check below, so that no change is missed).
	ctx2, cancel := context.WithCancel(req.Context())
	rs.cancel = cancel
	if rs.sec != nil {
		rs.sec.mu.Lock()
		rs.sec.stop = cancel
		rs.sec.mu.Unlock()
	}
	s.inflight(rs, true)
	if g := s.gen.Load(); g != rs.gen {
		// The policy changed since the request was judged: nothing a policy
		// no longer in force admitted is sent.
		rs.gen = g
		areq, d, kind := s.rejudge(g.p, rs)
		rs.req, rs.kind = areq, kind
		rs.decided(d)
		if !d.Allowed {
			return s.refuse(req, rs, d), nil
		}
	}
	g := rs.gen
	g.inflight.Add(1)
	rs.sent = true
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if uc := upstreamOf(info.Conn); uc != nil {
			rs.dst.Store(uc)
			if cur := s.gen.Load(); cur != g {
				s.judgeRequest(rs, cur.p) // the policy changed while it dialled
			}
		}
	}}
	req = req.WithContext(httptrace.WithClientTrace(ctx2, trace))
	// The agent's "Connection: close" is about its own hop, not ours (RFC
	// 9110 §7.6.1), and goproxy leaves it on the request as Close: sent so,
	// the transport would close the pooled upstream connection after this
	// response (or, on h2, stop reusing it), and the next request would dial
	// and handshake again. Node's proxy agents (npm's) send it on every
	// request: one upstream connection per request made an npm install
	// 1.5x slower through a bottle. httputil.ReverseProxy clears it too.
	// req is WithContext's copy: the agent's side still closes as asked.
	req.Close = false
	resp, err := g.tr.RoundTrip(req)
	if err != nil {
		var de *dstDeniedError
		if errors.As(err, &de) {
			rs.decided(de.decision)
			a := dstDeniedAnswer(req.Method, rs.req.Host, rs.req.Port, rs.in.path, de)
			s.finish(rs, a.status, "")
			return a.response(req), nil
		}
		if resp := s.bodyRefusal(req, rs); resp != nil {
			return resp, nil
		}
		if b := rs.body; b != nil && b.readErr() != nil {
			return s.badBody(req, rs, b.readErr()), nil
		}
		if c := rs.closedBy.Load(); c != nil {
			d := allowlist.Decision{Rule: allowlist.RuleDefault, Cause: c.cause, Reason: c.why}
			rs.decided(d)
			a := denyAnswer(req.Method, rs.req.Host, rs.req.Port, rs.in.path, d, "")
			s.finish(rs, a.status, "")
			return a.response(req), nil
		}
		f := classify(err)
		a := failAnswer(rs.req.Host, rs.req.Port, f)
		s.finish(rs, a.status, f.cause)
		return a.response(req), nil
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection (io.ReadWriter); it must reach
		// goproxy unwrapped (its headers are redacted still). From here the
		// stream is raw bytes, which a policy change must be able to cut.
		if rs.sec != nil {
			rs.sec.set.ResponseHeader(resp, rs.req.Host)
		}
		s.finish(rs, resp.StatusCode, "")
		s.upgraded(rs)
		return resp, nil
	}
	s.gitResponse(resp, rs)
	s.guardResponse(resp, rs)
	if resp.Body == nil || resp.Body == http.NoBody {
		s.finish(rs, resp.StatusCode, "")
		return resp, nil
	}
	resp.Body = &auditBody{ReadCloser: resp.Body, s: s, rs: rs, status: resp.StatusCode}
	return resp, nil
}

// badBody answers a request whose own body could not be read: its trailers
// were too large (net/http bounds them to its read buffer), or the agent
// stopped sending.
func (s *Server) badBody(req *http.Request, rs *reqState, err error) *http.Response {
	status, class := http.StatusBadRequest, "the request body could not be read"
	// net/http's error for an over-long trailer is not exported.
	if strings.Contains(err.Error(), "trailer") {
		status, class = http.StatusRequestHeaderFieldsTooLarge, "request trailers too large"
	}
	a := newAnswer(status, "bottle: "+class+"\n")
	a.header.Set("Proxy-Status", proxyStatus("http_request_error", class))
	a.header.Set("Connection", "close")
	s.finish(rs, status, err.Error())
	resp := a.response(req)
	resp.Close = true
	return resp
}

// upgraded registers an upgraded stream with the tunnel that carries it, or
// as a tunnel of its own on a plain-HTTP connection.
func (s *Server) upgraded(rs *reqState) {
	u := upgrade{req: rs.req}
	if uc := rs.dst.Load(); uc != nil {
		u.dst = uc.addr
	}
	ts := rs.tunnel
	if ts == nil {
		if rs.conn == nil {
			return
		}
		ts = &tunnelState{kind: upgradedReq, host: rs.req.Host, port: rs.req.Port, client: rs.rec.Client,
			start: time.Now(), conn: rs.conn, decidedBy: rs.gen}
		s.track(ts)
		d := rs.d // the decision that let the request through
		reason := fmt.Sprintf("upgraded: %s %s", rs.req.Method, rs.req.Path)
		done := func() {
			s.untrack(ts)
			s.record(s.tunnelRecord(ts, d, reason))
		}
		rs.conn.onClose.Store(&done)
	}
	ts.mu.Lock()
	ts.upgrades = append(ts.upgrades, u)
	ts.mu.Unlock()
	s.settle(ts, rs.gen)
}

// upstreamOf finds the checked connection under what the transport reports
// (a *tls.Conn for HTTPS).
func upstreamOf(c net.Conn) *upstreamConn {
	for c != nil {
		if uc, ok := c.(*upstreamConn); ok {
			return uc
		}
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		c = nc.NetConn()
	}
	return nil
}

// inflight adds rs to (or removes it from) the requests a policy change
// judges again.
func (s *Server) inflight(rs *reqState, add bool) {
	s.liveMu.Lock()
	if add {
		s.reqs[rs] = struct{}{}
	} else {
		delete(s.reqs, rs)
	}
	s.liveMu.Unlock()
}

func (s *Server) inflightRequests() []*reqState {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	out := make([]*reqState, 0, len(s.reqs))
	for rs := range s.reqs {
		out = append(out, rs)
	}
	return out
}

// judgeRequest cuts a request in flight (a long download or upload, a
// stream) that p would refuse, or whose upstream address p would not dial.
// It reads only what does not change once the request is in flight (its
// input, its tunnel, atomics): it runs on SetPolicy's goroutine.
func (s *Server) judgeRequest(rs *reqState, p Policy) {
	req, d, _ := s.rejudge(p, rs)
	var c *cut
	if !d.Allowed {
		c = &cut{why: "the policy now refuses it: " + d.Explain(), cause: d.Cause}
	} else if uc := rs.dst.Load(); uc != nil {
		if cd := p.CheckDst(req.Host, req.Port, uc.addr); !cd.Allowed {
			c = &cut{why: fmt.Sprintf("the policy no longer lets %s reach %s: %s", req.Host, uc.addr, cd.Explain()), cause: cd.Cause}
		}
	}
	if c != nil && rs.closedBy.CompareAndSwap(nil, c) {
		set := s.secrets.Load()
		s.log.Info("request cut on policy change", "host", req.Host, "path", set.Scrub(audit.Clip(rs.in.path)), "reason", set.Scrub(c.why))
		rs.cancel()
	}
}

// finish writes the request's audit line once.
func (s *Server) finish(rs *reqState, status int, cause string) {
	if !rs.logged.CompareAndSwap(false, true) {
		return
	}
	if rs.cancel != nil {
		s.inflight(rs, false)
	}
	if rs.sent {
		rs.gen.release()
	}
	// The line is written from the request's own record: finish runs
	// once, as its last reader, and a copy would be one more allocation
	// of the whole record per request.
	rec := &rs.rec
	rec.Status = status
	rec.Error = cause
	rec.Duration = ms(time.Since(rs.start))
	if rs.body != nil {
		rec.BytesIn = rs.body.n.Load()
	}
	if uc := rs.dst.Load(); uc != nil {
		rec.DstIP = uc.addrText
		if uc.wd != nil && rec.Decision == audit.DecisionAllow {
			// Report mode: the address guard would have refused this one.
			rec.Decision, rec.Rule, rec.Cause, rec.Reason = audit.DecisionWouldDeny, uc.wd.Rule, uc.wd.Cause.String(), uc.wd.Explain()
		}
	}
	rs.finishSecrets(rec)
	if c := rs.closedBy.Load(); c != nil {
		rec.Decision, rec.Rule, rec.Cause, rec.Reason = audit.DecisionDeny, allowlist.RuleDefault, c.cause.String(), "closed: "+c.why
	}
	s.record(rec)
}

// countingBody counts the bytes of a request body and keeps its first read
// error. The transport reads it in a goroutine of its own (HTTP/2 writes
// the body beside the round trip, and may still be reading when RoundTrip
// returns), so both are read and written atomically.
type countingBody struct {
	io.ReadCloser
	n   atomic.Int64
	err atomic.Pointer[error] // the first read error other than EOF
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	if err != nil && err != io.EOF {
		b.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// readErr is the body's first read error other than EOF, or nil.
func (b *countingBody) readErr() error {
	if e := b.err.Load(); e != nil {
		return *e
	}
	return nil
}

type auditBody struct {
	io.ReadCloser
	s      *Server
	rs     *reqState
	status int
	n      int64
	err    error
	once   sync.Once
}

func (b *auditBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
		if rw := b.rs.rw; rw != nil {
			rw.aborted.Store(true)
		}
	}
	return n, err
}

// WriteTo copies the body to w through a pooled buffer. goproxy copies each
// response with io.Copy into a ResponseWriter wrapper that has no ReadFrom,
// so without this every response would allocate (and the GC clear) a fresh
// 32 KiB buffer.
func (b *auditBody) WriteTo(w io.Writer) (int64, error) {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	var total int64
	for {
		n, rerr := b.Read(*buf)
		if n > 0 {
			m, werr := w.Write((*buf)[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

func (b *auditBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.rs.rec.BytesOut = b.n
		cause := ""
		if b.err != nil {
			cause = "response body: " + b.err.Error()
		}
		b.s.finish(b.rs, b.status, cause)
	})
	return err
}

// hintScope is where the commands of a denial's hint apply: this bottle,
// when the sidecar was told its name.
func (s *Server) hintScope() allowlist.HintScope {
	return allowlist.HintScope{Bottle: s.cfg.Bottle}
}

// dstDeniedAnswer refuses a name that leads only where the policy does not
// let it (or to the proxy itself).
func dstDeniedAnswer(method, host string, port uint16, path string, de *dstDeniedError) *answer {
	a := denyAnswer(method, host, port, path, de.decision, "")
	a.header.Set("Proxy-Status", proxyStatus(de.token(), de.decision.Explain(), sfParam{"next-hop", de.addr.String()}))
	return a
}
