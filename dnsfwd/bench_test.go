package dnsfwd

import (
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Benchmarks for the forwarder on loopback, same run, same client:
//
//	stub:    the client asks the stub upstream directly (the floor)
//	allowed: through the forwarder to the stub (one upstream exchange)
//	denied:  answered REFUSED by the forwarder, no upstream exchange
//
// Each reports queries/s and the p99 latency seen by the clients.
//
//	go test ./dnsfwd -run '^$' -bench . -benchtime 5s
func BenchmarkDNS(b *testing.B) {
	up := startUpstream(b)
	f := startForwarder(b, up, func(c *Config) { c.AttemptTimeout = 2 * time.Second; c.Deadline = 5 * time.Second })
	for _, tc := range []struct{ name, addr, qname string }{
		{"stub", up.addr, "api.example.com."},
		{"allowed", f.addr, "api.example.com."},
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
