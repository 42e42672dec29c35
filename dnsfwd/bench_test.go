package dnsfwd

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkDNS measures the forwarder on loopback, same run, same client:
//
//	stub:     the client asks the stub upstream directly (the floor)
//	allowed:  through the forwarder, answered from its cache after the first
//	uncached: through the forwarder to the stub, a new name every query (one
//	          upstream exchange each)
//	denied:   answered REFUSED by the forwarder, no upstream exchange
//
// Each reports queries/s and the p99 latency seen by the clients.
//
//	go test ./dnsfwd -run '^$' -bench . -benchtime 5s
func BenchmarkDNS(b *testing.B) {
	up := startUpstream(b)
	f := startForwarder(b, up, func(c *Config) { c.AttemptTimeout = 2 * time.Second; c.Deadline = 5 * time.Second })
	var seq atomic.Int64
	for _, tc := range []struct{ name, addr, qname string }{
		{"stub", up.addr, "api.example.com."},
		{"allowed", f.addr, "api.example.com."},
		{"uncached", f.addr, ""},
		{"denied", f.addr, "blocked.example.net."},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("udp", tc.addr)
				if err != nil {
					b.Error(err)
					return
				}
				conn := &dns.Conn{Conn: c}
				defer conn.Close()
				m := new(dns.Msg)
				m.SetQuestion(tc.qname, dns.TypeA)
				var mine []time.Duration
				for pb.Next() {
					m.Id = dns.Id()
					if tc.qname == "" {
						m.Question[0].Name = fmt.Sprintf("q%d.cdn.example.com.", seq.Add(1))
					}
					start := time.Now()
					conn.SetDeadline(start.Add(2 * time.Second))
					if err := conn.WriteMsg(m); err != nil {
						b.Error(err)
						return
					}
					r, err := conn.ReadMsg()
					if err != nil || r.Id != m.Id {
						continue // a lost datagram: counted as an op, not a latency
					}
					mine = append(mine, time.Since(start))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "qps")
			if len(lat) > 0 {
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			}
		})
	}
}

// BenchmarkLookupNetIP is the proxy's lookup ("ip": A and AAAA at once)
// against a loopback zone:
//
//	cached:   the same name every time, answered from the cache
//	uncached: a new name every time (two upstream exchanges)
//	lossy:    a new name every time, and the first answer to each question
//	          lost upstream, one lookup at a time (so ns/op is its latency):
//	          a hedge delay (250 ms), not a timeout (2 s)
func BenchmarkLookupNetIP(b *testing.B) {
	for _, tc := range []struct {
		name  string
		drop  func(dns.Question, int) bool
		fresh bool
	}{
		{"cached", nil, false},
		{"uncached", nil, true},
		{"lossy", func(_ dns.Question, nth int) bool { return nth == 0 }, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			z := startZone(b, tc.drop)
			r := newResolver(b, ResolverConfig{Upstreams: []string{z.addr}})
			ctx := context.Background()
			var seq atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			if tc.drop != nil {
				for b.Loop() {
					if _, err := r.LookupNetIP(ctx, "ip", fmt.Sprintf("b%d.test", seq.Add(1))); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					host := "a.test"
					if tc.fresh {
						host = fmt.Sprintf("b%d.test", seq.Add(1))
					}
					if _, err := r.LookupNetIP(ctx, "ip", host); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
