package launcher

import (
	"bytes"
	"context"
	"errors"
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
