package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/audit"
)

// Bounds of what the agent can make the broker hold: it decides how many
// requests are denied, so their number is capped, and an approval over
// the cap is refused at once (the readable 403, By TooMany).
const (
	// MaxPending is how many approvals are listed at once, pending and
	// expired ones lingering together.
	MaxPending = 256
	// MaxWaiters is how many identical requests one approval holds.
	MaxWaiters = 64
	// MaxGrants is how many session grants are in force at once.
	MaxGrants = 256
)

// Who decided, for decisions the sidecar makes up itself (Decision.By):
// none of them lets a request through.
const (
	ByTimeout   = "timeout"                      // nobody decided in time
	ByAgentGone = "agent gone"                   // the agent hung up first
	ByTooMany   = "too many pending approvals"   // over MaxPending or MaxWaiters
	ByRestart   = "sidecar restarted"            // filed by a previous run
	ByStopping  = "sidecar stopping"             // the sidecar shut down while it was held
	ByNoChannel = "approvals channel unwritable" // the pending file could not be written
)

// Verdicts the audit uses beyond the human's (audit.Approval.Verdict).
const (
	AuditTimeout = "timeout"
	AuditFailed  = "failed"
)

// MCPOnceGrant is how long a Verdict Once on an MCP request_access allows
// what the agent asked for: no request is held to let through, so once
// means the next requests to it, for a while.
const MCPOnceGrant = 10 * time.Minute

// alwaysBridge is how long the rules of a Verdict Always are granted in
// the sidecar's memory: the host wrote them to the live allowlist before
// the decision, but the sidecar polls that file, so the agent's next
// request could come before they are in force and be held again.
const alwaysBridge = time.Minute

// PollInterval is how often the broker looks for decisions.
const PollInterval = 100 * time.Millisecond

// maxDecisionSize bounds what is read of a decision file.
const maxDecisionSize = 64 << 10

// Grant is a session grant in force: a rule a human allowed for the
// bottle's lifetime (Verdict Host), or for a while (Verdict Once on an MCP
// request). grants.json holds them.
type Grant struct {
	ID    string             `json:"id"` // the approval it came from
	Rule  allowlist.RuleSpec `json:"rule"`
	By    string             `json:"by"`
	Time  time.Time          `json:"time"`
	Until time.Time          `json:"until,omitzero"` // zero: the bottle's lifetime
}

type grantsFile struct {
	Grants []Grant `json:"grants"`
}

// Grants returns the grants dir's grants.json holds (host side: for
// `bottle approvals`). A missing file holds none.
func Grants(dir string) ([]Grant, error) {
	b, err := os.ReadFile(filepath.Join(dir, GrantsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var f grantsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, GrantsFile), err)
	}
	return f.Grants, nil
}

// Broker is the sidecar's side of the channel: it files the requests the
// proxy holds (and the agent's MCP requests) in pending/, collapses
// identical ones, watches decided/ for the human's answers, releases the
// requests held on each, keeps the session grants, and audits what
// became of every approval. It decides nothing itself.
//
// Its methods are safe for concurrent use. Close stops it.
type Broker struct {
	dir    string
	bottle string
	audit  func(*audit.Record)
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]*entry // by id: pending, and expired ones lingering
	byKey   map[string]*entry // pending ones (not expired), by source and Key
	grants  []Grant
	set     *grantSet // grants compiled
	connSet *grantSet // the grants of every method and path: those that admit a CONNECT

	stop     chan struct{}
	finished chan struct{}
	closed   bool
}

// entry is one approval and the requests held on it.
type entry struct {
	req     Request
	key     string
	waiters int
	done    chan struct{} // closed when decided
	dec     Decision
	expired time.Time // when the last held request gave up; zero while pending
	dirty   bool      // req changed since its file was written
}

// NewBroker opens the channel at dir (contract.SidecarApprovalsDir) for
// the bottle, fails what a previous run left pending, loads the grants,
// and starts watching for decisions. Every approval's account goes to
// record (nil: nowhere), one audit record each.
func NewBroker(dir, bottle string, record func(*audit.Record), log *slog.Logger) (*Broker, error) {
	return newBroker(dir, bottle, record, log, time.Now)
}

// newBroker is NewBroker with a clock of the caller's.
func newBroker(dir, bottle string, record func(*audit.Record), log *slog.Logger, now func() time.Time) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if record == nil {
		record = func(*audit.Record) {}
	}
	b := &Broker{dir: dir, bottle: bottle, audit: record, log: log, now: now,
		entries: map[string]*entry{}, byKey: map[string]*entry{},
		stop: make(chan struct{}), finished: make(chan struct{})}
	if err := b.prepare(); err != nil {
		return nil, err
	}
	b.loadGrants()
	b.recover()
	go b.watch()
	return b, nil
}

// prepare makes pending/ and decided/ and checks that the sidecar can
// write (and so remove files) in both.
func (b *Broker) prepare() error {
	// The host reads pending/ and writes decided/, whose files the
	// sidecar removes: the launcher runs the sidecar as the user who runs
	// `bottle`, or, when that is root, as uid 65532 with the channel
	// handed to it (root writes anywhere).
	for _, name := range []string{PendingDir, DecidedDir} {
		p := filepath.Join(b.dir, name)
		_, err := os.Stat(p)
		created := errors.Is(err, fs.ErrNotExist)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("approvals channel: %w; %s must be owned by the user the sidecar runs as (uid 65532 when bottle runs as root)", err, b.dir)
		}
		if created {
			os.Chmod(p, 0o755) // the host reads it, whatever the umask
		}
		f, err := os.CreateTemp(p, ".probe-*")
		if err != nil {
			return fmt.Errorf("approvals channel: %s is not writable by the sidecar: %w; it must be owned by the user the sidecar runs as (uid 65532 when bottle runs as root)", p, err)
		}
		f.Close()
		os.Remove(f.Name())
	}
	return nil
}

// Ask files q as a pending approval, or joins the pending one with the
// same Key, and blocks until a human decides it, timeout passes, or ctx
// ends. It returns the approval's id and the decision; on timeout or ctx
// end the verdict is Deny and By is ByTimeout or ByAgentGone. It is
// proxy.Approver's Ask.
func (b *Broker) Ask(ctx context.Context, q Request, timeout time.Duration) (string, Decision) {
	if q.Source == "" {
		q.Source = SourceProxy
	}
	return b.ask(ctx, q, timeout)
}

// AskMCP is Ask for the agent's request_access: no request is held, and
// Verdict Once grants the requested target for MCPOnceGrant. q's
// AgentReason is the agent's reason.
func (b *Broker) AskMCP(ctx context.Context, q Request, timeout time.Duration) (string, Decision) {
	q.Source = SourceMCP
	return b.ask(ctx, q, timeout)
}

func (b *Broker) ask(ctx context.Context, q Request, timeout time.Duration) (string, Decision) {
	if timeout <= 0 {
		timeout = allowlist.DefaultApprovalTimeout
	}
	start := b.now()
	b.mu.Lock()
	e, by := b.join(q, start, start.Add(timeout))
	b.mu.Unlock()
	if e == nil {
		return "", Decision{Verdict: Deny, By: by, Time: start.UTC()}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-e.done:
		return e.req.ID, e.dec
	case <-t.C:
		by = ByTimeout
	case <-ctx.Done():
		by = ByAgentGone
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-e.done: // decided meanwhile
		return e.req.ID, e.dec
	default:
	}
	e.waiters--
	if e.waiters == 0 {
		b.expire(e, by)
	}
	return e.req.ID, Decision{ID: e.req.ID, Verdict: Deny, By: by, Time: b.now().UTC()}
}

// join adds one held request to the pending approval like q, or files a
// new one. It returns nil and why when it may not.
func (b *Broker) join(q Request, now, deadline time.Time) (*entry, string) {
	if b.closed {
		return nil, ByStopping
	}
	key := q.Source + "\x00" + q.Key()
	if e := b.byKey[key]; e != nil {
		if e.waiters >= MaxWaiters {
			return nil, ByTooMany
		}
		e.waiters++
		e.req.Count++
		if deadline.After(e.req.Expires) {
			e.req.Expires = deadline.UTC()
		}
		e.dirty = true // written at the next poll: a burst is one rewrite
		return e, ""
	}
	if len(b.entries) >= MaxPending && !b.evictExpired() {
		return nil, ByTooMany
	}
	r := q
	r.ID = b.newID()
	r.Bottle = b.bottle
	r.Created, r.Expires = now.UTC(), deadline.UTC()
	r.State = StatePending
	r.Count = 1
	e := &entry{req: r, key: key, waiters: 1, done: make(chan struct{})}
	if err := b.write(e); err != nil {
		b.log.Error("approval not filed: the request is denied", "id", r.ID, "err", err)
		b.audit(b.record(&e.req, AuditFailed, ByNoChannel, "", 0))
		return nil, ByNoChannel
	}
	b.entries[r.ID], b.byKey[key] = e, e
	b.log.Info("approval pending", "id", r.ID, "source", r.Source, "host", r.Host, "port", r.Port, "method", r.Method, "path", r.Path, "cause", r.Cause)
	return e, ""
}

// newID returns an id no approval listed has.
func (b *Broker) newID() string {
	for {
		if id := NewID(); b.entries[id] == nil {
			return id
		}
	}
}

// evictExpired removes the oldest expired approval, to make room for a
// pending one, and says whether there was one.
func (b *Broker) evictExpired() bool {
	var old *entry
	for _, e := range b.entries {
		if !e.expired.IsZero() && (old == nil || e.expired.Before(old.expired)) {
			old = e
		}
	}
	if old == nil {
		return false
	}
	b.forget(old)
	return true
}

// expire marks e expired: nobody waits on it any more. It stays listed
// for Linger, so that the human can still allow it for next time.
func (b *Broker) expire(e *entry, by string) {
	now := b.now()
	e.expired = now
	e.req.State = StateExpired
	delete(b.byKey, e.key)
	if err := b.write(e); err != nil {
		b.log.Warn("could not mark an approval expired", "id", e.req.ID, "err", err)
	}
	b.audit(b.record(&e.req, AuditTimeout, by, "", now.Sub(e.req.Created)))
	b.log.Info("approval expired", "id", e.req.ID, "by", by, "count", e.req.Count)
}

// forget removes e and its file.
func (b *Broker) forget(e *entry) {
	delete(b.entries, e.req.ID)
	if b.byKey[e.key] == e {
		delete(b.byKey, e.key)
	}
	b.remove(filepath.Join(b.dir, PendingDir, e.req.ID+".json"))
}

func (b *Broker) remove(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.log.Warn("approvals channel: could not remove a file", "file", path, "err", err)
	}
}

// write (re)writes e's pending file, readable by the host.
func (b *Broker) write(e *entry) error {
	data, err := json.MarshalIndent(e.req, "", "  ")
	if err != nil {
		return err
	}
	e.dirty = false
	return atomicfile.Write(filepath.Join(b.dir, PendingDir, e.req.ID+".json"), append(data, '\n'))
}

// watch polls decided/ until Close: plain polling works alike on Docker's
// bind mounts and Apple container's shared directories, where file
// events do not always cross.
func (b *Broker) watch() {
	defer close(b.finished)
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.poll()
		}
	}
}

// poll acts on the decisions written since the last poll, writes the
// approvals whose count changed, and removes what has outlived its time.
func (b *Broker) poll() {
	for _, d := range b.decisions() {
		b.mu.Lock()
		b.decide(d)
		b.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for _, e := range b.entries {
		switch {
		case !e.expired.IsZero() && now.Sub(e.expired) >= Linger:
			b.forget(e)
		case e.dirty:
			if err := b.write(e); err != nil {
				b.log.Warn("could not update an approval", "id", e.req.ID, "err", err)
			}
		}
	}
	b.pruneGrants(now)
}

// decisions reads decided/: every well-formed decision, each removed once
// read. Anything else there is logged and removed, except a write in
// progress (a dot file, atomicfile's temporary), removed only when old.
func (b *Broker) decisions() []Decision {
	dir := filepath.Join(b.dir, DecidedDir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []Decision
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(dir, name)
		if strings.HasPrefix(name, ".") {
			if info, err := de.Info(); err == nil && b.now().Sub(info.ModTime()) > time.Minute {
				b.remove(path)
			}
			continue
		}
		d, err := readDecision(path, name)
		b.remove(path)
		if err != nil {
			b.log.Warn("approvals channel: ignored a file in decided/", "file", name, "err", err)
			continue
		}
		out = append(out, d)
	}
	return out
}

// readDecision reads and checks the decision file at path, named name.
func readDecision(path, name string) (Decision, error) {
	id, ok := strings.CutSuffix(name, ".json")
	if !ok || !ValidID(id) {
		return Decision{}, errors.New("not named ID.json")
	}
	st, err := os.Lstat(path)
	if err != nil {
		return Decision{}, err
	}
	if !st.Mode().IsRegular() {
		return Decision{}, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return Decision{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxDecisionSize+1))
	if err != nil {
		return Decision{}, err
	}
	if len(data) > maxDecisionSize {
		return Decision{}, fmt.Errorf("larger than %d KiB", maxDecisionSize>>10)
	}
	var d Decision
	if err := json.Unmarshal(data, &d); err != nil {
		return Decision{}, err
	}
	if d.ID != id {
		return Decision{}, fmt.Errorf("its id %q is not its name's", d.ID)
	}
	if !d.Verdict.Valid() {
		return Decision{}, fmt.Errorf("verdict %q is not one of once, host, always, deny", d.Verdict)
	}
	return d, nil
}

// decide acts on d: it releases the requests held on its approval, adds
// the grant it makes, audits it, and removes the approval. A decision on
// an approval that expired still allows for next time (Host: the grant;
// Always: the host wrote the rule already); Once comes too late.
func (b *Broker) decide(d Decision) {
	e := b.entries[d.ID]
	if e == nil {
		b.log.Warn("approvals channel: a decision for no approval listed, ignored", "id", d.ID, "verdict", string(d.Verdict), "by", d.By)
		return
	}
	late := !e.expired.IsZero()
	// The grant is in force, the account written and the file gone before
	// the held requests go on: what they do next sees all three.
	b.grantFor(e, d, late)
	b.audit(b.record(&e.req, string(d.Verdict), d.By, d.Note, b.now().Sub(e.req.Created)))
	b.log.Info("approval decided", "id", d.ID, "verdict", string(d.Verdict), "by", d.By, "count", e.req.Count, "late", late)
	b.forget(e)
	if !late {
		e.dec = d
		close(e.done)
	}
}

// grantFor adds the session grant d makes on e, if any.
func (b *Broker) grantFor(e *entry, d Decision, late bool) {
	now := b.now()
	g := Grant{ID: e.req.ID, By: d.By, Time: now.UTC()}
	var rules []allowlist.RuleSpec
	switch {
	case d.Verdict == Host:
		rules = []allowlist.RuleSpec{e.req.HostRule}
	case d.Verdict == Once && e.req.Source == SourceMCP && !late:
		r := TargetRule(&e.req)
		if e.req.Method == "" && e.req.Path == "" && e.req.HostRule.Host != "" {
			// The host as a whole: HostRule says how (passthrough on the
			// port of a protocol that is not HTTP).
			r = e.req.HostRule
		}
		rules = []allowlist.RuleSpec{r}
		g.Until = now.Add(MCPOnceGrant).UTC()
	case d.Verdict == Always && !late:
		rules = e.req.Always
		g.Until = now.Add(alwaysBridge).UTC()
	}
	if len(rules) == 0 {
		return
	}
	for _, r := range rules {
		g.Rule = r
		b.addGrant(g)
	}
	b.saveGrants()
}

// TargetRule is the rule that allows exactly what q asked for: its host
// and port, and its method and path when it names them (an MCP
// request_access's target).
func TargetRule(q *Request) allowlist.RuleSpec {
	s := allowlist.RuleSpec{Host: q.Host}
	if q.Port != 0 {
		s.Ports = []uint16{q.Port}
	}
	if q.Method != "" {
		s.Methods = []string{q.Method}
	}
	if q.Path != "" {
		s.Paths = []string{q.Path}
	}
	return s
}

// Close fails every request still held (Deny, ByStopping), audited, with
// its file removed, and stops watching for decisions. Holding requests
// would keep the proxy from draining.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.stop)
	now := b.now()
	for _, e := range b.entries {
		if e.expired.IsZero() {
			b.audit(b.record(&e.req, AuditFailed, ByStopping, "", now.Sub(e.req.Created)))
			e.dec = Decision{ID: e.req.ID, Verdict: Deny, By: ByStopping, Time: now.UTC()}
			close(e.done)
		}
		b.forget(e)
	}
	b.mu.Unlock()
	<-b.finished
	return nil
}

// recover fails what a previous run left pending: the agent's connections
// it held are gone. Each is audited (Verdict failed, ByRestart) and
// removed; a decision the host wrote meanwhile still grants for next time
// (Verdict Host). Decisions for nothing pending are removed.
func (b *Broker) recover() {
	pdir := filepath.Join(b.dir, PendingDir)
	ents, _ := os.ReadDir(pdir)
	dec := map[string]Decision{}
	for _, d := range b.decisions() {
		dec[d.ID] = d
	}
	now := b.now()
	n := 0
	for _, de := range ents {
		path := filepath.Join(pdir, de.Name())
		r, err := read(path)
		b.remove(path)
		if err != nil {
			continue // a temporary file, or not a request
		}
		n++
		b.audit(b.record(&r, AuditFailed, ByRestart, "", now.Sub(r.Created)))
		if d, ok := dec[r.ID]; ok {
			e := &entry{req: r, expired: now}
			b.grantFor(e, d, true)
			b.audit(b.record(&r, string(d.Verdict), d.By, d.Note, now.Sub(r.Created)))
		}
	}
	if n > 0 {
		b.log.Warn("failed the approvals a previous run left pending (their requests are gone)", "count", n)
	}
}

// record is the audit record of what became of r.
func (b *Broker) record(r *Request, verdict, by, note string, waited time.Duration) *audit.Record {
	decision := audit.DecisionDeny
	if Verdict(verdict).Allows() {
		decision = audit.DecisionAllow
	}
	return &audit.Record{Time: b.now().UTC().Format(time.RFC3339Nano), Bottle: b.bottle, Kind: audit.KindApproval,
		Method: r.Method, Scheme: r.Scheme, Host: r.Host, Port: r.Port, Path: r.Path,
		Decision: decision, Rule: r.Rule, Cause: r.Cause, Reason: r.Reason,
		Approval: &audit.Approval{ID: r.ID, Verdict: verdict, By: by, Note: note, Source: r.Source,
			AgentReason: r.AgentReason, Count: r.Count, WaitedMS: float64(waited) / float64(time.Millisecond)}}
}
