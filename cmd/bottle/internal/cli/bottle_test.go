package cli

import (
	"context"
	"os"
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
