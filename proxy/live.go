package proxy

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

type tunnelKind uint8

const (
	intercepted tunnelKind = iota // TLS (or plain HTTP) terminated here, every request judged
	passthrough                   // tls: passthrough: bytes relayed
	upgradedReq                   // a plain-HTTP request upgraded (101): raw bytes from there on
)

// tunnelState is kept for the life of one tunnel; every request inside an
// intercepted one is judged against it, and a policy change judges it again.
type tunnelState struct {
	kind      tunnelKind
	host      string // canonical (canonicalHost)
	port      uint16
	client    string
	start     time.Time
	conn      *trackedConn
	decidedBy *generation // the policy that let it open
	scheme    string      // of the requests inside an intercepted tunnel: "https", or "http" for plain bytes
	// denied marks a tunnel the policy refused, opened only so that each
	// request in it gets the readable 403 (deniedTunnel): nothing was
	// resolved or dialled for its CONNECT. approval is the id of the
	// approval that opened a CONNECT the policy refused (hold.go): it
	// admits what the policy still refuses for a holdable cause.
	denied   bool
	approval string

	mu       sync.Mutex
	dst      netip.Addr // passthrough: the address it went to
	upgrades []upgrade  // streams upgraded inside it
	err      string     // why it ended early, for its audit line

	closedBy  atomic.Pointer[cut] // why the proxy closed it
	wouldDeny atomic.Pointer[cut] // report mode: why a newer policy would close it
}

// upgrade is a request whose connection became a raw stream after a 101.
type upgrade struct {
	req allowlist.Request
	dst netip.Addr
}

func (ts *tunnelState) upgraded() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.upgrades) > 0
}

func (ts *tunnelState) setErr(e string) {
	ts.mu.Lock()
	if ts.err == "" {
		ts.err = e
	}
	ts.mu.Unlock()
}

// disallowed judges an open tunnel by p: what would p say to its CONNECT,
// to the address it went to, and to the requests whose streams it carries
// raw? It returns why p refuses it, or nil (and, in report mode, why
// enforce would).
func (ts *tunnelState) disallowed(p Policy) (refused, wouldDeny *cut) {
	ts.mu.Lock()
	dst, ups := ts.dst, slices.Clone(ts.upgrades)
	ts.mu.Unlock()
	target := joinHostPort(ts.host, ts.port)
	check := func(d allowlist.Decision, format string, args ...any) bool {
		if !d.Allowed && ts.approval != "" && allowlist.Holdable(d.Cause) {
			return false // what the approval that opened it admits
		}
		c := &cut{why: fmt.Sprintf(format, args...) + ": " + d.Explain(), cause: d.Cause}
		switch {
		case !d.Allowed:
			refused = c
			return true
		case d.WouldDeny && wouldDeny == nil:
			wouldDeny = c
		}
		return false
	}
	// Requests inside an intercepted tunnel are judged one by one, and a
	// refused one gets a 403 the agent can read; only raw streams in it
	// depend on the CONNECT.
	if ts.kind == passthrough || ts.kind == intercepted && len(ups) > 0 {
		d := p.DecideConnect(ts.host, ts.port)
		if check(d, "the policy now refuses CONNECT %s", target) {
			return
		}
		if ts.kind == passthrough && d.Allowed && !d.WouldDeny && d.Action != allowlist.ActionTunnel {
			return &cut{why: fmt.Sprintf("%s is no longer a passthrough target (%s)", target, d.Explain()), cause: allowlist.CauseNotPassthrough}, nil
		}
	}
	if dst.IsValid() && check(p.CheckDst(ts.host, ts.port, dst), "the policy no longer lets %s reach %s", target, dst) {
		return
	}
	for _, u := range ups {
		if check(p.Decide(u.req), "the policy now refuses the upgraded request %s %s%s", u.req.Method, target, u.req.Path) {
			return
		}
		if u.dst.IsValid() && check(p.CheckDst(u.req.Host, u.req.Port, u.dst), "the policy no longer lets %s reach %s", target, u.dst) {
			return
		}
	}
	return nil, wouldDeny
}

// judgeTunnel closes ts if g's policy no longer allows it, saying why in its
// audit line.
func (s *Server) judgeTunnel(ts *tunnelState, g *generation) {
	refused, wd := ts.disallowed(g.p)
	if refused != nil {
		ts.closedBy.Store(refused)
		s.log.Info("tunnel closed on policy change", "host", ts.host, "port", ts.port, "reason", refused.why)
		ts.conn.Close()
		return
	}
	if wd != nil {
		ts.wouldDeny.Store(wd)
	}
}

// settle judges ts again after its state changed (it was tracked, it
// reached its destination, a stream in it was upgraded), if the policy
// changed since what it did was decided: SetPolicy judges only the tunnels
// it sees, as they are at that moment.
func (s *Server) settle(ts *tunnelState, decidedBy *generation) {
	if g := s.gen.Load(); g != decidedBy {
		s.judgeTunnel(ts, g)
	}
}

// track registers an open tunnel until untrack.
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

func (s *Server) liveTunnels() []*tunnelState {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	out := make([]*tunnelState, 0, len(s.live))
	for ts := range s.live {
		out = append(out, ts)
	}
	return out
}

// closeTunnels closes the tunnels that match. Connections are closed outside
// the lock: closing one untracks it.
func (s *Server) closeTunnels(match func(*tunnelState) bool) {
	for _, ts := range s.liveTunnels() {
		if match(ts) {
			ts.conn.Close()
		}
	}
}

// tunnelRecord is the audit line of a tunnel that ended: d is the decision
// that opened it, reason what the line says of it.
func (s *Server) tunnelRecord(ts *tunnelState, d allowlist.Decision, reason string) *audit.Record {
	rec := &audit.Record{
		Kind: audit.KindTunnel, Client: ts.client, Host: ts.host, Port: ts.port,
		BytesIn: ts.conn.in.Load(), BytesOut: ts.conn.out.Load(), Duration: ms(time.Since(ts.start)),
	}
	setDecision(rec, d)
	rec.Reason = reason
	ts.mu.Lock()
	rec.Error = ts.err
	if ts.dst.IsValid() {
		rec.DstIP = ts.dst.String()
	}
	ts.mu.Unlock()
	if ts.conn.idled.Load() && rec.Error == "" {
		rec.Error = fmt.Sprintf("closed after %s without traffic", s.cfg.IdleTimeout)
	}
	if wd := ts.wouldDeny.Load(); wd != nil && rec.Decision == audit.DecisionAllow {
		rec.Decision, rec.Cause, rec.Reason = audit.DecisionWouldDeny, wd.cause.String(), wd.why
	}
	if c := ts.closedBy.Load(); c != nil {
		rec.Decision, rec.Cause, rec.Reason = audit.DecisionDeny, c.cause.String(), "closed: "+c.why
	}
	return rec
}
