package launcher

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"bottle.dev/bottle/internal/contract"
)

// State is what a bottle's metadata records: how far its launch got, and
// whether it was stopped. It is written from a launch's first step on, so
// that a launch that dies half way leaves a bottle that says so.
type State string

const (
	// StateLaunching: a launch is at Bottle.Step — or died there, when no
	// launch holds the bottle's lock (Status says incomplete).
	StateLaunching State = "launching"
	StateReady     State = "ready" // the launch finished
	// StateFailed: the launch failed at Step (Error says why) and tore
	// down what it had made.
	StateFailed State = "failed"
	// StateRefused: the self-test refused the bottle (Error says what
	// leaked or could not be proven), and it was torn down.
	StateRefused State = "refused"
	// StateInterrupted: the launch was interrupted at Step — Ctrl-C, or
	// killed and cleaned up since — and what it had made is gone.
	StateInterrupted State = "interrupted"
	StateStopped     State = "stopped" // bottle stop (Stopped says when)
)

// Status is a bottle as `bottle list` shows it: its metadata and what the
// engine holds of it, taken together.
type Status string

const (
	StatusRunning   Status = "running"   // ready, its agent and sidecar running
	StatusLaunching Status = "launching" // a launch is under way
	// StatusIncomplete: the engine holds some of it but not a running
	// bottle (a launch that died, a container that went away), or its
	// launch died before it made anything. bottle cleanup removes it.
	StatusIncomplete  Status = "incomplete"
	StatusStopped     Status = "stopped"
	StatusFailed      Status = "failed"           // its launch failed (Step, Error)
	StatusRefused     Status = "failed self-test" // the self-test refused it (Error)
	StatusInterrupted Status = "interrupted"      // its launch was interrupted (Step)
	// StatusUnknown: the backend it was launched on does not answer
	// (Error says why).
	StatusUnknown Status = "unknown"
)

// normalize fills in what metadata written before States existed leaves
// out: such a bottle finished its launch (only then was bottle.json
// written), and was stopped if it says when.
func (b *Bottle) normalize() {
	if b.State == "" {
		b.State = StateReady
		if !b.Stopped.IsZero() {
			b.State = StateStopped
		}
	}
}

// Ended reports whether the bottle's launch has come to an end that left
// no bottle to use: failed, refused, interrupted or stopped.
func (b *Bottle) Ended() bool {
	switch b.State {
	case StateFailed, StateRefused, StateInterrupted, StateStopped:
		return true
	}
	return !b.Stopped.IsZero()
}

// launchLock is the lock a launch holds on its bottle from its first step
// to its last (LaunchLockFile in the bottle's state directory). The kernel
// drops it when the process dies, kill -9 included: metadata that says
// "launching" while nobody holds the lock is a launch that died.
type launchLock struct{ f *os.File }

func (k *launchLock) release() {
	if k != nil && k.f != nil {
		unlock(k.f)
		k.f.Close()
	}
}

// lockTries is how often taking a bottle's lock is tried when someone
// holds it: a `bottle list` looking at it holds it for a moment.
const lockTries = 20

// lock takes bottle name's lock, making its state directory if need be;
// it fails when another process holds it (a launch, a removal).
func (l *Launcher) lock(name string) (*launchLock, error) {
	if err := os.MkdirAll(l.Dir(name), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(l.Dir(name), contract.LaunchLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		ok, err := tryLock(f, true)
		if ok {
			return &launchLock{f}, nil
		}
		if err != nil || i == lockTries {
			f.Close()
			if err == nil {
				err = fmt.Errorf("bottle %s is being launched or removed by another bottle command; wait for it to end (or Ctrl-C it)", name)
			}
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Busy reports whether a launch (or a removal) of bottle name is under way
// now: whether another process holds its lock.
func (l *Launcher) Busy(name string) bool {
	f, err := os.Open(filepath.Join(l.Dir(name), contract.LaunchLockFile))
	if err != nil {
		return false
	}
	defer f.Close()
	ok, err := tryLock(f, false)
	if ok {
		unlock(f)
	}
	return !ok && err == nil
}

// CheckUsable says why a command cannot be run in bottle b now, and what
// to do, or returns nil: its launch finished and it was not stopped.
func (l *Launcher) CheckUsable(b *Bottle) error {
	switch {
	case b.State == StateLaunching && l.Busy(b.Name):
		return fmt.Errorf("bottle %s is still being launched (at step %s); wait for the launch to finish", b.Name, b.Step)
	case b.State == StateLaunching:
		return fmt.Errorf("bottle %s is incomplete: its launch stopped at step %s (it was killed, or crashed); remove what it left with bottle cleanup (or bottle stop %s), then launch it again", b.Name, b.Step, b.Name)
	case b.State == StateRefused:
		return fmt.Errorf("bottle %s failed its self-test and was torn down; see bottle logs %s --egress, fix what leaked, and launch it again", b.Name, b.Name)
	case b.State == StateFailed:
		return fmt.Errorf("bottle %s failed to launch (at step %s: %s); launch it again", b.Name, b.Step, b.Error)
	case b.State == StateInterrupted:
		return fmt.Errorf("bottle %s was interrupted at step %s of its launch; launch it again", b.Name, b.Step)
	case b.Ended():
		return fmt.Errorf("bottle %s was stopped at %s; launch it again (bottle launch %s), or read its saved logs (bottle logs %s)",
			b.Name, b.Stopped.Local().Format(time.DateTime), b.Name, b.Name)
	}
	return nil
}

// OpenAgentFile opens a file of the command directory, which the agent
// can write: never through a symlink, and only a regular file (a FIFO
// there would hang the reader).
func OpenAgentFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, agentOpenFlags, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readAgentFile reads at most limit bytes of a file of the command
// directory (OpenAgentFile).
func readAgentFile(path string, limit int64) ([]byte, error) {
	f, err := OpenAgentFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(data)) > limit {
		err = fmt.Errorf("%s holds more than %d bytes", path, limit)
	}
	return data, err
}

// CommandDir holds what the agent's supervised commands write: the
// detached command's output and status, the pid files of execs.
func (l *Launcher) CommandDir(name string) string {
	return filepath.Join(l.Dir(name), contract.CommandDir)
}

// CommandState is a detached command as `bottle list` shows it.
type CommandState struct {
	Argv []string `json:"argv"`
	// State: "running", "exited" (ExitCode says how; Signal names the
	// signal that ended it), or "ended with the bottle" (it was stopped,
	// or went away, before the command ended).
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Command states.
const (
	CommandRunning = "running"
	CommandExited  = "exited"
	CommandGone    = "ended with the bottle"
)

// String is the state in a few words: "running", "exited 0", "exited 143
// (TERM)".
func (c *CommandState) String() string {
	if c == nil {
		return "-"
	}
	if c.State == CommandExited && c.ExitCode != nil {
		s := fmt.Sprintf("exited %d", *c.ExitCode)
		if c.Signal != "" {
			s += " (" + c.Signal + ")"
		}
		return s
	}
	return c.State
}

// commandState reads how bottle b's detached command stands; running says
// the bottle is up.
func (l *Launcher) commandState(b *Bottle, running bool) *CommandState {
	if b == nil || len(b.Command) == 0 {
		return nil
	}
	c := &CommandState{Argv: b.Command}
	data, err := readAgentFile(filepath.Join(l.CommandDir(b.Name), contract.CommandStatusFile), contract.MaxStatusBytes)
	switch {
	case err == nil:
		st, perr := contract.ParseCommandStatus(data)
		if perr != nil {
			c.State, c.Error = CommandExited, "unreadable status: "+perr.Error()
			return c
		}
		code := st.ExitCode
		c.State, c.ExitCode, c.Signal, c.Error = CommandExited, &code, st.Signal, st.Error
	case errors.Is(err, os.ErrNotExist) && running:
		c.State = CommandRunning
	case errors.Is(err, os.ErrNotExist):
		c.State = CommandGone
	default:
		c.State, c.Error = CommandExited, err.Error()
	}
	return c
}

// CommandEnded reports whether bottle b's detached command has ended (its
// status is written), for `bottle logs -f`.
func (l *Launcher) CommandEnded(b *Bottle) bool {
	_, err := os.Lstat(filepath.Join(l.CommandDir(b.Name), contract.CommandStatusFile))
	return err == nil
}
