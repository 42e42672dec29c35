package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPickBackend(t *testing.T) {
	ctx := context.Background()
	if b, err := pickBackend(ctx, "docker", env{Backend: "macos-container"}); err != nil || b.Name() != "docker" {
		t.Errorf("flag must win over BOTTLE_BACKEND: %v %v", b, err)
	}
	if _, err := pickBackend(ctx, "", env{Backend: "macos-container"}); err == nil || !strings.Contains(err.Error(), "--backend docker") {
		t.Errorf("BOTTLE_BACKEND=macos-container: %v", err)
	}
	if _, err := pickBackend(ctx, "podman", env{}); err == nil || !strings.Contains(err.Error(), "unknown backend \"podman\"; use one of docker, macos-container") {
		t.Errorf("unknown: %v", err)
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
	opts := &launchOptions{IO: &IOStreams{}}
	cmd := newLaunchCmdWith(opts)
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

	os.WriteFile("bottle.yaml", []byte("version: 1\nnmae: x\n"), 0o644)
	r := run(t, dir, "launch", "--backend", "docker")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "bottle.yaml:2:1: unknown key \"nmae\"; did you mean \"name\"?") {
		t.Errorf("bad project file: %+v", r)
	}
}
