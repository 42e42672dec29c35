package launcher

import (
	"context"
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// The internal network's subnet, when the launch chooses it (Addresser):
// a /24 — the agent, its probe container (in the agent's namespace) and
// the sidecar are all it holds — taken from the top of 172.16.0.0/12
// down. Engines hand out their own default subnets from the bottom of
// that range up (Docker: 172.17.0.0/16, 172.18.0.0/16, …, 172.31.0.0/16
// last), and skip a range that holds any network: so the bottles' /24s,
// packed at the top, keep the engine from as few of its own as can be.
// The sidecar takes the last address (.254); the engine gives the agent
// the first free one (.2), so the two never race for one address.
var internalPool = netip.MustParsePrefix("172.16.0.0/12")

const internalBits = 24

// addressPlan is the internal network's subnet and the sidecar's address
// on it, chosen before either exists; the zero plan leaves both to the
// engine (and the agent waits for the sidecar's address).
type addressPlan struct {
	subnet  netip.Prefix
	sidecar netip.Addr
}

func (p addressPlan) ok() bool { return p.subnet.IsValid() }

// gateway is the first address of the subnet, which the engine reserves.
func (p addressPlan) gateway() netip.Addr { return p.subnet.Addr().Next() }

// lookupSubnets asks the backend, in the background, which subnets its
// networks use (an Addresser only; others, and a backend that does not
// answer, get the zero plan): the launch reads the answer when it makes
// the networks, so the lookup costs it no time.
func (st *launch) lookupSubnets(ctx context.Context) {
	a, ok := st.l.Backend.(Addresser)
	if !ok {
		return
	}
	st.subnets = make(chan []netip.Prefix, 1)
	go func() {
		used, ok, err := a.Subnets(ctx)
		if err != nil || !ok {
			used = nil
			close(st.subnets)
			return
		}
		st.subnets <- used
	}()
}

// planAddresses waits for lookupSubnets and chooses a plan: the first /24
// from the top of internalPool that overlaps no network the engine has,
// none tried before (taken, said an earlier create), and none of this
// machine's networks or routes (localNets). The zero plan when there is no
// answer, or no such /24.
func (st *launch) planAddresses(tried []netip.Prefix) addressPlan {
	if st.subnets != nil {
		used, ok := <-st.subnets
		st.subnets, st.addressable, st.usedSubnets = nil, ok, used
	}
	if !st.addressable {
		return addressPlan{}
	}
	return pickSubnet(append(slices.Clone(st.usedSubnets), tried...), localNets())
}

// localNets are the networks this machine is on (its interfaces'
// prefixes) and routes to (Linux's IPv4 routing table): a bridge on a /24
// of one of them would take that part of the host's LAN or VPN from it,
// even when no address of the machine is in that /24. The engine checks
// this itself only for the subnets it chooses.
func localNets() []netip.Prefix {
	var out []netip.Prefix
	ifaddrs, _ := net.InterfaceAddrs()
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil && p.Addr().Unmap().Is4() {
			out = append(out, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()).Masked())
		}
	}
	return append(out, ipv4Routes("/proc/net/route")...)
}

// ipv4Routes reads the destinations of a Linux routing table
// (/proc/net/route: hexadecimal, little-endian); none where there is none.
func ipv4Routes(file string) []netip.Prefix {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 8 {
			continue // the header
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		var d, m [4]byte
		binary.LittleEndian.PutUint32(d[:], uint32(dst))
		binary.LittleEndian.PutUint32(m[:], uint32(mask))
		n := bitsOf(binary.BigEndian.Uint32(m[:]))
		if n < 0 {
			continue
		}
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(d), n).Masked())
	}
	return out
}

// bitsOf is the length of netmask m (its bytes in network order, read as
// a big-endian number), or -1 when m is not a prefix mask.
func bitsOf(m uint32) int {
	n := bits.LeadingZeros32(^m)
	if m<<n != 0 {
		return -1
	}
	return n
}

// pickSubnet is planAddresses' choice, given what is taken and the
// machine's networks (local; a default route, /0, does not count).
func pickSubnet(taken []netip.Prefix, local []netip.Prefix) addressPlan {
	base := internalPool.Addr().As4()
	size := 1 << (32 - internalBits)
	count := 1 << (internalBits - internalPool.Bits())
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
next:
	for i := count - 1; i >= 0; i-- {
		v := start + uint32(i*size)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), internalBits)
		for _, t := range taken {
			if t.Overlaps(p) {
				continue next
			}
		}
		for _, l := range local {
			if l.Bits() > 0 && l.Overlaps(p) {
				continue next
			}
		}
		last := v + uint32(size) - 2 // .254: the broadcast address is .255
		return addressPlan{subnet: p, sidecar: netip.AddrFrom4([4]byte{byte(last >> 24), byte(last >> 16), byte(last >> 8), byte(last)})}
	}
	return addressPlan{}
}
