// Package enginecli is the plumbing the command-line backends
// (launcher/docker, launcher/macoscontainer) share: one engine program, run
// through a launcher.Runner, asked a question, told to do something, or
// handed a build, an exec or a log stream. What differs between the engines
// stays in each backend: their argv dialects, the phrases of their errors,
// the shapes of their JSON.
package enginecli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/workspace"
)

// CLI is an engine's program.
type CLI struct {
	Runner launcher.Runner // nil: launcher.ExecRunner
	Bin    string          // the program's name (found on PATH) or path
}

func (c CLI) argv(args []string) []string { return append([]string{c.Bin}, args...) }

// Output runs the program with args and returns its trimmed stdout.
func (c CLI) Output(ctx context.Context, args ...string) (string, error) {
	return launcher.Output(ctx, c.Runner, c.argv(args)...)
}

// Run runs the program with args for what it does; its stdout is dropped.
func (c CLI) Run(ctx context.Context, args ...string) error {
	_, err := c.Output(ctx, args...)
	return err
}

// RunUnlessGone runs the program with args, and takes the engine saying
// that the object is not there (gone) for done: removals are idempotent.
// Anything else, a missing program or a dead engine included, is an error.
func (c CLI) RunUnlessGone(ctx context.Context, gone func(error) bool, args ...string) error {
	if err := c.Run(ctx, args...); err != nil && !gone(err) {
		return err
	}
	return nil
}

// Exists asks whether an object is there by running a command that fails
// when it is not: gone says which failure is the engine's "no such …".
func (c CLI) Exists(ctx context.Context, gone func(error) bool, args ...string) (bool, error) {
	err := c.Run(ctx, args...)
	switch {
	case err == nil:
		return true, nil
	case gone(err):
		return false, nil
	}
	return false, err
}

// OutputUnlessGone is Output, with the engine saying that the object is
// not there (gone) taken for "": an inspect of what may be missing.
func (c CLI) OutputUnlessGone(ctx context.Context, gone func(error) bool, args ...string) (string, error) {
	out, err := c.Output(ctx, args...)
	switch {
	case err == nil:
		return out, nil
	case gone(err):
		return "", nil
	}
	return "", err
}

// Exec runs a command in a running container; the command's exit status
// is in the returned *launcher.RunError.
func (c CLI) Exec(ctx context.Context, name string, e launcher.ExecSpec) error {
	return c.runner().Run(ctx, launcher.Cmd{Argv: c.argv(launcher.ExecArgs(name, e)), Stdin: e.Stdin, Stdout: e.Stdout, Stderr: e.Stderr})
}

// Logs copies a container's output (both of its streams) to out; with
// follow, until the container stops or ctx ends.
func (c CLI) Logs(ctx context.Context, name string, follow bool, out io.Writer) error {
	args := []string{"logs"}
	if follow {
		args = append(args, "-f")
	}
	return c.runner().Run(ctx, launcher.Cmd{Argv: c.argv(append(args, name)), Stdout: out, Stderr: out})
}

// CopyOutStream runs the program with args — a copy out of a container
// that writes a tar stream of the directory top to stdout (`docker cp
// NAME:/top -`) — and extracts the stream into dst with
// workspace.Extract: bounded by limit as it arrives, nothing outside dst,
// no special file made. When the extraction refuses, the copy is stopped.
func (c CLI) CopyOutStream(ctx context.Context, args []string, dst, top string, limit workspace.Limit) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	ran := make(chan error, 1)
	go func() {
		err := c.runner().Run(ctx, launcher.Cmd{Argv: c.argv(args), Stdout: pw})
		pw.CloseWithError(err)
		ran <- err
	}()
	err := workspace.Extract(pr, dst, top, limit)
	if err != nil {
		cancel() // the rest of the stream is not wanted
	}
	pr.CloseWithError(errors.New("the copy was refused"))
	if runErr := <-ran; err == nil && runErr != nil {
		return runErr
	}
	return err
}

// buildTail is how much of a failed build's output its error carries: the
// step that failed and what it said, not the whole log.
const buildTail = 30

// Build runs an image build with args. Its output goes to progress when
// that is set; a failure carries the end of it (the last line when
// progress has shown the rest) as its RunError's Output, once: the
// build's stderr is in it, and is not repeated.
func (c CLI) Build(ctx context.Context, args []string, progress io.Writer) error {
	var log bytes.Buffer
	w := io.Writer(&log)
	tail := buildTail
	if progress != nil {
		w, tail = io.MultiWriter(&log, progress), 1
	}
	err := c.runner().Run(ctx, launcher.Cmd{Argv: c.argv(args), Stdout: w, Stderr: w})
	var re *launcher.RunError
	if errors.As(err, &re) {
		withOutput := *re
		withOutput.Output = lastLines(log.String(), tail)
		return &withOutput
	}
	return err
}

func (c CLI) runner() launcher.Runner { return launcher.OrExec(c.Runner) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
