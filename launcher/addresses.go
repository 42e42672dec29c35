package launcher

import (
	"context"
	"net/netip"
	"slices"
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
// none tried before (taken, said an earlier create), and no address of
// this machine. The zero plan when there is no answer, or no such /24.
func (st *launch) planAddresses(tried []netip.Prefix) addressPlan {
	if st.subnets != nil {
		used, ok := <-st.subnets
		st.subnets, st.addressable, st.usedSubnets = nil, ok, used
	}
	if !st.addressable {
		return addressPlan{}
	}
	return pickSubnet(append(slices.Clone(st.usedSubnets), tried...), interfaceAddrs())
}

// pickSubnet is planAddresses' choice, given what is taken.
func pickSubnet(taken []netip.Prefix, local []netip.Addr) addressPlan {
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
		for _, a := range local {
			if p.Contains(a) {
				continue next
			}
		}
		last := v + uint32(size) - 2 // .254: the broadcast address is .255
		return addressPlan{subnet: p, sidecar: netip.AddrFrom4([4]byte{byte(last >> 24), byte(last >> 16), byte(last >> 8), byte(last)})}
	}
	return addressPlan{}
}
