package dnsfwd

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// LookupNetIP returns the addresses of host: network "ip" asks for A and
// AAAA at once, "ip4" for A, "ip6" for AAAA. CNAME chains in the answer are
// followed. IPv4 addresses come first: the proxy dials in this order, and
// most egress networks of a bottle have no IPv6 route. It is the interface
// proxy.Resolver.
//
// Errors are *net.DNSError with IsNotFound (NXDOMAIN, or no address) or
// IsTimeout set, and Server empty: the agent must not learn the addresses
// of the sidecar's resolvers from an error page.
func (r *Resolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	var types []uint16
	switch network {
	case "ip":
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	default:
		return nil, &net.DNSError{Err: "unsupported network " + network, Name: host}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if network == "ip4" && !ip.Unmap().Is4() || network == "ip6" && !ip.Is6() {
			return nil, &net.DNSError{Err: "no suitable address", Name: host, IsNotFound: true}
		}
		return []netip.Addr{ip}, nil
	}
	name := dns.Fqdn(lowerASCII(host))
	if _, ok := dns.IsDomainName(name); !ok || name == "." {
		return nil, notFound(host)
	}
	type found struct {
		addrs []netip.Addr
		err   error
	}
	res := make([]found, len(types))
	var wg sync.WaitGroup
	for i, t := range types[1:] {
		wg.Go(func() {
			a, err := r.lookupType(ctx, name, t)
			res[i+1] = found{a, err}
		})
	}
	a, err := r.lookupType(ctx, name, types[0])
	res[0] = found{a, err}
	wg.Wait()

	var addrs []netip.Addr
	for _, f := range res {
		addrs = append(addrs, f.addrs...)
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	// No address: a failure says more than "not found" when one type
	// failed and the other had nothing.
	for _, f := range res {
		if f.err != nil && !isNotFound(f.err) {
			return nil, dnsError(host, f.err)
		}
	}
	return nil, notFound(host)
}

// errNotFound is NXDOMAIN, or an answer without an address of the type.
var errNotFound = errors.New("no such host")

// errServer is an upstream that answered, but not usefully (SERVFAIL,
// REFUSED, …), or could not be asked.
var errServer = errors.New("server misbehaving")

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// lookupType returns the addresses of type t for name in an answer.
func (r *Resolver) lookupType(ctx context.Context, name string, t uint16) ([]netip.Addr, error) {
	m, err := r.resolve(ctx, qkey{name: name, qtype: t})
	if err != nil {
		return nil, err
	}
	switch m.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, errNotFound
	default:
		return nil, errServer
	}
	addrs := addrsIn(m, name, t)
	if len(addrs) == 0 {
		return nil, errNotFound
	}
	return addrs, nil
}

// addrsIn follows the CNAME chain from name in m's answer and returns the
// addresses of type t its last name has there.
func addrsIn(m *dns.Msg, name string, t uint16) []netip.Addr {
	target := name
	for range maxCNAMEHops {
		next := ""
		for _, rr := range m.Answer {
			if c, ok := rr.(*dns.CNAME); ok && strings.EqualFold(c.Hdr.Name, target) {
				next = c.Target
				break
			}
		}
		if next == "" {
			break
		}
		target = next
	}
	var out []netip.Addr
	for _, rr := range m.Answer {
		if !strings.EqualFold(rr.Header().Name, target) {
			continue
		}
		var ip net.IP
		switch v := rr.(type) {
		case *dns.A:
			if t == dns.TypeA {
				ip = v.A
			}
		case *dns.AAAA:
			if t == dns.TypeAAAA {
				ip = v.AAAA
			}
		}
		if a, ok := netip.AddrFromSlice(ip); ok {
			if t == dns.TypeA {
				a = a.Unmap()
			}
			out = append(out, a)
		}
	}
	return out
}

func notFound(host string) *net.DNSError {
	return &net.DNSError{Err: errNotFound.Error(), Name: host, IsNotFound: true}
}

// dnsError turns a lookup's error into the *net.DNSError callers of
// LookupNetIP expect. The message is one of a few fixed strings: the
// errors of the exchanges name the upstream's address, which must not
// reach the agent, so Server stays empty too.
func dnsError(host string, err error) *net.DNSError {
	var ne net.Error
	switch {
	case isNotFound(err):
		return notFound(host)
	case errors.Is(err, context.Canceled):
		return &net.DNSError{Err: "operation was canceled", Name: host, UnwrapErr: context.Canceled}
	case errors.As(err, &ne) && ne.Timeout():
		return &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true, IsTemporary: true}
	}
	return &net.DNSError{Err: errServer.Error(), Name: host, IsTemporary: true}
}
