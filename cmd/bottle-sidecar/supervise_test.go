package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/internal/contract"
)

// TestMain lets the tests run this binary as bottle-sidecar itself (a
// supervisor must be a process of its own, with signals of its own).
func TestMain(m *testing.M) {
	if os.Getenv("BOTTLE_SIDECAR_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// self is this binary as bottle-sidecar with args.
func self(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "BOTTLE_SIDECAR_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

func readStatus(t *testing.T, path string) contract.CommandStatus {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := contract.ParseCommandStatus(data)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSuperviseDetached: a detached command's two streams go to the log in
// order, its exit status to the status file, and the pid file is gone once
// it ended; the supervisor exits as the command did.
func TestSuperviseDetached(t *testing.T) {
	dir := t.TempDir()
	log, status, pid := filepath.Join(dir, "output.log"), filepath.Join(dir, "status.json"), filepath.Join(dir, "command.pid")
	argv := []string{"sh", "-c", "echo out; echo err >&2; echo more; exit 3"}
	cmd := self(t, contract.SuperviseOptions{Log: log, Status: status, PidFile: pid}.Args(argv)...)
	out, err := cmd.CombinedOutput()
	if code := exitCode(t, err); code != 3 || len(out) != 0 {
		t.Fatalf("exit %d, output %q", code, out)
	}
	if got, _ := os.ReadFile(log); string(got) != "out\nerr\nmore\n" {
		t.Errorf("log %q", got)
	}
	st := readStatus(t, status)
	if st.ExitCode != 3 || !reflect.DeepEqual(st.Argv, argv) || st.Signal != "" || st.Error != "" || st.Started.IsZero() || st.Ended.Before(st.Started) {
		t.Errorf("status %+v", st)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there: %v", err)
	}
}

// TestSuperviseNotFound: --check says a command that is not there cannot
// start (127) and one that is can (0), without running either; a detached
// command that is not there ends at once with 127 and says why in its log
// and status.
func TestSuperviseNotFound(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	out, err := self(t, contract.SuperviseOptions{Check: true}.Args([]string{"no-such-program-here"})...).CombinedOutput()
	if code := exitCode(t, err); code != contract.ExitNotFound || !strings.Contains(string(out), `"no-such-program-here": executable file not found in $PATH`) {
		t.Errorf("check of a missing command: exit %d %q", code, out)
	}
	out, err = self(t, contract.SuperviseOptions{Check: true}.Args([]string{"sh", "-c", "touch " + marker})...).CombinedOutput()
	if code := exitCode(t, err); code != 0 || len(out) != 0 {
		t.Errorf("check of sh: exit %d %q", code, out)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Error("--check ran the command")
	}
	notExec := filepath.Join(dir, "script")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	if _, err := self(t, contract.SuperviseOptions{Check: true}.Args([]string{notExec})...).CombinedOutput(); exitCode(t, err) != contract.ExitNotExecutable {
		t.Errorf("check of a file without x: %v", err)
	}
	log, status := filepath.Join(dir, "output.log"), filepath.Join(dir, "status.json")
	_, err = self(t, contract.SuperviseOptions{Log: log, Status: status}.Args([]string{"no-such-program-here", "x"})...).CombinedOutput()
	if code := exitCode(t, err); code != contract.ExitNotFound {
		t.Errorf("exit %d", code)
	}
	if got, _ := os.ReadFile(log); !strings.Contains(string(got), "executable file not found") {
		t.Errorf("log %q", got)
	}
	if st := readStatus(t, status); st.ExitCode != contract.ExitNotFound || !strings.Contains(st.Error, "not found") || !st.Started.IsZero() {
		t.Errorf("status %+v", st)
	}
}

// startSupervised starts an attached supervisor of script and returns once
// the script has said "ready" on its stdout; the rest of the stdout is
// what the returned function gives, with the supervisor's exit code.
func startSupervised(t *testing.T, pid, status, script string) func() (string, int) {
	t.Helper()
	cmd := self(t, contract.SuperviseOptions{PidFile: pid, Status: status}.Args([]string{"sh", "-c", script})...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	r := bufio.NewReader(stdout)
	if line, err := r.ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the command said %q (%v)", line, err)
	}
	return func() (string, int) {
		rest, _ := io.ReadAll(r)
		return string(rest), exitCode(t, cmd.Wait())
	}
}

// TestSignalReachesTheCommand: a signal sent with `signal --pid-file`
// reaches the supervised command (which may handle it: this one traps INT
// and exits 7), and the supervisor exits as the command did; one the
// command does not handle ends it, and the status says which (TERM: 143).
func TestSignalReachesTheCommand(t *testing.T) {
	dir := t.TempDir()
	pid := filepath.Join(dir, "exec.pid")
	wait := startSupervised(t, pid, "", `trap 'echo got INT; exit 7' INT; echo ready; while :; do sleep 0.05; done`)
	if out, err := self(t, contract.SignalArgs(pid, "INT")...).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "sent INT to ") {
		t.Fatalf("signal: %v %q", err, out)
	}
	if out, code := wait(); code != 7 || out != "got INT\n" {
		t.Errorf("after INT: exit %d, output %q", code, out)
	}

	status := filepath.Join(dir, "status.json")
	wait = startSupervised(t, pid, status, `echo ready; exec sleep 60`)
	if out, err := self(t, contract.SignalArgs(pid, "term")...).CombinedOutput(); err != nil {
		t.Fatalf("signal: %v %q", err, out)
	}
	if _, code := wait(); code != 143 {
		t.Errorf("after TERM: exit %d", code)
	}
	if st := readStatus(t, status); st.ExitCode != 143 || st.Signal != "TERM" {
		t.Errorf("status %+v", st)
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there: %v", err)
	}
}

// TestSignalRefuses: no pid file (the command ended) is a failure that
// says so, after waiting as long as asked; a bad signal is a usage error.
func TestSignalRefuses(t *testing.T) {
	pid := filepath.Join(t.TempDir(), "gone.pid")
	start := time.Now()
	out, err := self(t, "signal", "--pid-file", pid, "--wait", "0", "INT").CombinedOutput()
	if code := exitCode(t, err); code != 1 || !strings.Contains(string(out), "the command has ended, or never started") {
		t.Errorf("exit %d %q", code, out)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("waited %v with --wait 0", time.Since(start))
	}
	for _, args := range [][]string{{"signal", "--pid-file", pid, "BOGUS"}, {"signal", "INT"}, {"signal", "--pid-file", pid}} {
		var errb bytes.Buffer
		if code := signalCmd(args[1:], io.Discard, &errb); code != probeUsage || !strings.Contains(errb.String(), "usage: bottle-probe signal") {
			t.Errorf("%q: exit %d %q", args, code, errb.String())
		}
	}
	var errb bytes.Buffer
	if code := superviseCmd([]string{"--log", "x"}, nil, io.Discard, &errb); code != probeUsage || !strings.Contains(errb.String(), "no command") {
		t.Errorf("supervise without a command: %d %q", code, errb.String())
	}
}
