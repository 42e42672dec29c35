package launcher_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/syncbuf"
	"bottle.dev/bottle/launcher"
)

// TestLaunchProgress: the launch prints one numbered line per step, in
// order, each once it is done, with the policy's notes under the state's.
func TestLaunchProgress(t *testing.T) {
	l, _, s := setup(t)
	var out syncbuf.Buffer
	l.Progress = &out
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "[") {
			steps = append(steps, line)
		}
	}
	want := []string{
		`^\[1/9\] backend: fake$`,
		`^\[2/9\] state: .*/state/demo \(CA sha256 [0-9A-F:]{23}…\)$`,
		`^\[3/9\] images: sidecar bottle-sidecar:[0-9a-f]{16}, agent agent:latest$`,
		`^\[4/9\] networks: bottle-demo-internal 10\.1\.0\.0/24 \(internal\), bottle-demo-egress 10\.2\.0\.0/24 \(egress\)$`,
		`^\[5/9\] sidecar bottle-demo-sidecar: internal 10\.1\.0\.2, egress 10\.2\.0\.2$`,
		`^\[6/9\] agent bottle-demo-agent on bottle-demo-internal only \(NET_ADMIN and NET_RAW dropped\)$`,
		`^\[7/9\] self-test passed: `,
		`^\[8/9\] provisioned: bottle CA trusted, workspace in /workspace as user agent$`,
		`^\[9/9\] ready$`,
	}
	if len(steps) != len(want) {
		t.Fatalf("progress:\n%s", out.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(steps[i]) {
			t.Errorf("line %d: %q does not match %s", i+1, steps[i], re)
		}
	}
	if !regexp.MustCompile(`(?m)^\[2/9\] state: .*\n      policy .*allowlist\.yaml: 1 allow and 0 deny rules, mode enforce\n`).MatchString(out.String()) {
		t.Errorf("the policy note is not under the state line:\n%s", out.String())
	}
}

// TestLaunchFailsAtEveryCall: whichever call to the engine fails, the
// launch fails and leaves the engine as it found it; a failure before the
// first network exists removes nothing at all. The calls are those of a
// good launch, so a new step is covered as soon as it calls the engine.
func TestLaunchFailsAtEveryCall(t *testing.T) {
	l, f, s := setup(t)
	s.Workspace = t.TempDir()
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, c := range f.Calls() {
		// The probes' argv carry a random name or port: the self-test's
		// own tests fail them.
		if !strings.Contains(c, " probe --timeout ") && !slices.Contains(calls, c) {
			calls = append(calls, c)
		}
	}
	if len(calls) < 15 {
		t.Fatalf("only %d calls in a launch: %q", len(calls), calls)
	}
	for _, call := range calls {
		name, _, _ := strings.Cut(call, "\n") // the provisioning script's first line
		t.Run(name, func(t *testing.T) {
			l, f, s := setup(t)
			s.Workspace = t.TempDir()
			f.FailAt = call
			_, err := l.Launch(context.Background(), s)
			if call == "Remove bottle-demo-probe" {
				// The self-test's probe container could not be removed:
				// the bottle is sound, and it goes with the bottle.
				if err != nil {
					t.Fatal(err)
				}
				f.FailAt = ""
				if _, err := l.Stop(context.Background(), "demo"); err != nil || f.State() != "" {
					t.Errorf("stop: %v\n%s", err, f.State())
				}
				return
			}
			if err == nil {
				t.Fatal("the launch succeeded")
			}
			if got := f.State(); got != "" {
				t.Errorf("left behind:\n%s", got)
			}
			if made := slices.Contains(f.Calls(), "NetworkCreate bottle-demo-internal") && call != "NetworkCreate bottle-demo-internal"; !made {
				lists := 0
				for _, c := range f.Calls() {
					if c == "List" {
						lists++
					}
					if strings.HasPrefix(c, "Remove ") || strings.HasPrefix(c, "NetworkRemove ") || lists > 1 {
						t.Errorf("nothing was made, yet the launch called %s after failing: %q", c, f.Calls())
						break
					}
				}
			}
		})
	}
}

// TestLaunchLeavesStrangersAlone: a network of the bottle's name that this
// launch did not create is refused, not adopted, and not removed; when it
// is the internal one, nothing at all is removed.
func TestLaunchLeavesStrangersAlone(t *testing.T) {
	for _, role := range []string{"internal", "egress"} {
		t.Run(role, func(t *testing.T) {
			l, f, s := setup(t)
			name := "bottle-demo-" + role
			f.AddNetwork(launcher.NetworkSpec{Name: name})
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), "does not adopt") {
				t.Fatalf("err = %v", err)
			}
			if got := f.State(); got != "network "+name+" -" {
				t.Errorf("engine:\n%s", got)
			}
			removed := 0
			for _, c := range f.Calls() {
				if strings.HasPrefix(c, "NetworkRemove ") || strings.HasPrefix(c, "Remove ") {
					removed++
				}
			}
			if want := map[string]int{"internal": 0, "egress": 1}[role]; removed != want {
				t.Errorf("%d removals, want %d: %q", removed, want, f.Calls())
			}
		})
	}
}

// deadlines records, for every call, whether its context was live and how
// long it had left.
type deadlines struct {
	mu   sync.Mutex
	seen map[string]time.Duration // call → time left; -1: no deadline
	dead []string                 // calls made on a context already done
}

func (d *deadlines) observe(ctx context.Context, call string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]time.Duration{}
	}
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	d.seen[call] = left
	if ctx.Err() != nil {
		d.dead = append(d.dead, call)
	}
}

// TestTeardownOutlivesCtrlC: a launch interrupted half way (Ctrl-C
// cancels its context during the self-test) still tears everything down,
// under a context of its own with its own deadline.
func TestTeardownOutlivesCtrlC(t *testing.T) {
	l, f, s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var d deadlines
	f.OnProbe = func([]string) { cancel() }
	f.OnCall = d.observe
	if _, err := l.Launch(ctx, s); err == nil {
		t.Fatal("an interrupted launch succeeded")
	}
	if got := f.State(); got != "" {
		t.Errorf("left behind:\n%s", got)
	}
	for _, c := range []string{"Remove bottle-demo-agent", "Remove bottle-demo-sidecar", "NetworkRemove bottle-demo-internal", "NetworkRemove bottle-demo-egress"} {
		if left, ok := d.seen[c]; !ok || left <= 0 || left > time.Minute {
			t.Errorf("%s: seen %v with %v left; want a deadline of its own, at most a minute", c, ok, left)
		}
	}
}

// TestStopOutlivesCtrlC: a stop whose context is already cancelled still
// saves the logs and removes everything, under its own deadline.
func TestStopOutlivesCtrlC(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	var d deadlines
	f.OnCall = d.observe
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if stopped, err := l.Stop(ctx, "demo"); err != nil || !stopped {
		t.Fatalf("stop: %v %v", stopped, err)
	}
	if got := f.State(); got != "" {
		t.Errorf("left behind:\n%s", got)
	}
	if len(d.dead) > 0 {
		t.Errorf("calls on a cancelled context: %q", d.dead)
	}
	if left := d.seen["Remove bottle-demo-agent"]; left <= 0 || left > time.Minute {
		t.Errorf("the stop's removal had %v left; want its own deadline, at most a minute", left)
	}
	if log, _ := os.ReadFile(filepath.Join(l.LogDir("demo"), "agent.log")); string(log) != "log of bottle-demo-agent\n" {
		t.Errorf("agent log %q", log)
	}
}

// TestStopKeepsMetadata: a stop that cannot list the bottle's resources,
// or cannot remove them, leaves the bottle's metadata as it was (not
// marked stopped) and says so; once the engine answers, the stop goes
// through.
func TestStopKeepsMetadata(t *testing.T) {
	for _, call := range []string{"List", "Remove bottle-demo-agent"} {
		t.Run(call, func(t *testing.T) {
			l, f, s := setup(t)
			if _, err := l.Launch(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			meta := filepath.Join(l.Dir("demo"), contract.MetadataFile)
			before, _ := os.ReadFile(meta)
			f.FailAt = call
			stopped, err := l.Stop(context.Background(), "demo")
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("stop: %v %v", stopped, err)
			}
			if call == "List" && (stopped || !strings.Contains(err.Error(), "nothing was removed") || f.State() != running) {
				t.Errorf("a stop that could not list: stopped=%v %v\n%s", stopped, err, f.State())
			}
			if after, _ := os.ReadFile(meta); !bytes.Equal(after, before) {
				t.Errorf("the metadata changed:\n%s\nwas:\n%s", after, before)
			}
			if b, err := l.Load("demo"); err != nil || !b.Stopped.IsZero() {
				t.Errorf("after a failed stop: %+v %v", b, err)
			}
			f.FailAt = ""
			if _, err := l.Stop(context.Background(), "demo"); err != nil || f.State() != "" {
				t.Errorf("second stop: %v\n%s", err, f.State())
			}
			if b, err := l.Load("demo"); err != nil || b.Stopped.IsZero() {
				t.Errorf("after the stop: %+v %v", b, err)
			}
		})
	}
}

// TestNetworksCarryTheLaunch: both networks carry one launch id, a new one
// for every launch, and nothing else does (a container is never created
// twice, so it needs none).
func TestNetworksCarryTheLaunch(t *testing.T) {
	l, f, s := setup(t)
	var ids []string
	for range 2 {
		if _, err := l.Launch(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		in, _ := f.Network("bottle-demo-internal")
		eg, _ := f.Network("bottle-demo-egress")
		id := in.Labels[launcher.LabelLaunch]
		if !regexp.MustCompile(`^[0-9a-f]{12}$`).MatchString(id) || eg.Labels[launcher.LabelLaunch] != id {
			t.Errorf("launch ids %q and %q", id, eg.Labels[launcher.LabelLaunch])
		}
		ids = append(ids, id)
		if _, err := l.Stop(context.Background(), "demo"); err != nil {
			t.Fatal(err)
		}
	}
	if ids[0] == ids[1] {
		t.Errorf("two launches had one id %s", ids[0])
	}
	for _, r := range f.Runs() {
		if _, ok := r.Labels[launcher.LabelLaunch]; ok {
			t.Errorf("container %s carries a launch id", r.Name)
		}
	}
}

// TestSameLaunch: a network found under a spec's name is the spec's own
// only with its launch id, its labels, and its isolation.
func TestSameLaunch(t *testing.T) {
	l := map[string]string{launcher.LabelManaged: "true", launcher.LabelName: "x", launcher.LabelLaunch: "abc"}
	spec := launcher.NetworkSpec{Name: "n", Internal: true, Labels: l}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range l {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		spec launcher.NetworkSpec
		info launcher.NetworkInfo
		want bool
	}{
		{"as made", spec, launcher.NetworkInfo{Name: "n", Internal: true, Isolated: true, Labels: l}, true},
		{"with a label more", spec, launcher.NetworkInfo{Name: "n", Internal: true, Isolated: true, Labels: with("other", "1")}, true},
		{"another launch", spec, launcher.NetworkInfo{Name: "n", Internal: true, Isolated: true, Labels: with(launcher.LabelLaunch, "def")}, false},
		{"no launch id", spec, launcher.NetworkInfo{Name: "n", Internal: true, Isolated: true, Labels: with(launcher.LabelLaunch, "")}, false},
		{"another bottle's", spec, launcher.NetworkInfo{Name: "n", Internal: true, Isolated: true, Labels: with(launcher.LabelName, "y")}, false},
		{"not isolated", spec, launcher.NetworkInfo{Name: "n", Internal: true, Labels: l}, false},
		{"not internal", spec, launcher.NetworkInfo{Name: "n", Labels: l}, false},
		{"another name", spec, launcher.NetworkInfo{Name: "m", Internal: true, Isolated: true, Labels: l}, false},
		{"a spec without an id", launcher.NetworkSpec{Name: "n", Internal: true, Labels: with(launcher.LabelLaunch, "")},
			launcher.NetworkInfo{Name: "n", Internal: true, Isolated: true, Labels: with(launcher.LabelLaunch, "")}, false},
		{"egress as made", launcher.NetworkSpec{Name: "n", Labels: l}, launcher.NetworkInfo{Name: "n", Labels: l}, true},
		{"egress that came back internal", launcher.NetworkSpec{Name: "n", Labels: l}, launcher.NetworkInfo{Name: "n", Internal: true, Labels: l}, false},
	} {
		if got := tc.spec.SameLaunch(tc.info); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSidecarBuiltForALaunch: without a sidecar binary given, a launch in a
// checkout builds it through the Launcher's Runner and uses what it built.
func TestSidecarBuiltForALaunch(t *testing.T) {
	l, f, s := setup(t)
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module bottle.dev/bottle\n"), 0o644)
	t.Chdir(root)
	s.SidecarBinary = ""
	var built []string
	l.Runner = runnerFunc(func(ctx context.Context, c launcher.Cmd) error {
		if c.Argv[0] != "go" {
			return noHost(ctx, c)
		}
		built = append(built, strings.Join(c.Argv, " "))
		os.MkdirAll(filepath.Dir(c.Argv[4]), 0o700)
		return os.WriteFile(c.Argv[4], []byte("built from source"), 0o755)
	})
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != 1 || !strings.HasPrefix(built[0], "go build ") {
		t.Errorf("ran %q", built)
	}
	probe, _ := os.ReadFile(filepath.Join(l.Dir("demo"), contract.AgentFilesDir, "bottle-probe"))
	if string(probe) != "built from source" || len(f.Builds()) != 1 || f.Builds()[0].Tag != b.SidecarImage {
		t.Errorf("the launch did not use the binary it built: %q, builds %+v", probe, f.Builds())
	}
}

type runnerFunc func(context.Context, launcher.Cmd) error

func (r runnerFunc) Run(ctx context.Context, c launcher.Cmd) error { return r(ctx, c) }

// TestSelfTestSaysWhatItProved: under the self-test's line, one line per
// probe, in the probes' order, each the fact it proved with the address
// (what answered, what was refused or blocked, what is unreachable); in
// report mode the refusals are what was let through and what the audit
// logged instead.
func TestSelfTestSaysWhatItProved(t *testing.T) {
	for _, mode := range []string{"enforce", "report"} {
		t.Run(mode, func(t *testing.T) {
			l, f, s := setup(t)
			os.WriteFile(s.Allowlist, []byte("version: 1\nmode: "+mode+"\nallow:\n  - host: api.example.com\n"), 0o644)
			blockedDNS := `refused: the DNS lookup of bottle-self-test-[0-9a-f]{12}\.invalid \(REFUSED from the sidecar's DNS at 10\.1\.0\.2:53\)`
			blockedHTTP := `blocked: http://bottle-self-test-[0-9a-f]{12}\.invalid/ \(403 from the proxy at 10\.1\.0\.2:3128\)`
			var logged []string
			if mode == "report" {
				blockedDNS = `let through \(report mode\): the DNS lookup of bottle-self-test-[0-9a-f]{12}\.invalid at 10\.1\.0\.2:53`
				blockedHTTP = `let through \(report mode\): http://bottle-self-test-[0-9a-f]{12}\.invalid/ through the proxy at 10\.1\.0\.2:3128`
				logged = []string{
					`logged: the DNS lookup of bottle-self-test-[0-9a-f]{12}\.invalid as would-deny, in .*/logs/egress\.jsonl`,
					`logged: the request for http://bottle-self-test-[0-9a-f]{12}\.invalid/ as would-deny, in .*/logs/egress\.jsonl`,
				}
				f.Probe = func(argv []string) int {
					if argv[0] == "tcp" {
						return contract.ProbeTimeout
					}
					return contract.ProbeOK // report mode lets the blocked name through
				}
				f.OnProbe = func(argv []string) {
					if len(argv) < 2 || !strings.Contains(argv[1], "bottle-self-test-") {
						return
					}
					name := strings.TrimSuffix(strings.TrimPrefix(argv[1], "http://"), "/")
					line := `{"kind":"request","host":"` + name + `","decision":"would-deny"}`
					if argv[0] == "dns" {
						line = `{"kind":"dns","name":"` + name + `","decision":"would-deny"}`
					}
					af, _ := os.OpenFile(filepath.Join(l.LogDir("demo"), contract.AuditFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
					af.WriteString(line + "\n")
					af.Close()
				}
			}
			var out syncbuf.Buffer
			l.Progress = &out
			if _, err := l.Launch(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			_, notes, _ := strings.Cut(out.String(), "self-test passed: the proxy and DNS answer and enforce; no way around the sidecar\n")
			notes, _, _ = strings.Cut(notes, "[8/9]")
			lines := strings.Split(strings.TrimSuffix(notes, "\n"), "\n")
			want := []string{
				`answers: the proxy at 10\.1\.0\.2:3128 \(GET /healthz\)`,
				blockedDNS,
				blockedHTTP,
				`forwarded: the DNS lookup of api\.example\.com, which the allowlist allows \(not refused by the sidecar's DNS at 10\.1\.0\.2:53\)`,
				`unreachable: the sidecar's egress address 10\.2\.0\.2:3128`,
				`unreachable: the sidecar's egress address 10\.2\.0\.2:53`,
				`unreachable: the sidecar's egress address 10\.2\.0\.2:3129`,
				`unreachable: the internal network's gateway 10\.1\.0\.1:\d+`,
				`unreachable: the egress network's gateway 10\.2\.0\.1:\d+`,
			}
			// Then each of this machine's addresses, and in report mode the
			// audit's lines.
			hosts := len(lines) - len(want) - len(logged)
			if hosts < 1 {
				t.Fatalf("self-test lines:\n%s", notes)
			}
			for range hosts {
				want = append(want, `unreachable: the host's address (\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+`)
			}
			want = append(want, logged...)
			for i, re := range want {
				if !regexp.MustCompile(`^      ` + re + `$`).MatchString(lines[i]) {
					t.Errorf("line %d: %q does not match %s", i+1, lines[i], re)
				}
			}
		})
	}
}

// TestSelfTestWindow: while the probes run, the config directory (the
// sidecar's, never the agent's) names the self-test's probe name, so that
// the sidecar marks the audit lines about it as the self-test's; the file
// is gone before provisioning runs anything of the agent's image, whether
// the self-test passed or failed.
func TestSelfTestWindow(t *testing.T) {
	for _, leak := range []bool{false, true} {
		l, f, s := setup(t)
		window := filepath.Join(l.ConfigDir("demo"), contract.SelfTestFile)
		var named []string
		f.OnProbe = func(argv []string) {
			data, err := os.ReadFile(window)
			if err != nil {
				t.Errorf("probe %q ran without the self-test's window: %v", argv, err)
				return
			}
			name := strings.TrimSpace(string(data))
			if argv[0] == "dns" && strings.HasPrefix(argv[1], contract.SelfTestPrefix) {
				named = append(named, argv[1])
				if argv[1] != name {
					t.Errorf("the window names %q; the probe asks for %q", name, argv[1])
				}
			}
		}
		var provisioned, wasOpen atomic.Bool
		f.OnCall = func(_ context.Context, call string) {
			if strings.HasPrefix(call, "Exec bottle-demo-agent: sh -c") { // provisioning: the image's own shell
				_, err := os.Stat(window)
				provisioned.Store(true)
				wasOpen.Store(wasOpen.Load() || err == nil)
			}
		}
		if leak {
			f.Probe = func(argv []string) int { return contract.ProbeOK } // the bottle leaks
		}
		_, err := l.Launch(context.Background(), s)
		if leak != (err != nil) {
			t.Fatalf("leak=%v: %v", leak, err)
		}
		if len(named) != 1 {
			t.Errorf("leak=%v: self-test names probed: %q", leak, named)
		}
		if _, err := os.Stat(window); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leak=%v: the window is still open after the launch: %v", leak, err)
		}
		if provisioned.Load() == leak || wasOpen.Load() {
			t.Errorf("leak=%v: provisioned %v, with the window open %v", leak, provisioned.Load(), wasOpen.Load())
		}
	}
}

// TestImageWithoutAgentUser: an image without an agent user launches, and
// the launch says, once, that the agent's commands run as root and how to
// change that; an image with one says nothing of the kind.
func TestImageWithoutAgentUser(t *testing.T) {
	for _, user := range []string{"agent", "root"} {
		l, f, s := setup(t)
		f.AgentUser = user
		var out syncbuf.Buffer
		l.Progress = &out
		b, err := l.Launch(context.Background(), s)
		if err != nil || b.AgentUser != user {
			t.Fatalf("%s: %v %+v", user, err, b)
		}
		note := "\n[8/9] provisioned: bottle CA trusted, workspace in /workspace as user root\n" +
			`      the image has no user "agent", so the agent's commands run as root in its container (to run them unprivileged, add the user to the image: RUN useradd --create-home agent)` + "\n[9/9]"
		if got := strings.Contains(out.String(), note); got != (user == "root") || strings.Count(out.String(), "run as root") > 1 {
			t.Errorf("%s: the root note is there: %v\n%s", user, got, out.String())
		}
	}
}
