package launcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
)

// killed is the panic that plays a kill -9 of the launch: the launch
// stops where it is, tears nothing down, and its lock goes (the kernel
// drops it with the process; here the launch's deferred release does).
type killed struct{}

// launchKilledAt launches s and "kills" the launch at the engine call
// named at, leaving what it made.
func launchKilledAt(t *testing.T, l *launcher.Launcher, f *fakebackend.Backend, s launcher.Spec, at string) {
	t.Helper()
	f.OnCall = func(_ context.Context, call string) {
		if call == at {
			panic(killed{})
		}
	}
	func() {
		defer func() {
			if r := recover(); r != (killed{}) {
				t.Fatalf("the launch was not killed at %s: %v", at, r)
			}
		}()
		l.Launch(context.Background(), s)
	}()
	f.OnCall = nil
}

func summary(t *testing.T, l *launcher.Launcher, name string) launcher.Summary {
	t.Helper()
	sums, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sums {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s is not listed: %+v", name, sums)
	return launcher.Summary{}
}

// TestMetadataFromTheFirstStep: while a launch runs, its metadata says
// which step it is at, and that it is being launched (its lock is held);
// a command cannot be run in it yet, nor can it be stopped or removed.
func TestMetadataFromTheFirstStep(t *testing.T) {
	l, f, s := setup(t)
	seen := map[string]string{}
	f.OnCall = func(_ context.Context, call string) {
		step := map[string]string{"NetworkCreate bottle-demo-internal": "networks", "Run bottle-demo-sidecar": "sidecar", "Run bottle-demo-probe": "self-test", "CopyIn /usr/local/share/ca-certificates/bottle-ca.crt": "provision"}[call]
		if step == "" {
			return
		}
		b, err := l.Load("demo")
		if err != nil {
			t.Errorf("%s: no metadata: %v", call, err)
			return
		}
		seen[step] = string(b.State) + " " + b.Step
		if got := summary(t, l, "demo"); got.Status != launcher.StatusLaunching || got.Step != step {
			t.Errorf("%s: listed as %+v", call, got)
		}
		if err := l.CheckUsable(b); err == nil || !strings.Contains(err.Error(), "still being launched") {
			t.Errorf("%s: usable: %v", call, err)
		}
		if step == "provision" {
			if _, err := l.Stop(context.Background(), "demo"); err == nil || !strings.Contains(err.Error(), "being launched") {
				t.Errorf("stop during the launch: %v", err)
			}
			if _, err := l.Remove(context.Background(), "demo", true); err == nil || !strings.Contains(err.Error(), "being launched") {
				t.Errorf("rm --force during the launch: %v", err)
			}
		}
	}
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	f.OnCall = nil
	for _, step := range []string{"networks", "sidecar", "self-test", "provision"} {
		if seen[step] != "launching "+step {
			t.Errorf("at %s the metadata said %q", step, seen[step])
		}
	}
	if b.State != launcher.StateReady || b.Step != "" || summary(t, l, "demo").Status != launcher.StatusRunning || l.CheckUsable(b) != nil {
		t.Errorf("after the launch: %+v", b)
	}
}

// TestKilledLaunch: a launch killed at the self-test leaves a bottle that
// lists as incomplete at that step, that commands refuse saying so, and
// that cleanup removes (all of it, on the engine) and records as
// interrupted; it can be launched again.
func TestKilledLaunch(t *testing.T) {
	l, f, s := setup(t)
	launchKilledAt(t, l, f, s, "Run bottle-demo-probe")
	if f.State() == "" {
		t.Fatal("the killed launch left nothing to clean up")
	}
	got := summary(t, l, "demo")
	if got.Status != launcher.StatusIncomplete || got.Step != "self-test" || got.StatusText() != "incomplete (at self-test)" || !got.Active() {
		t.Errorf("listed as %+v", got)
	}
	b, err := l.Load("demo")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckUsable(b); err == nil || !strings.Contains(err.Error(), "bottle demo is incomplete: its launch stopped at step self-test") || !strings.Contains(err.Error(), "bottle cleanup") {
		t.Errorf("usable: %v", err)
	}
	if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("a launch over it: %v", err)
	}
	var out strings.Builder
	if done, err := l.Cleanup(context.Background(), false, &out); err != nil || len(done) != 1 || !strings.Contains(out.String(), "removing: demo (containers [bottle-demo-agent bottle-demo-sidecar], networks [bottle-demo-egress bottle-demo-internal])") {
		t.Fatalf("cleanup: %v\n%s", err, out.String())
	}
	if st := f.State(); st != "" {
		t.Errorf("left after cleanup:\n%s", st)
	}
	if got := summary(t, l, "demo"); got.Status != launcher.StatusInterrupted || got.Step != "self-test" || got.Active() {
		t.Errorf("after cleanup: %+v", got)
	}
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Errorf("relaunch: %v", err)
	}
}

// TestKilledBeforeAnythingWasMade: a launch killed while it built its
// images made nothing on the engine, and still lists as incomplete (its
// metadata says so); cleanup marks it interrupted.
func TestKilledBeforeAnythingWasMade(t *testing.T) {
	l, f, s := setup(t)
	launchKilledAt(t, l, f, s, "NetworkCreate bottle-demo-internal")
	if got := summary(t, l, "demo"); got.Status != launcher.StatusIncomplete || got.Step != "networks" || len(got.Containers)+len(got.Networks) != 0 {
		t.Errorf("listed as %+v", got)
	}
	var out strings.Builder
	if _, err := l.Cleanup(context.Background(), false, &out); err != nil || !strings.Contains(out.String(), "removing: demo (containers [], networks [])") {
		t.Errorf("cleanup: %v %s", err, out.String())
	}
	if got := summary(t, l, "demo"); got.Status != launcher.StatusInterrupted {
		t.Errorf("after cleanup: %+v", got)
	}
}

// TestInterruptedLaunch: a launch whose context is cancelled (Ctrl-C) at
// the self-test tears down and says what it removed, as an error that is
// context.Canceled; its metadata says interrupted at that step. One
// cancelled before it made anything removed nothing.
func TestInterruptedLaunch(t *testing.T) {
	l, f, s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.OnProbe = func([]string) { cancel() }
	_, err := l.Launch(ctx, s)
	var ie *launcher.InterruptedError
	if !errors.As(err, &ie) || !errors.Is(err, context.Canceled) || err.Error() != "interrupted; removed 2 containers and 2 networks" || ie.Step != "self-test" {
		t.Fatalf("err = %v", err)
	}
	if st := f.State(); st != "" {
		t.Errorf("left behind:\n%s", st)
	}
	if got := summary(t, l, "demo"); got.Status != launcher.StatusInterrupted || got.StatusText() != "interrupted (at self-test)" {
		t.Errorf("listed as %+v", got)
	}
	// The agent's and the sidecar's logs were saved on the way out.
	if log, _ := os.ReadFile(filepath.Join(l.LogDir("demo"), "sidecar.log")); string(log) != "log of bottle-demo-sidecar\n" {
		t.Errorf("sidecar log %q", log)
	}

	l, f, s = setup(t)
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	f.OnCall = func(_ context.Context, call string) {
		if strings.HasPrefix(call, "Build ") {
			cancel()
		}
	}
	_, err = l.Launch(ctx, s)
	if err == nil || err.Error() != "interrupted; removed 0 containers and 0 networks" {
		t.Errorf("interrupted in the build: %v", err)
	}
}

// TestStepErrors: a step that fails on an engine command says so in one
// line, naming the step and the command's verb and last words, and hints
// at -v; with Verbose it gives the whole command. The metadata records
// the failure.
func TestStepErrors(t *testing.T) {
	l, f, s := setup(t)
	f.FailAt = "Run bottle-demo-agent"
	_, err := l.Launch(context.Background(), s)
	var se *launcher.StepError
	if !errors.As(err, &se) || se.Step != "agent" || se.N != 6 {
		t.Fatalf("err = %v", err)
	}
	want := "launch failed at step 6/9 (agent): fake Run bottle-demo-agent failed (exit 1): injected failure (-v shows the whole command and its output)"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	got := summary(t, l, "demo")
	if got.Status != launcher.StatusFailed || got.Step != "agent" || got.Error != "fake Run bottle-demo-agent failed (exit 1): injected failure" || got.Active() {
		t.Errorf("listed as %+v", got)
	}
	l.Verbose = true
	_, err = l.Launch(context.Background(), s)
	if want := "launch failed at step 6/9 (agent): `fake 'Run bottle-demo-agent'` failed (exit 1): injected failure"; err == nil || err.Error() != want {
		t.Errorf("verbose: got  %v\nwant %s", err, want)
	}
}

// TestRefusedLaunch: a bottle the self-test refuses lists as "failed
// self-test", with what leaked, and keeps its logs.
func TestRefusedLaunch(t *testing.T) {
	l, f, s := setup(t)
	f.Probe = func(argv []string) int {
		if argv[0] == "tcp" && strings.HasPrefix(argv[1], "10.2.0.2:") {
			return 0
		}
		return fakebackend.GoodProbes(argv)
	}
	if _, err := l.Launch(context.Background(), s); err == nil || !strings.HasPrefix(err.Error(), "self-test: the bottle leaks") {
		t.Fatalf("err = %v", err)
	}
	got := summary(t, l, "demo")
	if got.Status != launcher.StatusRefused || got.StatusText() != "failed self-test" || !strings.Contains(got.Error, "the agent reached the sidecar's egress address") {
		t.Errorf("listed as %+v", got)
	}
	b, _ := l.Load("demo")
	if err := l.CheckUsable(b); err == nil || !strings.Contains(err.Error(), "failed its self-test") {
		t.Errorf("usable: %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.LogDir("demo"), "sidecar.log")); err != nil {
		t.Errorf("no sidecar log: %v", err)
	}
}

// TestListAll: every state directory is listed with its status, and what
// the engine holds without metadata; only running, launching and
// incomplete ones are active (bottle list without --all).
func TestListAll(t *testing.T) {
	l, f, s := setup(t)
	for _, n := range []string{"up", "down"} {
		s.Name = n
		if _, err := l.Launch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	l.Stop(context.Background(), "down")
	f.FailAt, s.Name = "Run bottle-bad-sidecar", "bad"
	l.Launch(context.Background(), s)
	f.FailAt = ""
	// A half-made bottle with no metadata; a state directory with none
	// (an older bottle's failed launch); what is not a bottle's.
	f.AddNetwork(launcher.NetworkSpec{Name: "bottle-half-internal", Internal: true, Labels: labels(l, "half", "internal")})
	os.MkdirAll(filepath.Join(l.StateDir, "old", "config"), 0o700)
	os.MkdirAll(filepath.Join(l.StateDir, ".build"), 0o700)
	os.WriteFile(filepath.Join(l.StateDir, "trusted-projects"), nil, 0o600)
	sums, err := l.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sums {
		line := s.Name + " " + s.StatusText()
		if s.Active() {
			line += " active"
		}
		got = append(got, line)
	}
	want := []string{"bad failed (at sidecar)", "down stopped", "half incomplete active", "old failed", "up running active"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// A bottle whose container went away is incomplete.
	b, _ := l.Load("up")
	f.Remove(context.Background(), b.Agent)
	if got := summary(t, l, "up"); got.Status != launcher.StatusIncomplete {
		t.Errorf("agent gone: %+v", got)
	}
}

// TestListOtherBackends: a bottle is looked up on the backend it was
// launched on; one whose backend does not answer is unknown, and cleanup
// and prune leave it alone.
func TestListOtherBackends(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	other := fakebackend.New(t)
	here := &launcher.Launcher{Backend: renamed{other, "other"}, StateDir: l.StateDir}
	if got := summary(t, here, "demo"); got.Status != launcher.StatusUnknown || !strings.Contains(got.Error, "backend fake") {
		t.Errorf("without the backend: %+v", got)
	}
	var out strings.Builder
	if _, err := here.Cleanup(context.Background(), false, &out); err != nil || !strings.Contains(out.String(), "skipped: demo") || f.State() != running {
		t.Errorf("cleanup: %v %s", err, out.String())
	}
	out.Reset()
	if err := here.Prune(context.Background(), 0, false, &out); err != nil || out.String() != "nothing to prune\n" {
		t.Errorf("prune: %v %s", err, out.String())
	}
	here.BackendNamed = func(_ context.Context, name string) (launcher.Backend, error) {
		if name != "fake" {
			t.Errorf("asked for backend %q", name)
		}
		return f, nil
	}
	if got := summary(t, here, "demo"); got.Status != launcher.StatusRunning || got.Backend != "fake" || len(got.Containers) != 2 {
		t.Errorf("with the backend: %+v", got)
	}
	if _, err := here.Remove(context.Background(), "demo", true); err != nil || f.State() != "" {
		t.Errorf("rm --force on its own backend: %v\n%s", err, f.State())
	}
}

// renamed is a backend under another name.
type renamed struct {
	launcher.Backend
	name string
}

func (r renamed) Name() string { return r.name }

// TestRemove: rm refuses a running bottle (saying how to stop it) and one
// the engine holds part of, unless forced, which stops it first; it
// removes a stopped one's state directory, and knows no name it has not.
func TestRemove(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Remove(context.Background(), "demo", false); err == nil || !strings.Contains(err.Error(), "bottle demo is running; stop it first (bottle stop demo)") {
		t.Errorf("rm of a running bottle: %v", err)
	}
	if _, err := os.Stat(l.Dir("demo")); err != nil || f.State() != running {
		t.Fatalf("the refused rm changed something: %v\n%s", err, f.State())
	}
	if got, err := l.Remove(context.Background(), "demo", true); err != nil || got.Status != launcher.StatusRunning {
		t.Fatalf("rm --force: %+v %v", got, err)
	}
	if _, err := os.Stat(l.Dir("demo")); !os.IsNotExist(err) || f.State() != "" {
		t.Errorf("after rm --force: %v\n%s", err, f.State())
	}
	if _, err := l.Remove(context.Background(), "demo", false); !errors.Is(err, launcher.ErrNoBottle) {
		t.Errorf("rm of a removed bottle: %v", err)
	}
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	l.Stop(context.Background(), "demo")
	if _, err := l.Remove(context.Background(), "demo", false); err != nil {
		t.Errorf("rm of a stopped bottle: %v", err)
	}
	if _, err := os.Stat(l.Dir("demo")); !os.IsNotExist(err) {
		t.Errorf("the state dir is still there: %v", err)
	}
	launchKilledAt(t, l, f, s, "Run bottle-demo-agent")
	if _, err := l.Remove(context.Background(), "demo", false); err == nil || !strings.Contains(err.Error(), "incomplete (at agent) and the engine still holds some of it") {
		t.Errorf("rm of an incomplete bottle: %v", err)
	}
	if _, err := l.Remove(context.Background(), "../x", false); err == nil || errors.Is(err, launcher.ErrNoBottle) {
		t.Errorf("rm of a bad name: %v", err)
	}
}

// setStopped moves bottle name's stop time back by age.
func setStopped(t *testing.T, l *launcher.Launcher, name string, age time.Duration) {
	t.Helper()
	p := filepath.Join(l.Dir(name), contract.MetadataFile)
	data, _ := os.ReadFile(p)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["stopped"], m["created"] = time.Now().Add(-age).UTC(), time.Now().Add(-age-time.Hour).UTC()
	data, _ = json.Marshal(m)
	os.WriteFile(p, data, 0o600)
}

// TestPrune: prune removes the state directories of bottles that do not
// run — stopped, failed, incomplete (after removing what the engine holds
// of them) — older than asked; never a running one; --dry-run removes
// nothing.
func TestPrune(t *testing.T) {
	l, f, s := setup(t)
	for _, n := range []string{"up", "old", "new"} {
		s.Name = n
		if _, err := l.Launch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	l.Stop(context.Background(), "old")
	l.Stop(context.Background(), "new")
	setStopped(t, l, "old", 10*24*time.Hour)
	s.Name = "half"
	launchKilledAt(t, l, f, s, "Run bottle-half-agent")
	setStopped(t, l, "half", 8*24*time.Hour) // launched eight days ago

	var out strings.Builder
	if err := l.Prune(context.Background(), 7*24*time.Hour, true, &out); err != nil {
		t.Fatal(err)
	}
	if want := "would remove half (incomplete (at agent), 8 days ago)\nwould remove old (stopped, 10 days ago)\n"; out.String() != want {
		t.Errorf("dry run:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, n := range []string{"up", "old", "new", "half"} {
		if _, err := os.Stat(l.Dir(n)); err != nil {
			t.Errorf("the dry run removed %s: %v", n, err)
		}
	}
	out.Reset()
	if err := l.Prune(context.Background(), 7*24*time.Hour, false, &out); err != nil {
		t.Fatal(err)
	}
	if want := "removed half (incomplete (at agent), 8 days ago)\nremoved old (stopped, 10 days ago)\n"; out.String() != want {
		t.Errorf("prune:\n%s\nwant:\n%s", out.String(), want)
	}
	if st := f.State(); strings.Contains(st, "half") {
		t.Errorf("half's resources are left:\n%s", st)
	}
	out.Reset()
	if err := l.Prune(context.Background(), 0, false, &out); err != nil || out.String() != "removed new (stopped, just now)\n" {
		t.Errorf("prune of the rest: %v %q", err, out.String())
	}
	if _, err := os.Stat(l.Dir("up")); err != nil || f.State() != strings.ReplaceAll(running, "demo", "up") {
		t.Errorf("the running bottle was touched: %v\n%s", err, f.State())
	}
	out.Reset()
	if err := l.Prune(context.Background(), 0, false, &out); err != nil || out.String() != "nothing to prune\n" {
		t.Errorf("again: %v %q", err, out.String())
	}
}

func TestParseAge(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := launcher.ParseAge(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "7", "d", "-1d", "0d", "1.5d", "soon", "-3h"} {
		if _, err := launcher.ParseAge(bad); err == nil || !strings.Contains(err.Error(), "write e.g. 7d") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
