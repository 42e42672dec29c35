package shared

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// world is a state directory with running bottles, their live allowlists
// and the files they were launched from.
type world struct {
	t     *testing.T
	state string
	l     *launcher.Launcher
}

const livePolicy = "version: 1\n# the team's rules\nallow:\n  - host: api.example.com   # the API\n"

func newWorld(t *testing.T, bottles ...string) *world {
	t.Helper()
	w := &world{t: t, state: filepath.Join(t.TempDir(), "bottle")}
	w.l = &launcher.Launcher{StateDir: w.state}
	for _, name := range bottles {
		src := filepath.Join(t.TempDir(), "allowlist.yaml")
		w.write(src, livePolicy)
		w.write(filepath.Join(w.l.ConfigDir(name), contract.AllowlistFile), livePolicy)
		b, _ := json.Marshal(launcher.Bottle{Name: name, State: launcher.StateReady, StateDir: w.l.Dir(name), AllowlistSource: src})
		w.write(filepath.Join(w.l.Dir(name), contract.MetadataFile), string(b))
		os.MkdirAll(filepath.Join(w.l.ApprovalsDir(name), approval.PendingDir), 0o700)
		os.MkdirAll(w.l.LogDir(name), 0o700)
	}
	return w
}

func (w *world) write(path, data string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// hold writes a pending request of bottle, as its sidecar would.
func (w *world) hold(bottle string, q approval.Request) approval.Request {
	w.t.Helper()
	if q.ID == "" {
		q.ID = approval.NewID()
	}
	if q.Created.IsZero() {
		q.Created = time.Now().UTC()
	}
	if q.Expires.IsZero() {
		q.Expires = q.Created.Add(time.Minute)
	}
	if q.State == "" {
		q.State = approval.StatePending
	}
	q.Bottle, q.Source, q.Kind, q.Count = bottle, approval.SourceProxy, "request", 1
	if q.Host == "" {
		q.Host, q.Port, q.Method, q.Path, q.Scheme, q.Cause = "blocked.example.com", 443, "GET", "/x", "https", "no-rule"
	}
	q.Always = []allowlist.RuleSpec{{Host: q.Host, Ports: []uint16{q.Port}}}
	q.HostRule = q.Always[0]
	b, _ := json.Marshal(q)
	w.write(filepath.Join(w.l.ApprovalsDir(bottle), approval.PendingDir, q.ID+".json"), string(b))
	return q
}

// decision reads the decision written for id of bottle.
func (w *world) decision(bottle, id string) (approval.Decision, bool) {
	var d approval.Decision
	b, err := os.ReadFile(filepath.Join(w.l.ApprovalsDir(bottle), approval.DecidedDir, id+".json"))
	if err != nil {
		return d, false
	}
	if err := json.Unmarshal(b, &d); err != nil {
		w.t.Fatal(err)
	}
	return d, true
}

// sidecar plays bottle's sidecar for one reload: it confirms the live
// allowlist once it differs from the one it started with, and reports
// whether a decision had been written before the rule was.
func (w *world) sidecar(ctx context.Context, bottle, id string) <-chan bool {
	early := make(chan bool, 1)
	policy := filepath.Join(w.l.ConfigDir(bottle), contract.AllowlistFile)
	go func() {
		defer close(early)
		for ctx.Err() == nil {
			data, _ := os.ReadFile(policy)
			if string(data) != livePolicy {
				_, decided := w.decision(bottle, id)
				h := contract.Hash(data)
				contract.WriteStatus(filepath.Join(w.l.LogDir(bottle), contract.StatusFile), contract.ReloadStatus{Time: time.Now(), Tried: h, Applied: h, OK: true})
				early <- decided
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return early
}

// TestPending lists one bottle's held requests or every bottle's, oldest
// first, and refuses a name that is not a bottle.
func TestPending(t *testing.T) {
	w := newWorld(t, "a", "b", "quiet")
	now := time.Now().UTC()
	w.hold("b", approval.Request{ID: "00000002", Created: now.Add(-time.Second)})
	w.hold("a", approval.Request{ID: "00000001", Created: now.Add(-2 * time.Second)})
	w.hold("a", approval.Request{ID: "00000003", Created: now})
	all, err := Pending(w.state, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range all {
		got = append(got, p.Bottle+":"+p.ID)
	}
	if strings.Join(got, " ") != "a:00000001 b:00000002 a:00000003" {
		t.Errorf("Pending(all) = %v", got)
	}
	if one, err := Pending(w.state, "b"); err != nil || len(one) != 1 || one[0].ID != "00000002" {
		t.Errorf("Pending(b) = %+v, %v", one, err)
	}
	if none, err := Pending(w.state, "quiet"); err != nil || len(none) != 0 {
		t.Errorf("Pending(quiet) = %+v, %v", none, err)
	}
	if _, err := Pending(w.state, "nope"); !errors.Is(err, launcher.ErrNoBottle) {
		t.Errorf("Pending(nope) = %v", err)
	}
	if none, err := Pending(filepath.Join(t.TempDir(), "none"), ""); err != nil || len(none) != 0 {
		t.Errorf("no state directory: %+v, %v", none, err)
	}
}

// TestDecide: once, host and deny write the decision of the bottle that
// holds the request, with who decided and the note; the allowlist is not
// touched.
func TestDecide(t *testing.T) {
	for _, v := range []approval.Verdict{approval.Once, approval.Host, approval.Deny} {
		t.Run(string(v), func(t *testing.T) {
			w := newWorld(t, "a", "b")
			q := w.hold("b", approval.Request{})
			bottle, got, err := Decide(context.Background(), w.state, q.ID, v, "bottle approve (ada)", "for the docs")
			if err != nil || bottle != "b" || got.ID != q.ID || got.Host != q.Host {
				t.Fatalf("Decide = %q %+v %v", bottle, got, err)
			}
			d, ok := w.decision("b", q.ID)
			if !ok || d.Verdict != v || d.By != "bottle approve (ada)" || d.Note != "for the docs" || d.Time.IsZero() {
				t.Errorf("decision %+v %v", d, ok)
			}
			if live, _ := os.ReadFile(filepath.Join(w.l.ConfigDir("b"), contract.AllowlistFile)); string(live) != livePolicy {
				t.Errorf("the live allowlist changed:\n%s", live)
			}
		})
	}
}

// TestDecideAlways: the request's rule goes into the live allowlist and
// the file the bottle was launched from, comments kept, and the sidecar
// has applied it before the decision is written.
func TestDecideAlways(t *testing.T) {
	w := newWorld(t, "demo")
	q := w.hold("demo", approval.Request{Host: "blocked.example.com", Port: 443, Method: "POST", Path: "/v1/x", Scheme: "https", Cause: "no-rule"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	early := w.sidecar(ctx, "demo", q.ID)
	ios, out, _ := cmdutil.Test("")
	bottle, _, err := Decider{StateDir: w.state, IO: ios, Wait: 5 * time.Second}.Decide(ctx, q.ID, approval.Always, "bottle approve (ada)", "")
	if err != nil || bottle != "demo" {
		t.Fatalf("Decide = %q, %v", bottle, err)
	}
	if decidedFirst := <-early; decidedFirst {
		t.Error("the decision was written before the rule")
	}
	live, _ := os.ReadFile(filepath.Join(w.l.ConfigDir("demo"), contract.AllowlistFile))
	b, _ := w.l.Load("demo")
	launched, _ := os.ReadFile(b.AllowlistSource)
	for name, data := range map[string]string{"live": string(live), "launch file": string(launched)} {
		if !strings.Contains(data, "# the team's rules\n") || !strings.Contains(data, "api.example.com   # the API") || !strings.Contains(data, "host: blocked.example.com") {
			t.Errorf("%s allowlist:\n%s", name, data)
		}
	}
	if !strings.Contains(out.String(), "added allow[1]: blocked.example.com ports 443 to the live allowlist of demo") {
		t.Errorf("what the editor said: %q", out)
	}
	if d, ok := w.decision("demo", q.ID); !ok || d.Verdict != approval.Always {
		t.Errorf("decision %+v %v", d, ok)
	}
}

// TestDecideRefusals: a bad id, an unknown one, --once too late (while
// --host still allows it next time), and an always whose rule cannot be
// written, which decides nothing.
func TestDecideRefusals(t *testing.T) {
	w := newWorld(t, "demo")
	ctx := context.Background()
	if _, _, err := Decide(ctx, w.state, "../x", approval.Once, "t", ""); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "not an approval id") {
		t.Errorf("bad id: %v", err)
	}
	if _, _, err := Decide(ctx, w.state, "0badc0de", approval.Once, "t", ""); !errors.Is(err, approval.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, _, err := Decide(ctx, w.state, approval.NewID(), "maybe", "t", ""); err == nil {
		t.Error("a verdict that is none")
	}
	past := time.Now().Add(-2 * time.Minute).UTC()
	q := w.hold("demo", approval.Request{State: approval.StateExpired, Created: past, Expires: past.Add(time.Minute)})
	_, _, err := Decide(ctx, w.state, q.ID, approval.Once, "t", "")
	if !errors.Is(err, ErrTooLate) || !strings.Contains(err.Error(), "too late: the request timed out at "+q.Expires.Local().Format("15:04:05")) || !strings.Contains(err.Error(), "--host or --always") {
		t.Errorf("once, expired: %v", err)
	}
	if _, ok := w.decision("demo", q.ID); ok {
		t.Error("a too-late once was written")
	}
	if _, _, err := Decide(ctx, w.state, q.ID, approval.Host, "t", ""); err != nil {
		t.Errorf("host, expired: %v", err)
	}
	bad := w.hold("demo", approval.Request{Host: "*.github.io", Port: 443, Method: "GET", Scheme: "https", Cause: "no-rule"})
	if _, _, err := Decide(ctx, w.state, bad.ID, approval.Always, "t", ""); err == nil || !strings.Contains(err.Error(), "nothing was decided") {
		t.Errorf("always with a rule the editor refuses: %v", err)
	}
	if _, ok := w.decision("demo", bad.ID); ok {
		t.Error("a decision was written for a rule that was not")
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		q    approval.Request
		want string
	}{
		{approval.Request{Kind: "request", Scheme: "https", Host: "a.example.com", Port: 443, Method: "GET", Path: "/v1"}, "GET https://a.example.com/v1"},
		{approval.Request{Kind: "request", Scheme: "http", Host: "a.example.com", Port: 8080, Method: "POST", Path: "/"}, "POST http://a.example.com:8080/"},
		{approval.Request{Kind: "connect", Host: "10.0.0.7", Port: 5432}, "CONNECT 10.0.0.7:5432"},
		{approval.Request{Kind: "request", Scheme: "https", Host: "a.example.com\x1b[2J", Port: 443, Method: "GET", Path: "/"}, `GET https://a.example.com\x1b[2J/`},
	} {
		if got := Describe(tc.q); got != tc.want {
			t.Errorf("Describe(%+v) = %q; want %q", tc.q, got, tc.want)
		}
	}
	if by := By("bottle approve"); !strings.HasPrefix(by, "bottle approve (") || !strings.HasSuffix(by, ")") {
		t.Errorf("By = %q", by)
	}
}
