package launcher

import (
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
	mu         sync.Mutex
	nets       map[string]NetworkSpec
	containers map[string]RunSpec
	images     map[string]bool
	calls      []string
	failAt     string // a call name that fails ("Run bottle-x-agent")
	probeCode  func(argv []string) int
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
	f.nets[n.Name] = n
	f.mu.Unlock()
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
	return NetworkInfo{Name: name, Subnet: sub + ".0/24", Gateway: sub + ".1", Internal: n.Internal, Labels: n.Labels}, nil
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
	f.containers[r.Name] = r
	f.mu.Unlock()
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
	if len(e.Argv) > 1 && e.Argv[1] == "probe" {
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
	if err := l.Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if len(f.containers) != 0 || len(f.nets) != 0 {
		t.Errorf("left behind: %v %v", f.containers, f.nets)
	}
	if log, _ := os.ReadFile(filepath.Join(l.LogDir("demo"), "sidecar.log")); string(log) != "log of bottle-demo-sidecar\n" {
		t.Errorf("sidecar log %q", log)
	}
	if err := l.Stop(context.Background(), "demo"); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// TestLaunchTearsDown: a failure at any step leaves nothing behind.
func TestLaunchTearsDown(t *testing.T) {
	for _, step := range []string{"NetworkCreate bottle-demo-egress", "Run bottle-demo-sidecar", "Run bottle-demo-agent", "CopyIn /usr/local/bin/bottle-probe"} {
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
	f.nets["bottle-half-internal"] = NetworkSpec{Name: "bottle-half-internal", Internal: true, Labels: labels("half", "internal")}
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
	if err := l.Stop(context.Background(), "demo"); err != nil {
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
