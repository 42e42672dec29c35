package launcher_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
)

func setup(t *testing.T) (*launcher.Launcher, *fakebackend.Backend, launcher.Spec) {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "allowlist.yaml")
	os.WriteFile(pol, []byte("version: 1\nallow:\n  - host: api.example.com\n"), 0o644)
	bin := filepath.Join(dir, "bottle-sidecar")
	os.WriteFile(bin, []byte("static binary"), 0o755)
	f := fakebackend.New(t)
	f.AddImage("agent:latest")
	l := &launcher.Launcher{Backend: f, StateDir: filepath.Join(dir, "state"), Runner: noHost}
	return l, f, launcher.Spec{Name: "demo", Allowlist: pol, SidecarBinary: bin, Image: "agent:latest"}
}

// noHost runs no host program: each fails as if missing (the host's git
// config, for the agent's identity, is this machine's and not the test's).
var noHost = runnerFunc(func(_ context.Context, c launcher.Cmd) error {
	return &launcher.RunError{Argv: c.Argv, ExitCode: -1, Err: os.ErrNotExist}
})

// labels are the labels bottle puts on a resource of bottle name in l's
// state directory.
func labels(l *launcher.Launcher, name, role string) map[string]string {
	return map[string]string{launcher.LabelManaged: "true", launcher.LabelOwner: launcher.Owner(l.StateDir), launcher.LabelName: name, launcher.LabelRole: role}
}

// running is the fake engine's state with bottle demo up.
const running = `container bottle-demo-agent agent
container bottle-demo-sidecar sidecar
network bottle-demo-egress egress
network bottle-demo-internal internal`

func TestLaunchAndStop(t *testing.T) {
	l, f, s := setup(t)
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.State(); got != running {
		t.Errorf("engine:\n%s\nwant:\n%s", got, running)
	}
	agent, _ := f.Container("bottle-demo-agent")
	if strings.Join(agent.Networks, ",") != "bottle-demo-internal" || strings.Join(agent.CapDrop, ",") != "NET_ADMIN,NET_RAW" || agent.DNS[0] != b.SidecarIP {
		t.Errorf("agent spec %+v", agent)
	}
	if sc, _ := f.Container("bottle-demo-sidecar"); strings.Join(sc.Networks, ",") != "bottle-demo-egress,bottle-demo-internal" || !strings.Contains(strings.Join(sc.Cmd, " "), "--internal-cidr 10.1.0.0/24") {
		t.Errorf("sidecar spec %+v", sc)
	}
	internal, _ := f.Network("bottle-demo-internal")
	egress, _ := f.Network("bottle-demo-egress")
	if !internal.Internal || egress.Internal {
		t.Errorf("networks %+v %+v", internal, egress)
	}
	if !strings.Contains(strings.Join(agent.Env, " "), "HTTPS_PROXY=http://"+b.SidecarIP+":3128") || !strings.Contains(strings.Join(agent.Env, " "), "NODE_EXTRA_CA_CERTS=") {
		t.Errorf("agent env %v", agent.Env)
	}
	if _, err := os.Stat(filepath.Join(l.ConfigDir("demo"), "ca.key")); err != nil {
		t.Error(err)
	}
	if got, err := l.Load("demo"); err != nil || got.ProxyURL != b.ProxyURL {
		t.Errorf("metadata %+v %v", got, err)
	}
	if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second launch: %v", err)
	}
	if stopped, err := l.Stop(context.Background(), "demo"); err != nil || !stopped {
		t.Fatal(stopped, err)
	}
	if got := f.State(); got != "" {
		t.Errorf("left behind:\n%s", got)
	}
	logPath := filepath.Join(l.LogDir("demo"), "sidecar.log")
	if log, _ := os.ReadFile(logPath); string(log) != "log of bottle-demo-sidecar\n" {
		t.Errorf("sidecar log %q", log)
	}
	// A second stop finds it stopped and touches nothing it saved.
	st1, _ := os.Stat(logPath)
	if stopped, err := l.Stop(context.Background(), "demo"); err != nil || stopped {
		t.Errorf("second stop: %v %v", stopped, err)
	}
	if log, _ := os.ReadFile(logPath); string(log) != "log of bottle-demo-sidecar\n" {
		t.Errorf("the second stop changed the saved log: %q", log)
	}
	if st2, _ := os.Stat(logPath); !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("the second stop rewrote the saved log")
	}
	if got, err := l.Load("demo"); err != nil || got.Stopped.IsZero() {
		t.Errorf("metadata after stop: %+v %v", got, err)
	}
}

// TestStopUnknownName: a name with no metadata and no resources is an
// error, and leaves no state dir behind.
func TestStopUnknownName(t *testing.T) {
	l, _, _ := setup(t)
	_, err := l.Stop(context.Background(), "nothere")
	if !errors.Is(err, launcher.ErrNoBottle) || !strings.Contains(err.Error(), `no bottle named "nothere"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(l.Dir("nothere")); !os.IsNotExist(err) {
		t.Errorf("a state dir was made: %v", err)
	}
	for _, bad := range []string{"../../evil", "a/b", "..", "Evil"} {
		if _, err := l.Stop(context.Background(), bad); err == nil || errors.Is(err, launcher.ErrNoBottle) {
			t.Errorf("%q: %v; want an invalid-name error", bad, err)
		}
		if _, err := l.Load(bad); err == nil || !strings.Contains(err.Error(), "bottle name") {
			t.Errorf("Load(%q): %v", bad, err)
		}
	}
}

// TestLaunchTearsDown: a failure at any step leaves nothing behind.
func TestLaunchTearsDown(t *testing.T) {
	for _, step := range []string{"NetworkCreate bottle-demo-egress", "Run bottle-demo-sidecar", "Run bottle-demo-agent", "Run bottle-demo-probe", "CopyIn /usr/local/share/ca-certificates/bottle-ca.crt"} {
		t.Run(step, func(t *testing.T) {
			l, f, s := setup(t)
			f.FailAt = step
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("err = %v", err)
			}
			if got := f.State(); got != "" {
				t.Errorf("left behind:\n%s", got)
			}
		})
	}
}

// TestSelfTestFailsClosed: any path around the sidecar stops the launch,
// names what leaked, and tears the bottle down.
func TestSelfTestFailsClosed(t *testing.T) {
	cases := []struct {
		name, target, want string
		code               int
	}{
		{"egress address answers", "10.2.0.2:3128", "the sidecar's egress address", 0},
		{"egress address refuses (so is reachable)", "10.2.0.2:53", "the sidecar's egress address", 3},
		{"gateway answers", "10.1.0.1:", "gateway 10.1.0.1", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, f, s := setup(t)
			f.Probe = func(argv []string) int {
				if argv[0] == "tcp" && strings.HasPrefix(argv[1], tc.target) {
					return tc.code
				}
				return fakebackend.GoodProbes(argv)
			}
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), "leaks") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
			if got := f.State(); got != "" {
				t.Errorf("a leaking bottle was left running:\n%s", got)
			}
		})
	}
	t.Run("proxy does not enforce", func(t *testing.T) {
		l, f, s := setup(t)
		f.Probe = func(argv []string) int {
			if argv[0] == "http" && !strings.HasSuffix(argv[1], "/healthz") {
				return 0 // a blocked host got through
			}
			return fakebackend.GoodProbes(argv)
		}
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "the proxy refuses a host outside the allowlist") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"demo", "a", "my-bottle.2", "x_y"} {
		if err := launcher.ValidName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "Demo", "-x", "a b", strings.Repeat("a", 41), "a/b"} {
		if launcher.ValidName(n) == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestCleanupOnlyPartial(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	// A half-made bottle: only its internal network.
	f.AddNetwork(launcher.NetworkSpec{Name: "bottle-half-internal", Internal: true, Labels: labels(l, "half", "internal")})
	// Not ours.
	f.AddNetwork(launcher.NetworkSpec{Name: "someone-else"})
	before := f.State()
	var out strings.Builder
	done, err := l.Cleanup(context.Background(), true, &out)
	if err != nil || !strings.Contains(out.String(), "would remove: half") || f.State() != before || len(done) != 1 || done[0].Name != "half" || done[0].Networks[0] != "bottle-half-internal" {
		t.Fatalf("dry run: %v %+v %s\n%s", err, done, out.String(), f.State())
	}
	out.Reset()
	if done, err = l.Cleanup(context.Background(), false, &out); err != nil || len(done) != 1 || done[0].Name != "half" || done[0].Err != nil {
		t.Fatal(done, err)
	}
	// The half-made bottle is gone; the running one and the stranger's
	// network stay.
	if got, want := f.State(), running+"\nnetwork someone-else -"; got != want {
		t.Errorf("after cleanup:\n%s\nwant:\n%s", got, want)
	}
}

// TestLaunchKeepsCA: a bottle's CA survives a stop and relaunch, and a CA
// that does not load stops the launch instead of being replaced.
func TestLaunchKeepsCA(t *testing.T) {
	l, _, s := setup(t)
	b1, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	b2, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if b1.CAFingerprint != b2.CAFingerprint {
		t.Error("relaunch minted a new CA")
	}
	l.Stop(context.Background(), "demo")
	key := filepath.Join(l.ConfigDir("demo"), "ca.key")
	os.Chmod(key, 0o644)
	if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable key: %v", err)
	}
	if _, err := os.Stat(key); err != nil {
		t.Errorf("the key was removed: %v", err)
	}
}

// TestSelfTestRunsOutsideTheImage: the probes run in a container of bottle's
// own sidecar image that shares the agent's network, and nothing is run in
// the agent (as root or otherwise) before the verdict; the agent's own main
// process is unprivileged.
func TestSelfTestRunsOutsideTheImage(t *testing.T) {
	l, f, s := setup(t)
	var (
		mu        sync.Mutex // the probes run at once
		probeSpec launcher.RunSpec
	)
	f.OnProbe = func([]string) {
		mu.Lock()
		defer mu.Unlock()
		probeSpec, _ = f.Container("bottle-demo-probe")
	}
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if probeSpec.Image != b.SidecarImage || probeSpec.NetworkOf != b.Agent || probeSpec.Labels[launcher.LabelRole] != "probe" {
		t.Errorf("probe container %+v", probeSpec)
	}
	if _, ok := f.Container("bottle-demo-probe"); ok {
		t.Error("the probe container was left running")
	}
	lastProbe, firstAgent := -1, -1
	for i, e := range f.Execs() {
		argv := strings.Join(e.Spec.Argv, " ")
		switch {
		case e.Container == "bottle-demo-probe" && strings.HasPrefix(argv, "/bottle-sidecar probe "):
			lastProbe = i
		case e.Container == "bottle-demo-agent" && firstAgent < 0:
			firstAgent = i
		case strings.Contains(argv, " probe "):
			t.Errorf("a probe ran elsewhere: %s: %s", e.Container, argv)
		}
	}
	if lastProbe < 0 || firstAgent < lastProbe {
		t.Errorf("the agent ran something before the verdict: %+v", f.Execs())
	}
	// The agent's main process is bottle's binary, mounted read-only, not
	// a program of the image.
	a, _ := f.Container("bottle-demo-agent")
	const agentProbe = "/usr/local/bin/bottle-probe"
	if a.User != "65534:65534" || strings.Join(a.Entrypoint, " ") != agentProbe+" idle" {
		t.Errorf("the agent's main process: %q as %q", a.Entrypoint, a.User)
	}
	found := false
	for _, m := range a.Mounts {
		found = found || m.Target == agentProbe && m.ReadOnly
	}
	if !found {
		t.Errorf("bottle-probe is not mounted read-only: %+v", a.Mounts)
	}
	if a.Sysctls["net.ipv6.conf.all.disable_ipv6"] != "1" {
		t.Errorf("IPv6 is not turned off in the agent: %v", a.Sysctls)
	}
	// The proxy probe goes through the proxy explicitly: the probe container
	// has none of the agent's environment.
	found = false
	for _, c := range f.Calls() {
		found = found || strings.Contains(c, `{"kind":"http","args":["http://bottle-self-test-`) && strings.Contains(c, `"proxy":"http://10.1.0.2:3128"`)
	}
	if !found {
		t.Errorf("no blocked-host probe: %q", f.Calls())
	}
}

// TestReportModeSelfTest: with mode: report the self-test accepts what the
// sidecar lets through, and instead requires the would-deny audit lines;
// without them the launch fails.
func TestReportModeSelfTest(t *testing.T) {
	for _, audited := range []bool{true, false} {
		t.Run(fmt.Sprint("audited=", audited), func(t *testing.T) {
			l, f, s := setup(t)
			os.WriteFile(s.Allowlist, []byte("version: 1\nmode: report\nallow:\n  - host: api.example.com\n"), 0o644)
			f.Probe = func(argv []string) int {
				if argv[0] == "tcp" {
					return 4
				}
				return 0 // a report-mode sidecar lets the blocked name through
			}
			f.OnProbe = func(argv []string) {
				if !audited || len(argv) < 2 || !strings.Contains(argv[1], "bottle-self-test-") {
					return
				}
				name := strings.TrimSuffix(strings.TrimPrefix(argv[1], "http://"), "/")
				line := fmt.Sprintf(`{"kind":"request","host":%q,"decision":"would-deny"}`, name)
				if argv[0] == "dns" {
					line = fmt.Sprintf(`{"kind":"dns","name":%q,"decision":"would-deny"}`, name)
				}
				af, _ := os.OpenFile(filepath.Join(l.LogDir("demo"), contract.AuditFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
				fmt.Fprintln(af, line)
				af.Close()
			}
			b, err := l.Launch(context.Background(), s)
			if audited && (err != nil || b.Mode != "report") {
				t.Fatalf("report mode: %v", err)
			}
			if !audited && (err == nil || !strings.Contains(err.Error(), "would-deny")) {
				t.Fatalf("report mode without audit lines: %v", err)
			}
		})
	}
}

// TestAgentMountsHoldNoKey: every file mounted into the agent comes from a
// directory that holds nothing but files mounted into the agent (Apple's
// container shares a single-file mount's directory), and every directory
// mounted holds nothing of bottle's but what the agent may see, so no
// mount can reach the CA key. The only writable mount is the command
// directory.
func TestAgentMountsHoldNoKey(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	agent, _ := f.Container("bottle-demo-agent")
	if len(agent.Mounts) == 0 {
		t.Fatal("no mounts to check")
	}
	mounted := map[string]bool{}
	for _, m := range agent.Mounts {
		mounted[m.Source] = true
		// The approvals channel decides the agent's own requests.
		if ap := l.ApprovalsDir("demo"); m.Source == ap || strings.HasPrefix(m.Source, ap+"/") || strings.HasPrefix(ap, m.Source+"/") {
			t.Errorf("the agent has the approvals channel: %+v", m)
		}
	}
	for _, m := range agent.Mounts {
		dir := filepath.Dir(m.Source)
		if st, err := os.Stat(m.Source); err == nil && st.IsDir() {
			dir = m.Source
			if m.Source != l.CommandDir("demo") || m.Target != contract.AgentCommandDir || m.ReadOnly {
				t.Errorf("a directory mount other than the command directory: %+v", m)
			}
		} else {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if !mounted[filepath.Join(dir, e.Name())] {
					t.Errorf("mount %s: its directory also holds %s", m.Source, e.Name())
				}
			}
			if !m.ReadOnly {
				t.Errorf("a writable file mount: %+v", m)
			}
		}
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "ca.key" {
				t.Errorf("mount %s: %s is in its directory", m.Source, p)
			}
			return nil
		})
	}
}

// TestLaunchRefusals: what a launch refuses before it makes anything.
func TestLaunchRefusals(t *testing.T) {
	t.Run("internal network without isolation", func(t *testing.T) {
		l, f, s := setup(t)
		f.NotIsolated = true
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "not the isolated internal network") {
			t.Fatalf("err = %v", err)
		}
		if got := f.State(); got != "" {
			t.Errorf("left behind:\n%s", got)
		}
	})
	t.Run("workspace holding the state dir", func(t *testing.T) {
		l, f, s := setup(t)
		s.Workspace = filepath.Dir(l.StateDir)
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "state directory") {
			t.Fatalf("err = %v", err)
		}
		s.Workspace = filepath.Join(l.StateDir, "other")
		os.MkdirAll(s.Workspace, 0o700)
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "state directory") {
			t.Fatalf("inside: err = %v", err)
		}
		if calls := f.Calls(); len(calls) != 0 {
			t.Errorf("the engine was called: %v", calls)
		}
	})
	t.Run("env value with a line break", func(t *testing.T) {
		l, _, s := setup(t)
		s.Env = []string{"TOKEN=abc\ndef"}
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "TOKEN") || strings.Contains(err.Error(), "abc") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestTeardownOnlyLabelled: a failed launch never removes a container that
// merely has the name bottle would have given its own.
func TestTeardownOnlyLabelled(t *testing.T) {
	l, f, s := setup(t)
	f.AddContainer(launcher.RunSpec{Name: "bottle-demo-sidecar", Image: "someone-else"})
	if _, err := l.Launch(context.Background(), s); err == nil {
		t.Fatal("launch over an existing container succeeded")
	}
	if c, ok := f.Container("bottle-demo-sidecar"); !ok || c.Image != "someone-else" {
		t.Error("an unlabelled container was removed")
	}
	if got := f.State(); got != "container bottle-demo-sidecar -" {
		t.Errorf("the launch's networks were left:\n%s", got)
	}
	if stopped, err := l.Stop(context.Background(), "demo"); err != nil || stopped {
		t.Errorf("stop of the failed bottle: %v %v", stopped, err)
	}
	if _, ok := f.Container("bottle-demo-sidecar"); !ok {
		t.Error("stop removed an unlabelled container")
	}
}

// TestOwnersKeptApart: two state directories (two users) on one engine do
// not see, stop or clean up each other's bottles.
func TestOwnersKeptApart(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	other := &launcher.Launcher{Backend: f, StateDir: filepath.Join(t.TempDir(), "other-user")}
	if sums, err := other.List(context.Background()); err != nil || len(sums) != 0 {
		t.Errorf("the other user lists %v %v", sums, err)
	}
	if _, err := other.Stop(context.Background(), "demo"); !errors.Is(err, launcher.ErrNoBottle) {
		t.Errorf("the other user's stop: %v", err)
	}
	var out strings.Builder
	if done, err := other.Cleanup(context.Background(), false, &out); err != nil || done != nil || !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("the other user's cleanup: %v %s", err, out.String())
	}
	if got := f.State(); got != running {
		t.Errorf("the bottle lost resources:\n%s", got)
	}
	if _, err := other.Launch(context.Background(), s); err == nil {
		t.Error("a second bottle of the same name on one engine was launched")
	}
	if got := f.State(); got != running {
		t.Errorf("the other user's failed launch changed the first one's resources:\n%s", got)
	}
}

// TestAllowlistSourceRecorded: the metadata names the file the allowlist
// was launched from, absolute: the project file whose inline rules were
// copied when there is one, else the allowlist itself.
func TestAllowlistSourceRecorded(t *testing.T) {
	l, _, s := setup(t)
	t.Chdir(filepath.Dir(s.Allowlist))
	s.Allowlist = "allowlist.yaml"
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs("allowlist.yaml")
	if got, err := l.Load("demo"); err != nil || got.AllowlistSource != want {
		t.Errorf("the allowlist itself: %q %v; want %q", got.AllowlistSource, err, want)
	}
	if _, err := l.Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(l.Dir("demo"))
	s.AllowlistSource = "bottle.yaml"
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	want, _ = filepath.Abs("bottle.yaml")
	if got, err := l.Load("demo"); err != nil || got.AllowlistSource != want {
		t.Errorf("a project's inline rules: %q %v; want %q", got.AllowlistSource, err, want)
	}
}
