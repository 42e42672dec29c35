package dnsfwd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/allowlist"
)

// zone is a fake recursive resolver on loopback with a small fixed zone
// under .test. It records every query it is sent, and can be told to lose
// answers or to hold them back.
type zone struct {
	addr string

	// drop, when set, decides whether the answer to a query is lost; nth
	// counts the earlier queries for the same question (0: the first).
	drop     func(q dns.Question, nth int) bool
	gate     chan struct{} // answers for gate.test wait until it is closed
	gateOnce sync.Once

	mu   sync.Mutex
	seen []seenQuery
	nth  map[dns.Question]int
}

type seenQuery struct {
	at  time.Time
	msg *dns.Msg
}

func startZone(t testing.TB, drop func(dns.Question, int) bool) *zone {
	t.Helper()
	z := &zone{drop: drop, gate: make(chan struct{}), nth: map[dns.Question]int{}}
	pc, ln, err := ListenUDPAndTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z.addr = pc.LocalAddr().String()
	us := &dns.Server{PacketConn: pc, Handler: z}
	ts := &dns.Server{Listener: ln, Handler: z}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() {
		z.open()
		us.Shutdown()
		ts.Shutdown()
	})
	return z
}

// open lets the answers for gate.test go.
func (z *zone) open() { z.gateOnce.Do(func() { close(z.gate) }) }

func (z *zone) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	q := r.Question[0]
	z.mu.Lock()
	z.seen = append(z.seen, seenQuery{at: time.Now(), msg: r.Copy()})
	nth := z.nth[q]
	z.nth[q]++
	z.mu.Unlock()
	if z.drop != nil && z.drop(q, nth) {
		return
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	name := strings.ToLower(q.Name)
	if name == "gate.test." {
		<-z.gate
	}
	a := func(owner string, ttl uint32, ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)}
	}
	aaaa := func(owner string, ttl uint32, ip string) dns.RR {
		return &dns.AAAA{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: net.ParseIP(ip)}
	}
	cname := func(owner, target string, ttl uint32) dns.RR {
		return &dns.CNAME{Hdr: dns.RR_Header{Name: owner, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: ttl}, Target: target}
	}
	soa := func(ttl, minttl uint32) dns.RR {
		return &dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns: "ns.test.", Mbox: "hostmaster.test.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: minttl}
	}
	addrs := func(owner string, ttl uint32, v4, v6 string) {
		switch {
		case q.Qtype == dns.TypeA && v4 != "":
			m.Answer = append(m.Answer, a(owner, ttl, v4))
		case q.Qtype == dns.TypeAAAA && v6 != "":
			m.Answer = append(m.Answer, aaaa(owner, ttl, v6))
		default:
			m.Ns = append(m.Ns, soa(3600, 10)) // NODATA
		}
	}
	switch {
	case name == "a.test.":
		addrs(q.Name, 60, "192.0.2.1", "2001:db8::1")
	case name == "alias.test.":
		m.Answer = append(m.Answer, cname(q.Name, "a.test.", 30))
		addrs("a.test.", 60, "192.0.2.1", "2001:db8::1")
	case name == "chain.test.":
		m.Answer = append(m.Answer, cname(q.Name, "alias.test.", 30), cname("alias.test.", "a.test.", 30))
		addrs("a.test.", 60, "192.0.2.1", "2001:db8::1")
	case name == "loop.test.":
		m.Answer = append(m.Answer, cname(q.Name, "loop2.test.", 30), cname("loop2.test.", "loop.test.", 30))
	case name == "nx.test." || strings.HasSuffix(name, ".nx.test."):
		m.Rcode = dns.RcodeNameError
		m.Ns = append(m.Ns, soa(3600, 600))
	case name == "v4.test.":
		addrs(q.Name, 60, "192.0.2.4", "")
	case name == "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case name == "ttl0.test.":
		addrs(q.Name, 0, "192.0.2.5", "")
	case name == "long.test.":
		addrs(q.Name, 86400, "192.0.2.6", "")
	default:
		addrs(q.Name, 60, "192.0.2.7", "2001:db8::7")
	}
	w.WriteMsg(m)
}

// queries returns what the zone was sent for name (lower case, no dot) and
// qtype, in order of arrival.
func (z *zone) queries(name string, qtype uint16) []seenQuery {
	z.mu.Lock()
	defer z.mu.Unlock()
	var out []seenQuery
	for _, s := range z.seen {
		if q := s.msg.Question[0]; strings.EqualFold(q.Name, name+".") && q.Qtype == qtype {
			out = append(out, s)
		}
	}
	return out
}

func (z *zone) total() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return len(z.seen)
}

// blackHole is an upstream that reads queries and never answers: a resolver
// that has died without the host noticing. It counts what it is sent.
type blackHole struct {
	addr string
	n    atomic.Int64
}

func startBlackHole(t testing.TB) *blackHole {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{addr: pc.LocalAddr().String()}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			b.n.Add(1)
		}
	}()
	t.Cleanup(func() { pc.Close() })
	return b
}

// closedPort is a loopback address where nothing listens: the kernel
// answers each query with ICMP port unreachable.
func closedPort(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// clock is a settable time for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// allowAll is a policy that allows every name (the zone's names are all
// under .test, which the allowlist cannot wildcard).
type allowAll struct{}

func (allowAll) DecideName(string) allowlist.Decision {
	return allowlist.Decision{Allowed: true, Action: allowlist.ActionIntercept, Rule: "allow[0]"}
}

func newResolver(t testing.TB, cfg ResolverConfig) *Resolver {
	t.Helper()
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func addrList(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestLookupNetIP(t *testing.T) {
	z := startZone(t, nil)
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}})
	ctx := context.Background()
	for _, tc := range []struct {
		network, host string
		want          []netip.Addr
	}{
		{"ip", "a.test", addrList("192.0.2.1", "2001:db8::1")}, // IPv4 first
		{"ip4", "a.test", addrList("192.0.2.1")},
		{"ip6", "a.test.", addrList("2001:db8::1")},
		{"ip", "alias.test", addrList("192.0.2.1", "2001:db8::1")}, // one CNAME
		{"ip", "chain.test", addrList("192.0.2.1", "2001:db8::1")}, // two
		{"ip", "v4.test", addrList("192.0.2.4")},                   // AAAA: NODATA
		{"ip4", "Mixed.Case.TEST", addrList("192.0.2.7")},
		{"ip", "192.0.2.9", addrList("192.0.2.9")}, // a literal: no query
		{"ip6", "2001:db8::9", addrList("2001:db8::9")},
	} {
		got, err := r.LookupNetIP(ctx, tc.network, tc.host)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("LookupNetIP(%s, %s) = %v, %v; want %v", tc.network, tc.host, got, err, tc.want)
		}
	}
	if qs := z.queries("mixed.case.test", dns.TypeA); len(qs) != 1 || qs[0].msg.Question[0].Name != "mixed.case.test." {
		t.Errorf("upstream saw %v; want one query for mixed.case.test. in lower case", qs)
	}
	if qs := z.queries("192.0.2.9", dns.TypeA); len(qs) != 0 {
		t.Errorf("a literal address was looked up")
	}
	if _, err := r.LookupNetIP(ctx, "tcp", "a.test"); err == nil {
		t.Error("network tcp: no error")
	}
}

// TestLookupNetIPErrors: errors are *net.DNSError saying not found or
// timeout, and never naming the upstream (the agent would see it on an
// error page).
func TestLookupNetIPErrors(t *testing.T) {
	z := startZone(t, nil)
	hole := startBlackHole(t)
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}})
	dead := newResolver(t, ResolverConfig{Upstreams: []string{hole.addr}, AttemptTimeout: 100 * time.Millisecond, Deadline: 400 * time.Millisecond, HedgeDelay: 50 * time.Millisecond})
	for _, tc := range []struct {
		r                       *Resolver
		network, host           string
		notFound, timeout, temp bool
	}{
		{r, "ip", "nx.test", true, false, false},
		{r, "ip", "x.nx.test", true, false, false},
		{r, "ip6", "v4.test", true, false, false}, // NODATA
		{r, "ip", "loop.test", true, false, false},
		{r, "ip", "bad..name", true, false, false},
		{r, "ip", "fail.test", false, false, true},
		{dead, "ip", "a.test", false, true, true},
		{dead, "ip4", "b.test", false, true, true},
	} {
		_, err := tc.r.LookupNetIP(context.Background(), tc.network, tc.host)
		var de *net.DNSError
		if !errors.As(err, &de) {
			t.Errorf("%s %s: %T %v; want *net.DNSError", tc.network, tc.host, err, err)
			continue
		}
		if de.IsNotFound != tc.notFound || de.IsTimeout != tc.timeout || de.IsTemporary != tc.temp || de.Name != tc.host || de.Server != "" {
			t.Errorf("%s %s: %#v; want IsNotFound %v, IsTimeout %v, IsTemporary %v, Name %q, Server empty", tc.network, tc.host, de, tc.notFound, tc.timeout, tc.temp, tc.host)
		}
		if strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%s %s: the error names the upstream: %v", tc.network, tc.host, err)
		}
	}
	// The caller's deadline, shorter than the resolver's.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var de *net.DNSError
	if _, err := dead.LookupNetIP(ctx, "ip", "c.test"); !errors.As(err, &de) || !de.IsTimeout || de.Server != "" {
		t.Errorf("caller's deadline: %#v", err)
	}
	if hole.n.Load() == 0 {
		t.Error("the black hole was never asked")
	}
}

// TestResolverCache: a repeat is answered without an upstream query, with
// TTLs decremented by the answer's age, until the TTL runs out; TTLs are
// clamped; the forwarder and LookupNetIP share the cache.
func TestResolverCache(t *testing.T) {
	z := startZone(t, nil)
	clk := &clock{t: time.Unix(1_000_000, 0)}
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}})
	r.now = clk.Now
	s, err := New(Config{Policy: allowAll{}, Resolver: r})
	if err != nil {
		t.Fatal(err)
	}
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
		s.ServeDNS(w, m)
		if w.msg == nil {
			t.Fatalf("%s: no reply", name)
		}
		return w.msg
	}
	ttl := func(m *dns.Msg) uint32 {
		t.Helper()
		if len(m.Answer) == 0 {
			t.Fatalf("no answer: %v", m)
		}
		return m.Answer[0].Header().Ttl
	}
	ctx := context.Background()

	if _, err := r.LookupNetIP(ctx, "ip4", "a.test"); err != nil {
		t.Fatal(err)
	}
	if m := ask("a.test.", dns.TypeA); ttl(m) != 60 {
		t.Errorf("fresh answer: TTL %d; want 60", ttl(m))
	}
	clk.Add(10 * time.Second)
	if m := ask("A.test.", dns.TypeA); ttl(m) != 50 {
		t.Errorf("after 10s: TTL %d; want 50", ttl(m))
	}
	if got, err := r.LookupNetIP(ctx, "ip4", "a.test"); err != nil || !slices.Equal(got, addrList("192.0.2.1")) {
		t.Errorf("cached lookup: %v %v", got, err)
	}
	if n := len(z.queries("a.test", dns.TypeA)); n != 1 {
		t.Errorf("upstream asked %d times for a.test A; want once", n)
	}
	if st := s.Stats(); st.Cached != 2 {
		t.Errorf("forwarder stats %+v; want 2 answers from the cache", st)
	}
	clk.Add(51 * time.Second) // 61s: expired
	if m := ask("a.test.", dns.TypeA); ttl(m) != 60 {
		t.Errorf("after expiry: TTL %d; want 60", ttl(m))
	}
	if n := len(z.queries("a.test", dns.TypeA)); n != 2 {
		t.Errorf("upstream asked %d times for a.test A after expiry; want twice", n)
	}

	// TTL 0 is kept MinTTL (5s) but served as 0; 86400 is kept and served
	// as at most MaxTTL (1h).
	for range 2 {
		if m := ask("ttl0.test.", dns.TypeA); ttl(m) != 0 {
			t.Errorf("ttl0: TTL %d", ttl(m))
		}
	}
	if n := len(z.queries("ttl0.test", dns.TypeA)); n != 1 {
		t.Errorf("ttl0.test asked %d times within MinTTL; want once", n)
	}
	clk.Add(6 * time.Second)
	ask("ttl0.test.", dns.TypeA)
	if n := len(z.queries("ttl0.test", dns.TypeA)); n != 2 {
		t.Errorf("ttl0.test asked %d times after MinTTL; want twice", n)
	}
	if m := ask("long.test.", dns.TypeA); ttl(m) != 3600 {
		t.Errorf("long: TTL %d; want 3600", ttl(m))
	}

	// DO is part of the question: a DNSSEC client's answer is not a plain one.
	m := new(dns.Msg)
	m.SetQuestion("a.test.", dns.TypeA)
	m.SetEdns0(1232, true)
	w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
	s.ServeDNS(w, m)
	qs := z.queries("a.test", dns.TypeA)
	if len(qs) != 3 || qs[2].msg.IsEdns0() == nil || !qs[2].msg.IsEdns0().Do() {
		t.Errorf("DO query: upstream saw %d queries, the last with OPT %v", len(qs), qs[len(qs)-1].msg.IsEdns0())
	}
	if o := w.msg.IsEdns0(); o == nil || !o.Do() {
		t.Errorf("DO query: reply OPT %v", o)
	}
}

// TestResolverNegativeCache: NXDOMAIN and NODATA are kept briefly (the SOA
// says 600s and 10s; we keep at most 30s); SERVFAIL is not kept.
func TestResolverNegativeCache(t *testing.T) {
	z := startZone(t, nil)
	clk := &clock{t: time.Unix(1_000_000, 0)}
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}})
	r.now = clk.Now
	ctx := context.Background()
	look := func(network, host string) {
		t.Helper()
		var de *net.DNSError
		if _, err := r.LookupNetIP(ctx, network, host); !errors.As(err, &de) {
			t.Fatalf("%s: %v", host, err)
		}
	}
	look("ip4", "nx.test")
	clk.Add(29 * time.Second)
	look("ip4", "nx.test")
	if n := len(z.queries("nx.test", dns.TypeA)); n != 1 {
		t.Errorf("NXDOMAIN asked %d times within 30s; want once", n)
	}
	// Served with the SOA's TTL capped at what is left.
	if m, err := r.resolve(ctx, qkey{name: "nx.test.", qtype: dns.TypeA}); err != nil || m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || m.Ns[0].Header().Ttl != 1 {
		t.Errorf("cached NXDOMAIN: %v %v; want the SOA with TTL 1", m, err)
	}
	clk.Add(2 * time.Second)
	look("ip4", "nx.test")
	if n := len(z.queries("nx.test", dns.TypeA)); n != 2 {
		t.Errorf("NXDOMAIN asked %d times after 31s; want twice", n)
	}

	look("ip6", "v4.test") // NODATA, SOA minimum 10
	clk.Add(9 * time.Second)
	look("ip6", "v4.test")
	clk.Add(2 * time.Second)
	look("ip6", "v4.test")
	if n := len(z.queries("v4.test", dns.TypeAAAA)); n != 2 {
		t.Errorf("NODATA asked %d times over 11s; want twice (kept 10s)", n)
	}

	look("ip4", "fail.test")
	before := len(z.queries("fail.test", dns.TypeA))
	look("ip4", "fail.test")
	if n := len(z.queries("fail.test", dns.TypeA)); n <= before {
		t.Errorf("SERVFAIL was answered from the cache (%d queries, %d before)", n, before)
	}
}

// TestResolverSharesLookups: identical questions asked at once cause one
// upstream query, and all askers get the answer.
func TestResolverSharesLookups(t *testing.T) {
	z := startZone(t, nil)
	// No hedge while the answer is held back.
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}, HedgeDelay: time.Minute, AttemptTimeout: 10 * time.Second, Deadline: 10 * time.Second})
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			got, err := r.LookupNetIP(context.Background(), "ip4", "gate.test")
			if err == nil && !slices.Equal(got, addrList("192.0.2.7")) {
				err = fmt.Errorf("got %v", got)
			}
			errs <- err
		})
	}
	k := qkey{name: "gate.test.", qtype: dns.TypeA}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		r.mu.Lock()
		waiting := 0
		if f := r.flights[k]; f != nil {
			waiting = f.waiters
		}
		r.mu.Unlock()
		if waiting == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lookups joined", waiting, n)
		}
	}
	z.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := len(z.queries("gate.test", dns.TypeA)); got != 1 {
		t.Errorf("%d simultaneous lookups caused %d upstream queries; want 1", n, got)
	}
	if st := r.Stats(); st.Shared != n-1 {
		t.Errorf("stats %+v; want %d shared", st, n-1)
	}
}

// TestResolverHedgesLostAnswers is the Docker embedded resolver under a
// burst: the first answer to every question is lost. Every lookup still
// succeeds, and the second query for each question was sent while the
// first was still awaited (a hedge), not after it timed out.
func TestResolverHedgesLostAnswers(t *testing.T) {
	z := startZone(t, func(q dns.Question, nth int) bool { return nth == 0 })
	const attemptTimeout = 3 * time.Second
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}, AttemptTimeout: attemptTimeout})
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var slowest atomic.Int64
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			host := fmt.Sprintf("h%d.test", i)
			got, err := r.LookupNetIP(context.Background(), "ip", host)
			if err == nil && !slices.Equal(got, addrList("192.0.2.7", "2001:db8::7")) {
				err = fmt.Errorf("%s: got %v", host, got)
			}
			errs <- err
			for d := int64(time.Since(start)); ; {
				old := slowest.Load()
				if d <= old || slowest.CompareAndSwap(old, d) {
					break
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	var widest time.Duration
	for i := range n {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			qs := z.queries(fmt.Sprintf("h%d.test", i), qt)
			if len(qs) < 2 {
				t.Errorf("h%d.test %s: %d queries; the lost answer was never asked again", i, dns.TypeToString[qt], len(qs))
				continue
			}
			gap := qs[1].at.Sub(qs[0].at)
			widest = max(widest, gap)
			if gap >= attemptTimeout {
				t.Errorf("h%d.test %s: asked again after %v, when the first exchange timed out; want a hedge", i, dns.TypeToString[qt], gap)
			}
			if qs[0].msg.Id == qs[1].msg.Id {
				t.Errorf("h%d.test %s: the hedge reused the query ID", i, dns.TypeToString[qt])
			}
		}
	}
	t.Logf("%d lookups (A+AAAA), first answers lost: widest retry gap %v, slowest lookup %v", n, widest, time.Duration(slowest.Load()))
}

// TestForwarderHedgesLostAnswers: the same through the forwarder, with an
// upstream that loses the first two answers to every question, so that
// each is answered by the last exchange of the default budget.
func TestForwarderHedgesLostAnswers(t *testing.T) {
	z := startZone(t, func(_ dns.Question, nth int) bool { return nth < 2 })
	s, err := New(Config{Policy: allowAll{}, Upstreams: []string{z.addr}, AttemptTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pc, ln, err := ListenUDPAndTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(pc, ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	const n = 80
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := new(dns.Msg)
			m.SetQuestion(fmt.Sprintf("f%d.test.", i), dns.TypeA)
			// The client's own timeout is longer than the forwarder's
			// deadline: a missing answer is the forwarder's fault.
			r, _, err := (&dns.Client{Net: "udp", Timeout: 8 * time.Second}).Exchange(m, pc.LocalAddr().String())
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("f%d.test: %v %v", i, r, err)
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Forwarded != n || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	for i := range n {
		qs := z.queries(fmt.Sprintf("f%d.test", i), dns.TypeA)
		if len(qs) < 3 {
			t.Errorf("f%d.test: %d upstream queries; want 3 (two lost, one answered)", i, len(qs))
		} else if gap := qs[2].at.Sub(qs[0].at); gap >= 3*time.Second {
			t.Errorf("f%d.test: the third query went %v after the first, when it had timed out; want hedges", i, gap)
		}
	}
}

// TestResolverFailover: with the first upstream dead, answers come from the
// second, for LookupNetIP and for the forwarder; a dead upstream is soon
// asked last.
func TestResolverFailover(t *testing.T) {
	for _, tc := range []struct {
		what string
		dead func(t *testing.T) (addr string, asked func() int64)
	}{
		{"silent", func(t *testing.T) (string, func() int64) { h := startBlackHole(t); return h.addr, h.n.Load }},
		{"port closed", func(t *testing.T) (string, func() int64) { return closedPort(t), nil }},
	} {
		t.Run(tc.what, func(t *testing.T) {
			z := startZone(t, nil)
			deadAddr, asked := tc.dead(t)
			r := newResolver(t, ResolverConfig{Upstreams: []string{deadAddr, z.addr}})
			for i := range 6 {
				host := fmt.Sprintf("w%d.test", i)
				if got, err := r.LookupNetIP(context.Background(), "ip4", host); err != nil || len(got) != 1 {
					t.Fatalf("%s: %v %v", host, got, err)
				}
			}
			if asked != nil {
				before := asked()
				for i := range 10 {
					if _, err := r.LookupNetIP(context.Background(), "ip4", fmt.Sprintf("x%d.test", i)); err != nil {
						t.Fatal(err)
					}
				}
				if after := asked(); after != before {
					t.Errorf("the dead upstream was still asked first: %d more queries", after-before)
				}
			}

			up := startUpstream(t)
			f := startForwarder(t, up, func(c *Config) {
				c.Upstreams = []string{deadAddr, up.addr}
				c.AttemptTimeout = 2 * time.Second
				c.Deadline = 5 * time.Second
			})
			for i := range 4 {
				if r := query(t, f.addr, "udp", fmt.Sprintf("d%d.cdn.example.com", i), dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
					t.Errorf("forwarder: %s", dns.RcodeToString[r.Rcode])
				}
			}
		})
	}
}

func TestResolverClose(t *testing.T) {
	z := startZone(t, nil)
	r, err := NewResolver(ResolverConfig{Upstreams: []string{z.addr}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.LookupNetIP(context.Background(), "ip4", "a.test"); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := r.LookupNetIP(context.Background(), "ip4", "other.test"); err == nil {
		t.Error("a lookup after Close succeeded")
	}
	for _, u := range r.ups {
		u.mu.Lock()
		if len(u.idle) != 0 {
			t.Errorf("%d idle sockets left open", len(u.idle))
		}
		u.mu.Unlock()
	}
	r.Close() // twice is fine
	pol, _ := allowlist.Parse("p.yaml", []byte("version: 1\n"))
	if _, err := New(Config{Policy: pol, Resolver: r, Upstreams: []string{z.addr}}); err == nil {
		t.Error("Config with both Resolver and Upstreams: no error")
	}
}

// TestResolverCacheBounded: the cache holds CacheSize answers at most, and
// the least recently used one goes first.
func TestResolverCacheBounded(t *testing.T) {
	z := startZone(t, nil)
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}, CacheSize: 10})
	look := func(host string) {
		t.Helper()
		if _, err := r.LookupNetIP(context.Background(), "ip4", host); err != nil {
			t.Fatal(err)
		}
	}
	look("keep.test")
	for i := range 50 {
		look(fmt.Sprintf("n%d.test", i))
		look("keep.test") // used again each time: never the least recent
	}
	if n := r.cache.len(); n != 10 {
		t.Errorf("cache holds %d answers; want 10", n)
	}
	before := z.total()
	look("keep.test")
	look("n49.test")
	if z.total() != before {
		t.Error("a recently used answer was evicted")
	}
	look("n0.test")
	if z.total() != before+1 {
		t.Error("the least recently used answer was not evicted")
	}
}

// TestResolverCancelsLosers: the exchanges that lose a hedge race are given
// up at once, not left waiting for their own timeout: no goroutine or
// socket outlives the lookups.
func TestResolverCancelsLosers(t *testing.T) {
	z := startZone(t, func(_ dns.Question, nth int) bool { return nth == 0 })
	r := newResolver(t, ResolverConfig{Upstreams: []string{z.addr}, AttemptTimeout: 30 * time.Second, Deadline: 30 * time.Second})
	base := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := r.LookupNetIP(context.Background(), "ip", fmt.Sprintf("c%d.test", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Errorf("%d goroutines left after the lookups (%d before): the losing exchanges still wait", n, base)
	}
}
