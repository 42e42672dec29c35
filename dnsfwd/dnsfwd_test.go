package dnsfwd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/syncbuf"
)

const testPolicy = `version: 1
allow:
  - host: api.example.com
  - host: "*.cdn.example.com"
  - host: big.example.com
  - host: badid.example.com
  - host: slow.example.com
deny:
  - host: evil.cdn.example.com
`

// upstream is a fake resolver on loopback that counts what it is asked.
type upstream struct {
	addr    string
	queries atomic.Int64
	mu      sync.Mutex
	seen    []*dns.Msg
	sources map[string]bool // client addresses queries came from
	release chan struct{}
}

func (u *upstream) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	u.queries.Add(1)
	u.mu.Lock()
	u.seen = append(u.seen, r.Copy())
	if u.sources == nil {
		u.sources = map[string]bool{}
	}
	u.sources[w.RemoteAddr().String()] = true
	u.mu.Unlock()
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	switch strings.ToLower(q.Name) {
	case "slow.example.com.":
		<-u.release
		return
	case "badid.example.com.":
		m.Id = r.Id + 1
	case "big.example.com.":
		for i := range 40 {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{strings.Repeat(string(rune('a'+i%26)), 100)}})
		}
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			size := dns.MinMsgSize
			if o := r.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
	default:
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 7)})
	}
	w.WriteMsg(m)
}

// asked counts the queries for name (a lower-case FQDN) the upstream got.
func (u *upstream) asked(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, m := range u.seen {
		if strings.EqualFold(m.Question[0].Name, name) {
			n++
		}
	}
	return n
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{release: make(chan struct{})}
	pc, ln, err := ListenUDPAndTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	us := &dns.Server{PacketConn: pc, Handler: u}
	ts := &dns.Server{Listener: ln, Handler: u}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	t.Cleanup(func() {
		close(u.release)
		us.Shutdown()
		ts.Shutdown()
	})
	return u
}

type fwd struct {
	*Server
	addr  string
	audit *syncbuf.Buffer
}

func startForwarder(t testing.TB, up *upstream, tweak func(*Config)) *fwd {
	t.Helper()
	pol, err := allowlist.Parse("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncbuf.Buffer{}
	cfg := Config{Bottle: "b", Policy: pol, Upstreams: []string{up.addr}, Audit: audit.New(buf),
		AttemptTimeout: 300 * time.Millisecond, Deadline: time.Second}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc, ln, err := ListenUDPAndTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(pc, ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		// Every line the forwarder wrote is a refusal (or would be), and
		// says why.
		for _, r := range auditLines(t, buf.String()) {
			if r.Decision == "allow" || r.Cause == "" || r.Cause == allowlist.CauseUnknown.String() || r.Cause == allowlist.CauseAllowed.String() {
				t.Errorf("audit line with decision %s and cause %q: %+v", r.Decision, r.Cause, r)
			}
		}
	})
	return &fwd{Server: s, addr: pc.LocalAddr().String(), audit: buf}
}

func (f *fwd) auditLog() string { return f.audit.String() }

// auditLines parses the audit lines written to log so far.
func auditLines(t testing.TB, log string) []audit.Record {
	t.Helper()
	var out []audit.Record
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		if l == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("audit line %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

// auditFor returns the first audit line about name (as logged: lower case,
// no trailing dot), failing t if there is none.
func (f *fwd) auditFor(t testing.TB, name string) audit.Record {
	t.Helper()
	for _, r := range auditLines(t, f.auditLog()) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no audit line for %s in:\n%s", name, f.auditLog())
	return audit.Record{}
}

func query(t testing.TB, addr, net_, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: net_, Timeout: 3 * time.Second, UDPSize: max(edns, 512)}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], net_, err)
	}
	return r
}

func TestAllowedNamesForwarded(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	for _, tc := range []struct{ net, name string }{{"udp", "api.example.com"}, {"tcp", "API.Example.COM"}, {"udp", "x.cdn.example.com"}} {
		r := query(t, f.addr, tc.net, tc.name, dns.TypeA, 0)
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.7" {
			t.Errorf("%s over %s: %v", tc.name, tc.net, r)
		}
	}
	// API.Example.COM is api.example.com, answered from the cache.
	if got := up.queries.Load(); got != 2 {
		t.Errorf("upstream got %d queries; want 2", got)
	}
	if s := f.Stats(); s.Allowed != 3 || s.Forwarded != 3 || s.Cached != 1 || s.Denied != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestDeniedNamesNeverLeave covers the e2e battery's cases A7 and A9
// (e2e/launch_test.go): refused names get REFUSED from the sidecar and cause
// no upstream query at all.
func TestDeniedNamesNeverLeave(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	exfil := "c2VjcmV0LXRva2VuLWhlcmUtMTIzNDU2Nzg5MA.aGVsbG8td29ybGQtdGhpcy1pcy1kYXRh.x9f3k2.example.com"
	for _, tc := range []struct {
		name  string
		qtype uint16
		rule  string
		cause allowlist.Cause
	}{
		{"blocked.example.net", dns.TypeA, "default", allowlist.CauseNoRule},
		{"evil.cdn.example.com", dns.TypeA, "deny[0]", allowlist.CauseDenyRule},   // deny wins over the wildcard
		{"a.b.cdn.example.com", dns.TypeA, "default", allowlist.CauseNoRule},      // one label only under *.
		{"cdn.example.com", dns.TypeA, "default", allowlist.CauseNoRule},          // the wildcard's apex
		{exfil, dns.TypeA, "default", allowlist.CauseNoRule},                      // long random labels under a sibling
		{"data.api.example.com", dns.TypeTXT, "default", allowlist.CauseNoRule},   // TXT under an allowed name
		{"leak.example.org", dns.TypeANY, "default", allowlist.CauseNoRule},       // ANY: the name is judged first
		{"4.3.2.1.in-addr.arpa", dns.TypePTR, "default", allowlist.CauseNoRule},   // reverse lookups
		{"api.example.com.evil.net", dns.TypeA, "default", allowlist.CauseNoRule}, // an allowed name as a prefix
	} {
		for _, n := range []string{"udp", "tcp"} {
			r := query(t, f.addr, n, tc.name, tc.qtype, 1232)
			if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
				t.Errorf("%s %s over %s: rcode %s", tc.name, dns.TypeToString[tc.qtype], n, dns.RcodeToString[r.Rcode])
			}
		}
		rec := f.auditFor(t, strings.ToLower(tc.name))
		if rec.Kind != "dns" || rec.QType != dns.TypeToString[tc.qtype] || rec.Decision != "deny" || rec.Rule != tc.rule || rec.Cause != tc.cause.String() || rec.Rcode != "REFUSED" || rec.Client != "127.0.0.1" {
			t.Errorf("%s: audit %+v; want %s by %s", tc.name, rec, tc.cause, tc.rule)
		}
	}
	if got := up.queries.Load(); got != 0 {
		t.Errorf("upstream got %d queries for refused names", got)
	}
	log := f.auditLog()
	if !strings.Contains(log, `"kind":"dns"`) || !strings.Contains(log, `"name":"evil.cdn.example.com"`) || !strings.Contains(log, `"rule":"deny[0]"`) || !strings.Contains(log, `"qtype":"ANY"`) {
		t.Errorf("audit log:\n%s", log)
	}
}

func TestFreshIDAndStrippedOptions(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	m := new(dns.Msg)
	m.SetQuestion("api.example.com.", dns.TypeA)
	m.Id = 4242
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	o.SetUDPSize(4096)
	o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.IPv4(10, 89, 0, 0).To4()})
	m.Extra = append(m.Extra, o)
	r, _, err := (&dns.Client{Net: "udp"}).Exchange(m, f.addr)
	if err != nil || r.Id != 4242 || r.Rcode != dns.RcodeSuccess {
		t.Fatalf("reply %v %v", r, err)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	seen := up.seen[0]
	if seen.Id == 4242 {
		t.Error("client's query ID was sent upstream")
	}
	if opt := seen.IsEdns0(); opt == nil || len(opt.Option) != 0 || opt.UDPSize() != upstreamUDPSize {
		t.Errorf("upstream OPT %v", opt)
	}
}

func TestTruncation(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	// Plain UDP client (512 bytes): truncated, TC set.
	r := query(t, f.addr, "udp", "big.example.com", dns.TypeTXT, 0)
	r.Compress = true // as it was on the wire
	if !r.Truncated || r.Len() > 512 || r.IsEdns0() != nil {
		t.Errorf("UDP/512: TC=%v len=%d", r.Truncated, r.Len())
	}
	// EDNS 65000 over UDP: the forwarder retried upstream over TCP and sends
	// everything.
	r = query(t, f.addr, "udp", "big.example.com", dns.TypeTXT, 65000)
	if r.Truncated || len(r.Answer) != 40 {
		t.Errorf("UDP/EDNS: TC=%v answers=%d", r.Truncated, len(r.Answer))
	}
	r = query(t, f.addr, "tcp", "big.example.com", dns.TypeTXT, 0)
	if r.Truncated || len(r.Answer) != 40 {
		t.Errorf("TCP: TC=%v answers=%d", r.Truncated, len(r.Answer))
	}
}

func TestUpstreamFailures(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, func(c *Config) { c.Attempts = 2 })
	r := query(t, f.addr, "udp", "badid.example.com", dns.TypeA, 0)
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("mismatched ID: %s", dns.RcodeToString[r.Rcode])
	}
	// The upstream never answers slow.example.com (it holds the question
	// until the test ends), and query's own timeout is longer than the
	// forwarder's deadline: a SERVFAIL is the forwarder giving up by itself,
	// after its two attempts.
	r = query(t, f.addr, "udp", "slow.example.com", dns.TypeA, 0)
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("silent upstream: %s", dns.RcodeToString[r.Rcode])
	}
	if n := up.asked("slow.example.com."); n != 2 {
		t.Errorf("the silent upstream was asked %d times; want 2 (Attempts)", n)
	}
	if s := f.Stats(); s.Failed != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestOverloadShedsLoad(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, func(c *Config) {
		c.MaxConcurrent = 1
		c.AttemptTimeout = 2 * time.Second
		c.Deadline = 2 * time.Second
		c.Attempts = 1
	})
	done := make(chan *dns.Msg)
	go func() { done <- query(t, f.addr, "udp", "slow.example.com", dns.TypeA, 0) }()
	for up.queries.Load() == 0 { // the slow query holds the only slot
		time.Sleep(5 * time.Millisecond)
	}
	r := query(t, f.addr, "udp", "api.example.com", dns.TypeA, 0)
	if r.Rcode != dns.RcodeServerFailure || f.Stats().Overloaded != 1 {
		t.Errorf("second query while full: %s, stats %+v", dns.RcodeToString[r.Rcode], f.Stats())
	}
	<-done
	// The slot is free again.
	if r := query(t, f.addr, "udp", "api.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after the slow query: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestJunkDoesNotWedge(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	uc, err := net.Dial("udp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	for _, junk := range [][]byte{{}, {0}, []byte("hello"), bytes.Repeat([]byte{0xff}, 4000), {0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0}} {
		uc.Write(junk)
	}
	// TCP: a length prefix promising more than is sent, then silence, and
	// a connection that sends garbage.
	for _, junk := range [][]byte{{0xff, 0xff, 1, 2, 3}, []byte("GET / HTTP/1.1\r\n\r\n")} {
		tc, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		tc.Write(junk)
		defer tc.Close()
	}
	// Two questions in one message: FORMERR.
	m := new(dns.Msg)
	m.SetQuestion("api.example.com.", dns.TypeA)
	m.Question = append(m.Question, dns.Question{Name: "b.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if r, _, err := (&dns.Client{Net: "udp", Timeout: time.Second}).Exchange(m, f.addr); err == nil && r.Rcode != dns.RcodeFormatError {
		t.Errorf("two questions: %s", dns.RcodeToString[r.Rcode])
	}
	for _, n := range []string{"udp", "tcp"} {
		if r := query(t, f.addr, n, "api.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
			t.Errorf("after junk, %s: %s", n, dns.RcodeToString[r.Rcode])
		}
	}
}

func TestSetPolicy(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	if r := query(t, f.addr, "udp", "new.example.org", dns.TypeA, 0); r.Rcode != dns.RcodeRefused {
		t.Fatalf("before: %s", dns.RcodeToString[r.Rcode])
	}
	pol, _ := allowlist.Parse("p.yaml", []byte("version: 1\nallow:\n  - host: new.example.org\n"))
	f.SetPolicy(pol)
	if r := query(t, f.addr, "udp", "new.example.org", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after: %s", dns.RcodeToString[r.Rcode])
	}
}

func TestReportModeForwards(t *testing.T) {
	up := startUpstream(t)
	pol, _ := allowlist.Parse("p.yaml", []byte("version: 1\nmode: report\n"))
	f := startForwarder(t, up, func(c *Config) { c.Policy = pol })
	if r := query(t, f.addr, "udp", "anything.example.net", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("report mode: %s", dns.RcodeToString[r.Rcode])
	}
	if rec := f.auditFor(t, "anything.example.net"); rec.Decision != "would-deny" || rec.Cause != "no-rule" || rec.Rcode != "forwarded" {
		t.Errorf("audit: %+v", rec)
	}
}

// TestRefusalCauses: every refusal's audit line says why as a constant key
// (its cause), next to the rule and the rcode the agent got.
func TestRefusalCauses(t *testing.T) {
	pol, err := allowlist.Parse("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		what   string
		name   string
		qtype  uint16
		qclass uint16
		opcode int
		rule   string
		cause  allowlist.Cause
		rcode  string
		reason string
	}{
		{"no rule", "nope.example.net.", dns.TypeA, dns.ClassINET, dns.OpcodeQuery, "default", allowlist.CauseNoRule, "REFUSED", "no rule allows the name nope.example.net"},
		{"deny rule", "evil.cdn.example.com.", dns.TypeA, dns.ClassINET, dns.OpcodeQuery, "deny[0]", allowlist.CauseDenyRule, "REFUSED", "matches deny[0]"},
		{"bad name", "a\\000b.example.com.", dns.TypeA, dns.ClassINET, dns.OpcodeQuery, "default", allowlist.CauseBadName, "REFUSED", "is not a valid name"},
		{"opcode", "api.example.com.", dns.TypeSOA, dns.ClassINET, dns.OpcodeNotify, RuleOpcode, allowlist.CauseDNSOpcode, "NOTIMP", "opcode NOTIFY is not forwarded"},
		{"class", "api.example.com.", dns.TypeA, dns.ClassCHAOS, dns.OpcodeQuery, RuleClass, allowlist.CauseDNSClass, "REFUSED", "class CH is not forwarded"},
		{"type", "api.example.com.", dns.TypeAXFR, dns.ClassINET, dns.OpcodeQuery, RuleType, allowlist.CauseDNSType, "REFUSED", "query type AXFR is not forwarded"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var buf syncbuf.Buffer
			s, err := New(Config{Bottle: "b", Policy: pol, Upstreams: []string{"127.0.0.1:1"}, Audit: audit.New(&buf)})
			if err != nil {
				t.Fatal(err)
			}
			m := new(dns.Msg)
			m.SetQuestion(tc.name, tc.qtype)
			m.Question[0].Qclass = tc.qclass
			m.Opcode = tc.opcode
			w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(10, 89, 0, 2), Port: 5353}}
			s.ServeDNS(w, m)
			if w.msg == nil || dns.RcodeToString[w.msg.Rcode] != tc.rcode {
				t.Fatalf("reply %v; want %s", w.msg, tc.rcode)
			}
			lines := auditLines(t, buf.String())
			if len(lines) != 1 {
				t.Fatalf("%d audit lines:\n%s", len(lines), buf.String())
			}
			rec := lines[0]
			if rec.Kind != "dns" || rec.Bottle != "b" || rec.Client != "10.89.0.2" || rec.Decision != "deny" || rec.Rule != tc.rule ||
				rec.Cause != tc.cause.String() || rec.Rcode != tc.rcode || !strings.Contains(rec.Reason, tc.reason) {
				t.Errorf("audit %+v; want %s by %s, rcode %s, reason with %q", rec, tc.cause, tc.rule, tc.rcode, tc.reason)
			}
		})
	}
}

// fakeWriter captures a handler's reply without a network.
type fakeWriter struct {
	remote net.Addr
	msg    *dns.Msg
}

func (w *fakeWriter) LocalAddr() net.Addr       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (w *fakeWriter) RemoteAddr() net.Addr      { return w.remote }
func (w *fakeWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }
func (w *fakeWriter) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	w.msg = m
	return len(b), nil
}
func (w *fakeWriter) Close() error        { return nil }
func (w *fakeWriter) TsigStatus() error   { return nil }
func (w *fakeWriter) TsigTimersOnly(bool) {}
func (w *fakeWriter) Hijack()             {}

// FuzzServeDNS: any message that unpacks gets exactly one reply and no panic;
// names outside the policy never reach the upstream, and what does reach it
// is a plain question: lower case, class IN, opcode QUERY, a forwardable
// type, RD set, and an OPT record without options.
func FuzzServeDNS(f *testing.F) {
	up := startUpstream(f)
	srv := startForwarder(f, up, func(c *Config) { c.AttemptTimeout = 50 * time.Millisecond; c.Deadline = 100 * time.Millisecond })
	for _, name := range []string{"api.example.com.", "x.cdn.example.com.", "evil.example.net.", "big.example.com."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		b, _ := m.Pack()
		f.Add(b)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		before := up.queries.Load()
		up.mu.Lock()
		seenBefore := len(up.seen)
		up.mu.Unlock()
		w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}}
		srv.ServeDNS(w, m)
		if w.msg == nil {
			t.Fatal("no reply")
		}
		up.mu.Lock()
		sent := slices.Clone(up.seen[seenBefore:])
		up.mu.Unlock()
		for _, u := range sent {
			q := u.Question[0]
			if len(u.Question) != 1 || q.Name != lowerASCII(q.Name) || q.Qclass != dns.ClassINET || u.Opcode != dns.OpcodeQuery ||
				!forwardable(q.Qtype) || !u.RecursionDesired || u.Zero || u.IsEdns0() == nil || len(u.IsEdns0().Option) != 0 {
				t.Fatalf("upstream got %v (opcode %d, RD %v, Z %v)", u, u.Opcode, u.RecursionDesired, u.Zero)
			}
		}
		if len(m.Question) == 1 {
			d := srv.pol.Load().p.DecideName(m.Question[0].Name)
			if !d.Allowed && up.queries.Load() != before {
				t.Fatalf("refused name %q reached the upstream", m.Question[0].Name)
			}
		}
	})
}

// TestUpstreamSocketsReused: sequential queries share a pooled socket, and a
// socket that got a mismatched reply is dropped rather than reused.
func TestUpstreamSocketsReused(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, func(c *Config) { c.Attempts = 1 })
	for i := range 20 { // distinct names: a repeat would be answered from the cache
		if r := query(t, f.addr, "udp", fmt.Sprintf("q%d.cdn.example.com", i), dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
			t.Fatalf("rcode %s", dns.RcodeToString[r.Rcode])
		}
	}
	up.mu.Lock()
	n := len(up.sources)
	up.mu.Unlock()
	if n > 2 {
		t.Errorf("20 sequential queries used %d upstream sockets", n)
	}
	if r := query(t, f.addr, "udp", "badid.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeServerFailure {
		t.Errorf("mismatched ID: %s", dns.RcodeToString[r.Rcode])
	}
	if r := query(t, f.addr, "udp", "after.cdn.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess {
		t.Errorf("after a mismatched reply: %s", dns.RcodeToString[r.Rcode])
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.sources) != n+1 {
		t.Errorf("the socket that saw a bad reply was reused (%d sources, before %d)", len(up.sources), n)
	}
}

// exchange sends m to addr and returns the reply.
func exchange(t testing.TB, addr, net_ string, m *dns.Msg) *dns.Msg {
	t.Helper()
	r, _, err := (&dns.Client{Net: net_, Timeout: 3 * time.Second, UDPSize: dns.DefaultMsgSize}).Exchange(m, addr)
	if err != nil {
		t.Fatalf("%v over %s: %v", m.Question, net_, err)
	}
	return r
}

// TestOnlyPlainQueriesLeave: for an allowed name, the agent chooses neither
// the class, nor the opcode, nor the letter case, nor the RD bit of what goes
// upstream; unusual queries are answered locally with no upstream query.
func TestOnlyPlainQueriesLeave(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	for _, tc := range []struct {
		what   string
		msg    func(*dns.Msg)
		rcode  int
		qtype  uint16
		qclass uint16
	}{
		{"class 1416", nil, dns.RcodeRefused, dns.TypeA, 1416},
		{"class CHAOS", nil, dns.RcodeRefused, dns.TypeTXT, dns.ClassCHAOS},
		{"class ANY", nil, dns.RcodeRefused, dns.TypeA, dns.ClassANY},
		{"NOTIFY", func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }, dns.RcodeNotImplemented, dns.TypeSOA, dns.ClassINET},
		{"IQUERY", func(m *dns.Msg) { m.Opcode = dns.OpcodeIQuery }, dns.RcodeNotImplemented, dns.TypeA, dns.ClassINET},
		{"ANY", nil, dns.RcodeRefused, dns.TypeANY, dns.ClassINET},
		{"AXFR", nil, dns.RcodeRefused, dns.TypeAXFR, dns.ClassINET},
		{"IXFR", nil, dns.RcodeRefused, dns.TypeIXFR, dns.ClassINET},
		{"unknown type", nil, dns.RcodeRefused, 65280, dns.ClassINET},
		{"NULL", nil, dns.RcodeRefused, dns.TypeNULL, dns.ClassINET},
	} {
		for _, n := range []string{"udp", "tcp"} {
			m := new(dns.Msg)
			m.SetQuestion("api.example.com.", tc.qtype)
			m.Question[0].Qclass = tc.qclass
			if tc.msg != nil {
				tc.msg(m)
			}
			r := exchange(t, f.addr, n, m)
			if r.Rcode != tc.rcode || len(r.Answer) != 0 {
				t.Errorf("%s over %s: %s; want %s", tc.what, n, dns.RcodeToString[r.Rcode], dns.RcodeToString[tc.rcode])
			}
		}
	}
	if got := up.queries.Load(); got != 0 {
		t.Fatalf("the upstream got %d queries for unusual questions", got)
	}

	// A plain query in mixed case, RD clear: upstream sees the lower-case
	// name, class IN, opcode QUERY and RD set; the client gets its own
	// question back, case included (stubs doing 0x20 compare it).
	for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeHTTPS, dns.TypeTXT, dns.TypeMX} {
		m := new(dns.Msg)
		m.SetQuestion("ApI.eXaMpLe.CoM.", qt)
		m.RecursionDesired = false
		r := exchange(t, f.addr, "udp", m)
		if r.Rcode != dns.RcodeSuccess || len(r.Question) != 1 || r.Question[0] != m.Question[0] {
			t.Errorf("%s: rcode %s, question %v; want the client's own %v", dns.TypeToString[qt], dns.RcodeToString[r.Rcode], r.Question, m.Question[0])
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.seen) == 0 {
		t.Fatal("nothing was forwarded")
	}
	for _, s := range up.seen {
		q := s.Question[0]
		if q.Name != "api.example.com." || q.Qclass != dns.ClassINET || s.Opcode != dns.OpcodeQuery || !s.RecursionDesired || s.Zero || s.AuthenticatedData {
			t.Errorf("upstream saw %v opcode %d RD %v Z %v AD %v", q, s.Opcode, s.RecursionDesired, s.Zero, s.AuthenticatedData)
		}
	}
}

// ede returns the Extended DNS Error of a reply, if any.
func ede(r *dns.Msg) *dns.EDNS0_EDE {
	if o := r.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

// TestExtendedDNSError: a refusal says why (RFC 8914), to clients that sent
// EDNS0 and to no other.
func TestExtendedDNSError(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	for _, tc := range []struct {
		name  string
		qtype uint16
		code  uint16
		text  string
	}{
		{"Blocked.Example.NET", dns.TypeA, dns.ExtendedErrorCodeBlocked, "blocked by bottle: blocked.example.net is not in the allowlist"},
		{"evil.cdn.example.com", dns.TypeAAAA, dns.ExtendedErrorCodeBlocked, "blocked by bottle: evil.cdn.example.com is denied by deny[0]"},
		{"api.example.com", dns.TypeANY, dns.ExtendedErrorCodeNotSupported, "bottle: query type ANY is not forwarded"},
	} {
		for _, n := range []string{"udp", "tcp"} {
			r := query(t, f.addr, n, tc.name, tc.qtype, 1232)
			e := ede(r)
			if r.Rcode != dns.RcodeRefused || e == nil || e.InfoCode != tc.code || e.ExtraText != tc.text {
				t.Errorf("%s over %s: rcode %s, EDE %v; want REFUSED, %d %q", tc.name, n, dns.RcodeToString[r.Rcode], e, tc.code, tc.text)
			}
			if r := query(t, f.addr, n, tc.name, tc.qtype, 0); r.Rcode != dns.RcodeRefused || r.IsEdns0() != nil {
				t.Errorf("%s over %s without EDNS0: rcode %s, OPT %v", tc.name, n, dns.RcodeToString[r.Rcode], r.IsEdns0())
			}
		}
	}
	if r := query(t, f.addr, "udp", "api.example.com", dns.TypeA, 1232); r.Rcode != dns.RcodeSuccess || ede(r) != nil {
		t.Errorf("allowed name: rcode %s, EDE %v", dns.RcodeToString[r.Rcode], ede(r))
	}

	t.Run("dig", func(t *testing.T) {
		dig, err := exec.LookPath("dig")
		if err != nil {
			t.Skip("dig is not on PATH (apt-get install dnsutils)")
		}
		host, port, _ := net.SplitHostPort(f.addr)
		out, err := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=3", "+norecurse", "blocked.example.net", "A").CombinedOutput()
		if err != nil {
			t.Fatalf("dig: %v\n%s", err, out)
		}
		for _, want := range []string{"status: REFUSED", "EDE: 15 (Blocked): (blocked by bottle: blocked.example.net is not in the allowlist)"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("dig output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestClientsOutsideRefused: a peer outside Config.Clients gets nothing, over
// UDP (no answer at all: no reflection) or TCP (the connection is closed),
// and nothing it sends is forwarded.
func TestClientsOutsideRefused(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, func(c *Config) { c.Clients = []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")} })
	m := new(dns.Msg)
	m.SetQuestion("api.example.com.", dns.TypeA)
	from := func(ip string, net_ string) *dns.Client {
		var local net.Addr = &net.UDPAddr{IP: net.ParseIP(ip)}
		if net_ == "tcp" {
			local = &net.TCPAddr{IP: net.ParseIP(ip)}
		}
		return &dns.Client{Net: net_, Timeout: 500 * time.Millisecond, Dialer: &net.Dialer{LocalAddr: local, Timeout: time.Second}}
	}

	// From 127.0.0.1: dropped.
	if r, _, err := from("127.0.0.1", "udp").Exchange(m, f.addr); err == nil {
		t.Errorf("UDP from outside: got an answer %v", r)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Errorf("UDP from outside: %v; want no answer (a timeout)", err)
	}
	tc, err := net.DialTCP("tcp", &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, net.TCPAddrFromAddrPort(netip.MustParseAddrPort(f.addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	conn := &dns.Conn{Conn: tc}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	conn.WriteMsg(m) // may fail already: the server closes at once
	if r, err := conn.ReadMsg(); err == nil {
		t.Errorf("TCP from outside: got an answer %v", r)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("TCP from outside: the connection stayed open (%v)", err)
	}
	if got := up.queries.Load(); got != 0 {
		t.Errorf("the upstream got %d queries from outsiders", got)
	}
	if s := f.Stats(); s.Outsiders < 2 || s.Allowed != 0 || s.Denied != 0 {
		t.Errorf("stats %+v; want both outsiders counted and nothing judged", s)
	}

	// From 127.0.0.2: answered, over both.
	for _, n := range []string{"udp", "tcp"} {
		r, _, err := from("127.0.0.2", n).Exchange(m, f.addr)
		if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("%s from inside: %v %v", n, r, err)
		}
	}
}

// TestAuditFloodBounded: the agent decides how often it is refused, not how
// much the audit log grows. A flood of one refused question is one line and
// a count; a flood of distinct ones is the client's budget of lines and one
// line that counts the rest.
func TestAuditFloodBounded(t *testing.T) {
	pol, err := allowlist.Parse("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	const flood = 5000
	for _, tc := range []struct {
		what    string
		name    func(i int) string
		qtype   uint16
		maxLine int
	}{
		{"identical", func(int) string { return "blocked.example.net." }, dns.TypeA, 2},
		{"identical but for case", func(i int) string {
			if i%2 == 0 {
				return "BLOCKED.example.net."
			}
			return "blocked.EXAMPLE.net."
		}, dns.TypeA, 2},
		{"identical, refused type", func(int) string { return "api.example.com." }, dns.TypeANY, 2},
		{"distinct", func(i int) string { return fmt.Sprintf("x%d.example.net.", i) }, dns.TypeA, audit.DefaultPerClient + 1},
	} {
		t.Run(tc.what, func(t *testing.T) {
			var buf syncbuf.Buffer
			al := audit.NewWith(audit.Options{Window: time.Hour}, &buf) // the flood fits in one window
			s, err := New(Config{Bottle: "b", Policy: pol, Upstreams: []string{"127.0.0.1:1"}, Audit: al})
			if err != nil {
				t.Fatal(err)
			}
			for i := range flood {
				m := new(dns.Msg)
				m.SetQuestion(tc.name(i), tc.qtype)
				w := &fakeWriter{remote: &net.UDPAddr{IP: net.IPv4(10, 89, 0, 2), Port: 1024 + i}}
				s.ServeDNS(w, m)
				if w.msg == nil || w.msg.Rcode != dns.RcodeRefused {
					t.Fatalf("query %d: %v", i, w.msg)
				}
			}
			al.Flush()
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) > tc.maxLine {
				t.Fatalf("%d refusals wrote %d lines; want at most %d:\n%s", flood, len(lines), tc.maxLine, strings.Join(lines[:min(len(lines), 5)], "\n"))
			}
			var total int64
			for _, l := range lines {
				var rec struct {
					Kind     string `json:"kind"`
					Client   string `json:"client"`
					Repeated int64  `json:"repeated"`
					Count    int64  `json:"count"`
				}
				if err := json.Unmarshal([]byte(l), &rec); err != nil {
					t.Fatalf("line %q: %v", l, err)
				}
				if rec.Client != "10.89.0.2" {
					t.Errorf("client %q; want the address without port", rec.Client)
				}
				switch {
				case rec.Kind == "dns" && rec.Repeated == 0:
					total++
				case rec.Kind == "dns":
					total += rec.Repeated
				case rec.Kind == "suppressed":
					total += rec.Count
				}
			}
			if total != flood {
				t.Errorf("the lines account for %d refusals; want %d:\n%s", total, flood, buf.String())
			}
		})
	}
}

// TestQuery: the client side used by `bottle-sidecar probe dns` and
// `health` asks the forwarder and reports its rcode and addresses.
func TestQuery(t *testing.T) {
	up := startUpstream(t)
	f := startForwarder(t, up, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, qtype string
		rcode       string
		addrs       []string
	}{
		{"api.example.com", "A", "NOERROR", []string{"192.0.2.7"}},
		{"blocked.example.net", "a", "REFUSED", nil},
		{"big.example.com", "TXT", "NOERROR", nil}, // truncated over UDP: asked again over TCP
	} {
		a, err := Query(ctx, f.addr, tc.name, tc.qtype)
		if err != nil || a.Rcode != tc.rcode || !slices.Equal(a.Addrs, tc.addrs) {
			t.Errorf("Query(%s %s) = %+v, %v; want %s %v", tc.name, tc.qtype, a, err, tc.rcode, tc.addrs)
		}
	}
	if _, err := Query(ctx, f.addr, "api.example.com", "BOGUS"); err == nil || !strings.Contains(err.Error(), `unknown query type "BOGUS"`) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestResolvConfServers(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ResolvConfServers(write("two", "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver ::1\noptions ndots:1\n"))
	if err != nil || !slices.Equal(got, []string{"10.0.0.2:53", "[::1]:53"}) {
		t.Errorf("two nameservers: %q %v", got, err)
	}
	if _, err := ResolvConfServers(write("none", "search example.com\n")); err == nil || !strings.Contains(err.Error(), "names no nameserver") {
		t.Errorf("no nameserver: %v", err)
	}
	if _, err := ResolvConfServers(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file read as fine")
	}
}

// TestWildcardAddressRepliesFromAddressAsked: on a wildcard address the
// reply leaves from the address the query was sent to (a client's connected
// socket takes no other), whichever of the host's it is; on one address the
// forwarder reads without control messages, which every other test covers.
func TestWildcardAddressRepliesFromAddressAsked(t *testing.T) {
	up := startUpstream(t)
	pol, err := allowlist.Parse("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Policy: pol, Upstreams: []string{up.addr}})
	if err != nil {
		t.Fatal(err)
	}
	pc, ln, err := ListenUDPAndTCP("0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(pc, ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} { // Linux answers on all of 127/8
		if r := query(t, net.JoinHostPort(ip, port), "udp", "api.example.com", dns.TypeA, 0); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("via %s: %v", ip, r)
		}
	}
}
