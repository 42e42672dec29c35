package launcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runnerFunc is a Runner made of a function.
type runnerFunc func(context.Context, Cmd) error

func (f runnerFunc) Run(ctx context.Context, c Cmd) error { return f(ctx, c) }

// TestSidecarBuiltThroughRunner: in a checkout, bottle-sidecar is built by
// the Launcher's Runner (static, in the checkout's root, from anywhere
// below it), and a failed build says what ran and what it said.
func TestSidecarBuiltThroughRunner(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module bottle.dev/bottle\n\ngo 1.26\n"), 0o644)
	sub := filepath.Join(root, "cmd", "bottle")
	os.MkdirAll(sub, 0o755)
	t.Chdir(sub)
	state := filepath.Join(t.TempDir(), "state")
	var got []Cmd
	l := &Launcher{StateDir: state, Runner: runnerFunc(func(_ context.Context, c Cmd) error {
		got = append(got, c)
		return nil
	})}
	bin, err := l.sidecarBinary(context.Background(), "")
	want := filepath.Join(state, ".build", "bottle-sidecar")
	if err != nil || bin != want {
		t.Fatalf("sidecarBinary = %q, %v; want %q", bin, err, want)
	}
	if len(got) != 1 {
		t.Fatalf("%d commands: %+v", len(got), got)
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	if c := got[0]; !slices.Equal(c.Argv, []string{"go", "build", "-trimpath", "-o", want, "./cmd/bottle-sidecar"}) ||
		(c.Dir != root && c.Dir != realRoot) || !slices.Equal(c.Env, []string{"CGO_ENABLED=0"}) {
		t.Errorf("ran %+v", c)
	}

	l.Runner = runnerFunc(func(_ context.Context, c Cmd) error {
		return &RunError{Argv: c.Argv, ExitCode: 1, Stderr: "proxy/proxy.go:1:1: expected 'package'", Err: errors.New("exit status 1")}
	})
	_, err = l.sidecarBinary(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "`go build -trimpath -o "+want+" ./cmd/bottle-sidecar` failed (exit 1): proxy/proxy.go:1:1: expected 'package'") ||
		!strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("failed build: %v", err)
	}

	// Outside a checkout, and with none beside the executable: what to do.
	t.Chdir(t.TempDir())
	if _, err := l.sidecarBinary(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "put bottle-sidecar next to bottle") {
		t.Errorf("outside a checkout: %v", err)
	}
}
