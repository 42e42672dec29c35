package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExecRunnerSharedWriter(t *testing.T) {
	var buf bytes.Buffer
	// Both streams at once into one buffer: must not race (run with -race).
	err := ExecRunner{}.Run(context.Background(), Cmd{
		Argv:   []string{"sh", "-c", "for i in $(seq 200); do echo out$i; echo err$i >&2; done"},
		Stdout: &buf, Stderr: &buf,
	})
	if err != nil || strings.Count(buf.String(), "out") != 200 || strings.Count(buf.String(), "err") != 200 {
		t.Fatalf("%v: %d bytes", err, buf.Len())
	}
}

func TestRunErrorIsPasteable(t *testing.T) {
	err := ExecRunner{}.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo nope >&2; exit 3", "my arg"}})
	var re *RunError
	if !errors.As(err, &re) || re.ExitCode != 3 || ExitCode(err) != 3 {
		t.Fatalf("%v", err)
	}
	want := "`sh -c 'echo nope >&2; exit 3' 'my arg'` failed (exit 3): nope"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if err := (ExecRunner{}).Run(context.Background(), Cmd{Argv: []string{"/nonexistent/bin"}}); ExitCode(err) != -1 {
		t.Errorf("missing binary: %v", err)
	}
}

// TestPrettyCommandRedactsEnv: a printed command never carries the value
// of an environment flag, in any of its spellings.
func TestPrettyCommandRedactsEnv(t *testing.T) {
	got := PrettyCommand([]string{"docker", "create", "-e", "ANTHROPIC_API_KEY=sk-secret", "--env", "B=also secret", "--env=C=x", "-e", "NAME_ONLY", "-e", "EMPTY=", "img"})
	want := "docker create -e 'ANTHROPIC_API_KEY=***' --env 'B=***' '--env=C=***' -e NAME_ONLY -e EMPTY= img"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	err := &RunError{Argv: []string{"docker", "exec", "-e", "TOKEN=sk-1", "c", "x"}, ExitCode: 1, Stderr: "boom \x1b]52;c;eA==\x07"}
	if msg := err.Error(); strings.Contains(msg, "sk-1") || strings.Contains(msg, "\x1b") {
		t.Errorf("RunError: %q", msg)
	}
}

// TestExecRunnerDirAndEnv: a command runs in Dir, with Env on top of this
// process's environment rather than instead of it.
func TestExecRunnerDirAndEnv(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := ExecRunner{}.Run(context.Background(), Cmd{
		Argv: []string{"sh", "-c", `pwd -P; printf '%s\n' "$BOTTLE_TEST_VAR"; [ -n "$PATH" ] && echo inherited`},
		Dir:  dir, Env: []string{"BOTTLE_TEST_VAR=set here"}, Stdout: &out,
	})
	real, _ := filepath.EvalSymlinks(dir)
	if want := real + "\nset here\ninherited\n"; err != nil || out.String() != want {
		t.Errorf("%v: got %q, want %q", err, out.String(), want)
	}
}

// TestPrettyCommandPastes: what PrettyCommand prints, pasted into a shell,
// is the same argv again.
func TestPrettyCommandPastes(t *testing.T) {
	argv := []string{"printf", `%s\0`, "a b", "it's", "$(id)", "`id`", "*", "x|y&z;#", "new\nline", "", "^caret", "é", "~user", "!bang", `back\slash`, "{a,b}"}
	out, err := exec.Command("sh", "-c", PrettyCommand(argv)).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if want := argv[2:]; !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestBrief: every external command in an error says itself in one line —
// program, verb, exit status, the last line it said — wherever it is in
// the error's tree, and the rest of the message stays as it is.
func TestBrief(t *testing.T) {
	build := &RunError{Argv: []string{"/usr/bin/docker", "build", "-f", "/x/Dockerfile", "-t", "t", "/x"}, ExitCode: 1,
		Stderr: "#5 ERROR: boom\n", Output: "#4 RUN make\n#5 ERROR: boom\nERROR: failed to solve: process \"make\" did not complete\n", Err: errors.New("exit status 1")}
	if got := build.Brief(); got != `docker build failed (exit 1): ERROR: failed to solve: process "make" did not complete` {
		t.Errorf("build: %s", got)
	}
	if strings.Count(build.Error(), "ERROR: boom") != 1 || !strings.HasPrefix(build.Error(), "`/usr/bin/docker build -f /x/Dockerfile -t t /x` failed (exit 1); the end of its output:\n#4 RUN make\n") {
		t.Errorf("build in full: %s", build.Error())
	}
	cp := &RunError{Argv: []string{"container", "network", "create", "--internal", "n"}, ExitCode: 1, Stderr: "Error: one\nError: network n already exists\n", Err: errors.New("exit status 1")}
	gone := &RunError{Argv: []string{"docker"}, ExitCode: -1, Err: errors.New("signal: killed")}
	err := fmt.Errorf("copying: %w", errors.Join(cp, fmt.Errorf("and then: %w", gone), errors.New("plain\nsecond line")))
	want := "copying: container network create failed (exit 1): Error: network n already exists\nand then: docker failed (exit -1): signal: killed\nplain\nsecond line"
	if got := Brief(err); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := Brief(errors.New("no command here")); got != "no command here" {
		t.Errorf("%q", got)
	}
}
