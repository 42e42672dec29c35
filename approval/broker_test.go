package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// clock is a test clock: the real time, moved forward on demand.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// recorder keeps the audit records a broker writes.
type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) record(rec *audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, *rec)
}

func (r *recorder) all() []audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

// verdicts are the records' approval verdicts, in order.
func (r *recorder) verdicts() []string {
	var out []string
	for _, rec := range r.all() {
		out = append(out, rec.Approval.Verdict)
	}
	return out
}

type fixture struct {
	t     *testing.T
	dir   string
	b     *Broker
	clock *clock
	rec   *recorder
}

func start(t *testing.T, dir string) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: dir, clock: &clock{}, rec: &recorder{}}
	b, err := newBroker(dir, "bx", f.rec.record, nil, f.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	t.Cleanup(func() { b.Close() })
	return f
}

func request(host string) Request {
	return Request{Kind: "request", Scheme: "https", Host: host, Port: 443, Method: "GET", Path: "/v1/x",
		Cause: "no-rule", Rule: "default", Reason: "no rule allows " + host,
		Always:   []allowlist.RuleSpec{{Host: host, Ports: []uint16{443}}},
		Command:  "bottle allow add " + host + " --port 443 --bottle bx",
		HostRule: allowlist.RuleSpec{Host: host, Ports: []uint16{443}}}
}

type answer struct {
	id string
	d  Decision
}

// ask runs Ask on a goroutine and returns where its answer comes.
func (f *fixture) ask(ctx context.Context, q Request, timeout time.Duration) <-chan answer {
	c := make(chan answer, 1)
	go func() {
		id, d := f.b.Ask(ctx, q, timeout)
		c <- answer{id, d}
	}()
	return c
}

// waitPending waits for n pending files and returns their requests.
func (f *fixture) waitPending(n int, ok func([]Request) bool) []Request {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, err := List(f.dir)
		if err != nil {
			f.t.Fatal(err)
		}
		if len(rs) == n && (ok == nil || ok(rs)) {
			return rs
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("want %d pending requests, have %+v", n, rs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func receive(t *testing.T, c <-chan answer) answer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("Ask did not return")
	}
	return answer{}
}

func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestAskFilesPendingAndOnceReleases(t *testing.T) {
	f := start(t, t.TempDir())
	c := f.ask(context.Background(), request("api.example.com"), time.Minute)
	rs := f.waitPending(1, nil)
	r := rs[0]
	if !ValidID(r.ID) || r.Bottle != "bx" || r.State != StatePending || r.Source != SourceProxy || r.Count != 1 ||
		r.Host != "api.example.com" || r.Cause != "no-rule" || r.Expires.Sub(r.Created) != time.Minute {
		t.Fatalf("pending request = %+v", r)
	}
	path := filepath.Join(f.dir, PendingDir, r.ID+".json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("pending file mode %v, want 0644 (the host user reads it)", st.Mode().Perm())
	}
	// Only the file itself is there: written to a temporary name, renamed.
	if got := files(t, filepath.Join(f.dir, PendingDir)); !slices.Equal(got, []string{r.ID + ".json"}) {
		t.Errorf("pending/ holds %v", got)
	}
	if err := Decide(f.dir, Decision{ID: r.ID, Verdict: Once, By: "bottle approve (test)", Note: "go ahead"}); err != nil {
		t.Fatal(err)
	}
	a := receive(t, c)
	if a.id != r.ID || a.d.Verdict != Once || a.d.By != "bottle approve (test)" || a.d.Note != "go ahead" {
		t.Fatalf("Ask = %+v", a)
	}
	waitFor(t, "both files removed", func() bool {
		return len(files(t, filepath.Join(f.dir, PendingDir))) == 0 && len(files(t, filepath.Join(f.dir, DecidedDir))) == 0
	})
	recs := f.rec.all()
	if len(recs) != 1 {
		t.Fatalf("audit = %+v", recs)
	}
	got := recs[0]
	if got.Kind != audit.KindApproval || got.Decision != audit.DecisionAllow || got.Host != "api.example.com" || got.Method != "GET" ||
		got.Path != "/v1/x" || got.Port != 443 || got.Cause != "no-rule" || got.Bottle != "bx" {
		t.Errorf("audit record = %+v", got)
	}
	if a := got.Approval; a.ID != r.ID || a.Verdict != "once" || a.By != "bottle approve (test)" || a.Note != "go ahead" ||
		a.Source != SourceProxy || a.Count != 1 || a.WaitedMS <= 0 {
		t.Errorf("audit approval = %+v", a)
	}
	if _, ok := f.b.Granted(allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/"}); ok {
		t.Error("once granted the host for later")
	}
}

func TestIdenticalRequestsCollapse(t *testing.T) {
	f := start(t, t.TempDir())
	var cs []<-chan answer
	for range 10 {
		cs = append(cs, f.ask(context.Background(), request("api.example.com"), time.Minute))
	}
	other := f.ask(context.Background(), request("other.example.com"), time.Minute)
	rs := f.waitPending(2, func(rs []Request) bool {
		return slices.ContainsFunc(rs, func(r Request) bool { return r.Host == "api.example.com" && r.Count == 10 })
	})
	var id string
	for _, r := range rs {
		if r.Host == "api.example.com" {
			id = r.ID
		}
	}
	if err := Decide(f.dir, Decision{ID: id, Verdict: Host, By: "test"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if a := receive(t, c); a.id != id || a.d.Verdict != Host {
			t.Fatalf("Ask = %+v", a)
		}
	}
	select {
	case a := <-other:
		t.Fatalf("the other request was released: %+v", a)
	case <-time.After(3 * PollInterval):
	}
	recs := f.rec.all()
	if len(recs) != 1 || recs[0].Approval.Count != 10 || recs[0].Approval.Verdict != "host" {
		t.Fatalf("audit = %+v", recs)
	}
	// Verdict host grants the host and port, every method and path.
	for _, req := range []allowlist.Request{
		{Scheme: "https", Host: "api.example.com", Port: 443, Method: "POST", Path: "/elsewhere"},
		{Host: "api.example.com", Port: 443}, // a CONNECT
	} {
		if gid, ok := f.b.Granted(req); !ok || gid != id {
			t.Errorf("Granted(%+v) = %q, %v", req, gid, ok)
		}
	}
	for _, req := range []allowlist.Request{
		{Scheme: "http", Host: "api.example.com", Port: 80, Method: "GET", Path: "/"},
		{Host: "other.example.com", Port: 443},
	} {
		if _, ok := f.b.Granted(req); ok {
			t.Errorf("Granted(%+v), want not", req)
		}
	}
}

func TestTimeoutExpiresThenLingers(t *testing.T) {
	f := start(t, t.TempDir())
	a := receive(t, f.ask(context.Background(), request("api.example.com"), 50*time.Millisecond))
	if a.d.Verdict != Deny || a.d.By != ByTimeout || !ValidID(a.id) {
		t.Fatalf("Ask = %+v", a)
	}
	rs := f.waitPending(1, nil)
	if rs[0].State != StateExpired || rs[0].ID != a.id {
		t.Fatalf("after the timeout: %+v", rs[0])
	}
	if v := f.rec.verdicts(); !slices.Equal(v, []string{AuditTimeout}) {
		t.Fatalf("audit verdicts %v", v)
	}
	if rec := f.rec.all()[0]; rec.Decision != audit.DecisionDeny || rec.Approval.By != ByTimeout {
		t.Errorf("audit = %+v", rec)
	}
	// A new identical request files a new approval: the expired one holds nothing.
	c := f.ask(context.Background(), request("api.example.com"), time.Minute)
	rs = f.waitPending(2, nil)
	if rs[1].State != StatePending || rs[1].ID == a.id {
		t.Fatalf("pending = %+v", rs)
	}
	f.b.Close()
	if b := receive(t, c); b.d.Verdict != Deny || b.d.By != ByStopping {
		t.Fatalf("held at Close: %+v", b)
	}
}

func TestExpiredRemovedAfterLinger(t *testing.T) {
	f := start(t, t.TempDir())
	receive(t, f.ask(context.Background(), request("api.example.com"), 20*time.Millisecond))
	f.waitPending(1, func(rs []Request) bool { return rs[0].State == StateExpired })
	time.Sleep(3 * PollInterval)
	f.waitPending(1, nil) // still listed
	f.clock.advance(Linger)
	f.waitPending(0, nil)
}

func TestLateDecisions(t *testing.T) {
	f := start(t, t.TempDir())
	var ids []string
	for _, h := range []string{"once.example.com", "host.example.com", "always.example.com"} {
		a := receive(t, f.ask(context.Background(), request(h), 10*time.Millisecond))
		ids = append(ids, a.id)
	}
	f.waitPending(3, func(rs []Request) bool {
		return !slices.ContainsFunc(rs, func(r Request) bool { return r.State != StateExpired })
	})
	for i, v := range []Verdict{Once, Host, Always} {
		if err := Decide(f.dir, Decision{ID: ids[i], Verdict: v, By: "late"}); err != nil {
			t.Fatal(err)
		}
	}
	f.waitPending(0, nil)
	waitFor(t, "the late decisions audited", func() bool { return len(f.rec.all()) == 6 })
	if v := slices.Sorted(slices.Values(f.rec.verdicts()[3:])); !slices.Equal(v, []string{"always", "host", "once"}) {
		t.Errorf("late verdicts audited %v", v)
	}
	granted := func(h string) bool {
		_, ok := f.b.Granted(allowlist.Request{Host: h, Port: 443})
		return ok
	}
	if granted("once.example.com") || granted("always.example.com") || !granted("host.example.com") {
		t.Errorf("after late decisions: once %v host %v always %v", granted("once.example.com"), granted("host.example.com"), granted("always.example.com"))
	}
}

func TestAgentGoneExpires(t *testing.T) {
	f := start(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	c := f.ask(ctx, request("api.example.com"), time.Minute)
	f.waitPending(1, nil)
	cancel()
	if a := receive(t, c); a.d.Verdict != Deny || a.d.By != ByAgentGone {
		t.Fatalf("Ask = %+v", a)
	}
	f.waitPending(1, func(rs []Request) bool { return rs[0].State == StateExpired })
}

func TestRestartFailsOldPending(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{PendingDir, DecidedDir} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	old := request("old.example.com")
	old.ID, old.State, old.Source, old.Count, old.Created = "0123abcd", StatePending, SourceProxy, 3, time.Now().Add(-time.Minute)
	decided := request("decided.example.com")
	decided.ID, decided.State, decided.Source, decided.Count = "4567cdef", StatePending, SourceProxy, 1
	for _, r := range []Request{old, decided} {
		b, _ := json.Marshal(r)
		os.WriteFile(filepath.Join(dir, PendingDir, r.ID+".json"), b, 0o644)
	}
	os.WriteFile(filepath.Join(dir, PendingDir, ".0123abcd.json.tmp-1"), []byte("{"), 0o644)
	writeDecision(t, dir, Decision{ID: "4567cdef", Verdict: Host, By: "while it was down"})
	writeDecision(t, dir, Decision{ID: "89abcdef", Verdict: Once, By: "for nothing pending"})

	f := start(t, dir)
	if got := files(t, filepath.Join(dir, PendingDir)); len(got) != 0 {
		t.Errorf("pending/ after start: %v", got)
	}
	if got := files(t, filepath.Join(dir, DecidedDir)); len(got) != 0 {
		t.Errorf("decided/ after start: %v", got)
	}
	recs := f.rec.all()
	if len(recs) != 3 {
		t.Fatalf("audit = %+v", recs)
	}
	byID := map[string][]string{}
	for _, r := range recs {
		byID[r.Approval.ID] = append(byID[r.Approval.ID], r.Approval.Verdict+"/"+r.Approval.By)
		if r.Approval.ID == "0123abcd" && (r.Host != "old.example.com" || r.Approval.Count != 3 || r.Decision != audit.DecisionDeny) {
			t.Errorf("failed record = %+v", r)
		}
	}
	if !slices.Equal(byID["0123abcd"], []string{"failed/" + ByRestart}) || !slices.Equal(byID["4567cdef"], []string{"failed/" + ByRestart, "host/while it was down"}) {
		t.Errorf("audited %v", byID)
	}
	if _, ok := f.b.Granted(allowlist.Request{Host: "decided.example.com", Port: 443}); !ok {
		t.Error("the host decision made while the sidecar was down granted nothing")
	}
}

func writeDecision(t *testing.T, dir string, d Decision) {
	t.Helper()
	b, _ := json.Marshal(d)
	if err := os.WriteFile(filepath.Join(dir, DecidedDir, d.ID+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGrantsPersistAcrossBrokers(t *testing.T) {
	dir := t.TempDir()
	f := start(t, dir)
	c := f.ask(context.Background(), request("api.example.com"), time.Minute)
	mq := request("mcp.example.com")
	mq.AgentReason = "to read the docs"
	mq.Path = "/docs"
	mc := make(chan answer, 1)
	go func() {
		id, d := f.b.AskMCP(context.Background(), mq, time.Minute)
		mc <- answer{id, d}
	}()
	rs := f.waitPending(2, nil)
	for _, r := range rs {
		v := Host
		if r.Source == SourceMCP {
			v = Once
			if r.AgentReason != "to read the docs" {
				t.Errorf("mcp request = %+v", r)
			}
		}
		if err := Decide(dir, Decision{ID: r.ID, Verdict: v, By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, c)
	if a := receive(t, mc); a.d.Verdict != Once {
		t.Fatalf("AskMCP = %+v", a)
	}
	mcpDocs := allowlist.Request{Scheme: "https", Host: "mcp.example.com", Port: 443, Method: "GET", Path: "/docs"}
	if _, ok := f.b.Granted(mcpDocs); !ok {
		t.Error("an MCP once granted nothing")
	}
	if _, ok := f.b.Granted(allowlist.Request{Scheme: "https", Host: "mcp.example.com", Port: 443, Method: "GET", Path: "/other"}); ok {
		t.Error("an MCP once granted more than the path asked for")
	}
	f.b.Close()
	gs, err := Grants(dir)
	if err != nil || len(gs) != 2 {
		t.Fatalf("grants.json = %+v, %v", gs, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, GrantsFile)); st.Mode().Perm() != 0o644 {
		t.Errorf("grants.json mode %v", st.Mode().Perm())
	}

	g := start(t, dir)
	if _, ok := g.b.Granted(allowlist.Request{Host: "api.example.com", Port: 443}); !ok {
		t.Error("the host grant did not survive a restart")
	}
	if _, ok := g.b.Granted(mcpDocs); !ok {
		t.Error("the MCP grant did not survive a restart")
	}
	g.clock.advance(MCPOnceGrant)
	if _, ok := g.b.Granted(mcpDocs); ok {
		t.Error("the MCP once grant outlived its time")
	}
	if _, ok := g.b.Granted(allowlist.Request{Host: "api.example.com", Port: 443}); !ok {
		t.Error("the host grant ended with the MCP one")
	}
	waitFor(t, "the expired grant pruned from grants.json", func() bool {
		gs, _ := Grants(dir)
		return len(gs) == 1 && gs[0].Rule.Host == "api.example.com"
	})
}

func TestJunkDecisionsIgnored(t *testing.T) {
	f := start(t, t.TempDir())
	c := f.ask(context.Background(), request("api.example.com"), time.Minute)
	id := f.waitPending(1, nil)[0].ID
	dd := filepath.Join(f.dir, DecidedDir)
	os.WriteFile(filepath.Join(dd, "not-an-id.json"), []byte(`{"id":"not-an-id","verdict":"once"}`), 0o644)
	os.WriteFile(filepath.Join(dd, id+".json.bak"), []byte(`{}`), 0o644)
	writeDecision(t, f.dir, Decision{ID: "ffffffff", Verdict: Once}) // no such approval
	os.WriteFile(filepath.Join(dd, "eeeeeeee.json"), fmt.Appendf(nil, `{"id":%q,"verdict":"once"}`, id), 0o644)
	os.WriteFile(filepath.Join(dd, "dddddddd.json"), []byte("not json"), 0o644)
	waitFor(t, "junk removed", func() bool { return len(files(t, dd)) == 0 })
	os.WriteFile(filepath.Join(dd, id+".json"), fmt.Appendf(nil, `{"id":%q,"verdict":"yes"}`, id), 0o644)
	waitFor(t, "a bad verdict removed", func() bool { return len(files(t, dd)) == 0 })
	select {
	case a := <-c:
		t.Fatalf("junk released the request: %+v", a)
	default:
	}
	if rs := f.waitPending(1, nil); rs[0].State != StatePending {
		t.Fatalf("after junk: %+v", rs[0])
	}
	if err := Decide(f.dir, Decision{ID: id, Verdict: Deny, By: "test", Note: "no"}); err != nil {
		t.Fatal(err)
	}
	if a := receive(t, c); a.d.Verdict != Deny || a.d.Note != "no" {
		t.Fatalf("Ask = %+v", a)
	}
	if rec := f.rec.all(); len(rec) != 1 || rec[0].Decision != audit.DecisionDeny || rec[0].Approval.Verdict != "deny" {
		t.Fatalf("audit = %+v", rec)
	}
}

func TestTooManyRefusedAtOnce(t *testing.T) {
	f := start(t, t.TempDir())
	var cs []<-chan answer
	for i := range MaxPending {
		cs = append(cs, f.ask(context.Background(), request(fmt.Sprintf("h%d.example.com", i)), time.Minute))
	}
	for range MaxWaiters - 1 {
		cs = append(cs, f.ask(context.Background(), request("h0.example.com"), time.Minute))
	}
	f.waitPending(MaxPending, func(rs []Request) bool {
		return slices.ContainsFunc(rs, func(r Request) bool { return r.Host == "h0.example.com" && r.Count == MaxWaiters })
	})
	for _, q := range []Request{request("one-more.example.com"), request("h0.example.com")} {
		if a := receive(t, f.ask(context.Background(), q, time.Minute)); a.id != "" || a.d.Verdict != Deny || a.d.By != ByTooMany {
			t.Errorf("Ask(%s) over the bound = %+v", q.Host, a)
		}
	}
	f.b.Close()
	for _, c := range cs {
		if a := receive(t, c); a.d.By != ByStopping {
			t.Fatalf("held = %+v", a)
		}
	}
	if got := files(t, filepath.Join(f.dir, PendingDir)); len(got) != 0 {
		t.Errorf("pending/ after Close: %d files", len(got))
	}
	if n := len(f.rec.all()); n != MaxPending {
		t.Errorf("Close audited %d approvals, want %d", n, MaxPending)
	}
}

// TestConcurrentAsk runs many Asks over a few targets while a decider
// answers whatever is pending: every Ask gets a human's verdict, each
// approval is audited once, with the count of requests it held.
func TestConcurrentAsk(t *testing.T) {
	f := start(t, t.TempDir())
	const n, hosts = 200, 20
	var wg sync.WaitGroup
	results := make(chan answer, n)
	for i := range n {
		wg.Go(func() {
			id, d := f.b.Ask(context.Background(), request(fmt.Sprintf("c%d.example.com", i%hosts)), time.Minute)
			results <- answer{id, d}
		})
	}
	stop := make(chan struct{})
	var dwg sync.WaitGroup
	dwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			rs, _ := List(f.dir)
			for _, r := range rs {
				Decide(f.dir, Decision{ID: r.ID, Verdict: Once, By: "decider"})
			}
		}
	})
	wg.Wait()
	close(stop)
	dwg.Wait()
	close(results)
	for a := range results {
		if a.d.Verdict != Once || a.d.By != "decider" {
			t.Fatalf("Ask = %+v", a)
		}
	}
	total := 0
	seen := map[string]bool{}
	for _, r := range f.rec.all() {
		if seen[r.Approval.ID] {
			t.Errorf("approval %s audited twice", r.Approval.ID)
		}
		seen[r.Approval.ID] = true
		total += r.Approval.Count
	}
	if total != n {
		t.Errorf("the audited counts add up to %d, want %d", total, n)
	}
}

func TestUnwritableChannel(t *testing.T) {
	if os.Getuid() == 0 {
		t.Skip("root writes anywhere")
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o555)
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if _, err := NewBroker(dir, "bx", nil, nil); err == nil {
		t.Fatal("no error for a channel the sidecar cannot write")
	}
}

func TestSameGrantOnce(t *testing.T) {
	f := start(t, t.TempDir())
	for _, v := range []Verdict{Host, Host} {
		c := f.ask(context.Background(), request("api.example.com"), time.Minute)
		q := f.waitPending(1, nil)[0]
		Decide(f.dir, Decision{ID: q.ID, Verdict: v, By: "test"})
		receive(t, c)
	}
	if gs := f.b.ActiveGrants(); len(gs) != 1 {
		t.Errorf("grants %+v", gs)
	}
	if gs, _ := Grants(f.dir); len(gs) != 1 {
		t.Errorf("grants.json %+v", gs)
	}
}

// TestStalePendingFromAGoneSidecar: the files of a sidecar that was
// killed (and not restarted) are not read as requests still held: one
// pending well past its Expires is listed expired, so that --once says it
// is too late, and one past Linger is not listed at all.
func TestStalePendingFromAGoneSidecar(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, PendingDir), 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	write := func(id string, expires time.Time) {
		r := Request{ID: id, Bottle: "b", Created: expires.Add(-time.Minute), Expires: expires, State: StatePending, Source: SourceProxy,
			Kind: "request", Host: "api.example.com", Port: 443, Count: 1}
		data, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, PendingDir, id+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("0000000a", now.Add(time.Minute))  // held now
	write("0000000b", now.Add(-time.Minute)) // its sidecar never marked it expired
	write("0000000c", now.Add(-2*Linger))    // its sidecar never removed it
	rs, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.ID+" "+r.State)
	}
	if want := []string{"0000000b expired", "0000000a pending"}; !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	if r, err := Get(dir, "0000000b"); err != nil || r.State != StateExpired {
		t.Errorf("Get stale: %+v %v", r, err)
	}
	if _, err := Get(dir, "0000000c"); err != ErrNotFound {
		t.Errorf("Get long gone: %v", err)
	}
	if err := Decide(dir, Decision{ID: "0000000c", Verdict: Host}); err != ErrNotFound {
		t.Errorf("Decide long gone: %v", err)
	}
}

// TestNarrowGrantAdmitsNoTunnel: a grant of one method and path (Once on
// an MCP request_access for them) admits those requests, not a CONNECT to
// the host: an approved CONNECT admits every request in its tunnel.
func TestNarrowGrantAdmitsNoTunnel(t *testing.T) {
	f := start(t, t.TempDir())
	q := request("api.example.com")
	q.Path = "/docs"
	c := make(chan answer, 1)
	go func() {
		id, d := f.b.AskMCP(context.Background(), q, time.Minute)
		c <- answer{id, d}
	}()
	p := f.waitPending(1, nil)[0]
	Decide(f.dir, Decision{ID: p.ID, Verdict: Once, By: "test"})
	receive(t, c)
	if _, ok := f.b.Granted(allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/docs"}); !ok {
		t.Error("the granted request is not admitted")
	}
	if _, ok := f.b.Granted(allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "POST", Path: "/admin"}); ok {
		t.Error("another method and path are admitted")
	}
	if _, ok := f.b.Granted(allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 443}); ok {
		t.Error("a grant of GET /docs admits a CONNECT, and so every request in its tunnel")
	}
	// A grant of the host as a whole does admit the CONNECT.
	c2 := f.ask(context.Background(), request("api.example.com"), time.Minute)
	p = f.waitPending(1, nil)[0]
	Decide(f.dir, Decision{ID: p.ID, Verdict: Host, By: "test"})
	receive(t, c2)
	if _, ok := f.b.Granted(allowlist.Request{Scheme: "https", Host: "api.example.com", Port: 443}); !ok {
		t.Error("a host grant does not admit the CONNECT")
	}
}
