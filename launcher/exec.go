package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/termsafe"
)

// The command directory's files as the agent sees them.
var (
	agentCommandLog    = path.Join(contract.AgentCommandDir, contract.CommandLogFile)
	agentCommandStatus = path.Join(contract.AgentCommandDir, contract.CommandStatusFile)
	agentCommandPid    = path.Join(contract.AgentCommandDir, contract.CommandPidFile)
)

// makeCommandDir makes bottle name's command directory empty (what an
// earlier launch's command left is gone) and open to the agent's user,
// whoever that is in the image: the directory above it is the user's
// alone, so nobody else on the host can reach it.
func (l *Launcher) makeCommandDir(name string) error {
	dir := l.CommandDir(name)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("emptying %s: %w; files the agent made there may belong to another user: remove them with sudo rm -rf %s", dir, err, dir)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o777)
}

// startCommand starts argv in bottle b's agent, in the background, as the
// agent's user in /workspace, under bottle-probe supervise: its output and
// exit status go to the command directory, where they outlive the
// container. It runs through the engine's detached exec (docker exec -d,
// container exec -d), so the engine, not a process of bottle's, keeps it
// going; a command that cannot start is said at once, from a --check run
// the same way.
func (l *Launcher) startCommand(ctx context.Context, b *Bottle, argv []string) error {
	var out bytes.Buffer
	check := ExecSpec{User: b.AgentUser, Workdir: workspaceDir, Stdout: &out, Stderr: &out,
		Argv: append([]string{agentProbe}, contract.SuperviseOptions{Check: true}.Args(argv)...)}
	if err := l.Backend.Exec(ctx, b.Agent, check); err != nil {
		if code := ExitCode(err); code == contract.ExitNotFound || code == contract.ExitNotExecutable {
			return fmt.Errorf("the command cannot start in the agent: %s", termsafe.Line(strings.TrimSpace(out.String())))
		}
		return fmt.Errorf("checking the command in the agent: %w", err)
	}
	o := contract.SuperviseOptions{Log: agentCommandLog, Status: agentCommandStatus, PidFile: agentCommandPid}
	start := ExecSpec{User: b.AgentUser, Workdir: workspaceDir, Detach: true, Argv: append([]string{agentProbe}, o.Args(argv)...)}
	if err := l.Backend.Exec(ctx, b.Agent, start); err != nil {
		return fmt.Errorf("starting the command in the agent: %w", err)
	}
	return nil
}

// ExecInterrupted is a command in the agent that bottle interrupted
// because it was (Ctrl-C, SIGTERM): Signal was passed on to the command
// inside, unless Err says why it could not be.
type ExecInterrupted struct {
	Signal string // "INT", "TERM"
	Err    error
}

func (e *ExecInterrupted) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("interrupted, but SIG%s could not be passed on to the command in the agent, which may still run: %v", e.Signal, e.Err)
	}
	return fmt.Sprintf("interrupted: SIG%s passed on to the command in the agent", e.Signal)
}

// Unwrap makes it context.Canceled to errors.Is.
func (e *ExecInterrupted) Unwrap() error { return context.Canceled }

// forwardWait is how long Exec waits for a command to end once it has
// passed a signal on, before it sends KILL; and then again before it
// gives up waiting.
const forwardWait = 10 * time.Second

// Exec runs e.Argv in bottle b's agent as the agent's user, in /workspace;
// the command's exit status is in the returned *RunError. With a terminal,
// the terminal carries Ctrl-C to the command itself. Without one, the
// engine's exec would leave the command running inside when bottle is
// interrupted, so the command runs under bottle-probe supervise, with a
// pid file, and when ctx ends first (Ctrl-C, SIGTERM: SignalOf says which)
// the signal is passed on to it with a second exec; Exec then waits for it
// to end (KILL after forwardWait) and returns *ExecInterrupted.
func (l *Launcher) Exec(ctx context.Context, b *Bottle, e ExecSpec) error {
	e.User, e.Workdir = b.AgentUser, workspaceDir
	if e.TTY || !b.Supervised {
		return l.Backend.Exec(ctx, b.Agent, e)
	}
	pidFile := path.Join(contract.AgentCommandDir, contract.ExecPidFile(randomToken()))
	e.Argv = append([]string{agentProbe}, contract.SuperviseOptions{PidFile: pidFile}.Args(e.Argv)...)
	done := make(chan error, 1)
	go func() { done <- l.Backend.Exec(context.WithoutCancel(ctx), b.Agent, e) }()
	select {
	case err := <-done:
		// The engine's client may have got the terminal's Ctrl-C as well
		// (it reads the terminal, so it shares bottle's process group) and
		// died of it, with the command still running inside.
		if ctx.Err() == nil && !diedOfSignal(err) {
			return err
		}
		sig := SignalOf(ctx)
		return &ExecInterrupted{Signal: sig, Err: l.signal(ctx, b, pidFile, sig)}
	case <-ctx.Done():
	}
	sig := SignalOf(ctx)
	ie := &ExecInterrupted{Signal: sig, Err: l.signal(ctx, b, pidFile, sig)}
	if ie.Err == nil {
		select {
		case <-done:
			return ie
		case <-time.After(forwardWait):
		}
		l.signal(ctx, b, pidFile, "KILL")
	}
	select {
	case <-done:
	case <-time.After(forwardWait):
	}
	return ie
}

// diedOfSignal reports whether err is a command that did not exit by
// itself (killed by a signal: no exit status).
func diedOfSignal(err error) bool {
	var re *RunError
	return errors.As(err, &re) && re.ExitCode < 0
}

// signal passes sig on to the supervised command whose pid file is
// pidFile in bottle b's agent, under a context of its own.
func (l *Launcher) signal(ctx context.Context, b *Bottle, pidFile, sig string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := l.Backend.Exec(ctx, b.Agent, ExecSpec{User: b.AgentUser, Argv: append([]string{agentProbe}, contract.SignalArgs(pidFile, sig)...), Stdout: &out, Stderr: &out})
	if err != nil && strings.TrimSpace(out.String()) != "" {
		return fmt.Errorf("%s", termsafe.Line(strings.TrimSpace(out.String())))
	}
	return err
}

// SignalOf is the signal that ended ctx, as the supervisor names it: TERM
// when signal.NotifyContext says SIGTERM ended it, INT otherwise (Ctrl-C).
func SignalOf(ctx context.Context) string {
	if cause := context.Cause(ctx); cause != nil && strings.HasPrefix(cause.Error(), syscall.SIGTERM.String()) {
		return "TERM"
	}
	return "INT"
}
