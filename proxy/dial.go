package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"bottle.dev/bottle/allowlist"
)

// Resolver is the part of *net.Resolver the proxy uses; tests substitute a
// map so that names such as o1.test never reach a real resolver.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// UpstreamResolver returns a resolver that sends every query to addr
// (host:port), not to the sidecar's resolv.conf.
func UpstreamResolver(addr string) *net.Resolver {
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
}

// dstDeniedError is a dial refused by the SSRF guard: the name resolved only
// to addresses the policy does not let it reach, or to the proxy itself.
type dstDeniedError struct {
	host     string
	port     uint16
	addr     netip.Addr // the refused address (the first one, if several)
	self     bool       // the proxy's own listening address
	decision allowlist.Decision
}

func (e *dstDeniedError) Error() string { return e.decision.Explain() }

// token is the Proxy-Status error type of the refusal.
func (e *dstDeniedError) token() string {
	if e.self {
		return "proxy_loop_detected"
	}
	return "destination_ip_prohibited"
}

// resolveError is a name that did not resolve.
type resolveError struct {
	host string
	err  error
}

func (e *resolveError) Error() string { return fmt.Sprintf("could not resolve %s: %v", e.host, e.err) }
func (e *resolveError) Unwrap() error { return e.err }

// checkedAddr is an address the policy lets a name reach. In report mode it
// may be one enforce would refuse; wd then says why.
type checkedAddr struct {
	a  netip.Addr
	wd *allowlist.Decision
}

// resolveChecked resolves host and returns the addresses p lets host:port
// reach: those enforce mode would allow first (in resolver order), then, in
// report mode, those it would refuse. The connection must then go to one of
// exactly these addresses: there is no second lookup, so a name cannot
// rebind between the check and the dial. It never returns the proxy's own
// listening addresses, in any mode. wd is set when every address returned is
// one enforce mode would refuse: enforce would have refused the name.
func (s *Server) resolveChecked(ctx context.Context, p Policy, host string, port uint16) ([]checkedAddr, *allowlist.Decision, error) {
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.DialTimeout)
		defer cancel()
		addrs, err = s.resolver.LookupNetIP(rctx, "ip", host)
		if err != nil {
			return nil, nil, &resolveError{host: host, err: err}
		}
		if len(addrs) == 0 {
			return nil, nil, &resolveError{host: host, err: errNoAddresses}
		}
	}
	var clean, flagged []checkedAddr
	var denied *dstDeniedError
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if s.isSelf(a, port) {
			if denied == nil {
				denied = &dstDeniedError{host: host, port: port, addr: a, self: true, decision: allowlist.Decision{
					Rule: allowlist.RuleDefault, Cause: allowlist.CauseOwnAddress, Reason: fmt.Sprintf("%s is the proxy's own address", netip.AddrPortFrom(a, port))}}
			}
			continue
		}
		d := p.CheckDst(host, port, a)
		switch {
		case !d.Allowed:
			if denied == nil {
				denied = &dstDeniedError{host: host, port: port, addr: a, decision: d}
			}
		case d.WouldDeny:
			flagged = append(flagged, checkedAddr{a: a, wd: &d})
		default:
			clean = append(clean, checkedAddr{a: a})
		}
	}
	if len(clean)+len(flagged) == 0 {
		return nil, nil, denied
	}
	var wd *allowlist.Decision
	if len(clean) == 0 {
		wd = flagged[0].wd
	}
	return append(clean, flagged...), wd, nil
}

// upstreamConn is a connection to an upstream, with the address it was
// checked for.
type upstreamConn struct {
	net.Conn
	addr netip.Addr
	// addrText is addr as the audit lines of the requests it carries
	// write it, made once per connection rather than once per request.
	addrText string
	wd       *allowlist.Decision
}

// CloseWrite and CloseRead keep half-close working through the wrapper.
func (c *upstreamConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

func (c *upstreamConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return nil
}

// dialAddrs connects to the first address that answers.
func (s *Server) dialAddrs(ctx context.Context, addrs []checkedAddr, port uint16) (*upstreamConn, error) {
	var firstErr error
	for _, ca := range addrs {
		c, err := s.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(ca.a, port).String())
		if err == nil {
			return &upstreamConn{Conn: c, addr: ca.a, addrText: ca.a.String(), wd: ca.wd}, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// dialUpstream is the DialContext of a generation's transport: every
// upstream connection of an intercepted or plain-HTTP request is made here,
// after the SSRF check by that generation's policy.
func (s *Server) dialUpstream(ctx context.Context, g *generation, addr string) (net.Conn, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return nil, err
	}
	addrs, _, err := s.resolveChecked(ctx, g.p, host, uint16(port))
	if err != nil {
		return nil, err
	}
	c, err := s.dialAddrs(ctx, addrs, uint16(port))
	if err != nil {
		return nil, err
	}
	// The policy may have changed while this connection was made (the
	// request was judged, and its address checked, by g): the address must
	// also pass the policy in force now, or the connection is not used.
	if cur := s.gen.Load(); cur != g {
		if d := cur.p.CheckDst(host, uint16(port), c.addr); !d.Allowed {
			c.Close()
			return nil, &dstDeniedError{host: host, port: uint16(port), addr: c.addr, decision: d}
		}
	}
	return c, nil
}

func (s *Server) isSelf(a netip.Addr, port uint16) bool {
	s.selfMu.RLock()
	defer s.selfMu.RUnlock()
	return s.self[netip.AddrPortFrom(a, port)]
}

// addSelf records a listening address so the proxy never dials itself. A
// wildcard listener covers every local interface address.
func (s *Server) addSelf(addr net.Addr) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return
	}
	s.selfMu.Lock()
	defer s.selfMu.Unlock()
	if !ap.Addr().IsUnspecified() {
		s.self[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
		return
	}
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if pfx, err := netip.ParsePrefix(ia.String()); err == nil {
			s.self[netip.AddrPortFrom(pfx.Addr().Unmap(), ap.Port())] = true
		}
	}
	s.self[netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port())] = true
	s.self[netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port())] = true
}
