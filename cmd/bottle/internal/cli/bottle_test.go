package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/launcher"
)

// fakeBackend is a backend whose Check says what the test wants.
type fakeBackend struct {
	launcher.Backend
	name string
	err  error
}

func (f fakeBackend) Name() string                { return f.name }
func (f fakeBackend) Check(context.Context) error { return f.err }

func TestSelectBackend(t *testing.T) {
	ctx := context.Background()
	up := func(n string) fakeBackend { return fakeBackend{name: n} }
	down := func(n, why string) fakeBackend { return fakeBackend{name: n, err: errors.New(why)} }
	cases := []struct {
		name       string
		flag, env  string
		goos, arch string
		docker, mc fakeBackend
		want, err  string
	}{
		{name: "mac with container running", goos: "darwin", arch: "arm64", docker: up("docker"), mc: up("macos-container"), want: "macos-container"},
		{name: "mac, container service stopped", goos: "darwin", arch: "arm64", docker: up("docker"), mc: down("macos-container", "not running; start it: container system start"), want: "docker"},
		{name: "intel mac", goos: "darwin", arch: "amd64", docker: up("docker"), mc: up("macos-container"), want: "docker"},
		{name: "linux", goos: "linux", arch: "amd64", docker: up("docker"), mc: up("macos-container"), want: "docker"},
		{name: "nothing works", goos: "darwin", arch: "arm64", docker: down("docker", "the Docker daemon does not answer"), mc: down("macos-container", "container 0.12.3 is too old"),
			err: "no usable backend:\n  macos-container: container 0.12.3 is too old\n  docker: the Docker daemon does not answer"},
		{name: "linux without docker", goos: "linux", arch: "amd64", docker: down("docker", "docker not found on PATH"), mc: up("macos-container"),
			err: "needs macOS on Apple silicon (this is linux/amd64)"},
		{name: "flag wins", flag: "docker", env: "macos-container", goos: "darwin", arch: "arm64", docker: down("docker", "x"), mc: up("macos-container"), want: "docker"},
		{name: "env when no flag", env: "macos-container", goos: "linux", arch: "amd64", docker: up("docker"), mc: down("macos-container", "x"), want: "macos-container"},
		{name: "unknown", flag: "podman", err: "unknown backend \"podman\"; use one of docker, macos-container"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := selectBackend(ctx, tc.flag, env{Backend: tc.env}, host{GOOS: tc.goos, GOARCH: tc.arch, Docker: tc.docker, Container: tc.mc})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("err = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil || b.Name() != tc.want {
				t.Errorf("got %v, %v; want %s", b, err, tc.want)
			}
		})
	}
}

func TestLaunchUsage(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_STATE_HOME", dir)
	t.Setenv("BOTTLE_BACKEND", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"launch", "a", "b"}, "put the command after --"},
		{[]string{"launch", "a", "--image", "x", "--dockerfile", "y"}, "not both"},
		{[]string{"launch", "a", "-e", "BOTTLE_TEST_SURELY_UNSET"}, "is not set here"},
		{[]string{"launch", "a", "--backend", "podman"}, "unknown backend"},
		{[]string{"exec", "a", "ls"}, "usage: bottle exec NAME -- CMD"},
		{[]string{"shell"}, "missing the bottle NAME"},
	} {
		r := run(t, dir, tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	r := run(t, dir, "exec", "nothere", "--", "ls")
	if r.code != ExitError || !strings.Contains(r.stderr, `no bottle named "nothere"`) {
		t.Errorf("exec on a missing bottle: %+v", r)
	}
	r = run(t, dir, "allow", "add", "x.example.com", "--bottle", "nothere")
	if r.code == 0 || !strings.Contains(r.stderr, "is it running?") {
		t.Errorf("allow --bottle on a missing bottle: %+v", r)
	}
	r = run(t, dir, "allow", "list", "--bottle", "x", "--file", "y")
	if r.code != ExitUsage {
		t.Errorf("--bottle with --file: %+v", r)
	}
}

func TestDefaultName(t *testing.T) {
	dir := t.TempDir() + "/My Project!"
	if err := mkdirChdir(t, dir); err != nil {
		t.Fatal(err)
	}
	if n := defaultName(); n != "my-project" {
		t.Errorf("defaultName = %q", n)
	}
}

func mkdirChdir(t *testing.T, dir string) error {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	t.Chdir(dir)
	return nil
}

func TestProjectFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("bottle.yaml", []byte(`version: 1
name: widget
image: agent:1
workspace: src
env:
  A: "1"
  FROM_HERE:
command: [make, test]
allow:
  - host: api.example.com
`), 0o644)
	t.Setenv("FROM_HERE", "yes")
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	opts := &launchOptions{IO: &IOStreams{Err: io.Discard}}
	cmd := newLaunchCmdWith(opts)
	opts.Yes = true
	if err := cmd.ParseFlags([]string{"--image", "override:2", "-e", "A=2"}); err != nil {
		t.Fatal(err)
	}
	if err := opts.applyProject(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range opts.cleanup {
			f()
		}
	}()
	if opts.Name != "widget" || opts.Image != "override:2" || opts.Workspace != filepath.Join(dir, "src") || strings.Join(opts.Command, " ") != "make test" {
		t.Errorf("%+v", opts)
	}
	if strings.Join(opts.Env, ",") != "A=1,FROM_HERE=yes,A=2" {
		t.Errorf("env %v (flags must come last, so they win)", opts.Env)
	}
	data, err := os.ReadFile(opts.Allowlist)
	if err != nil || !strings.Contains(string(data), "api.example.com") {
		t.Errorf("inline allowlist %q: %v", data, err)
	}

	if strings.Join(opts.imported, ",") != "FROM_HERE" {
		t.Errorf("imported %v", opts.imported)
	}

	os.WriteFile("bottle.yaml", []byte("version: 1\nnmae: x\n"), 0o644)
	r := run(t, dir, "launch", "--backend", "docker")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "bottle.yaml:2:1: unknown key \"nmae\"; did you mean \"name\"?") {
		t.Errorf("bad project file: %+v", r)
	}
}

// TestProjectApproval: a project file is used only after the user approved
// that version of it; a script says so with --yes.
func TestProjectApproval(t *testing.T) {
	dir := t.TempDir()
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("BOTTLE_BACKEND", "")
	os.WriteFile(filepath.Join(dir, "bottle.yaml"), []byte("version: 1\nname: widget\nenv:\n  HOME_TOKEN:\nallow:\n  - host: api.example.com\n"), 0o644)
	t.Setenv("HOME_TOKEN", "value")
	approve := func(yes bool) (string, error) {
		var errb strings.Builder
		opts := &launchOptions{IO: &IOStreams{In: strings.NewReader("y\n"), Err: &errb}}
		cmd := newLaunchCmdWith(opts)
		opts.Yes, opts.Project = yes, filepath.Join(dir, "bottle.yaml")
		err := opts.applyProject(cmd)
		for _, f := range opts.cleanup {
			f()
		}
		return errb.String(), err
	}
	// Not a terminal, no --yes: refused, with what it sets shown.
	out, err := approve(false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "is not approved") {
		t.Fatalf("unapproved: %v", err)
	}
	for _, want := range []string{"name:       widget", "rules:      mode enforce; allow[0] api.example.com", "HOME_TOKEN — taken from your environment"} {
		if !strings.Contains(out, want) {
			t.Errorf("the summary lacks %q:\n%s", want, out)
		}
	}
	if _, err := approve(true); err != nil {
		t.Fatalf("--yes: %v", err)
	}
	if out, err := approve(false); err != nil || out != "" {
		t.Errorf("approved file asked again: %v\n%s", err, out)
	}
	// A changed file is asked about again.
	os.WriteFile(filepath.Join(dir, "bottle.yaml"), []byte("version: 1\nname: widget\nallow:\n  - host: evil.example.com\n"), 0o644)
	if _, err := approve(false); err == nil || !strings.Contains(err.Error(), "is not approved") {
		t.Errorf("changed file used without asking: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(state, "bottle", trustFile)); strings.Count(string(data), "\n") != 1 {
		t.Errorf("trust store: %q", data)
	}
	// So is a change to the allowlist it names.
	os.WriteFile(filepath.Join(dir, "bottle.yaml"), []byte("version: 1\nallowlist: policy.yaml\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("version: 1\nallow:\n  - host: a.example.com\n"), 0o644)
	if out, err := approve(true); err != nil || !strings.Contains(out, "rules:      mode enforce; allow[0] a.example.com") {
		t.Fatalf("--yes: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("version: 1\nmode: report\nallow:\n  - host: a.example.com\n"), 0o644)
	if out, err := approve(false); err == nil || !strings.Contains(out, "mode report") {
		t.Errorf("a changed allowlist was used without asking: %v\n%s", err, out)
	}
}
