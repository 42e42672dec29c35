package dnsfwd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// ResolverConfig configures a Resolver. Zero values take the defaults below.
type ResolverConfig struct {
	Upstreams []string // HOST:PORT recursive resolvers; required
	Logger    *slog.Logger

	AttemptTimeout time.Duration // one exchange with one upstream
	Deadline       time.Duration // all attempts for one question
	// Attempts bounds the exchanges for one question, hedges included (a
	// retry over TCP after a truncated UDP answer is part of its exchange).
	Attempts int
	// HedgeDelay is how long an exchange may go unanswered before the same
	// question is sent again, to the next upstream, while the first is still
	// awaited; each further hedge waits twice as long as the one before.
	HedgeDelay time.Duration

	CacheSize      int           // answers kept; negative: no cache
	MinTTL         time.Duration // shortest time an answer is kept
	MaxTTL         time.Duration // longest time an answer is kept
	MaxNegativeTTL time.Duration // longest time NXDOMAIN or NODATA is kept
}

// Resolver defaults.
const (
	// DefaultHedgeDelay: a loopback or same-host resolver answers in well
	// under a millisecond and a cold recursive lookup in tens to a few
	// hundred; an answer that has not come by then was most likely lost
	// (Docker's embedded resolver drops answers in bursts of simultaneous
	// queries), and waiting for a timeout costs the client seconds.
	DefaultHedgeDelay     = 250 * time.Millisecond
	DefaultCacheSize      = 10000
	DefaultMinTTL         = 5 * time.Second
	DefaultMaxTTL         = time.Hour
	DefaultMaxNegativeTTL = 30 * time.Second

	// minAttempts is the least attempt budget: with one upstream that
	// loses a share of its answers, a third try costs nothing unless the
	// first two were both lost.
	minAttempts = 3
	// maxCNAMEHops bounds the alias chain LookupNetIP follows in an answer.
	maxCNAMEHops = 16
)

// Resolver asks the upstream resolvers on behalf of the forwarder and the
// proxy, so both see the same answers and share one cache. Every upstream
// is used: questions are spread over them in turn, one that stops answering
// is asked last for a while, and an exchange that goes unanswered for
// HedgeDelay is sent again to the next one while the first is still awaited.
// Identical questions asked at once share one lookup. It is safe for
// concurrent use.
type Resolver struct {
	cfg   ResolverConfig
	ups   []*nameserver
	next  atomic.Uint32 // where the next question starts in ups
	udp   *dns.Client
	tcp   *dns.Client
	log   *slog.Logger
	cache *cache // nil: no cache
	now   func() time.Time

	mu      sync.Mutex
	flights map[qkey]*flight
	closed  bool

	stat struct {
		lookups, hits, shared, exchanges, hedges, failures atomic.Uint64
	}
}

// ResolverStats counts what a Resolver did.
type ResolverStats struct {
	Lookups   uint64 // questions asked of the resolver
	CacheHits uint64 // answered from the cache
	Shared    uint64 // joined a lookup already in flight
	Exchanges uint64 // exchanges with upstreams (hedges included)
	Hedges    uint64 // exchanges sent while an earlier one was still awaited
	Failures  uint64 // questions no upstream answered
}

// qkey is a question as the resolver asks it upstream, and the key of the
// cache and of lookups in flight. The class is always IN.
type qkey struct {
	name   string // lower case, fully qualified
	qtype  uint16
	do, cd bool // DNSSEC OK and Checking Disabled change the answer
}

// flight is one lookup in progress, shared by everyone asking its question.
type flight struct {
	ctx     context.Context // its own, not one asker's: others may share it
	done    chan struct{}
	cancel  context.CancelFunc
	waiters int // under Resolver.mu; the lookup is cancelled when it drops to 0
	entry   *entry
	err     error
}

// NewResolver builds a Resolver.
func NewResolver(cfg ResolverConfig) (*Resolver, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("dnsfwd: no upstream resolvers")
	}
	for _, u := range cfg.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			return nil, fmt.Errorf("dnsfwd: upstream %q: want HOST:PORT", u)
		}
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = max(2*len(cfg.Upstreams), minAttempts)
	}
	if cfg.HedgeDelay <= 0 {
		cfg.HedgeDelay = DefaultHedgeDelay
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.MinTTL <= 0 {
		cfg.MinTTL = DefaultMinTTL
	}
	if cfg.MaxTTL <= 0 {
		cfg.MaxTTL = DefaultMaxTTL
	}
	if cfg.MaxNegativeTTL <= 0 {
		cfg.MaxNegativeTTL = DefaultMaxNegativeTTL
	}
	if cfg.MaxTTL < cfg.MinTTL {
		return nil, fmt.Errorf("dnsfwd: MaxTTL %v is shorter than MinTTL %v", cfg.MaxTTL, cfg.MinTTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{
		cfg:     cfg,
		udp:     &dns.Client{Net: "udp", Timeout: cfg.AttemptTimeout, UDPSize: upstreamUDPSize},
		tcp:     &dns.Client{Net: "tcp", Timeout: cfg.AttemptTimeout},
		log:     cfg.Logger,
		now:     time.Now,
		flights: map[qkey]*flight{},
	}
	for _, u := range cfg.Upstreams {
		r.ups = append(r.ups, &nameserver{addr: u})
	}
	if cfg.CacheSize > 0 {
		r.cache = newCache(cfg.CacheSize)
	}
	return r, nil
}

// Close cancels the lookups in flight and closes the pooled sockets. Lookups
// after Close fail.
func (r *Resolver) Close() error {
	r.mu.Lock()
	r.closed = true
	for _, f := range r.flights {
		f.cancel()
	}
	r.mu.Unlock()
	for _, u := range r.ups {
		u.close()
	}
	return nil
}

// Stats returns the counters so far.
func (r *Resolver) Stats() ResolverStats {
	return ResolverStats{
		Lookups: r.stat.lookups.Load(), CacheHits: r.stat.hits.Load(), Shared: r.stat.shared.Load(),
		Exchanges: r.stat.exchanges.Load(), Hedges: r.stat.hedges.Load(), Failures: r.stat.failures.Load(),
	}
}

// errClosed is the error of a lookup on a closed Resolver.
var errClosed = errors.New("dnsfwd: resolver closed")

// timeoutError is a lookup that ran out of time: every exchange timed out,
// or the deadline passed.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// cached returns the cached answer to k, TTLs decremented, or nil.
func (r *Resolver) cached(k qkey) *dns.Msg {
	if r.cache == nil {
		return nil
	}
	now := r.now()
	if e := r.cache.get(k, now); e != nil {
		r.stat.lookups.Add(1)
		r.stat.hits.Add(1)
		return e.answer(now)
	}
	return nil
}

// resolve answers k from the cache, from a lookup in flight for the same
// question, or from a new lookup. The message returned is the caller's to
// change. It returns an error when no upstream gave an answer, or when ctx
// ends first.
func (r *Resolver) resolve(ctx context.Context, k qkey) (*dns.Msg, error) {
	if m := r.cached(k); m != nil {
		return m, nil
	}
	m, f, lead, err := r.join(k)
	if f == nil {
		return m, err
	}
	if lead {
		go r.fly(k, f)
	}
	select {
	case <-f.done:
		return f.result(r.now())
	case <-ctx.Done():
		r.mu.Lock()
		f.waiters--
		if f.waiters == 0 {
			select {
			case <-f.done:
			default:
				// Nobody waits for it any more: stop asking, and let the
				// next asker start afresh.
				f.cancel()
				if r.flights[k] == f {
					delete(r.flights, k)
				}
			}
		}
		r.mu.Unlock()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, timeoutError{}
		}
		return nil, ctx.Err()
	}
}

// forward is resolve, after a look in the cache (cached), for an asker that waits as long as the lookup may take
// (the Deadline) and cannot give up sooner: the forwarder, whose client
// asks again rather than cancel. A new lookup runs in the asker's own
// goroutine, so that a query costs no goroutine and no timer of its own; it
// is still shared with those who ask the same meanwhile, and as the asker
// never leaves, it is never cancelled for want of waiters.
func (r *Resolver) forward(k qkey) (*dns.Msg, error) {
	m, f, lead, err := r.join(k)
	if f == nil {
		return m, err
	}
	if lead {
		r.fly(k, f)
	} else {
		<-f.done
	}
	return f.result(r.now())
}

// join finds the lookup in flight for k (f), or starts one when there is
// none (lead: the caller is to run it, by fly), or finds that one just
// filled the cache (m). It counts the caller among the lookup's waiters.
func (r *Resolver) join(k qkey) (m *dns.Msg, f *flight, lead bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, false, errClosed
	}
	r.stat.lookups.Add(1)
	f = r.flights[k]
	if f == nil {
		// A lookup may have finished since the look above: it fills the
		// cache before it leaves flights.
		if r.cache != nil {
			now := r.now()
			if e := r.cache.get(k, now); e != nil {
				r.stat.hits.Add(1)
				return e.answer(now), nil, false, nil
			}
		}
		// Not under a context of the Resolver's: a child of one context
		// shared by every lookup would make them all queue for its lock.
		// Close cancels the lookups in flights instead.
		ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Deadline)
		f = &flight{ctx: ctx, done: make(chan struct{}), cancel: cancel}
		r.flights[k] = f
		lead = true
	} else {
		r.stat.shared.Add(1)
	}
	f.waiters++
	return nil, f, lead, nil
}

// result is the lookup's answer as it stands at now, once done.
func (f *flight) result(now time.Time) (*dns.Msg, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.entry.answer(now), nil
}

// fly runs one shared lookup and hands its result to the waiters.
func (r *Resolver) fly(k qkey, f *flight) {
	defer f.cancel()
	m, err := r.ask(f.ctx, k)
	var e *entry
	if err == nil {
		now := r.now()
		e = &entry{key: k, msg: m, stored: now, ttl: r.cacheTTL(m)}
		if e.ttl > 0 && r.cache != nil {
			r.cache.put(e)
		}
	} else {
		r.stat.failures.Add(1)
	}
	r.mu.Lock()
	if r.flights[k] == f {
		delete(r.flights, k)
	}
	f.entry, f.err = e, err
	close(f.done)
	r.mu.Unlock()
}

// result is what one exchange brought back.
type result struct {
	n   int // which attempt
	up  *nameserver
	msg *dns.Msg
	err error
}

// good reports whether an upstream's answer ends the lookup: NOERROR or
// NXDOMAIN. SERVFAIL, REFUSED and the like are kept in case nothing better
// comes.
func good(m *dns.Msg) bool { return m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError }

// ask puts k to the upstreams, hedging: the first exchange goes to the first
// upstream in order; when it has not been answered after HedgeDelay, or
// failed, the next goes to the next upstream, and so on, while the earlier
// ones are still awaited. The first NOERROR or NXDOMAIN answer wins and the
// other exchanges are cancelled. SERVFAIL, REFUSED and the like are kept and
// returned only if nothing better comes. At most Attempts exchanges, all
// within ctx (the Deadline).
//
// The first exchange runs in the caller's goroutine, its socket's read
// deadline at the hedge delay: most are answered well before, and then the
// lookup has cost neither a goroutine nor a timer. Only when it is not
// answered by then (or fails) do the exchanges go to goroutines of their own.
func (r *Resolver) ask(ctx context.Context, k qkey) (*dns.Msg, error) {
	order := r.order()
	r.stat.exchanges.Add(1)
	var first result // attempt 0, if it ended inline
	a, err := r.send(ctx, order[0], k)
	if err == nil {
		first.msg, first.err = r.await(ctx, a, time.Now().Add(r.cfg.HedgeDelay))
		if first.err == nil && good(first.msg) {
			order[0].answered()
			return first.msg, nil
		}
	} else {
		first.err = err
	}
	return r.hedge(ctx, k, order, a, first)
}

// hedge is ask after its first exchange (a, to order[0]) went unanswered
// for the hedge delay (first.err is errHedgeDue: a goes on in a goroutine
// of its own, and the next exchange goes out now) or ended with first.
func (r *Resolver) hedge(ctx context.Context, k qkey, order []*nameserver, a *attempt, first result) (*dns.Msg, error) {
	actx, cancelAll := context.WithCancel(ctx)
	defer cancelAll() // the exchanges still out lose the race
	results := make(chan result, r.cfg.Attempts)
	sentTo := []*nameserver{order[0]} // by attempt
	finished := []bool{false}
	pending := 1
	launch := func() {
		n := len(sentTo)
		up := order[n%len(order)]
		sentTo, finished = append(sentTo, up), append(finished, false)
		pending++
		r.stat.exchanges.Add(1)
		go func() {
			m, err := r.exchange(actx, up, k)
			results <- result{n: n, up: up, msg: m, err: err}
		}()
	}
	delay := r.cfg.HedgeDelay
	if errors.Is(first.err, errHedgeDue) {
		go func() {
			m, err := r.await(actx, a, time.Time{})
			results <- result{n: 0, up: order[0], msg: m, err: err}
		}()
		// The first has waited its hedge delay already.
		if len(sentTo) < r.cfg.Attempts {
			r.stat.hedges.Add(1)
			launch()
			delay *= 2
		}
	} else {
		first.up = order[0]
		results <- first
	}
	hedge := time.NewTimer(delay)
	defer hedge.Stop()

	var fallback *dns.Msg
	var lastErr error
	allTimeouts := true
	for pending > 0 || len(sentTo) < r.cfg.Attempts {
		select {
		case <-hedge.C:
			if len(sentTo) < r.cfg.Attempts {
				r.stat.hedges.Add(1)
				launch()
				delay *= 2
				hedge.Reset(delay)
			}
		case res := <-results:
			pending--
			finished[res.n] = true
			if res.err == nil && good(res.msg) {
				// Upstreams asked earlier that are still silent were slower
				// than this one by a hedge delay at least.
				for i := range res.n {
					if !finished[i] && sentTo[i] != res.up && ctx.Err() == nil {
						sentTo[i].failed(r.now())
					}
				}
				res.up.answered()
				return res.msg, nil
			}
			if res.err == nil {
				res.up.answered() // it is alive, but had no good answer
				fallback = res.msg
				allTimeouts = false
			} else {
				if ctx.Err() == nil { // not our own cancellation
					res.up.failed(r.now())
				}
				lastErr = res.err
				var ne net.Error
				if !errors.As(res.err, &ne) || !ne.Timeout() {
					allTimeouts = false
				}
				r.log.Debug("upstream exchange failed", "upstream", res.up.addr, "name", k.name, "err", res.err)
			}
			if len(sentTo) < r.cfg.Attempts {
				// Failed fast: ask the next one now, not after the delay.
				launch()
				hedge.Reset(delay)
			}
		case <-ctx.Done():
			if fallback != nil {
				return fallback, nil
			}
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, timeoutError{}
			}
			return nil, ctx.Err()
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	if allTimeouts {
		return nil, timeoutError{}
	}
	return nil, lastErr
}

// order is the order in which the upstreams are asked for one question:
// starting one further each time, so that the load is spread, with those
// that recently stopped answering last.
func (r *Resolver) order() []*nameserver {
	if len(r.ups) == 1 {
		return r.ups
	}
	start := int(r.next.Add(1) % uint32(len(r.ups)))
	now := r.now()
	out := make([]*nameserver, 0, len(r.ups))
	var down []*nameserver
	for i := range r.ups {
		u := r.ups[(start+i)%len(r.ups)]
		if u.isDown(now) {
			down = append(down, u)
		} else {
			out = append(out, u)
		}
	}
	return append(out, down...)
}

// query is the message sent upstream for k. Only what the forwarder chose
// goes upstream: a fresh ID, opcode QUERY, RD set (we forward to recursive
// resolvers; RD clear would be a bit of the agent's choosing and asks only
// for cache contents), the name in lower case, class IN, and a fresh OPT
// with our buffer size and the DO bit: the client's EDNS options (client
// subnet, cookies, padding) never leave the bottle. CD and DO are the
// client's: a validating stub needs them.
func (k qkey) query() *dns.Msg {
	m := new(dns.Msg)
	m.Id = dns.Id()
	m.Opcode = dns.OpcodeQuery
	m.RecursionDesired = true
	m.CheckingDisabled = k.cd
	m.Question = []dns.Question{{Name: k.name, Qtype: k.qtype, Qclass: dns.ClassINET}}
	m.SetEdns0(upstreamUDPSize, k.do)
	return m
}

// attempt is one exchange with one upstream over UDP: the query sent on a
// socket of the upstream's, awaiting its reply until end.
type attempt struct {
	up  *nameserver
	q   *dns.Msg
	c   *dns.Conn
	end time.Time
}

// errHedgeDue is an attempt not answered by the time given to await; its
// reply may still come.
var errHedgeDue = errors.New("dnsfwd: no reply yet")

// wireBufs are buffers for messages on the wire to and from the upstreams:
// miekg allocates one for every message it packs or reads.
var wireBufs = sync.Pool{New: func() any { b := make([]byte, upstreamUDPSize); return &b }}

// exchange asks up once: over a pooled UDP socket, then over TCP if the
// answer was truncated.
func (r *Resolver) exchange(ctx context.Context, up *nameserver, k qkey) (*dns.Msg, error) {
	a, err := r.send(ctx, up, k)
	if err != nil {
		return nil, err
	}
	return r.await(ctx, a, time.Time{})
}

// send puts k to up over one of its pooled UDP sockets (or a new one).
func (r *Resolver) send(ctx context.Context, up *nameserver, k qkey) (*attempt, error) {
	a := &attempt{up: up, q: k.query(), end: time.Now().Add(r.cfg.AttemptTimeout)}
	if d, ok := ctx.Deadline(); ok && d.Before(a.end) {
		a.end = d
	}
	c, err := up.get(ctx, r.udp)
	if err != nil {
		return nil, err
	}
	bp := wireBufs.Get().(*[]byte)
	defer wireBufs.Put(bp)
	b, err := a.q.PackBuffer(*bp)
	if err == nil {
		c.SetWriteDeadline(a.end)
		_, err = c.Conn.Write(b)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	a.c = c
	return a, nil
}

// await waits for the reply to a until a.end, or until until if that is
// sooner (zero: a.end), and checks it against the query. When until comes
// first, it returns errHedgeDue and a stays open, to be awaited again. A
// socket that errs, is cancelled or gets a reply that does not match is
// closed, never reused: a late reply to an earlier query could be waiting
// on it. A truncated answer is asked again over TCP.
func (r *Resolver) await(ctx context.Context, a *attempt, until time.Time) (*dns.Msg, error) {
	end, early := a.end, false
	if !until.IsZero() && until.Before(end) {
		end, early = until, true
	}
	// miekg honours only deadlines: cancelling ctx spoils this one. Set
	// after the deadline below, a cancellation is seen by one or the other.
	stop := context.AfterFunc(ctx, func() { a.c.SetReadDeadline(time.Unix(1, 0)) })
	a.c.SetReadDeadline(end)
	var m *dns.Msg
	err := ctx.Err()
	if err == nil {
		m, err = readReply(a.c, a.q.Id)
	}
	if !stop() && err == nil {
		err = ctx.Err() // the deadline was spoilt
	}
	if err != nil {
		var ne net.Error
		if early && ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
			return nil, errHedgeDue
		}
		a.c.Close()
		return nil, err
	}
	if !valid(a.q, m) {
		a.c.Close()
		r.log.Warn("upstream reply does not match the query", "name", a.q.Question[0].Name)
		return nil, errMismatch
	}
	a.up.put(a.c)
	if !m.Truncated {
		return m, nil
	}
	tctx, cancel := context.WithDeadline(ctx, a.end)
	defer cancel()
	tc, err := r.tcp.DialContext(tctx, a.up.addr)
	if err != nil {
		return nil, err
	}
	defer tc.Close()
	return r.exchangeConn(tctx, r.tcp, a.q, tc)
}

// readReply reads datagrams on c until one carries id, and unpacks it.
// Others are late replies to earlier queries that timed out (miekg's own
// exchange skips them too).
func readReply(c *dns.Conn, id uint16) (*dns.Msg, error) {
	bp := wireBufs.Get().(*[]byte)
	defer wireBufs.Put(bp)
	b := *bp
	for {
		n, err := c.Conn.Read(b)
		if err != nil {
			return nil, err
		}
		if n < 12 {
			return nil, dns.ErrShortRead
		}
		if binary.BigEndian.Uint16(b) != id {
			continue
		}
		// Unpack copies what it keeps: the buffer can go back.
		m := new(dns.Msg)
		if err := m.Unpack(b[:n]); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// exchangeConn is miekg's exchange, made to give up when ctx is cancelled
// (miekg honours only its deadline), with the reply checked against q.
func (r *Resolver) exchangeConn(ctx context.Context, cl *dns.Client, q *dns.Msg, c *dns.Conn) (*dns.Msg, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	resp, _, err := cl.ExchangeWithConnContext(ctx, q, c)
	if !stop() && err == nil {
		err = ctx.Err() // the deadline was spoilt; the caller closes c
	}
	if err != nil {
		return nil, err
	}
	if !valid(q, resp) {
		r.log.Warn("upstream reply does not match the query", "name", q.Question[0].Name)
		return nil, errMismatch
	}
	return resp, nil
}

var errMismatch = errors.New("dnsfwd: upstream reply does not match the query")

// valid checks a reply answers our query: same ID, a response to a QUERY,
// the same single question (a spoofed or stray packet fails this), and an
// RCODE that fits in the header (we send no cookie and EDNS version 0, so an
// extended one means a confused upstream).
func valid(q, r *dns.Msg) bool {
	if r.Id != q.Id || !r.Response || r.Opcode != dns.OpcodeQuery || len(r.Question) != 1 || r.Rcode > 0xF {
		return false
	}
	a, b := q.Question[0], r.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}
