package dnsfwd

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
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

// startStub is an upstream that costs as little as it can: every A question
// answered with one address and TTL ttl, nothing recorded (the test
// upstreams keep a copy of every query, which a benchmark would measure).
func startStub(b *testing.B, ttl uint32) string {
	b.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
				A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	b.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// packWriter keeps the reply's bytes, packing it as miekg's server does
// when it is given a message.
type packWriter struct {
	fakeWriter
	wire, buf []byte
}

func (w *packWriter) WriteMsg(m *dns.Msg) (err error) {
	w.wire, err = m.Pack()
	return err
}

func (w *packWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf[:0], b...) // the client's buffer, reused
	w.wire = w.buf
	return len(b), nil
}

// BenchmarkServeDNS is the forwarder's own cost for one query, without the
// client's socket: ServeDNS called with a writer that keeps the reply's bytes.
//
//	refused:       a denied name (a new one each time, as an agent probing
//	               names would send), with EDNS0 as dig and most stubs send it
//	refused-plain: the same without EDNS0 (no Extended DNS Error to add)
//	cached:        an allowed name asked before, answered from the cache
//	forwarded:     a new allowed name every time: one upstream exchange
//
//	go test ./dnsfwd -run '^$' -bench ServeDNS -benchmem
func BenchmarkServeDNS(b *testing.B) {
	pol, err := allowlist.Parse("p.yaml", []byte(testPolicy))
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{Bottle: "b", Policy: pol, Upstreams: []string{startStub(b, 0)}, Audit: audit.New(io.Discard)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Shutdown(context.Background()) })
	var seq atomic.Int64
	for _, tc := range []struct {
		name  string
		qname func() string
		edns  bool
		want  int
	}{
		{"refused", func() string { return fmt.Sprintf("q%d.denied.example.", seq.Add(1)) }, true, dns.RcodeRefused},
		{"refused-plain", func() string { return fmt.Sprintf("q%d.denied.example.", seq.Add(1)) }, false, dns.RcodeRefused},
		{"cached", func() string { return "api.example.com." }, true, dns.RcodeSuccess},
		{"forwarded", func() string { return fmt.Sprintf("q%d.cdn.example.com.", seq.Add(1)) }, true, dns.RcodeSuccess},
	} {
		b.Run(tc.name, func(b *testing.B) {
			// The names are made before the clock runs: their cost is
			// the client's.
			names := make([]string, 1<<16)
			for i := range names {
				names[i] = tc.qname()
			}
			var next atomic.Int64
			from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}
			b.ReportAllocs()
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := &packWriter{fakeWriter: fakeWriter{remote: from}}
				m := new(dns.Msg)
				m.SetQuestion("x.", dns.TypeA)
				if tc.edns {
					m.SetEdns0(1232, false)
				}
				for pb.Next() {
					m.Id = dns.Id()
					m.Question[0].Name = names[next.Add(1)&(1<<16-1)]
					w.wire = nil
					s.ServeDNS(w, m)
					if len(w.wire) < 12 || int(w.wire[3]&0xF) != tc.want {
						b.Errorf("reply %x, want rcode %s", w.wire, dns.RcodeToString[tc.want])
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "qps")
		})
	}
}
