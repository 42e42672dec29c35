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
	"path/filepath"
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
// said. Its message is a command a person can paste; Brief is one line.
type RunError struct {
	Argv     []string
	ExitCode int
	Stderr   string
	// Output, when set, is the end of the command's whole output (both
	// streams, in order), which says more than its stderr: an image
	// build's. The message shows it instead of Stderr, which it holds.
	Output string
	Err    error
}

func (e *RunError) Error() string {
	// What the command said may be an image's own output: no terminal
	// controls.
	if out := strings.TrimRight(e.Output, "\n"); strings.TrimSpace(out) != "" {
		return fmt.Sprintf("`%s` failed (exit %d); the end of its output:\n%s", PrettyCommand(e.Argv), e.ExitCode, termsafe.Escape(out))
	}
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("`%s` failed (exit %d): %s", PrettyCommand(e.Argv), e.ExitCode, termsafe.Escape(msg))
}

// Brief is the failure in one line: the program and its verb (docker
// build, container network create), the exit status and the last line it
// said — not the whole argv and output, which Error gives.
func (e *RunError) Brief() string {
	last := lastLine(e.Output)
	if last == "" {
		last = lastLine(e.Stderr)
	}
	if last == "" {
		last = e.Err.Error()
	}
	return fmt.Sprintf("%s failed (exit %d): %s", commandName(e.Argv), e.ExitCode, termsafe.Line(last))
}

// commandName is a program and the words after it up to its first flag,
// two at most: "docker build", "docker network create", "go build".
func commandName(argv []string) string {
	if len(argv) == 0 {
		return "a command"
	}
	words := []string{filepath.Base(argv[0])}
	for _, a := range argv[1:] {
		if strings.HasPrefix(a, "-") || len(words) == 3 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Brief is err with every external command in it said in one line
// (RunError.Brief): what a launch step's failure prints without -v. The
// rest of the message is left as it is.
func Brief(err error) string {
	msg := err.Error()
	for _, re := range runErrors(err) {
		msg = strings.Replace(msg, re.Error(), re.Brief(), 1)
	}
	return msg
}

// runErrors are the RunErrors in err's tree, outermost first.
func runErrors(err error) []*RunError {
	if re, ok := err.(*RunError); ok {
		return []*RunError{re}
	}
	var out []*RunError
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			out = runErrors(inner)
		}
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			if inner != nil {
				out = append(out, runErrors(inner)...)
			}
		}
	}
	return out
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
	cmd.SysProcAttr = processGroup(c.Stdin)
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
