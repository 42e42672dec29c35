package fakebackend

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// The agent's supervised commands, as the fake plays them: a few programs
// it knows (echo, true, false, sh -c 'exit N', and sleep, which runs until
// a signal or EndCommand ends it), run by bottle-probe supervise attached
// or detached, and bottle-probe signal. Anything else fails the test.

// NoSuchProgram is the one program the fake's agent says is not there.
const NoSuchProgram = "no-such-program"

// signals are the numbers of the signals bottle sends.
var signals = map[string]int{"INT": 2, "TERM": 15, "KILL": 9}

// proc is a supervised command that runs until it is ended: a sleep.
type proc struct {
	container string
	argv      []string
	detached  bool
	status    string        // host path of its status file (detached)
	ended     chan int      // its exit code, once (attached)
	done      chan struct{} // closed when it has ended
}

// program runs argv as the fake's agent would: its output and exit
// code; long says it is a sleep, which does not end by itself.
func program(argv []string) (out string, code int, long, known bool) {
	switch {
	case len(argv) == 0:
	case argv[0] == "echo":
		return strings.Join(argv[1:], " ") + "\n", 0, false, true
	case argv[0] == "true" && len(argv) == 1:
		return "", 0, false, true
	case argv[0] == "false" && len(argv) == 1:
		return "", 1, false, true
	case argv[0] == "sh" && len(argv) == 3 && argv[1] == "-c" && strings.HasPrefix(argv[2], "exit "):
		n, err := strconv.Atoi(strings.TrimPrefix(argv[2], "exit "))
		return "", n, false, err == nil
	case argv[0] == "sleep" && len(argv) == 2:
		return "", 0, true, true
	}
	return "", 0, false, false
}

// hostPath is where path, inside container c, is on the host: under the
// source of the mount that holds it.
func hostPath(c *container, p string) (string, bool) {
	for _, m := range c.spec.Mounts {
		if rel, ok := strings.CutPrefix(p, m.Target+"/"); ok && !m.ReadOnly {
			return filepath.Join(m.Source, filepath.FromSlash(rel)), true
		}
	}
	return "", false
}

// supervise plays bottle-probe supervise in container name.
func (f *Backend) supervise(ctx context.Context, name string, e launcher.ExecSpec) error {
	o, argv, err := contract.ParseSupervise(e.Argv[2:], "", io.Discard)
	if err != nil {
		return f.unexpected("Exec in %s: %q: %v", name, e.Argv, err)
	}
	f.mu.Lock()
	c := f.containers[name]
	f.mu.Unlock()
	out, code, long, known := program(argv)
	switch {
	case o.Check && len(argv) > 0 && argv[0] == NoSuchProgram:
		if e.Stdout != nil {
			fmt.Fprintf(e.Stdout, "bottle-probe: exec: %q: executable file not found in $PATH\n", argv[0])
		}
		return exitError(e.Argv, contract.ExitNotFound)
	case !known:
		return f.unexpected("Exec in %s: supervise of a program the fake does not know: %q", name, argv)
	case o.Check:
		return nil
	}
	file := func(p string) string {
		if p == "" {
			return ""
		}
		hp, ok := hostPath(c, p)
		if !ok {
			f.t.Errorf("fakebackend: %s is on no writable mount of %s", p, name)
		}
		return hp
	}
	p := &proc{container: name, argv: argv, detached: e.Detach, status: file(o.Status), ended: make(chan int, 1), done: make(chan struct{})}
	if e.Detach {
		if o.Log == "" || o.Status == "" || o.PidFile == "" {
			return f.unexpected("Exec in %s: a detached supervise without --log, --status and --pid-file: %q", name, e.Argv)
		}
		if err := os.WriteFile(file(o.Log), []byte(out), 0o644); err != nil {
			return err
		}
		if !long {
			p.finish(code, "")
			return nil
		}
	} else if !long {
		if e.Stdout != nil {
			io.WriteString(e.Stdout, out)
		}
		if code != 0 {
			return exitError(e.Argv, code)
		}
		return nil
	}
	// A sleep: it runs until it is signalled or ended.
	f.mu.Lock()
	f.procs[o.PidFile] = p
	f.mu.Unlock()
	if e.Detach {
		return nil
	}
	select {
	case code = <-p.ended:
	case <-ctx.Done():
		return ctx.Err()
	}
	if code != 0 {
		return exitError(e.Argv, code)
	}
	return nil
}

// finish ends p with code (and the signal that ended it), writing its
// status when it is detached.
func (p *proc) finish(code int, sig string) {
	if p.detached {
		st := contract.CommandStatus{Argv: p.argv, Ended: time.Now().UTC(), ExitCode: code, Signal: sig}
		os.WriteFile(p.status, st.Marshal(), 0o644)
	}
	p.ended <- code
	close(p.done)
}

// signal plays bottle-probe signal: the command of the pid file named ends
// with 128 plus the signal's number.
func (f *Backend) signal(name string, e launcher.ExecSpec) error {
	if len(e.Argv) != 5 || e.Argv[2] != "--pid-file" {
		return f.unexpected("Exec in %s: %q is not bottle-probe signal --pid-file FILE SIG", name, e.Argv)
	}
	pidFile, sig := e.Argv[3], e.Argv[4]
	n, ok := signals[sig]
	if !ok {
		return f.unexpected("Exec in %s: signal %q", name, sig)
	}
	f.mu.Lock()
	p := f.procs[pidFile]
	delete(f.procs, pidFile)
	f.mu.Unlock()
	if p == nil || p.container != name {
		if e.Stdout != nil {
			fmt.Fprintf(e.Stdout, "bottle-probe signal: open %s: no such file or directory (the command has ended, or never started)\n", pidFile)
		}
		return exitError(e.Argv, 1)
	}
	p.finish(contract.ExitSignalBase+n, sig)
	return nil
}

// EndCommand ends the running detached command of container name (a
// sleep) with code, as if it had exited.
func (f *Backend) EndCommand(name string, code int) {
	f.mu.Lock()
	var p *proc
	for k, q := range f.procs {
		if q.container == name && q.detached {
			p = q
			delete(f.procs, k)
		}
	}
	f.mu.Unlock()
	if p == nil {
		f.t.Errorf("fakebackend: %s runs no detached command", name)
		return
	}
	p.finish(code, "")
}

// Running lists the supervised commands that run, by pid file, in the
// agent's terms: "PIDFILE ARGV".
func (f *Backend) Running() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k, p := range f.procs {
		out = append(out, path.Base(k)+" "+strings.Join(p.argv, " "))
	}
	return out
}

func exitError(argv []string, code int) error {
	return &launcher.RunError{Argv: argv, ExitCode: code, Err: fmt.Errorf("exit status %d", code)}
}
