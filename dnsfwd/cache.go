package dnsfwd

import (
	"container/list"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// cacheTTL is how long m may be kept: the smallest TTL of its answer,
// clamped to [MinTTL, MaxTTL]; for NXDOMAIN and NODATA, the SOA's negative
// TTL (RFC 2308 §5: the smaller of its TTL and MINIMUM), clamped to
// MaxNegativeTTL, so a name that appears is seen soon. A negative answer
// without SOA is kept MinTTL: RFC 2308 would not keep it at all, for fear of
// loops between caches, but nothing resolves through this cache, and
// without it every AAAA lookup of an IPv4-only name would go upstream.
// Failures (SERVFAIL, REFUSED, …) are not kept: here they mostly come from
// an answer lost upstream, and keeping one would turn a lost packet into
// seconds of failures; identical questions at once already share a lookup.
func (r *Resolver) cacheTTL(m *dns.Msg) time.Duration {
	if m.Truncated {
		return 0
	}
	negative := m.Rcode == dns.RcodeNameError || m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0
	switch {
	case negative:
		ttl := r.cfg.MinTTL
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				ttl = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			}
		}
		return max(min(ttl, r.cfg.MaxNegativeTTL), min(r.cfg.MinTTL, r.cfg.MaxNegativeTTL))
	case m.Rcode == dns.RcodeSuccess:
		low := uint32(r.cfg.MaxTTL / time.Second)
		for _, rr := range m.Answer {
			low = min(low, rr.Header().Ttl)
		}
		return min(max(time.Duration(low)*time.Second, r.cfg.MinTTL), r.cfg.MaxTTL)
	}
	return 0
}

// entry is an upstream answer, cached or handed to the waiters of a lookup.
// msg is never changed once stored; answer hands out copies.
type entry struct {
	key    qkey
	msg    *dns.Msg
	stored time.Time
	ttl    time.Duration // 0: not cached
}

// answer is a copy of the stored reply as it stands at now: no ID, and no
// OPT record (the forwarder writes its own).
func (e *entry) answer(now time.Time) *dns.Msg {
	m := e.msg.Copy()
	m.Id = 0
	extra := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	m.Extra = extra
	if e.ttl == 0 {
		return m
	}
	// Every TTL is capped at the entry's life and decremented by its age,
	// so a client never keeps the answer longer than we do.
	life := uint32(e.ttl / time.Second)
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, sec := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			h.Ttl = min(h.Ttl, life)
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// cache is a bounded LRU of answers.
type cache struct {
	mu  sync.Mutex
	max int
	m   map[qkey]*list.Element // of *entry
	lru list.List              // front: most recently used
}

func newCache(n int) *cache { return &cache{max: n, m: map[qkey]*list.Element{}} }

func (c *cache) get(k qkey, now time.Time) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	el := c.m[k]
	if el == nil {
		return nil
	}
	e := el.Value.(*entry)
	if now.Sub(e.stored) >= e.ttl {
		c.lru.Remove(el)
		delete(c.m, k)
		return nil
	}
	c.lru.MoveToFront(el)
	return e
}

func (c *cache) put(e *entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el := c.m[e.key]; el != nil {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	c.m[e.key] = c.lru.PushFront(e)
	for c.lru.Len() > c.max {
		// The least recently used goes, expired or not; expired entries
		// also go when they are next looked at.
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*entry).key)
	}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
