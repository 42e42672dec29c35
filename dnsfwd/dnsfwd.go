// Package dnsfwd is a bottle's DNS forwarder: names the allowlist could allow
// are forwarded to the upstream resolvers; every other name is answered
// REFUSED locally, with no upstream query at all, so DNS cannot carry data
// out of the bottle. Its Resolver, which asks the upstreams for the
// forwarder, is also the proxy's, so that both share one cache and the same
// failover. It is the only package that imports miekg/dns.
package dnsfwd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// Policy is what the forwarder asks of the allowlist.
type Policy interface {
	DecideName(name string) allowlist.Decision
}

// Config configures a Server. Zero values take the defaults below.
type Config struct {
	Bottle string // name in audit lines
	Policy Policy // required
	// Resolver asks the upstreams; the proxy should use the same one, so
	// that both share its cache. Nil: the Server builds its own from
	// Upstreams and the timeouts below, and closes it on Shutdown.
	Resolver  *Resolver
	Upstreams []string // HOST:PORT resolvers; only without Resolver
	Audit     *audit.Log
	Logger    *slog.Logger
	// Clients are the peers served; empty: any. Linux delivers a packet
	// addressed to the sidecar's internal address whatever interface it
	// came in on, so binding to that address alone does not keep a
	// neighbour on the egress side out. Packets from other peers are dropped
	// unanswered (no reflection), connections closed at once, before any
	// parsing.
	Clients []netip.Prefix
	// SelfTest says whether a name is the launcher's self-test probe's;
	// the audit lines about it are marked SelfTest. Nil: none is.
	SelfTest func(name string) bool

	// Without Resolver, these configure the one the Server builds (see
	// ResolverConfig).
	AttemptTimeout time.Duration // one exchange with one upstream
	Deadline       time.Duration // all attempts for one query
	Attempts       int           // upstream exchanges per query, hedges included (TC retries over TCP not counted)

	MaxConcurrent int // queries awaiting an upstream at once; beyond it: SERVFAIL
}

// Defaults. The two timeouts are those of CoreDNS's forward plugin (its read
// timeout and its deadline per query): long enough for a cold recursive
// lookup, and no longer than a stub resolver waits (glibc: 5 s).
const (
	DefaultAttemptTimeout = 2 * time.Second
	DefaultDeadline       = 5 * time.Second
	DefaultMaxConcurrent  = 1000
	// upstreamUDPSize is the EDNS0 buffer advertised upstream: the DNS flag
	// day 2020 value, which avoids IP fragmentation.
	upstreamUDPSize = 1232
)

// Stats counts what the forwarder did.
type Stats struct {
	Allowed, Denied, Forwarded, Failed, Overloaded, Truncated uint64
	Cached                                                    uint64 // of Forwarded, answered from the cache
	Unsupported                                               uint64 // opcode, class or type not forwarded
	Outsiders                                                 uint64 // packets and connections from peers outside Clients
}

// Server answers DNS queries. It is safe for concurrent use.
type Server struct {
	cfg    Config
	pol    atomic.Pointer[policyBox]
	res    *Resolver
	ownRes bool // built by New, closed by Shutdown
	sem    chan struct{}
	log    *slog.Logger
	stat   struct {
		allowed, denied, forwarded, cached, failed, overloaded, truncated, unsupported, outsiders atomic.Uint64
	}

	mu      sync.Mutex
	servers []*dns.Server
}

type policyBox struct{ p Policy }

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Policy == nil {
		return nil, errors.New("dnsfwd: Policy is required")
	}
	for _, p := range cfg.Clients {
		if !p.IsValid() {
			return nil, fmt.Errorf("dnsfwd: client prefix %v is not valid", p)
		}
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = DefaultMaxConcurrent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, res: cfg.Resolver, sem: make(chan struct{}, cfg.MaxConcurrent), log: cfg.Logger}
	if s.res == nil {
		res, err := NewResolver(ResolverConfig{Upstreams: cfg.Upstreams, Logger: cfg.Logger,
			AttemptTimeout: cfg.AttemptTimeout, Deadline: cfg.Deadline, Attempts: cfg.Attempts})
		if err != nil {
			return nil, err
		}
		s.res, s.ownRes = res, true
	} else if len(cfg.Upstreams) > 0 {
		return nil, errors.New("dnsfwd: Upstreams are the Resolver's; set one or the other")
	}
	s.SetPolicy(cfg.Policy)
	return s, nil
}

// SetPolicy swaps the policy; the next query is judged by it.
func (s *Server) SetPolicy(p Policy) { s.pol.Store(&policyBox{p}) }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		Allowed: s.stat.allowed.Load(), Denied: s.stat.denied.Load(), Forwarded: s.stat.forwarded.Load(), Cached: s.stat.cached.Load(),
		Failed: s.stat.failed.Load(), Overloaded: s.stat.overloaded.Load(), Truncated: s.stat.truncated.Load(),
		Unsupported: s.stat.unsupported.Load(), Outsiders: s.stat.outsiders.Load(),
	}
}

// Serve answers on a UDP socket and a TCP listener (either may be nil) until
// Shutdown.
func (s *Server) Serve(pc net.PacketConn, ln net.Listener) error {
	var started []*dns.Server
	if u, ok := pc.(*net.UDPConn); ok && boundToOne(u) {
		pc = boundConn{u}
	}
	if pc != nil {
		srv := &dns.Server{PacketConn: pc, Handler: s, UDPSize: dns.DefaultMsgSize,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second}
		if len(s.cfg.Clients) > 0 {
			// A reader, not a wrapped PacketConn: on a wildcard address
			// miekg keeps its *net.UDPConn path (replies from the
			// address asked).
			srv.DecorateReader = func(r dns.Reader) dns.Reader { return &peerReader{Reader: r, s: s} }
		}
		started = append(started, srv)
	}
	if ln != nil {
		if len(s.cfg.Clients) > 0 {
			ln = &peerListener{Listener: ln, s: s}
		}
		started = append(started, &dns.Server{Listener: ln, Handler: s,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, IdleTimeout: func() time.Duration { return 8 * time.Second }})
	}
	s.mu.Lock()
	s.servers = append(s.servers, started...)
	s.mu.Unlock()
	errc := make(chan error, len(started))
	for _, srv := range started {
		go func() { errc <- srv.ActivateAndServe() }()
	}
	var first error
	for range started {
		if err := <-errc; err != nil && first == nil && !isClosed(err) {
			first = err
		}
	}
	return first
}

// boundConn hides a *net.UDPConn bound to one address from miekg, which
// then reads with ReadFrom and writes with WriteTo. Given the *net.UDPConn,
// it asks the kernel for each packet's destination address and builds a
// control message to send every reply from it: needed on a wildcard address
// (a reply from another one would be dropped by the client), a cost of
// several allocations and parses per query on one address, where replies
// leave from it anyway. The sidecar binds the forwarder to each of its
// internal addresses.
type boundConn struct{ net.PacketConn }

func boundToOne(u *net.UDPConn) bool {
	a, ok := u.LocalAddr().(*net.UDPAddr)
	return ok && a.IP != nil && !a.IP.IsUnspecified()
}

// admits reports whether the peer at a may use the forwarder.
func (s *Server) admits(a net.Addr) bool {
	if len(s.cfg.Clients) == 0 {
		return true
	}
	var ip netip.Addr
	switch v := a.(type) {
	case *net.UDPAddr:
		ip = v.AddrPort().Addr()
	case *net.TCPAddr:
		ip = v.AddrPort().Addr()
	default:
		return false
	}
	ip = ip.Unmap().WithZone("")
	for _, p := range s.cfg.Clients {
		if p.Contains(ip) {
			return true
		}
	}
	s.stat.outsiders.Add(1)
	return false
}

// peerReader drops datagrams from peers outside Config.Clients before
// miekg parses them; they get no answer.
type peerReader struct {
	dns.Reader
	s *Server
}

func (p *peerReader) ReadUDP(conn *net.UDPConn, timeout time.Duration) ([]byte, *dns.SessionUDP, error) {
	for {
		b, sess, err := p.Reader.ReadUDP(conn, timeout)
		if err != nil || p.s.admits(sess.RemoteAddr()) {
			return b, sess, err
		}
	}
}

func (p *peerReader) ReadPacketConn(conn net.PacketConn, timeout time.Duration) ([]byte, net.Addr, error) {
	pr, ok := p.Reader.(dns.PacketConnReader)
	if !ok {
		return nil, nil, errors.New("dnsfwd: reader cannot read a net.PacketConn")
	}
	for {
		b, from, err := pr.ReadPacketConn(conn, timeout)
		if err != nil || p.s.admits(from) {
			return b, from, err
		}
	}
}

// peerListener closes connections from peers outside Config.Clients as
// soon as they are accepted, before a byte is read.
type peerListener struct {
	net.Listener
	s *Server
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.s.admits(c.RemoteAddr()) {
			return c, err
		}
		c.Close()
	}
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed")
}

// Shutdown stops the servers; queries in flight finish within ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.mu.Unlock()
	var err error
	for _, srv := range servers {
		if e := srv.ShutdownContext(ctx); e != nil && err == nil && !strings.Contains(e.Error(), "not started") {
			err = e
		}
	}
	if s.ownRes {
		s.res.Close()
	}
	return err
}

// ServeDNS answers one query.
func (s *Server) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	if len(r.Question) != 1 {
		s.reply(w, r, dns.RcodeFormatError, nil)
		return
	}
	q := r.Question[0]
	if r.Opcode != dns.OpcodeQuery {
		// NOTIFY, UPDATE, IQUERY, STATUS: nothing a bottle needs, and the
		// opcode would be four bits of the agent's choosing on the wire.
		s.stat.unsupported.Add(1)
		s.auditQuery(w, q, local(RuleOpcode, allowlist.CauseDNSOpcode, "opcode %s is not forwarded; only QUERY is", opcodeName(r.Opcode)), "NOTIMP")
		s.reply(w, r, dns.RcodeNotImplemented, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNotSupported,
			ExtraText: "bottle: opcode " + opcodeName(r.Opcode) + " is not forwarded"})
		return
	}
	d := s.pol.Load().p.DecideName(q.Name)
	if !d.Allowed {
		s.stat.denied.Add(1)
		s.auditQuery(w, q, d, "REFUSED")
		// REFUSED, not NXDOMAIN: the name may well exist; this bottle may
		// not look it up. Resolvers do not cache REFUSED as a negative answer.
		s.reply(w, r, dns.RcodeRefused, blocked(q.Name, d.Rule))
		return
	}
	if q.Qclass != dns.ClassINET || !forwardable(q.Qtype) {
		// An allowed name, but a question only the agent has a use for: the
		// class and the type are bits it would choose. REFUSED rather than
		// NOTIMP: the forwarder understands the question and declines it.
		s.stat.unsupported.Add(1)
		what, rule, cause := "query type "+dns.Type(q.Qtype).String(), RuleType, allowlist.CauseDNSType
		if q.Qclass != dns.ClassINET {
			what, rule, cause = "class "+dns.Class(q.Qclass).String(), RuleClass, allowlist.CauseDNSClass
		}
		s.auditQuery(w, q, local(rule, cause, "%s is not forwarded", what), "REFUSED")
		s.reply(w, r, dns.RcodeRefused, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeNotSupported, ExtraText: "bottle: " + what + " is not forwarded"})
		return
	}
	s.stat.allowed.Add(1)
	if d.WouldDeny {
		s.auditQuery(w, q, d, "forwarded")
	}
	k := qkey{name: lowerASCII(q.Name), qtype: q.Qtype, cd: r.CheckingDisabled}
	if o := r.IsEdns0(); o != nil {
		k.do = o.Do()
	}
	resp := s.res.cached(k)
	if resp != nil {
		s.stat.cached.Add(1)
	} else {
		select {
		case s.sem <- struct{}{}:
		default:
			s.stat.overloaded.Add(1)
			s.reply(w, r, dns.RcodeServerFailure, nil) // shed load instead of queueing without bound
			return
		}
		var err error
		resp, err = s.res.forward(k)
		<-s.sem // the slot is free before the client can send its next query
		if err != nil {
			s.stat.failed.Add(1)
			s.reply(w, r, dns.RcodeServerFailure, nil)
			return
		}
	}
	s.stat.forwarded.Add(1)
	resp.Id = r.Id
	resp.Response = true
	// The client's own question, letter case included: stubs that randomise
	// the case (0x20) compare it, and upstream saw it in lower case. Owner
	// names spelled like the question get the client's spelling back too.
	resp.Question = []dns.Question{q}
	for _, rr := range resp.Answer {
		if h := rr.Header(); strings.EqualFold(h.Name, q.Name) {
			h.Name = q.Name
		}
	}
	resp.Opcode = dns.OpcodeQuery
	resp.RecursionDesired = r.RecursionDesired
	resp.Compress = true
	// Fit the answer to what the client can take: its EDNS0 size (at least
	// 512) over UDP, 64 KiB over TCP. Truncate sets TC when it drops records.
	// The resolver's answers carry no OPT record; a client that sent one
	// gets ours (our buffer size, its DO bit), and one that did not gets
	// none (RFC 6891 §7).
	clientOPT := r.IsEdns0()
	if clientOPT != nil {
		resp.SetEdns0(upstreamUDPSize, clientOPT.Do())
	}
	size := dns.MaxMsgSize
	if _, isUDP := w.RemoteAddr().(*net.UDPAddr); isUDP {
		size = dns.MinMsgSize
		if clientOPT != nil {
			size = max(int(clientOPT.UDPSize()), dns.MinMsgSize)
		}
	}
	resp.Truncate(size)
	if resp.Truncated {
		s.stat.truncated.Add(1)
	}
	if err := write(w, resp); err != nil {
		s.stat.failed.Add(1)
		s.reply(w, r, dns.RcodeServerFailure, nil)
	}
}

// forwardable reports whether queries of type t are forwarded. The list is
// what software in a bottle looks up in practice: addresses (A, AAAA) and
// aliases (CNAME); HTTPS and SVCB, which browsers, curl and TLS libraries ask
// for next to A/AAAA (ALPN, ECH); MX, TXT, SRV, NS, SOA, CAA and PTR, asked by
// mail, service discovery, ACME and diagnostic tools; DS and DNSKEY for
// validating stubs. Each type allowed is a choice the agent makes on the wire,
// so the list stays short: ANY (RFC 8482 deprecates it, and its answers are
// large), zone transfers (AXFR, IXFR), meta and obsolete types, and types we
// do not know are refused.
func forwardable(t uint16) bool {
	switch t {
	case dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeHTTPS, dns.TypeSVCB,
		dns.TypeMX, dns.TypeTXT, dns.TypeSRV, dns.TypeNS, dns.TypeSOA,
		dns.TypePTR, dns.TypeCAA, dns.TypeDS, dns.TypeDNSKEY:
		return true
	}
	return false
}

// Rules the forwarder applies itself, whatever the allowlist says (report
// mode included): an audit line names one where an allowlist refusal names
// a rule ID; its cause is allowlist.CauseDNSOpcode, CauseDNSClass or
// CauseDNSType.
const (
	RuleOpcode = "dns-opcode" // opcode other than QUERY: NOTIMP
	RuleClass  = "dns-class"  // class other than IN: REFUSED
	RuleType   = "dns-type"   // a query type forwardable does not list: REFUSED
)

// local is the decision for a question the forwarder refuses by its own rule.
func local(rule string, cause allowlist.Cause, format string, args ...any) allowlist.Decision {
	return allowlist.Decision{Action: allowlist.ActionDeny, Rule: rule, Cause: cause, Reason: fmt.Sprintf(format, args...)}
}

func opcodeName(op int) string {
	if n, ok := dns.OpcodeToString[op]; ok {
		return n
	}
	return fmt.Sprintf("%d", op)
}

// lowerASCII lower-cases the ASCII letters of a name and nothing else: DNS
// compares names case-insensitively for ASCII only (RFC 4343), and other
// bytes appear in miekg's presentation form as \DDD escapes.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// reply answers r with an empty message and rcode. When the client sent
// EDNS0, ede (if any) goes in the OPT record to say why (RFC 8914); a
// client without EDNS0 gets no OPT record at all (RFC 6891 §7).
func (s *Server) reply(w dns.ResponseWriter, r *dns.Msg, rcode int, ede *dns.EDNS0_EDE) {
	// The message and its parts are reused: a refusal is the answer an
	// agent can make the forwarder give as often as it likes.
	p := replies.Get().(*replyMsg)
	defer replies.Put(p)
	*p = replyMsg{}
	m := &p.msg
	m.Id = r.Id
	m.Response = true
	m.Opcode = r.Opcode
	if m.Opcode == dns.OpcodeQuery {
		m.RecursionDesired = r.RecursionDesired
		m.CheckingDisabled = r.CheckingDisabled
	}
	if len(r.Question) > 0 {
		p.question[0] = r.Question[0]
		m.Question = p.question[:]
	}
	m.Rcode = rcode
	m.RecursionAvailable = true
	if o := r.IsEdns0(); o != nil {
		p.opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}
		p.opt.SetUDPSize(upstreamUDPSize)
		p.opt.SetDo(o.Do())
		if ede != nil {
			p.options[0] = ede
			p.opt.Option = p.options[:]
		}
		p.extra[0] = &p.opt
		m.Extra = p.extra[:]
	}
	write(w, m)
}

// replyMsg is a reply of reply's, all its parts in one allocation.
type replyMsg struct {
	msg      dns.Msg
	question [1]dns.Question
	opt      dns.OPT
	options  [1]dns.EDNS0
	extra    [1]dns.RR
}

var replies = sync.Pool{New: func() any { return new(replyMsg) }}

// write packs m into a pooled buffer and writes it (miekg's WriteMsg packs
// into a new buffer each time). The writer does not keep the bytes.
func write(w dns.ResponseWriter, m *dns.Msg) error {
	bp := wireBufs.Get().(*[]byte)
	defer wireBufs.Put(bp)
	b, err := m.PackBuffer(*bp)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// blocked is the Extended DNS Error of a name the policy denies: 15
// (Blocked: by the operator's own policy, RFC 8914 §4.16), with the name
// and the rule, so that a person reading `dig` output knows what to change.
func blocked(name, rule string) *dns.EDNS0_EDE {
	n := strings.TrimSuffix(lowerASCII(name), ".")
	if n == "" {
		n = "."
	}
	text := "blocked by bottle: " + n + " is not in the allowlist"
	if rule != allowlist.RuleDefault && rule != "" {
		text = "blocked by bottle: " + n + " is denied by " + rule
	}
	return &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeBlocked, ExtraText: text}
}

// auditQuery logs a refusal (or a would-be refusal in report mode) as an
// audit.Record of kind dns, under the audit log's size discipline: the agent
// chooses how many queries it sends and what they say, so identical
// refusals are coalesced, each client has a budget of lines, and every
// field is clipped. Allowed queries are counted, not logged.
func (s *Server) auditQuery(w dns.ResponseWriter, q dns.Question, d allowlist.Decision, rcode string) {
	decision := audit.DecisionDeny
	if d.WouldDeny {
		decision = audit.DecisionWouldDeny
	}
	if s.cfg.Audit == nil {
		return
	}
	client := peerIP(w.RemoteAddr())
	name := strings.TrimSuffix(lowerASCII(q.Name), ".")
	qtype := dns.Type(q.Qtype).String()
	selfTest := s.cfg.SelfTest != nil && s.cfg.SelfTest(name)
	now := time.Now()
	// The key is what makes two refusals identical: the name as judged
	// (lower case), the type and the rule, and whether it is the
	// self-test's. The source port is not part of it. The record is made
	// only for a line written: in a flood, most refusals are only counted.
	s.cfg.Audit.DenialFunc(client, name+"\x00"+qtype+"\x00"+d.Rule+"\x00"+decision+"\x00"+strconv.FormatBool(selfTest), func() audit.Repeatable {
		rec := &audit.Record{
			Time: now.UTC().Format(time.RFC3339Nano), Bottle: s.cfg.Bottle, Kind: audit.KindDNS, Client: client,
			Name: name, QType: qtype, Decision: decision,
			Rule: d.Rule, Cause: d.Cause.String(), Reason: d.Reason, Rcode: rcode, SelfTest: selfTest,
		}
		rec.Clip()
		return rec
	})
}

// peerIP is a peer's address without the port: the audit log budgets and
// coalesces by client, and every query comes from a new port.
func peerIP(a net.Addr) string {
	switch v := a.(type) {
	case *net.UDPAddr:
		return v.AddrPort().Addr().Unmap().String()
	case *net.TCPAddr:
		return v.AddrPort().Addr().Unmap().String()
	case nil:
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// ListenUDPAndTCP opens a UDP socket and a TCP listener on the same address.
// With port 0 the kernel picks the UDP port, which may be taken for TCP; it
// then tries again with a new port.
func ListenUDPAndTCP(addr string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		lastErr = err
		if _, p, _ := net.SplitHostPort(addr); p != "0" {
			break
		}
	}
	return nil, nil, lastErr
}

// ResolvConfServers reads the nameservers of a resolv.conf file as HOST:PORT.
func ResolvConfServers(path string) ([]string, error) {
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s names no nameserver", path)
	}
	return out, nil
}

// Answer is the result of Query.
type Answer struct {
	Rcode string   // "NOERROR", "REFUSED", "NXDOMAIN", …
	Addrs []string // A and AAAA answers
}

// Query asks server (HOST:PORT) for name's records of type qtype ("A",
// "AAAA", …) over UDP, retrying over TCP when truncated. It is the client side of `bottle-sidecar probe dns`
// and `health`, kept here so that miekg/dns stays behind this package.
func Query(ctx context.Context, server, name string, qtype string) (Answer, error) {
	t, ok := dns.StringToType[strings.ToUpper(qtype)]
	if !ok {
		return Answer{}, fmt.Errorf("unknown query type %q", qtype)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), t)
	c := &dns.Client{Net: "udp"}
	r, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && r.Truncated {
		r, _, err = (&dns.Client{Net: "tcp"}).ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return Answer{}, err
	}
	a := Answer{Rcode: dns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *dns.A:
			a.Addrs = append(a.Addrs, v.A.String())
		case *dns.AAAA:
			a.Addrs = append(a.Addrs, v.AAAA.String())
		}
	}
	return a, nil
}
