package launcher

import (
	"bottle.dev/bottle/internal/contract"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeBackend is an in-memory container engine: it keeps networks and
// containers with their labels, hands out addresses, and answers probes from
// a table, so the launch sequence runs without Docker.
type fakeBackend struct {
	mu          sync.Mutex
	nets        map[string]NetworkSpec
	containers  map[string]RunSpec
	images      map[string]bool
	calls       []string
	failAt      string // a call name that fails ("Run bottle-x-agent")
	probeCode   func(argv []string) int
	notIsolated bool                // NetworkInspect reports an internal network without full isolation
	onProbe     func(argv []string) // called for each probe (to play the sidecar's audit)
	execs       []string            // "container: argv" of every Exec, in order
}

func newFake() *fakeBackend {
	return &fakeBackend{nets: map[string]NetworkSpec{}, containers: map[string]RunSpec{}, images: map[string]bool{}}
}

func (f *fakeBackend) record(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if f.failAt != "" && call == f.failAt {
		return &RunError{Argv: []string{"fake", call}, ExitCode: 1, Stderr: "injected failure"}
	}
	return nil
}

func (f *fakeBackend) Name() string                    { return "fake" }
func (f *fakeBackend) Check(ctx context.Context) error { return f.record("Check") }
func (f *fakeBackend) ImageExists(_ context.Context, tag string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.images[tag], nil
}
func (f *fakeBackend) Build(_ context.Context, b BuildSpec) error {
	if err := f.record("Build " + b.Tag); err != nil {
		return err
	}
	f.mu.Lock()
	f.images[b.Tag] = true
	f.mu.Unlock()
	return nil
}
func (f *fakeBackend) NetworkCreate(_ context.Context, n NetworkSpec) error {
	if err := f.record("NetworkCreate " + n.Name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.nets[n.Name]; ok {
		return &RunError{Argv: []string{"fake", "network", "create", n.Name}, ExitCode: 1, Stderr: "network with name " + n.Name + " already exists"}
	}
	f.nets[n.Name] = n
	return nil
}
func (f *fakeBackend) NetworkInspect(_ context.Context, name string) (NetworkInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nets[name]
	if !ok {
		return NetworkInfo{}, fmt.Errorf("no such network %s", name)
	}
	sub := "10.1.0"
	if !n.Internal {
		sub = "10.2.0"
	}
	return NetworkInfo{Name: name, Subnet: sub + ".0/24", Gateway: sub + ".1", Internal: n.Internal, Isolated: n.Internal && !f.notIsolated, Labels: n.Labels}, nil
}
func (f *fakeBackend) NetworkRemove(_ context.Context, name string) error {
	f.record("NetworkRemove " + name)
	f.mu.Lock()
	delete(f.nets, name)
	f.mu.Unlock()
	return nil
}
func (f *fakeBackend) Run(_ context.Context, r RunSpec) error {
	if err := f.record("Run " + r.Name); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.containers[r.Name]; ok {
		return &RunError{Argv: []string{"fake", "run", r.Name}, ExitCode: 1, Stderr: "Conflict. The container name is already in use"}
	}
	f.containers[r.Name] = r
	return nil
}
func (f *fakeBackend) Inspect(_ context.Context, name string) (ContainerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.containers[name]
	if !ok {
		return ContainerInfo{}, fmt.Errorf("no such container")
	}
	nets := map[string]string{}
	for i, n := range r.Networks {
		if f.nets[n].Internal {
			nets[n] = "10.1.0." + fmt.Sprint(2+i)
		} else {
			nets[n] = "10.2.0." + fmt.Sprint(2+i)
		}
	}
	return ContainerInfo{Name: name, Running: true, State: "running", Networks: nets, Labels: r.Labels}, nil
}
func (f *fakeBackend) Exec(_ context.Context, name string, e ExecSpec) error {
	f.record("Exec " + strings.Join(e.Argv, " "))
	f.mu.Lock()
	f.execs = append(f.execs, name+": "+strings.Join(e.Argv, " "))
	f.mu.Unlock()
	if len(e.Argv) > 1 && e.Argv[1] == "probe" {
		if f.onProbe != nil {
			f.onProbe(e.Argv[4:])
		}
		if code := f.probeCode(e.Argv[4:]); code != 0 {
			return &RunError{Argv: e.Argv, ExitCode: code, Err: errors.New("exit")}
		}
		return nil
	}
	if e.Stdout != nil && e.Argv[0] == "sh" {
		io.WriteString(e.Stdout, "agent\n")
	}
	return nil
}
func (f *fakeBackend) CopyIn(_ context.Context, name, src, dst string) error {
	return f.record("CopyIn " + dst)
}
func (f *fakeBackend) Logs(_ context.Context, name string, _ bool, out io.Writer) error {
	io.WriteString(out, "log of "+name+"\n")
	return nil
}
func (f *fakeBackend) Remove(_ context.Context, name string) error {
	f.record("Remove " + name)
	f.mu.Lock()
	delete(f.containers, name)
	f.mu.Unlock()
	return nil
}
func (f *fakeBackend) List(_ context.Context, labels map[string]string) ([]Resource, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	match := func(l map[string]string) bool {
		for k, v := range labels {
			if l[k] != v {
				return false
			}
		}
		return true
	}
	var out []Resource
	for n, r := range f.containers {
		if match(r.Labels) {
			out = append(out, Resource{Kind: "container", Name: n, State: "running", Labels: r.Labels})
		}
	}
	for n, s := range f.nets {
		if match(s.Labels) {
			out = append(out, Resource{Kind: "network", Name: n, Labels: s.Labels})
		}
	}
	return out, nil
}

// goodProbes answers every probe the way a sound bottle does.
func goodProbes(argv []string) int {
	switch {
	case argv[0] == "http" && strings.HasSuffix(argv[1], "/healthz"):
		return 0
	case argv[0] == "dns" && strings.HasPrefix(argv[1], "bottle-self-test"):
		return 5
	case argv[0] == "http":
		return 5
	case argv[0] == "dns":
		return 0
	}
	return 4 // tcp: no route
}

func setup(t *testing.T) (*Launcher, *fakeBackend, Spec) {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "allowlist.yaml")
	os.WriteFile(pol, []byte("version: 1\nallow:\n  - host: api.example.com\n"), 0o644)
	bin := filepath.Join(dir, "bottle-sidecar")
	os.WriteFile(bin, []byte("static binary"), 0o755)
	f := newFake()
	f.probeCode = goodProbes
	l := &Launcher{Backend: f, StateDir: filepath.Join(dir, "state")}
	return l, f, Spec{Name: "demo", Allowlist: pol, SidecarBinary: bin, Image: "agent:latest"}
}

func TestLaunchAndStop(t *testing.T) {
	l, f, s := setup(t)
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	agent := f.containers["bottle-demo-agent"]
	if strings.Join(agent.Networks, ",") != "bottle-demo-internal" || strings.Join(agent.CapDrop, ",") != "NET_ADMIN,NET_RAW" || agent.DNS[0] != b.SidecarIP {
		t.Errorf("agent spec %+v", agent)
	}
	if sc := f.containers["bottle-demo-sidecar"]; strings.Join(sc.Networks, ",") != "bottle-demo-egress,bottle-demo-internal" || !strings.Contains(strings.Join(sc.Cmd, " "), "--internal-cidr 10.1.0.0/24") {
		t.Errorf("sidecar spec %+v", sc)
	}
	if !f.nets["bottle-demo-internal"].Internal || f.nets["bottle-demo-egress"].Internal {
		t.Errorf("networks %+v", f.nets)
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
	if len(f.containers) != 0 || len(f.nets) != 0 {
		t.Errorf("left behind: %v %v", f.containers, f.nets)
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
	if !errors.Is(err, ErrNoBottle) || !strings.Contains(err.Error(), `no bottle named "nothere"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(l.Dir("nothere")); !os.IsNotExist(err) {
		t.Errorf("a state dir was made: %v", err)
	}
	for _, bad := range []string{"../../evil", "a/b", "..", "Evil"} {
		if _, err := l.Stop(context.Background(), bad); err == nil || errors.Is(err, ErrNoBottle) {
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
			f.failAt = step
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("err = %v", err)
			}
			if len(f.containers) != 0 || len(f.nets) != 0 {
				t.Errorf("left behind: %v %v", f.containers, f.nets)
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
			f.probeCode = func(argv []string) int {
				if argv[0] == "tcp" && strings.HasPrefix(argv[1], tc.target) {
					return tc.code
				}
				return goodProbes(argv)
			}
			_, err := l.Launch(context.Background(), s)
			if err == nil || !strings.Contains(err.Error(), "leaks") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v", err)
			}
			if len(f.containers) != 0 || len(f.nets) != 0 {
				t.Errorf("a leaking bottle was left running: %v %v", f.containers, f.nets)
			}
		})
	}
	t.Run("proxy does not enforce", func(t *testing.T) {
		l, f, s := setup(t)
		f.probeCode = func(argv []string) int {
			if argv[0] == "http" && !strings.HasSuffix(argv[1], "/healthz") {
				return 0 // a blocked host got through
			}
			return goodProbes(argv)
		}
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "the proxy refuses a host outside the allowlist") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestValidName(t *testing.T) {
	for _, n := range []string{"demo", "a", "my-bottle.2", "x_y"} {
		if err := ValidName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range []string{"", "Demo", "-x", "a b", strings.Repeat("a", 41), "a/b"} {
		if ValidName(n) == nil {
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
	f.nets["bottle-half-internal"] = NetworkSpec{Name: "bottle-half-internal", Internal: true, Labels: l.labels("half", "internal")}
	// Not ours.
	f.nets["someone-else"] = NetworkSpec{Name: "someone-else"}
	var out strings.Builder
	if err := l.Cleanup(context.Background(), true, &out); err != nil || !strings.Contains(out.String(), "would remove: half") || len(f.nets) != 4 {
		t.Fatalf("dry run: %v %s %v", err, out.String(), f.nets)
	}
	out.Reset()
	if err := l.Cleanup(context.Background(), false, &out); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.nets["bottle-half-internal"]; ok {
		t.Error("half-made network kept")
	}
	if _, ok := f.nets["someone-else"]; !ok {
		t.Error("an unlabelled network was removed")
	}
	if _, ok := f.containers["bottle-demo-agent"]; !ok {
		t.Error("a running bottle was cleaned up")
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
	var probeSpec RunSpec
	f.onProbe = func([]string) {
		f.mu.Lock()
		probeSpec = f.containers["bottle-demo-probe"]
		f.mu.Unlock()
	}
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if probeSpec.Image != b.SidecarImage || probeSpec.NetworkOf != b.Agent || probeSpec.Labels[LabelRole] != "probe" {
		t.Errorf("probe container %+v", probeSpec)
	}
	if _, ok := f.containers["bottle-demo-probe"]; ok {
		t.Error("the probe container was left running")
	}
	lastProbe, firstAgent := -1, -1
	for i, e := range f.execs {
		switch {
		case strings.HasPrefix(e, "bottle-demo-probe: /bottle-sidecar probe "):
			lastProbe = i
		case strings.HasPrefix(e, "bottle-demo-agent:") && firstAgent < 0:
			firstAgent = i
		case strings.Contains(e, " probe "):
			t.Errorf("a probe ran elsewhere: %s", e)
		}
	}
	if lastProbe < 0 || firstAgent < lastProbe {
		t.Errorf("the agent ran something before the verdict: %q", f.execs)
	}
	// The agent's main process is bottle's binary, mounted read-only, not
	// a program of the image.
	a := f.containers["bottle-demo-agent"]
	if a.User != nobody || strings.Join(a.Entrypoint, " ") != agentProbe+" idle" {
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
	for _, c := range f.calls {
		found = found || strings.Contains(c, "probe --timeout 1s http http://bottle-self-test-")
	}
	if !found {
		t.Errorf("no blocked-host probe: %q", f.calls)
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
			f.probeCode = func(argv []string) int {
				if argv[0] == "tcp" {
					return 4
				}
				return 0 // a report-mode sidecar lets the blocked name through
			}
			f.onProbe = func(argv []string) {
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
// container shares a single-file mount's directory), so no mount can reach
// the CA key.
func TestAgentMountsHoldNoKey(t *testing.T) {
	l, f, s := setup(t)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	agent := f.containers["bottle-demo-agent"]
	if len(agent.Mounts) == 0 {
		t.Fatal("no mounts to check")
	}
	mounted := map[string]bool{}
	for _, m := range agent.Mounts {
		mounted[m.Source] = true
	}
	for _, m := range agent.Mounts {
		dir := filepath.Dir(m.Source)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !mounted[filepath.Join(dir, e.Name())] {
				t.Errorf("mount %s: its directory also holds %s", m.Source, e.Name())
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
		f.notIsolated = true
		if _, err := l.Launch(context.Background(), s); err == nil || !strings.Contains(err.Error(), "not the isolated internal network") {
			t.Fatalf("err = %v", err)
		}
		if len(f.containers) != 0 || len(f.nets) != 0 {
			t.Errorf("left behind: %v %v", f.containers, f.nets)
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
		if len(f.calls) != 0 {
			t.Errorf("the engine was called: %v", f.calls)
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
	f.containers["bottle-demo-sidecar"] = RunSpec{Name: "bottle-demo-sidecar", Image: "someone-else"}
	if _, err := l.Launch(context.Background(), s); err == nil {
		t.Fatal("launch over an existing container succeeded")
	}
	if c, ok := f.containers["bottle-demo-sidecar"]; !ok || c.Image != "someone-else" {
		t.Error("an unlabelled container was removed")
	}
	if len(f.nets) != 0 {
		t.Errorf("the launch's networks were left: %v", f.nets)
	}
	if _, err := l.Stop(context.Background(), "demo"); !errors.Is(err, ErrNoBottle) {
		t.Errorf("stop: %v", err)
	}
	if _, ok := f.containers["bottle-demo-sidecar"]; !ok {
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
	other := &Launcher{Backend: f, StateDir: filepath.Join(t.TempDir(), "other-user")}
	if sums, err := other.List(context.Background()); err != nil || len(sums) != 0 {
		t.Errorf("the other user lists %v %v", sums, err)
	}
	if _, err := other.Stop(context.Background(), "demo"); !errors.Is(err, ErrNoBottle) {
		t.Errorf("the other user's stop: %v", err)
	}
	var out strings.Builder
	if err := other.Cleanup(context.Background(), false, &out); err != nil || !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("the other user's cleanup: %v %s", err, out.String())
	}
	if len(f.containers) != 2 {
		t.Errorf("the bottle lost containers: %v", f.containers)
	}
	if _, err := other.Launch(context.Background(), s); err == nil {
		t.Error("a second bottle of the same name on one engine was launched")
	}
	if len(f.containers) != 2 || len(f.nets) != 2 {
		t.Errorf("the other user's failed launch removed the first one's resources: %v %v", f.containers, f.nets)
	}
}
