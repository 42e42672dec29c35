package watch

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
)

// t0 is the fixtures' clock.
// t0 is when the tests start: the approvals channel lists a pending
// request only until its Expires (and Linger) are past by the real clock.
var t0 = time.Now().UTC().Truncate(time.Second)

// fixture is a state directory written by hand, as the launcher and the
// sidecar write it.
type fixture struct {
	t     *testing.T
	state string
}

func newFixture(t *testing.T, bottles ...string) *fixture {
	fx := &fixture{t: t, state: t.TempDir()}
	for _, b := range bottles {
		fx.bottle(b, "")
	}
	return fx
}

// bottle writes bottle name's metadata (stopped when stopped is not empty)
// and a live allowlist that allows api.example.com's GETs under /v1.
func (fx *fixture) bottle(name, stopped string) {
	dir := filepath.Join(fx.state, name)
	meta := map[string]any{"name": name, "backend": "docker", "state": "ready"}
	if stopped != "" {
		meta["state"], meta["stopped"] = "stopped", stopped
	}
	data, _ := json.Marshal(meta)
	fx.write(filepath.Join(dir, contract.MetadataFile), data)
	fx.write(filepath.Join(dir, contract.ConfigDir, contract.AllowlistFile), []byte("version: 1\nallow:\n  - host: api.example.com\n    methods: [GET]\n    paths: [/v1/**]\n"))
}

func (fx *fixture) write(path string, data []byte) {
	fx.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fx.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) auditPath(name string) string {
	return filepath.Join(fx.state, name, contract.LogDir, contract.AuditFile)
}

// audit appends records to bottle name's egress.jsonl.
func (fx *fixture) audit(name string, recs ...audit.Record) {
	fx.t.Helper()
	path := fx.auditPath(name)
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fx.t.Fatal(err)
	}
	defer f.Close()
	for _, r := range recs {
		b, _ := json.Marshal(r)
		f.Write(append(b, '\n'))
	}
}

func (fx *fixture) approvals(name string) string {
	return filepath.Join(fx.state, name, contract.ApprovalsDir)
}

// pending writes a pending approval of bottle name, as the sidecar would.
func (fx *fixture) pending(name string, q approval.Request) {
	q.Bottle = name
	b, _ := json.Marshal(q)
	fx.write(filepath.Join(fx.approvals(name), approval.PendingDir, q.ID+".json"), b)
}

// request is a denial of GET host/path at t0+sec.
func request(sec int, host, path, decision, cause string) audit.Record {
	r := audit.Record{Time: t0.Add(time.Duration(sec) * time.Second).Format(time.RFC3339Nano), Kind: audit.KindRequest,
		Method: "GET", Scheme: "https", Host: host, Port: 443, Path: path, Decision: decision, Cause: cause, Rule: "allow[0]", Reason: "allowed", Status: 200, BytesOut: 1500}
	if decision != audit.DecisionAllow {
		r.Rule, r.Reason, r.Status, r.BytesOut = "default", "no rule allows "+host, 403, 0
	}
	return r
}

// heldRequest is a pending approval for GET https://host/path.
func heldRequest(id, host, path string) approval.Request {
	return approval.Request{ID: id, Created: t0, Expires: t0.Add(60 * time.Second), State: approval.StatePending, Source: approval.SourceProxy,
		Kind: "request", Scheme: "https", Host: host, Port: 443, Method: "GET", Path: path, Cause: "no-rule", Rule: "default",
		Reason: "no rule allows " + host, Count: 2, Always: []allowlist.RuleSpec{{Host: host}}, Command: "bottle allow add " + host + " --bottle demo",
		HostRule: allowlist.RuleSpec{Host: host}}
}

// model is a model of fx at 120×30, plain, in UTC, at t0+19s, whose bell
// rings into the buffer returned; name "" watches every bottle.
func (fx *fixture) model(name string) (Model, *bytes.Buffer) {
	var bell bytes.Buffer
	m := New(context.Background(), Options{StateDir: fx.state, Name: name, By: "bottle watch (tester)", Plain: true, Bell: &bell,
		Now: func() time.Time { return t0.Add(19 * time.Second) }, Location: time.UTC, Decide: directDecide, Poll: time.Nanosecond})
	m = update(m, tea.WindowSizeMsg{Width: 120, Height: 30})
	return m, &bell
}

// directDecide decides in the fixture's channel, as the real helper does
// but for the allowlist edit of an always.
func directDecide(ctx context.Context, stateDir, id string, v approval.Verdict, by, note string) (string, approval.Request, error) {
	ents, _ := os.ReadDir(stateDir)
	for _, e := range ents {
		dir := filepath.Join(stateDir, e.Name(), contract.ApprovalsDir)
		if q, err := approval.Get(dir, id); err == nil {
			return e.Name(), q, approval.Decide(dir, approval.Decision{ID: id, Verdict: v, By: by, Note: note})
		}
	}
	return "", approval.Request{}, approval.ErrNotFound
}

// update feeds msg and runs the commands it returns that answer at once
// (a decision; not the next tick, which tests send themselves).
func update(m Model, msg tea.Msg) Model {
	next, cmd := m.Update(msg)
	m = next.(Model)
	for _, msg := range run(cmd) {
		next, _ = m.Update(msg)
		m = next.(Model)
	}
	return m
}

// run runs cmd and the batches in it, leaving out the next tick (the
// fixtures' model polls every nanosecond: tests send ticks themselves).
func run(cmd tea.Cmd) []tea.Msg {
	if cmd == nil {
		return nil
	}
	switch msg := cmd().(type) {
	case nil, tickMsg:
		return nil
	case tea.BatchMsg:
		var out []tea.Msg
		for _, c := range msg {
			out = append(out, run(c)...)
		}
		return out
	default:
		return []tea.Msg{msg}
	}
}

func tick(m Model) Model { return update(m, tickMsg(t0)) }

func keys(m Model, ks ...string) Model {
	for _, k := range ks {
		var msg tea.KeyMsg
		switch k {
		case "enter":
			msg = tea.KeyMsg{Type: tea.KeyEnter}
		case "esc":
			msg = tea.KeyMsg{Type: tea.KeyEsc}
		case "tab":
			msg = tea.KeyMsg{Type: tea.KeyTab}
		case "up":
			msg = tea.KeyMsg{Type: tea.KeyUp}
		case "down":
			msg = tea.KeyMsg{Type: tea.KeyDown}
		default:
			msg = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		}
		m = update(m, msg)
	}
	return m
}

func mustShow(t *testing.T, m Model, want ...string) {
	t.Helper()
	v := m.View()
	for _, w := range want {
		if !strings.Contains(v, w) {
			t.Errorf("the view lacks %q:\n%s", w, v)
		}
	}
}

func mustNotShow(t *testing.T, m Model, not ...string) {
	t.Helper()
	v := m.View()
	for _, w := range not {
		if strings.Contains(v, w) {
			t.Errorf("the view shows %q:\n%s", w, v)
		}
	}
}

// rowsOf are the table's lines, in screen order, that hold s.
func rowsOf(m Model, s string) []string {
	var out []string
	for _, l := range strings.Split(m.View(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestFollows: the rows there at start, then each new line as it is
// written, newest at the bottom, through a rotation and a truncation,
// never twice; a line written in two parts shows once it is whole.
func TestFollows(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.audit("demo", request(1, "api.example.com", "/v1/models", "allow", ""), request(2, "evil.example.com", "/x", "deny", "no-rule"))
	m, _ := fx.model("")
	m = tick(m)
	mustShow(t, m, "demo running", "api.example.com:443", "/v1/models", "evil.example.com:443", "no-rule", "1.5k", t0.Add(2*time.Second).Format("15:04:05"), "following")

	fx.audit("demo", request(3, "three.example.com", "/3", "deny", "no-rule"))
	// Half a line: the sidecar writes whole lines, but a read can land
	// between two writes of a copy.
	half, _ := json.Marshal(request(4, "four.example.com", "/4", "deny", "no-rule"))
	f, _ := os.OpenFile(fx.auditPath("demo"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write(half[:20])
	m = tick(m)
	mustShow(t, m, "three.example.com")
	mustNotShow(t, m, "four.example.com")
	f.Write(append(half[20:], '\n'))
	f.Close()
	m = tick(m)
	mustShow(t, m, "four.example.com")

	// Rotation: the file becomes egress.jsonl.1, and a new one starts.
	os.Rename(fx.auditPath("demo"), fx.auditPath("demo")+".1")
	fx.audit("demo", request(5, "five.example.com", "/5", "deny", "no-rule"))
	m = tick(m)
	mustShow(t, m, "five.example.com")
	// Truncation: the same file starts over.
	os.Truncate(fx.auditPath("demo"), 0)
	fx.audit("demo", request(6, "six.example.com", "/6", "deny", "no-rule"))
	m = tick(m)
	for _, h := range []string{"api", "evil", "three", "four", "five", "six"} {
		if n := len(rowsOf(m, h+".example.com")); n != 1 {
			t.Errorf("%s shows %d times", h, n)
		}
	}
	lines := strings.Split(m.View(), "\n")
	var order []string
	for _, l := range lines {
		for _, h := range []string{"api.", "evil.", "three.", "four.", "five.", "six."} {
			if strings.Contains(l, h+"example.com") {
				order = append(order, h)
			}
		}
	}
	if strings.Join(order, "") != "api.evil.three.four.five.six." {
		t.Errorf("rows in the order %q, want oldest first", order)
	}
	if !strings.HasPrefix(rowsOf(m, "six.example.com")[0], "▸ ") {
		t.Errorf("the newest row is not selected while following:\n%s", m.View())
	}
}

// TestHistoryAcrossRotation: at start, the newest lines are read back
// from the rotated files too, oldest first.
func TestHistoryAcrossRotation(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.audit("demo", request(1, "old.example.com", "/", "deny", "no-rule"))
	os.Rename(fx.auditPath("demo"), fx.auditPath("demo")+".1")
	fx.audit("demo", request(2, "new.example.com", "/", "deny", "no-rule"))
	m, _ := fx.model("demo")
	m = tick(m)
	v := m.View()
	if i, j := strings.Index(v, "old.example.com"), strings.Index(v, "new.example.com"); i < 0 || j < i {
		t.Errorf("want old then new:\n%s", v)
	}
}

// TestScrollStopsFollowing: moving up stops following (new rows do not
// move the selection), G follows again.
func TestScrollStopsFollowing(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.audit("demo", request(1, "a.example.com", "/", "deny", "no-rule"), request(2, "b.example.com", "/", "deny", "no-rule"))
	m, _ := fx.model("")
	m = keys(tick(m), "up")
	mustShow(t, m, "scrolled (G follows)")
	fx.audit("demo", request(3, "c.example.com", "/", "deny", "no-rule"))
	m = tick(m)
	if !strings.HasPrefix(rowsOf(m, "a.example.com")[0], "▸ ") {
		t.Errorf("the selection moved:\n%s", m.View())
	}
	m = keys(m, "G")
	mustShow(t, m, "following")
	if !strings.HasPrefix(rowsOf(m, "c.example.com")[0], "▸ ") {
		t.Errorf("G does not select the newest:\n%s", m.View())
	}
}

// TestPendingDecideOnce: a pending approval is pinned on top with its id,
// target, cause, count, time left; the bell rings once when it arrives
// (not for one there at start); o writes decided/ID.json with verdict
// once and who decided; the status line says so.
func TestPendingDecideOnce(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.pending("demo", heldRequest("0000aaaa", "old.example.com", "/"))
	m, bell := fx.model("")
	m = tick(m)
	if bell.Len() != 0 {
		t.Errorf("the bell rang for an approval there at start")
	}
	q := heldRequest("1234abcd", "api.example.com", "/v2/items")
	q.Created = t0.Add(time.Second)
	fx.pending("demo", q)
	m = tick(m)
	m = tick(m)
	if bell.String() != "\a" {
		t.Errorf("bell %q; want one \\a", bell)
	}
	mustShow(t, m, "PENDING APPROVALS (2)", "1234abcd  demo  41s left  ×2  no-rule  GET api.example.com:443/v2/items", "→ 0000aaaa")
	m = keys(m, "down")
	// Down from the table's... the selection is in the table; tab moves to
	// the approvals, down selects the second.
	m = keys(m, "tab", "down")
	mustShow(t, m, "→ 1234abcd", "▸ 1234abcd")
	m = keys(m, "o")
	d := readDecision(t, fx.approvals("demo"), "1234abcd")
	if d.Verdict != approval.Once || d.By != "bottle watch (tester)" {
		t.Errorf("decision %+v", d)
	}
	mustShow(t, m, "allowed 1234abcd (bottle demo): once", "1234abcd  demo  sent once")
	// Pressed again before the sidecar acted: nothing more is written.
	m = keys(m, "d")
	mustShow(t, m, "1234abcd is decided already (once)")
	if d2 := readDecision(t, fx.approvals("demo"), "1234abcd"); d2.Verdict != approval.Once {
		t.Errorf("decision %+v", d2)
	}
	// The sidecar acts: the request goes, and so does its line.
	os.Remove(filepath.Join(fx.approvals("demo"), approval.PendingDir, "1234abcd.json"))
	m = tick(m)
	mustNotShow(t, m, "1234abcd  demo")
	mustShow(t, m, "PENDING APPROVALS (1)")
}

func readDecision(t *testing.T, dir, id string) approval.Decision {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, approval.DecidedDir, id+".json"))
	if err != nil {
		t.Fatalf("no decision: %v", err)
	}
	var d approval.Decision
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestVerdictKeys: h, a and d send host, always and deny; an expired
// request is not allowed once (too late), but still for next time.
func TestVerdictKeys(t *testing.T) {
	for key, want := range map[string]approval.Verdict{"h": approval.Host, "a": approval.Always, "d": approval.Deny} {
		fx := newFixture(t, "demo")
		fx.pending("demo", heldRequest("1234abcd", "api.example.com", "/"))
		m, _ := fx.model("")
		m = keys(tick(m), key)
		mustShow(t, m, "1234abcd (bottle demo)")
		if d := readDecision(t, fx.approvals("demo"), "1234abcd"); d.Verdict != want {
			t.Errorf("%s: %+v", key, d)
		}
	}
	fx := newFixture(t, "demo")
	q := heldRequest("1234abcd", "api.example.com", "/")
	q.State = approval.StateExpired
	fx.pending("demo", q)
	m, _ := fx.model("")
	m = keys(tick(m), "o")
	mustShow(t, m, "too late to allow 1234abcd once", "expired (h/a allow it for next time)")
	if _, err := os.Stat(filepath.Join(fx.approvals("demo"), approval.DecidedDir, "1234abcd.json")); err == nil {
		t.Error("once was written for an expired request")
	}
	m = keys(m, "h")
	mustShow(t, m, "allowed 1234abcd (bottle demo): this host")
	if d := readDecision(t, fx.approvals("demo"), "1234abcd"); d.Verdict != approval.Host {
		t.Errorf("%+v", d)
	}
	// No pending approval: the key says so.
	fx = newFixture(t, "demo")
	m, _ = fx.model("")
	m = keys(tick(m), "o")
	mustShow(t, m, "no pending approval to decide")
}

// TestDecideFails: the helper's error is the status line.
func TestDecideFails(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.pending("demo", heldRequest("1234abcd", "api.example.com", "/"))
	m, _ := fx.model("")
	m.opt.Decide = func(context.Context, string, string, approval.Verdict, string, string) (string, approval.Request, error) {
		return "", approval.Request{}, approval.ErrNotFound
	}
	m = keys(tick(m), "o")
	mustShow(t, m, "not decided: no such approval", "41s left")
}

// TestMCPReason: a request the agent filed through MCP shows its reason,
// escaped.
func TestMCPReason(t *testing.T) {
	fx := newFixture(t, "demo")
	q := heldRequest("1234abcd", "docs.example.com", "")
	q.Source, q.AgentReason, q.Kind, q.Method = approval.SourceMCP, "need the docs\x1b[2J", "connect", ""
	fx.pending("demo", q)
	m, _ := fx.model("")
	m = tick(m)
	mustShow(t, m, `CONNECT docs.example.com:443`, `agent: "need the docs\x1b[2J"`)
	m = keys(m, "tab", "enter")
	mustShow(t, m, "asked by the agent (MCP request_access)", "bottle approve 1234abcd --always   (writes: bottle allow add docs.example.com --bottle demo)")
	if strings.Contains(m.View(), "\x1b") {
		t.Errorf("an escape reached the screen")
	}
}

// TestFilters: f shows denials only, b cycles the bottles, / searches the
// host and path as typed, esc clears them all.
func TestFilters(t *testing.T) {
	fx := newFixture(t, "alpha", "beta")
	fx.audit("alpha", request(1, "ok.example.com", "/fine", "allow", ""), request(2, "bad.example.com", "/nope", "deny", "no-rule"))
	fx.audit("beta", request(3, "other.example.com", "/special/path", "deny", "no-rule"))
	m, _ := fx.model("")
	m = tick(m)
	mustShow(t, m, "ok.example.com", "bad.example.com", "other.example.com", "alpha running, beta running")

	m = keys(m, "f")
	mustShow(t, m, "filter: denied only", "bad.example.com", "other.example.com")
	mustNotShow(t, m, "ok.example.com")
	m = keys(m, "f", "b")
	mustShow(t, m, "filter: bottle alpha", "ok.example.com", "bad.example.com")
	mustNotShow(t, m, "other.example.com")
	m = keys(m, "b")
	mustShow(t, m, "filter: bottle beta", "other.example.com")
	mustNotShow(t, m, "ok.example.com")
	m = keys(m, "b")
	mustShow(t, m, "all decisions")

	m = keys(m, "/spec") // typed fast: one message
	mustShow(t, m, "/spec", "other.example.com")
	mustNotShow(t, m, "ok.example.com", "bad.example.com")
	m = keys(m, "enter")
	mustShow(t, m, `filter: search "spec"`)
	// esc inside the search puts back the search before it.
	m = keys(m, "/", "x", "esc")
	mustShow(t, m, `filter: search "spec"`, "other.example.com")
	// Searching by host, and nothing found says so.
	m = keys(m, "/", "esc")
	m = keys(m, "f", "/")
	m.input.SetValue("")
	m = keys(m, "n", "o", "n", "e", "enter")
	mustShow(t, m, "none of the 3 decisions matches the filter (esc clears it)")
	m = keys(m, "esc")
	mustShow(t, m, "all decisions", "ok.example.com", "bad.example.com", "other.example.com")
}

// TestDetail: enter shows, for a denial, the rule that decided, the
// reason, and the command that allows it (from the bottle's live
// allowlist, as narrow as its rules); for an allowed row the rule; for an
// approval record who decided.
func TestDetail(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.audit("demo",
		request(1, "api.example.com", "/v1/models", "allow", ""),
		audit.Record{Time: t0.Add(2 * time.Second).Format(time.RFC3339Nano), Kind: audit.KindRequest, Method: "POST", Scheme: "https",
			Host: "api.example.com", Port: 443, Path: "/v2/items", Decision: "deny", Rule: "default", Cause: "method-not-covered",
			Reason: "no rule allows POST on api.example.com", Status: 403},
		request(3, "new.example.com", "/", "deny", "no-rule"),
		audit.Record{Time: t0.Add(4 * time.Second).Format(time.RFC3339Nano), Kind: audit.KindRequest, Method: "POST", Host: "api.example.com",
			Port: 443, Path: "/v1/x", Decision: "deny", Rule: "allow[0]", Cause: "secret-leak", Reason: "the real value of credential api"},
		audit.Record{Time: t0.Add(5 * time.Second).Format(time.RFC3339Nano), Kind: audit.KindApproval, Method: "GET", Host: "new.example.com",
			Port: 443, Path: "/", Decision: "allow", Cause: "no-rule", Approval: &audit.Approval{ID: "1234abcd", Verdict: "once", By: "bottle watch (tester)", Source: "proxy", Count: 1, WaitedMS: 2500}},
	)
	m, _ := fx.model("demo")
	m = keys(tick(m), "enter")
	mustShow(t, m, "── approval · bottle demo", "approval 1234abcd: once by bottle watch (tester), 1 held, waited 2.5s")
	m = keys(m, "up")
	mustShow(t, m, "no rule allows this: a denial of cause secret-leak is refused whatever the allowlist says")
	m = keys(m, "up")
	mustShow(t, m, "rule     default (cause no-rule): no rule allows new.example.com", "allow    bottle allow add new.example.com --bottle demo",
		"audit    "+t0.Add(3*time.Second).Format(time.RFC3339)+" deny")
	m = keys(m, "up")
	mustShow(t, m, "allow    bottle allow add api.example.com --method POST --path /v2/items --bottle demo")
	m = keys(m, "up")
	mustShow(t, m, "rule     allow[0]: allowed")
	mustNotShow(t, m, "allow    bottle")
	m = keys(m, "enter")
	mustNotShow(t, m, "rule     allow[0]")
}

// TestBottleStopsAndGoes: a bottle that stops shows as stopped, one whose
// state directory is removed as removed; their rows stay.
func TestBottleStopsAndGoes(t *testing.T) {
	fx := newFixture(t, "demo", "other")
	fx.audit("demo", request(1, "api.example.com", "/v1", "allow", ""))
	m, _ := fx.model("")
	m = tick(m)
	mustShow(t, m, "demo running, other running")
	fx.bottle("demo", t0.Format(time.RFC3339))
	m = tick(m)
	mustShow(t, m, "demo stopped", "api.example.com")
	os.RemoveAll(filepath.Join(fx.state, "demo"))
	m = tick(m)
	mustShow(t, m, "demo removed, other running", "api.example.com")
	// A bottle launched after watch started shows up.
	fx.bottle("late", "")
	fx.audit("late", request(2, "late.example.com", "/", "deny", "no-rule"))
	m = tick(m)
	mustShow(t, m, "late running", "late.example.com")
}

// TestNarrowAndEscaped: every line fits a narrow terminal (cut, not
// wrapped), and what the agent chose reaches the screen escaped.
func TestNarrowAndEscaped(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.audit("demo", request(1, "evil\x1b]52;c;AAAA\x07.example.com", "/a\u202e/"+strings.Repeat("x", 300), "deny", "no-rule"))
	fx.pending("demo", heldRequest("1234abcd", "api.example.com", "/"+strings.Repeat("y", 300)))
	m, _ := fx.model("")
	m = tick(m)
	for _, w := range []int{30, 60, 100} {
		m = keys(update(m, tea.WindowSizeMsg{Width: w, Height: 12}), "enter")
		v := m.View()
		if strings.ContainsAny(v, "\x1b\x07\u202e") {
			t.Errorf("width %d: a control reached the screen: %q", w, v)
		}
		lines := strings.Split(v, "\n")
		if len(lines) > 12+detailLines {
			t.Errorf("width %d: %d lines", w, len(lines))
		}
		for _, l := range lines {
			if ansi.StringWidth(l) > w {
				t.Errorf("width %d: line of %d cells: %q", w, ansi.StringWidth(l), l)
			}
		}
		m = keys(m, "enter")
	}
}

// TestHelpAndQuit: ? shows every key; q quits.
func TestHelpAndQuit(t *testing.T) {
	fx := newFixture(t, "demo")
	m, _ := fx.model("")
	m = keys(tick(m), "?")
	mustShow(t, m, "KEYS", "allow once", "allow this host", "denied only", "search host/path", "bottle logs NAME --egress --follow")
	next, cmd := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd == nil || cmd() != tea.Quit() {
		t.Error("q does not quit")
	}
	if next.(Model).View() != "" {
		t.Error("the view is not cleared at quit")
	}
}

// TestBottleFilterOnOne: watching one bottle, b says so.
func TestBottleFilterOnOne(t *testing.T) {
	fx := newFixture(t, "demo", "other")
	fx.audit("other", request(1, "other.example.com", "/", "deny", "no-rule"))
	m, _ := fx.model("demo")
	m = keys(tick(m), "b")
	mustShow(t, m, "watching bottle demo only")
	mustNotShow(t, m, "other.example.com")
}

// TestSelectionAcrossPendingAndTable: ↑ from the table's first row
// selects the last pending approval, ↓ from it goes back; the title says
// which approval o/h/a/d decide.
func TestSelectionAcrossPendingAndTable(t *testing.T) {
	fx := newFixture(t, "demo")
	fx.audit("demo", request(1, "a.example.com", "/", "deny", "no-rule"))
	q1, q2 := heldRequest("0000aaaa", "one.example.com", "/"), heldRequest("1111bbbb", "two.example.com", "/")
	q2.Created = t0.Add(time.Second)
	fx.pending("demo", q1)
	fx.pending("demo", q2)
	m, _ := fx.model("")
	m = keys(tick(m), "up")
	mustShow(t, m, "→ 1111bbbb", "▸ 1111bbbb")
	m = keys(m, "up")
	mustShow(t, m, "→ 0000aaaa", "▸ 0000aaaa")
	m = keys(m, "down", "down")
	if !strings.HasPrefix(rowsOf(m, "a.example.com")[0], "▸ ") {
		t.Errorf("down from the last approval does not reach the table:\n%s", m.View())
	}
	mustShow(t, m, "→ 1111bbbb (tab selects another)")
}

// TestMaxRows: only the newest MaxRows decisions are kept.
func TestMaxRows(t *testing.T) {
	fx := newFixture(t, "demo")
	m, _ := fx.model("")
	m.opt.MaxRows = 3
	for i := range 5 {
		fx.audit("demo", request(i, "h"+strconv.Itoa(i)+".example.com", "/", "deny", "no-rule"))
		m = tick(m)
	}
	mustShow(t, m, "h2.example.com", "h3.example.com", "h4.example.com", "3 shown")
	mustNotShow(t, m, "h0.example.com", "h1.example.com")
}
