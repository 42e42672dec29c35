package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// fakeEngine puts fake `docker` and `container` programs first on PATH.
// Each records its argv (one line per call) in calls, and answers from a
// small script: listing by labels prints what labelled holds, logs print
// logOutput, anything else succeeds silently.
type fakeEngine struct {
	t     *testing.T
	dir   string
	state string
}

func newFakeEngine(t *testing.T) *fakeEngine {
	t.Helper()
	f := &fakeEngine{t: t, dir: t.TempDir(), state: t.TempDir()}
	script := `#!/bin/sh
name=$(basename "$0")
printf '%s\n' "$name $*" >> "$FAKE_DIR/calls"
case "$*" in
  "version --format"*) echo 20.10.0 ;;
  "--version") echo "container CLI version 1.2.2 (build: release, commit: fake)" ;;
  "system status"*) echo '{"status":"running"}' ;;
  "ps -a"*) [ -f "$FAKE_DIR/ps.$name" ] && cat "$FAKE_DIR/ps.$name" ;;
  "list --all"*) if [ -f "$FAKE_DIR/ps.$name" ]; then cat "$FAKE_DIR/ps.$name"; else echo '[]'; fi ;;
  "network ls"*) ;;
  "network list"*) echo '[]' ;;
  logs*) cat "$FAKE_DIR/logs" 2>/dev/null ;;
esac
exit 0
`
	for _, n := range []string{"docker", "container"} {
		if err := os.WriteFile(filepath.Join(f.dir, n), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", f.dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_DIR", f.dir)
	t.Setenv("XDG_STATE_HOME", f.state)
	t.Setenv("BOTTLE_BACKEND", "")
	return f
}

func (f *fakeEngine) calls() []string {
	b, _ := os.ReadFile(filepath.Join(f.dir, "calls"))
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// bottle writes the metadata of a running bottle launched on backend.
func (f *fakeEngine) bottle(name, backend string) *launcher.Bottle {
	f.t.Helper()
	b := &launcher.Bottle{Name: name, Backend: backend, Agent: "bottle-" + name + "-agent", Sidecar: "bottle-" + name + "-sidecar",
		AgentUser: "agent", StateDir: filepath.Join(f.state, "bottle", name)}
	os.MkdirAll(filepath.Join(b.StateDir, "logs"), 0o700)
	os.MkdirAll(filepath.Join(b.StateDir, "config"), 0o700)
	data, _ := json.Marshal(b)
	os.WriteFile(filepath.Join(b.StateDir, "bottle.json"), data, 0o600)
	return b
}

// running makes the fake engine list name's agent and sidecar.
func (f *fakeEngine) running(name, backend string) {
	var line string
	owner := launcher.Owner(filepath.Join(f.state, "bottle"))
	if backend == "docker" {
		for _, role := range []string{"agent", "sidecar"} {
			line += `{"Names":"bottle-` + name + `-` + role + `","State":"running","Labels":"dev.bottle.managed=true,dev.bottle.owner=` + owner + `,dev.bottle.name=` + name + `,dev.bottle.role=` + role + `"}` + "\n"
		}
	} else {
		line = `[{"id":"bottle-` + name + `-agent","configuration":{"id":"bottle-` + name + `-agent","labels":{"dev.bottle.managed":"true","dev.bottle.owner":"` + owner + `","dev.bottle.name":"` + name + `","dev.bottle.role":"agent"},"image":{"reference":"x"}},"status":{"state":"running","networks":[]}}]`
	}
	bin := map[string]string{"docker": "docker", "macos-container": "container"}[backend]
	os.WriteFile(filepath.Join(f.dir, "ps."+bin), []byte(line), 0o644)
}

// runFiles runs the CLI with real files as its streams.
func runFiles(t *testing.T, in, out *os.File, args ...string) (int, string) {
	t.Helper()
	var errb bytes.Buffer
	code := Main(context.Background(), args, &IOStreams{In: in, Out: out, Err: &errb}, Build{Version: "test"})
	return code, errb.String()
}

// TestExecWithoutTerminal: in scripts and cron, stdin or stdout is
// /dev/null, a pipe or a file — never a terminal, so exec must not ask the
// engine for one (docker then fails: "the input device is not a TTY").
func TestExecWithoutTerminal(t *testing.T) {
	f := newFakeEngine(t)
	f.bottle("demo", "docker")
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	file, _ := os.Create(filepath.Join(t.TempDir(), "out"))
	defer file.Close()
	for name, streams := range map[string][2]*os.File{
		"stdin /dev/null": {devnull, file}, "stdout /dev/null": {pr, devnull},
		"stdin pipe": {pr, file}, "stdout pipe": {devnull, pw}, "stdout file": {devnull, file},
	} {
		os.Remove(filepath.Join(f.dir, "calls"))
		if code, errs := runFiles(t, streams[0], streams[1], "exec", "demo", "--", "true"); code != 0 {
			t.Errorf("%s: exit %d %s", name, code, errs)
		}
		calls := f.calls()
		if len(calls) != 1 || !strings.HasPrefix(calls[0], "docker exec -i -u agent -w /workspace bottle-demo-agent true") {
			t.Errorf("%s: %q", name, calls)
		}
	}
}

// TestVerbsUseRecordedBackend: a bottle launched on macos-container is
// stopped there, even where docker would be picked now.
func TestVerbsUseRecordedBackend(t *testing.T) {
	f := newFakeEngine(t)
	f.bottle("demo", "macos-container")
	f.running("demo", "macos-container")
	r := run(t, t.TempDir(), "stop", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "stopped demo") {
		t.Fatalf("stop: %+v", r)
	}
	for _, c := range f.calls() {
		if strings.HasPrefix(c, "docker ") && !strings.HasPrefix(c, "docker version") {
			t.Errorf("docker was used for a macos-container bottle: %s", c)
		}
	}
	var removed bool
	for _, c := range f.calls() {
		removed = removed || c == "container delete --force bottle-demo-agent"
	}
	if !removed {
		t.Errorf("the agent was not removed through container: %q", f.calls())
	}
}

// TestStopNames: an unknown name is an error; a stopped bottle's saved logs
// are not touched by another stop; a name that is not a bottle name is a
// usage error in every verb.
func TestStopNames(t *testing.T) {
	f := newFakeEngine(t)
	r := run(t, t.TempDir(), "stop", "nothere")
	if r.code != ExitError || !strings.Contains(r.stderr, `no bottle named "nothere"`) || strings.Contains(r.stdout, "stopped") {
		t.Errorf("unknown: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(f.state, "bottle", "nothere")); !os.IsNotExist(err) {
		t.Errorf("a state dir was made for an unknown name: %v", err)
	}

	b := f.bottle("demo", "docker")
	f.running("demo", "docker")
	os.WriteFile(filepath.Join(f.dir, "logs"), []byte("the agent's log\n"), 0o644)
	if r := run(t, t.TempDir(), "stop", "demo"); r.code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	os.Remove(filepath.Join(f.dir, "ps.docker"))
	os.WriteFile(filepath.Join(f.dir, "logs"), []byte("Error: No such container\n"), 0o644)
	r = run(t, t.TempDir(), "stop", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "demo was already stopped") {
		t.Errorf("second stop: %+v", r)
	}
	if log, _ := os.ReadFile(filepath.Join(b.StateDir, "logs", "sidecar.log")); string(log) != "the agent's log\n" {
		t.Errorf("the saved log was overwritten: %q", log)
	}
	// A stopped bottle's logs are the saved ones.
	if r := run(t, t.TempDir(), "logs", "demo"); r.code != 0 || r.stdout != "the agent's log\n" {
		t.Errorf("logs of a stopped bottle: %+v", r)
	}
	if r := run(t, t.TempDir(), "exec", "demo", "--", "true"); r.code != ExitError || !strings.Contains(r.stderr, "was stopped") {
		t.Errorf("exec in a stopped bottle: %+v", r)
	}

	os.Remove(filepath.Join(f.dir, "calls"))
	for _, args := range [][]string{
		{"exec", "../../evil", "--", "id"}, {"shell", "../x"}, {"logs", "a/b"}, {"stop", "../../evil"},
		{"allow", "add", "x.test", "--bottle", "../../evil"}, {"allow", "list", "--bottle", ".."},
		{"ca", "export", "--bottle", "../../evil"},
	} {
		if r := run(t, t.TempDir(), args...); r.code != ExitUsage || !strings.Contains(r.stderr, "bottle name") {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if c := f.calls(); len(c) > 1 || c[0] != "" {
		t.Errorf("the engine was called for invalid names: %q", c)
	}
}

// TestAllowWaitsForTheSidecar: `allow add --bottle` reports "applied" only
// when the sidecar's status file names the hash of the file it wrote, and
// the sidecar's errors when it rejected it.
func TestAllowWaitsForTheSidecar(t *testing.T) {
	f := newFakeEngine(t)
	b := f.bottle("demo", "docker")
	live := filepath.Join(b.StateDir, "config", "allowlist.yaml")
	os.WriteFile(live, []byte("version: 1\nallow:\n  - host: a.test\n"), 0o600)
	status := filepath.Join(b.StateDir, "logs", contract.StatusFile)
	// A sidecar that answers the next write of the live file.
	sidecar := func(ok bool) chan struct{} {
		done := make(chan struct{})
		before, _ := os.ReadFile(live)
		go func() {
			defer close(done)
			for range 200 {
				now, _ := os.ReadFile(live)
				if !bytes.Equal(now, before) {
					st := contract.ReloadStatus{Time: time.Now(), Tried: contract.Hash(now), OK: ok}
					if !ok {
						st.Errors = "allowlist.yaml:3:11: made-up rejection"
					}
					contract.WriteStatus(status, st)
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		return done
	}
	done := sidecar(true)
	r := run(t, t.TempDir(), "allow", "add", "b.test", "--bottle", "demo")
	<-done
	if r.code != 0 || !strings.Contains(r.stderr, "the sidecar of demo applied it") {
		t.Errorf("applied: %+v", r)
	}
	done = sidecar(false)
	r = run(t, t.TempDir(), "allow", "add", "c.test", "--bottle", "demo")
	<-done
	if r.code != ExitError || !strings.Contains(r.stderr, "rejected the new file") || !strings.Contains(r.stderr, "made-up rejection") {
		t.Errorf("rejected: %+v", r)
	}
	// Words in the sidecar's log (which the agent can write into) mean
	// nothing: only the status file counts.
	os.WriteFile(filepath.Join(f.dir, "logs"), []byte("policy reloaded policy reloaded\n"), 0o644)
	defer func(d time.Duration) { applyWait = d }(applyWait)
	applyWait = 300 * time.Millisecond
	r = run(t, t.TempDir(), "allow", "add", "d.test", "--bottle", "demo")
	if r.code != ExitError || !strings.Contains(r.stderr, "did not confirm") || !strings.Contains(r.stderr, "bottle logs demo --sidecar") || !strings.Contains(r.stderr, "within 300ms") || strings.Contains(r.stderr, "docker logs") {
		t.Errorf("no confirmation: %+v", r)
	}
}

// TestLogsEscapeTerminalControls: hosts and agent output cannot drive the
// terminal (C0, C1, DEL, bidi; OSC 52 writes the clipboard).
func TestLogsEscapeTerminalControls(t *testing.T) {
	f := newFakeEngine(t)
	b := f.bottle("demo", "docker")
	f.running("demo", "docker")
	audit := `{"time":"t","kind":"request","method":"GET","host":"\u009b2Jevil\u202e.test","port":80,"path":"/x\u001b[31m","decision":"deny","rule":"default","reason":"no rule","status":403,"error":"boom"}` + "\n"
	os.WriteFile(filepath.Join(b.StateDir, "logs", contract.AuditFile), []byte(audit), 0o600)
	r := run(t, t.TempDir(), "logs", "demo", "--egress")
	if r.code != 0 || strings.ContainsAny(r.stdout, "\u009b\u202e\x1b") || !strings.Contains(r.stdout, `\u{009b}2Jevil\u{202e}.test:80/x\x1b[31m`) || !strings.Contains(r.stdout, "error: boom") {
		t.Errorf("egress text: %+v", r)
	}
	r = run(t, t.TempDir(), "logs", "demo", "--egress", "--json")
	var rec map[string]any
	if r.code != 0 || strings.ContainsAny(r.stdout, "\u009b\u202e") || json.Unmarshal([]byte(r.stdout), &rec) != nil || rec["host"] != "\u009b2Jevil\u202e.test" {
		t.Errorf("egress json: %+v", r)
	}
	os.WriteFile(filepath.Join(f.dir, "logs"), []byte("hi \x1b]52;c;ZXZpbA==\x07 there\n"), 0o644)
	if r := run(t, t.TempDir(), "logs", "demo"); r.code != 0 || r.stdout != `hi \x1b]52;c;ZXZpbA==\x07 there`+"\n" {
		t.Errorf("agent log: %q", r.stdout)
	}
	if r := run(t, t.TempDir(), "logs", "demo", "--raw"); r.stdout != "hi \x1b]52;c;ZXZpbA==\x07 there\n" {
		t.Errorf("--raw: %q", r.stdout)
	}
}
