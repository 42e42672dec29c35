package enginecli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/launcher"
)

// script is a Runner that records each command and answers from a
// function of its argv.
type script struct {
	calls  []launcher.Cmd
	answer func(c launcher.Cmd) error
}

func (s *script) Run(_ context.Context, c launcher.Cmd) error {
	s.calls = append(s.calls, c)
	if s.answer == nil {
		return nil
	}
	return s.answer(c)
}

var (
	gone     = &launcher.RunError{Argv: []string{"eng"}, ExitCode: 1, Stderr: "Error: no such thing: x"}
	dead     = &launcher.RunError{Argv: []string{"eng"}, ExitCode: 1, Stderr: "Cannot connect to the engine"}
	noBinary = &launcher.RunError{Argv: []string{"eng"}, ExitCode: -1, Err: exec.ErrNotFound}
)

func isGone(err error) bool { return launcher.StderrSays(err, "no such thing") }

// TestAnswersClassified: the engine saying "no such …" means absent (or
// already removed); a dead engine or a missing program is an error, never
// "not there".
func TestAnswersClassified(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		err     error
		exists  bool
		failing bool
	}{
		{"there", nil, true, false},
		{"gone", gone, false, false},
		{"dead engine", dead, false, true},
		{"no program", noBinary, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &script{answer: func(launcher.Cmd) error { return tc.err }}
			c := CLI{Runner: r, Bin: "eng"}
			ok, err := c.Exists(ctx, isGone, "thing", "inspect", "x")
			if ok != tc.exists || (err != nil) != tc.failing {
				t.Errorf("Exists = %v, %v", ok, err)
			}
			if err := c.RunUnlessGone(ctx, isGone, "thing", "rm", "x"); (err != nil) != tc.failing {
				t.Errorf("RunUnlessGone = %v", err)
			}
			want := [][]string{{"eng", "thing", "inspect", "x"}, {"eng", "thing", "rm", "x"}}
			if got := argvs(r.calls); !slices.EqualFunc(got, want, slices.Equal) {
				t.Errorf("ran %q", got)
			}
		})
	}
}

// TestExecAndLogsStreams: exec hands the command the caller's streams;
// logs puts both of the container's streams into one writer, -f only when
// following.
func TestExecAndLogsStreams(t *testing.T) {
	r := &script{}
	c := CLI{Runner: r, Bin: "eng"}
	in, out, errw := strings.NewReader("x"), &bytes.Buffer{}, &bytes.Buffer{}
	c.Exec(context.Background(), "box", launcher.ExecSpec{Argv: []string{"id", "-u"}, User: "0", Stdin: in, Stdout: out, Stderr: errw})
	var logs bytes.Buffer
	c.Logs(context.Background(), "box", false, &logs)
	c.Logs(context.Background(), "box", true, &logs)
	want := [][]string{{"eng", "exec", "-i", "-u", "0", "box", "id", "-u"}, {"eng", "logs", "box"}, {"eng", "logs", "-f", "box"}}
	if got := argvs(r.calls); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("ran %q", got)
	}
	if e := r.calls[0]; e.Stdin != in || e.Stdout != out || e.Stderr != errw {
		t.Error("exec did not get the caller's streams")
	}
	if l := r.calls[1]; l.Stdout != &logs || l.Stderr != &logs {
		t.Error("logs did not write both streams to the writer")
	}
}

// TestBuildOutput: without progress, a failure carries the last lines of
// the build's output once, escaped (they are the image's commands
// talking), the stderr that is in them not repeated, and says itself in
// one line (Brief) with the last of them; with progress, where the output
// has streamed, a failure carries its last line only.
func TestBuildOutput(t *testing.T) {
	var lines []string
	for i := 1; i <= 40; i++ {
		lines = append(lines, fmt.Sprintf("step %d", i))
	}
	lines[39] = "step 40 \x1b]52;c;ZXZpbA==\x07 failed"
	failing := func(c launcher.Cmd) error {
		io.WriteString(c.Stdout, strings.Join(lines[:20], "\n")+"\n")
		io.WriteString(c.Stderr, strings.Join(lines[20:], "\n")+"\n")
		return &launcher.RunError{Argv: c.Argv, ExitCode: 1, Stderr: strings.Join(lines[20:], "\n") + "\n", Err: errors.New("exit status 1")}
	}
	c := CLI{Runner: &script{answer: failing}, Bin: "eng"}
	err := c.Build(context.Background(), []string{"build", "-t", "t", "/ctx"}, nil)
	var re *launcher.RunError
	if !errors.As(err, &re) {
		t.Fatalf("not a RunError: %v", err)
	}
	msg := err.Error()
	tail := strings.SplitN(msg, "; the end of its output:\n", 2)
	if len(tail) != 2 || tail[0] != "`eng build -t t /ctx` failed (exit 1)" {
		t.Fatalf("no build output in %q", msg)
	}
	got := strings.Split(tail[1], "\n")
	if len(got) != buildTail || got[0] != "step 11" || got[buildTail-1] != `step 40 \x1b]52;c;ZXZpbA==\x07 failed` {
		t.Errorf("tail of %d lines: %q", len(got), got)
	}
	if strings.Count(msg, "step 21\n") != 1 {
		t.Errorf("the stderr is repeated: %q", msg)
	}
	if b := re.Brief(); b != `eng build failed (exit 1): step 40 \x1b]52;c;ZXZpbA==\x07 failed` {
		t.Errorf("brief: %q", b)
	}

	var progress bytes.Buffer
	c = CLI{Runner: &script{answer: failing}, Bin: "eng"}
	err = c.Build(context.Background(), []string{"build", "/ctx"}, &progress)
	if err == nil || strings.Count(err.Error(), "step") != 1 || !strings.HasSuffix(err.Error(), "step 40 \\x1b]52;c;ZXZpbA==\\x07 failed") || strings.Count(progress.String(), "step") != 40 {
		t.Errorf("with progress: %v; progress %q", err, progress.String())
	}
}

func argvs(cs []launcher.Cmd) [][]string {
	var out [][]string
	for _, c := range cs {
		out = append(out, c.Argv)
	}
	return out
}
