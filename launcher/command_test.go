package launcher_test

import (
	"bytes"
	"context"
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

// TestDetachedCommand: a launch with a command starts it in the agent in
// the background, as the agent's user in /workspace, under the
// supervisor, with its output and status in the command directory; list
// shows it running, then how it exited — also once the bottle is stopped.
func TestDetachedCommand(t *testing.T) {
	l, f, s := setup(t)
	s.Command = []string{"sleep", "600"}
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Command, s.Command) {
		t.Errorf("metadata command %q", b.Command)
	}
	var started []launcher.ExecSpec
	for _, e := range f.Execs() {
		if e.Container == b.Agent && len(e.Spec.Argv) > 1 && e.Spec.Argv[1] == "supervise" {
			started = append(started, e.Spec)
		}
	}
	if len(started) != 2 || started[0].Detach || !started[1].Detach {
		t.Fatalf("supervise execs: %+v", started)
	}
	want := "/usr/local/bin/bottle-probe supervise --log /run/bottle/output.log --status /run/bottle/status.json --pid-file /run/bottle/command.pid -- sleep 600"
	if d := started[1]; strings.Join(d.Argv, " ") != want || d.User != "agent" || d.Workdir != "/workspace" {
		t.Errorf("detached: %+v", d)
	}
	if c := started[0]; strings.Join(c.Argv, " ") != "/usr/local/bin/bottle-probe supervise --check -- sleep 600" || c.User != "agent" || c.Workdir != "/workspace" {
		t.Errorf("check: %+v", c)
	}
	if got := summary(t, l, "demo").Command; got == nil || got.State != launcher.CommandRunning || got.String() != "running" {
		t.Errorf("while it runs: %+v", got)
	}
	if l.CommandEnded(b) {
		t.Error("ended while it runs")
	}
	f.EndCommand(b.Agent, 3)
	got := summary(t, l, "demo").Command
	if got == nil || got.String() != "exited 3" || !l.CommandEnded(b) {
		t.Errorf("after it exited: %+v", got)
	}
	l.Stop(context.Background(), "demo")
	if got := summary(t, l, "demo").Command; got == nil || got.String() != "exited 3" {
		t.Errorf("after the stop: %+v", got)
	}
	// A relaunch without a command starts none and forgets the old one.
	s.Command = nil
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if got := summary(t, l, "demo"); got.Command != nil {
		t.Errorf("relaunched without one: %+v", got.Command)
	}
	if entries, _ := os.ReadDir(l.CommandDir("demo")); len(entries) != 0 {
		t.Errorf("the command directory kept %v", entries)
	}
}

// TestDetachedCommandOutput: what the command writes is in the command
// directory; one stopped with its bottle is said to have ended with it.
func TestDetachedCommandOutput(t *testing.T) {
	l, _, s := setup(t)
	s.Command = []string{"echo", "hello", "from", "the", "agent"}
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if out, _ := os.ReadFile(filepath.Join(l.CommandDir("demo"), contract.CommandLogFile)); string(out) != "hello from the agent\n" {
		t.Errorf("output %q", out)
	}
	if got := summary(t, l, "demo").Command; got.String() != "exited 0" || strings.Join(got.Argv, " ") != "echo hello from the agent" {
		t.Errorf("%+v", got)
	}

	l, f, s := setup(t)
	s.Command = []string{"sleep", "600"}
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	l.Stop(context.Background(), "demo")
	if got := summary(t, l, "demo").Command; got.String() != launcher.CommandGone {
		t.Errorf("stopped while it ran: %+v", got)
	}
	if len(f.Running()) != 0 {
		t.Errorf("still running: %q", f.Running())
	}
}

// TestDetachedCommandCannotStart: a command the agent does not have fails
// the launch at its last step, saying so, and tears it down.
func TestDetachedCommandCannotStart(t *testing.T) {
	l, f, s := setup(t)
	s.Command = []string{fakebackend.NoSuchProgram, "--fix"}
	_, err := l.Launch(context.Background(), s)
	if err == nil || !strings.Contains(err.Error(), `launch failed at step 9/9 (ready): the command cannot start in the agent: bottle-probe: exec: "no-such-program": executable file not found in $PATH`) {
		t.Fatalf("err = %v", err)
	}
	if st := f.State(); st != "" {
		t.Errorf("left behind:\n%s", st)
	}
}

// TestCommandDirIsTheAgents: what the agent puts in the command directory
// is read as its own words: a status that is a symlink (to a file of the
// host) or a FIFO is not followed, not waited on.
func TestCommandDirIsTheAgents(t *testing.T) {
	l, _, s := setup(t)
	s.Command = []string{"sleep", "600"}
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(`{"exit_code": 42}`), 0o600)
	status := filepath.Join(l.CommandDir("demo"), contract.CommandStatusFile)
	if err := os.Symlink(secret, status); err != nil {
		t.Fatal(err)
	}
	if got := summary(t, l, "demo").Command; got == nil || got.ExitCode != nil || got.Error == "" {
		t.Errorf("a symlinked status: %+v", got)
	}
	os.Remove(status)
	if err := mkfifo(status); err != nil {
		t.Skip(err)
	}
	done := make(chan *launcher.CommandState)
	go func() { done <- summary(t, l, "demo").Command }()
	select {
	case got := <-done:
		if got == nil || got.ExitCode != nil || !strings.Contains(got.Error, "not a regular file") {
			t.Errorf("a FIFO status: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading a FIFO the agent made hung")
	}
}

// TestExecForwardsSignals: without a terminal a command runs under the
// supervisor, and when its context ends (SIGTERM here) the signal is
// passed on to it with a second exec, which ends it; Exec says so. With a
// terminal, or in a bottle from before the supervisor, the command runs
// as it is.
func TestExecForwardsSignals(t *testing.T) {
	l, f, s := setup(t)
	b, err := l.Launch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := l.Exec(context.Background(), b, launcher.ExecSpec{Argv: []string{"echo", "hi"}, Stdout: &out}); err != nil || out.String() != "hi\n" {
		t.Errorf("echo: %v %q", err, out.String())
	}
	if err := l.Exec(context.Background(), b, launcher.ExecSpec{Argv: []string{"sh", "-c", "exit 4"}}); launcher.ExitCode(err) != 4 {
		t.Errorf("exit 4: %v", err)
	}
	last := f.Execs()[len(f.Execs())-1].Spec
	if !strings.HasPrefix(strings.Join(last.Argv, " "), "/usr/local/bin/bottle-probe supervise --pid-file /run/bottle/exec-") || !strings.HasSuffix(strings.Join(last.Argv, " "), ".pid -- sh -c exit 4") ||
		last.User != "agent" || last.Workdir != "/workspace" {
		t.Errorf("the exec: %+v", last)
	}

	ctx, cancel := context.WithCancelCause(context.Background())
	ended := make(chan error, 1)
	go func() { ended <- l.Exec(ctx, b, launcher.ExecSpec{Argv: []string{"sleep", "600"}}) }()
	waitFor(t, func() bool { return len(f.Running()) == 1 })
	pidFile := strings.Fields(f.Running()[0])[0]
	cancel(errors.New("terminated signal received")) // as signal.NotifyContext says SIGTERM
	var ie *launcher.ExecInterrupted
	if err := <-ended; !errors.As(err, &ie) || ie.Signal != "TERM" || ie.Err != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted exec: %v", err)
	}
	sent := f.Execs()[len(f.Execs())-1].Spec
	if got := strings.Join(sent.Argv, " "); got != "/usr/local/bin/bottle-probe signal --pid-file /run/bottle/"+pidFile+" TERM" || sent.User != "agent" {
		t.Errorf("the signal: %q as %q", got, sent.User)
	}
	if len(f.Running()) != 0 {
		t.Errorf("still running: %q", f.Running())
	}

	// A terminal carries the signals itself; an older bottle has no
	// supervisor.
	n := len(f.Execs())
	l.Exec(context.Background(), b, launcher.ExecSpec{Argv: []string{"true"}, TTY: true})
	old := *b
	old.Supervised = false
	l.Exec(context.Background(), &old, launcher.ExecSpec{Argv: []string{"true"}})
	for _, e := range f.Execs()[n:] {
		if strings.Join(e.Spec.Argv, " ") != "true" {
			t.Errorf("ran %q", e.Spec.Argv)
		}
	}
}

// waitFor waits for cond, which an event elsewhere makes true.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
