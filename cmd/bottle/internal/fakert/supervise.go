package fakert

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"bottle.dev/bottle/internal/contract"
)

// The agent's supervised commands, as the fake plays them: bottle-probe
// supervise runs one of the programs the fake knows (program), attached
// or detached (exec -d: its output and status go to the command
// directory on the host, through the container's mount), and a detached
// `sleep N` keeps running until bottle-probe signal (or `fakert end`)
// ends it. Anything else fails loudly, as everywhere.

// NoSuchProgram is the one program the fake's agent says is not there
// (supervise --check answers 127 for it).
const NoSuchProgram = "no-such-program"

// signalNumbers are the numbers of the signals bottle sends.
var signalNumbers = map[string]int{"INT": 2, "TERM": 15, "KILL": 9}

// agentProbe runs bottle-probe's supervise or signal in container ct.
func (c *call) agentProbe(ct *Container, user string, detach bool, argv []string) int {
	switch {
	case len(argv) > 1 && argv[1] == "supervise":
		return c.supervise(ct, user, detach, argv[2:])
	case len(argv) == 5 && argv[1] == "signal" && argv[2] == "--pid-file":
		return c.signal(ct, argv[3], argv[4])
	}
	return c.unknown("%s: want supervise [FLAGS] -- CMD or signal --pid-file FILE SIG", contract.AgentProbe)
}

// supervise plays `bottle-probe supervise`.
func (c *call) supervise(ct *Container, user string, detach bool, args []string) int {
	o, argv, err := contract.ParseSupervise(args, "", io.Discard)
	if err != nil {
		return c.unknown("supervise: %v", err)
	}
	if o.Check {
		if argv[0] == NoSuchProgram {
			fmt.Fprintf(c.out, "bottle-probe: exec: %q: executable file not found in $PATH\n", argv[0])
			return contract.ExitNotFound
		}
		if !knownProgram(argv) {
			return c.unknown("%s has no program the fake knows for %q", ct.Name, argv)
		}
		return 0
	}
	if o.PidFile == "" {
		return c.unknown("supervise without --pid-file: bottle could not signal it")
	}
	if !detach {
		if o.Log != "" || o.Status != "" {
			return c.unknown("an attached supervise with --log or --status")
		}
		if len(argv) == 2 && argv[0] == "sleep" {
			// Runs until bottle-probe signal ends it (waitFor, once the
			// state is saved), or its time is up.
			d, err := time.ParseDuration(argv[1] + "s")
			if err != nil {
				return c.unknown("sleep %q", argv[1])
			}
			if ct.Procs == nil {
				ct.Procs = map[string]*Proc{}
			}
			ct.Procs[o.PidFile] = &Proc{Argv: argv, Attached: true}
			c.dirty = true
			c.wait = &waiting{container: ct.Name, pidFile: o.PidFile, until: time.Now().Add(d)}
			return 0
		}
		return c.program(ct, user, argv)
	}
	if o.Log == "" || o.Status == "" {
		return c.unknown("a detached supervise without --log and --status")
	}
	logFile, err1 := hostPath(ct, o.Log)
	statusFile, err2 := hostPath(ct, o.Status)
	if err1 != nil || err2 != nil {
		return c.unknown("%v %v", err1, err2)
	}
	if len(argv) == 2 && argv[0] == "sleep" {
		// Runs until it is signalled or `fakert end` ends it.
		if err := os.WriteFile(logFile, nil, 0o644); err != nil {
			return c.unknown("%v", err)
		}
		if ct.Procs == nil {
			ct.Procs = map[string]*Proc{}
		}
		ct.Procs[o.PidFile] = &Proc{Argv: argv, Status: statusFile}
		c.dirty = true
		return 0
	}
	var out bytes.Buffer
	saved := c.out
	c.out = &out
	code := c.program(ct, user, argv)
	c.out = saved
	if code == ExitUnknown {
		return code
	}
	if err := os.WriteFile(logFile, out.Bytes(), 0o644); err != nil {
		return c.unknown("%v", err)
	}
	return writeStatus(statusFile, argv, code, "")
}

// signal plays `bottle-probe signal --pid-file FILE SIG`: the sleep of
// that pid file ends with 128 plus the signal's number.
func (c *call) signal(ct *Container, pidFile, sig string) int {
	n, ok := signalNumbers[sig]
	if !ok {
		return c.unknown("signal %q", sig)
	}
	p := ct.Procs[pidFile]
	if p == nil {
		fmt.Fprintf(c.out, "bottle-probe signal: open %s: no such file or directory (the command has ended, or never started)\n", pidFile)
		return 1
	}
	c.dirty = true
	if p.Attached {
		code := contract.ExitSignalBase + n
		p.Ended = &code // its exec, waiting, sees it and exits
		return 0
	}
	delete(ct.Procs, pidFile)
	return writeStatus(p.Status, p.Argv, contract.ExitSignalBase+n, sig)
}

// waiting is an attached sleep under way: its exec returns once signal
// has ended it (Proc.Ended), or its time is up.
type waiting struct {
	container, pidFile string
	until              time.Time
}

// waitFor waits for the attached sleep w and returns its exit status.
func (s store) waitFor(ctx context.Context, w *waiting) int {
	for {
		code := -1
		err := s.locked(func(st *State) bool {
			ct := st.Containers[w.container]
			p := ct.procs()[w.pidFile]
			switch {
			case p == nil:
				code = 137 // its container went away
			case p.Ended != nil:
				code = *p.Ended
			case time.Now().After(w.until):
				code = 0
			default:
				return false
			}
			delete(ct.procs(), w.pidFile)
			return true
		})
		if err != nil {
			return ExitUnknown
		}
		if code >= 0 {
			return code
		}
		select {
		case <-ctx.Done():
			return 130 // the engine's client was interrupted itself
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// procs is ct's running supervised commands (none when ct is nil).
func (ct *Container) procs() map[string]*Proc {
	if ct == nil {
		return nil
	}
	return ct.Procs
}

// end is `fakert end CONTAINER CODE`: the running detached command of
// the container exits with CODE.
func (c *call) end(name string, code int) int {
	ct := c.st.Containers[name]
	if ct == nil || len(ct.Procs) == 0 {
		return c.fail("fakert: %s runs no detached command", name)
	}
	for k, p := range ct.Procs {
		if p.Attached {
			continue
		}
		delete(ct.Procs, k)
		c.dirty = true
		if r := writeStatus(p.Status, p.Argv, code, ""); r != 0 {
			return r
		}
	}
	return 0
}

// writeStatus writes a supervised command's status file.
func writeStatus(path string, argv []string, code int, sig string) int {
	st := contract.CommandStatus{Argv: argv, Ended: time.Now().UTC(), ExitCode: code, Signal: sig}
	if err := os.WriteFile(path, st.Marshal(), 0o644); err != nil {
		return ExitUnknown
	}
	return 0
}

// knownProgram reports whether program would run argv, or it is a
// sleep (which only runs detached).
func knownProgram(argv []string) bool {
	if len(argv) == 2 && argv[0] == "sleep" {
		return true
	}
	c := &call{in: strings.NewReader(""), out: io.Discard, errw: io.Discard}
	return c.program(&Container{}, "agent", argv) != ExitUnknown
}

// hostPath is where p, inside container ct, is on the host: under the
// source of the writable mount that holds it.
func hostPath(ct *Container, p string) (string, error) {
	for _, m := range ct.Mounts {
		parts := strings.Split(m, ":")
		if len(parts) < 2 || len(parts) == 3 && parts[2] == "ro" {
			continue
		}
		if rel, ok := strings.CutPrefix(p, parts[1]+"/"); ok {
			return filepath.Join(parts[0], filepath.FromSlash(rel)), nil
		}
	}
	return "", fmt.Errorf("%s is on no writable mount of %s", p, ct.Name)
}
