package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
)

// serveConnect answers a CONNECT: refuse it (403, before any dial), or check
// where the name leads and then open a passthrough or intercepted tunnel.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	g := s.gen.Load()
	rec := &audit.Record{Kind: audit.KindConnect, Client: r.RemoteAddr, Method: "CONNECT", Host: r.URL.Host}
	host, port, err := splitHostPort(r.URL.Host, 443)
	if err != nil {
		d := allowlist.Decision{Rule: allowlist.RuleDefault, Cause: allowlist.CauseBadTarget, Reason: fmt.Sprintf("bad CONNECT target %q", r.URL.Host)}
		a := newAnswer(http.StatusBadRequest, "bottle: "+audit.Clip(d.Explain())+"\n")
		a.header.Set("Proxy-Status", proxyStatus("http_request_error", d.Explain()))
		s.refuseConnect(w, r, a, rec, d)
		return
	}
	host = canonicalHost(host)
	rec.Host, rec.Port = host, port
	d := g.p.DecideConnect(host, port)
	var approvalID string
	if !d.Allowed {
		if r.Header.Get(contract.RawTunnelHeader) != "raw" && g.p.ConnectPageable(host, port, d) {
			s.deniedTunnel(w, r, rec, host, port, g, d)
			return
		}
		// A human may let it through (approvals: ask): this blocks, before
		// the CONNECT is answered, while one decides.
		areq := allowlist.Request{Scheme: "https", Host: host, Port: port}
		nd, id := s.overrule(r.Context(), g.p, holdConnect, r.RemoteAddr, areq, d)
		if !nd.Allowed {
			hint := g.p.AllowCommand(areq, nd, s.hintScope())
			a := denial{method: "CONNECT", host: host, port: port, d: nd, hint: hint, approvalID: id}.answer()
			s.refuseConnect(w, r, a, rec, nd)
			return
		}
		// The tunnel the approved rule implies: passthrough for the port of
		// a protocol that is not HTTP, intercepted (every request seen)
		// otherwise.
		if _, hr := g.p.ApprovalRules(areq, d); hr.Passthrough {
			nd.Action = allowlist.ActionTunnel
		}
		d, approvalID = nd, id
		// The policy may have changed while it was held: what it refuses
		// now for a cause no approval overrules (a deny rule added
		// meanwhile) stays refused.
		if cur := s.gen.Load(); cur != g {
			g = cur
			if cd := g.p.DecideConnect(host, port); !cd.Allowed && !allowlist.Holdable(cd.Cause) {
				hint := g.p.AllowCommand(areq, cd, s.hintScope())
				s.refuseConnect(w, r, denial{method: "CONNECT", host: host, port: port, d: cd, hint: hint, approvalID: id}.answer(), rec, cd)
				return
			}
		}
	}
	// Where the name leads is checked before the agent is told the tunnel is
	// open, so a rebinding or self-pointing name is refused with a 403 on the
	// CONNECT itself. (An intercepted tunnel's requests dial, and check,
	// again.)
	addrs, wd, err := s.resolveChecked(r.Context(), g.p, host, port)
	var de *dstDeniedError
	switch {
	case errors.As(err, &de):
		s.refuseConnect(w, r, dstDeniedAnswer("CONNECT", host, port, "", de), rec, de.decision)
		return
	case err != nil:
		f := classify(err)
		setDecision(rec, d)
		rec.Status, rec.Error = f.status, f.cause
		failAnswer(host, port, f).write(w, r)
		s.record(rec)
		return
	}
	if wd != nil && !d.WouldDeny {
		// Report mode: enforce would refuse every address the name has.
		d.WouldDeny, d.Cause, d.Reason = true, wd.Cause, wd.Explain()
	}

	tc, rd := s.hijack(w)
	if tc == nil {
		return
	}
	ts := &tunnelState{host: host, port: port, client: r.RemoteAddr, start: time.Now(), conn: tc, decidedBy: g, approval: approvalID}
	// From the CONNECT answer to the agent's first byte, and through the TLS
	// handshake: the handshake timeout.
	tc.arm(s.cfg.TLSHandshakeTimeout)
	ok200 := fmt.Sprintf("HTTP/%d.%d 200 Connection established\r\n\r\n", r.ProtoMajor, r.ProtoMinor)
	if d.Action == allowlist.ActionTunnel {
		ts.kind = passthrough
		s.passthrough(tc, rd, ts, g, d, addrs, ok200)
		return
	}
	ts.kind = intercepted
	s.intercept(tc, rd, ts, d, ok200)
}

// hijack takes the CONNECT's connection from net/http, and the reader of
// what the agent sends in the tunnel; nil when it cannot.
func (s *Server) hijack(w http.ResponseWriter) (*trackedConn, io.Reader) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Debug("cannot hijack CONNECT", "err", err)
		return nil, nil
	}
	tc, ok := conn.(*trackedConn)
	if !ok { // cannot happen: Serve wraps every connection
		tc = newTrackedConn(conn, s.cfg.IdleTimeout)
	}
	// net/http may have read the agent's first bytes (a ClientHello sent in
	// the same packet as the CONNECT) into its buffer: replay them. (goproxy's
	// ConnectHijack action drops them.)
	var rd io.Reader = tc
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		rd = io.MultiReader(bytes.NewReader(bytes.Clone(b)), tc)
	}
	return tc, rd
}

// deniedTunnel answers a CONNECT the policy refused, to a name on a port
// that carries HTTP, with 200, so that the agent can read why: the tunnel
// is intercepted like an allowed one (TLS under a leaf of the bottle's
// CA), and each request in it is judged on its own, by the policy in
// force when it comes. The policy refuses them as it refused the CONNECT,
// and each gets the readable 403 (and the JSON body and X-Bottle-Denied
// header) plain HTTP gets; a policy reloaded since, or an approval, lets
// the later ones through. Nothing is resolved or dialled for the CONNECT
// itself. Its audit line is the denial, written now (status 200: the
// page is inside); each request has its own line, and the tunnel none.
func (s *Server) deniedTunnel(w http.ResponseWriter, r *http.Request, rec *audit.Record, host string, port uint16, g *generation, d allowlist.Decision) {
	tc, rd := s.hijack(w)
	if tc == nil {
		return
	}
	setDecision(rec, d)
	rec.Status = http.StatusOK
	s.record(rec)
	ts := &tunnelState{kind: intercepted, host: host, port: port, client: r.RemoteAddr, start: time.Now(), conn: tc, decidedBy: g, denied: true}
	tc.arm(s.cfg.TLSHandshakeTimeout)
	s.intercept(tc, rd, ts, d, fmt.Sprintf("HTTP/%d.%d 200 Connection established\r\n\r\n", r.ProtoMajor, r.ProtoMinor))
}

// refuseConnect answers a CONNECT r that opens nothing, and logs the denial.
func (s *Server) refuseConnect(w http.ResponseWriter, r *http.Request, a *answer, rec *audit.Record, d allowlist.Decision) {
	a.write(w, r)
	rec.Decision, rec.Rule, rec.Cause, rec.Reason, rec.Status = audit.DecisionDeny, d.Rule, d.Cause.String(), d.Explain(), a.status
	s.record(rec)
}

// intercept terminates the agent's TLS with a leaf for the CONNECT host and
// hands the connection to the inner server; a tunnel that starts with
// anything but a TLS handshake is served as plain HTTP.
func (s *Server) intercept(tc *trackedConn, rd io.Reader, ts *tunnelState, d allowlist.Decision, ok200 string) {
	s.track(ts)
	done := func() {
		s.untrack(ts)
		if !ts.denied { // a denied tunnel's line was written at its CONNECT
			s.record(s.tunnelRecord(ts, d, "intercepted: "+d.Explain()))
		}
	}
	tc.onClose.Store(&done)
	s.settle(ts, ts.decidedBy)
	if _, err := io.WriteString(tc, ok200); err != nil {
		tc.Close()
		return
	}
	var first [1]byte
	if _, err := io.ReadFull(rd, first[:]); err != nil {
		ts.setErr(fmt.Sprintf("the agent sent nothing within %s of the CONNECT", s.cfg.TLSHandshakeTimeout))
		tc.Close()
		return
	}
	var c net.Conn = &prefixConn{trackedConn: tc, r: io.MultiReader(bytes.NewReader(first[:]), rd)}
	ts.scheme = "http"
	if first[0] == 0x16 { // a TLS handshake record
		ts.scheme = "https"
		tlc := tls.Server(c, s.mitmConfig(ts.host))
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.TLSHandshakeTimeout)
		err := tlc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			ts.setErr("TLS handshake with the agent failed: " + err.Error())
			tc.Close()
			return
		}
		c = tlc
	}
	// From here the inner server's header and keep-alive timeouts apply,
	// and the watchdog bounds silence in the middle of a request.
	tc.disarm()
	ln := &tunnelListener{c: c, ts: ts}
	if err := s.inner.Serve(ln); !ln.taken.Load() {
		s.log.Debug("intercepted tunnel not served", "err", err)
		c.Close() // shutting down
	}
}

// mitmConfig returns the TLS config for one intercepted CONNECT: the leaf is
// for the host the agent named in the CONNECT (which was checked), whatever
// the ClientHello's SNI says.
func (s *Server) mitmConfig(host string) *tls.Config {
	c := s.mitmTLS.Clone()
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return s.leaves.Get(host)
	}
	return c
}
