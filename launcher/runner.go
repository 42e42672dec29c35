package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
)

// Runner runs one external command. Backends hold one in a struct field, so
// tests substitute a fake that records argv.
type Runner interface {
	Run(ctx context.Context, cmd Cmd) error
}

// Cmd is one external command and where its streams go.
type Cmd struct {
	Argv  []string
	Stdin io.Reader
	// Stdout receives the command's output; nil discards it.
	Stdout io.Writer
	// Stderr receives what the command says on its error stream. Whether
	// or not it is set, a failure carries that text in its RunError.
	Stderr io.Writer
	// Dir is the working directory; "" is this process's.
	Dir string
	// Env holds K=V set on top of this process's environment (not instead
	// of it); nil runs the command in the environment as it is.
	Env []string
}

// RunError is a failed external command: what ran, how it ended, what it
// said. Its message is a command a person can paste.
type RunError struct {
	Argv     []string
	ExitCode int
	Stderr   string
	Err      error
}

func (e *RunError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	// The stderr may be an image's own output: no terminal controls.
	return fmt.Sprintf("`%s` failed (exit %d): %s", PrettyCommand(e.Argv), e.ExitCode, termsafe.Escape(msg))
}

// StderrSays reports whether err is a command that ran and failed, and whose
// stderr contains one of phrases (case-insensitive). Backends classify the
// engine's answers with it — "no such container" and the like — so that a
// missing binary or a dead daemon (which never say such a thing) is never
// mistaken for "already gone".
func StderrSays(err error, phrases ...string) bool {
	var re *RunError
	if !errors.As(err, &re) || re.ExitCode <= 0 {
		return false
	}
	s := strings.ToLower(re.Stderr)
	for _, p := range phrases {
		if strings.Contains(s, strings.ToLower(p)) {
			return true
		}
	}
	return false
}

// NotInstalled reports whether err is a command that could not be started
// because its program is not on PATH.
func NotInstalled(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

func (e *RunError) Unwrap() error { return e.Err }

// PrettyCommand quotes argv for a POSIX shell. The values of environment
// flags (-e K=V, --env K=V, --env=K=V) are shown as K=***: a printed command
// never carries a secret.
func PrettyCommand(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if i > 0 && (argv[i-1] == "-e" || argv[i-1] == "--env") {
			a = redactEnv(a)
		} else if v, ok := strings.CutPrefix(a, "--env="); ok {
			a = "--env=" + redactEnv(v)
		}
		out[i] = a
	}
	return shquote.Join(out)
}

func redactEnv(kv string) string {
	if k, v, ok := strings.Cut(kv, "="); ok && v != "" {
		return k + "=***"
	}
	return kv
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, c Cmd) error {
	if len(c.Argv) == 0 {
		return errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.WaitDelay = 5 * time.Second // a child that keeps our pipes open cannot hang us
	cmd.Stdin = c.Stdin
	cmd.Dir = c.Dir
	if c.Env != nil {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	stdout, errOut := c.Stdout, c.Stderr
	if stdout != nil && stdout == errOut {
		// One writer for both streams: os/exec copies each stream on its
		// own goroutine, so the writer must take turns.
		lw := &lockedWriter{w: stdout}
		stdout, errOut = lw, lw
	}
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	if errOut != nil {
		cmd.Stderr = io.MultiWriter(errOut, &stderr)
	} else {
		cmd.Stderr = &stderr
	}
	err := cmd.Run()
	if err == nil {
		return nil
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return &RunError{Argv: c.Argv, ExitCode: code, Stderr: stderr.String(), Err: err}
}

// ExitCode returns the exit status carried by err, or -1.
func ExitCode(err error) int {
	var re *RunError
	if errors.As(err, &re) {
		return re.ExitCode
	}
	return -1
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// OrExec returns r, or ExecRunner when r is nil (a backend's zero value
// means "really run the program").
func OrExec(r Runner) Runner {
	if r == nil {
		return ExecRunner{}
	}
	return r
}

// Output runs argv through r and returns its trimmed stdout.
func Output(ctx context.Context, r Runner, argv ...string) (string, error) {
	var out bytes.Buffer
	err := OrExec(r).Run(ctx, Cmd{Argv: argv, Stdout: &out})
	return strings.TrimSpace(out.String()), err
}
