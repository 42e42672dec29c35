package proxy

import (
	"context"
	"errors"
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
// to addresses the policy does not let it reach.
type dstDeniedError struct {
	host     string
	port     uint16
	decision allowlist.Decision
}

func (e *dstDeniedError) Error() string { return e.decision.Reason }

// resolveError is a name that did not resolve.
type resolveError struct {
	host string
	err  error
}

func (e *resolveError) Error() string { return fmt.Sprintf("could not resolve %s: %v", e.host, e.err) }
func (e *resolveError) Unwrap() error { return e.err }

// resolveChecked resolves host and returns the addresses the policy lets
// host:port reach, in resolver order. The connection must then go to one of
// exactly these addresses: there is no second lookup, so a name cannot
// rebind between the check and the dial. It never returns the proxy's own
// listening addresses.
func (s *Server) resolveChecked(ctx context.Context, host string, port uint16) ([]netip.Addr, *allowlist.Decision, error) {
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
			return nil, nil, &resolveError{host: host, err: errors.New("no addresses")}
		}
	}
	pol := s.policy()
	var ok []netip.Addr
	var denied *allowlist.Decision
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if s.isSelf(a, port) {
			d := allowlist.Decision{Rule: allowlist.RuleDefault, Reason: fmt.Sprintf("%s is the proxy's own address", netip.AddrPortFrom(a, port))}
			denied = &d
			continue
		}
		d := pol.CheckDst(host, port, a)
		if !d.Allowed {
			denied = &d
			continue
		}
		if d.WouldDeny && denied == nil {
			denied = &d // report mode: let it through, but say so
		}
		ok = append(ok, a)
	}
	if len(ok) == 0 {
		return nil, denied, &dstDeniedError{host: host, port: port, decision: *denied}
	}
	if denied != nil && !denied.WouldDeny {
		denied = nil // some address was fine; the others are just skipped
	}
	return ok, denied, nil
}

// dialAddrs connects to the first address that answers.
func (s *Server) dialAddrs(ctx context.Context, addrs []netip.Addr, port uint16) (net.Conn, error) {
	var firstErr error
	for _, a := range addrs {
		c, err := s.dialer.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
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

// dialUpstream is the transport's DialContext: every upstream connection of
// an intercepted or plain-HTTP request is made here, after the SSRF check.
func (s *Server) dialUpstream(ctx context.Context, network, addr string) (net.Conn, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return nil, err
	}
	addrs, _, err := s.resolveChecked(ctx, host, uint16(port))
	if err != nil {
		return nil, err
	}
	return s.dialAddrs(ctx, addrs, uint16(port))
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
