package contract

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// The command directory: where the agent's supervised commands write their
// output, exit status and pid file. It is the one directory of the host's
// state the agent may write (CommandDir, mounted read-write at
// AgentCommandDir), and it holds nothing bottle trusts: the host reads it
// as the agent's own words (no symlinks followed, sizes bounded, terminal
// controls escaped) and never writes into it.
const (
	CommandDir      = "command"     // in the bottle's state directory on the host
	AgentCommandDir = "/run/bottle" // the same directory inside the agent

	CommandLogFile    = "output.log"  // the detached command's output (both streams), rotated to output.log.1
	CommandStatusFile = "status.json" // CommandStatus, written when the detached command ends
	CommandPidFile    = "command.pid" // the pid of its supervisor while it runs
	CommandLogMax     = 16 << 20      // the output file's size before it rotates (one old file kept)
)

// AgentProbe is where the agent has bottle-sidecar, read-only, as
// bottle-probe: its main process, the supervisor of its commands, and the
// helper the agent may call itself.
const AgentProbe = "/usr/local/bin/bottle-probe"

// ExecPidFile is the pid file of `bottle exec`'s supervisor, named by a
// token of that exec, in the command directory.
func ExecPidFile(token string) string { return "exec-" + token + ".pid" }

// LaunchLockFile is the lock a launch holds, in the bottle's state directory,
// from its first step to its last: a bottle whose metadata says it is being
// launched while nobody holds the lock is a launch that died.
const LaunchLockFile = "launch.lock"

// SuperviseOptions are the flags of `bottle-sidecar supervise` (the agent
// calls the binary bottle-probe): it runs a command as its parent, forwards
// the signals it gets to the command's process group, and reports how the
// command ended.
type SuperviseOptions struct {
	Log     string // --log FILE: the command's output (both streams), rotated at CommandLogMax; "": the supervisor's own streams
	Status  string // --status FILE: CommandStatus, written atomically when the command ends
	PidFile string // --pid-file FILE: the supervisor's pid while it runs (SignalOptions finds it there)
	// Check only looks the command up (as exec would, in this directory
	// with this environment) and says whether it can start.
	Check bool // --check
}

func (o *SuperviseOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Log, "log", o.Log, "write the command's output (stdout and stderr) to FILE, rotated at 16 MiB (default: the supervisor's own streams)")
	fs.StringVar(&o.Status, "status", o.Status, "write how the command ended to FILE (JSON)")
	fs.StringVar(&o.PidFile, "pid-file", o.PidFile, "write the supervisor's pid to FILE while it runs")
	fs.BoolVar(&o.Check, "check", o.Check, "only say whether the command can be started")
}

// Args is the argv of `bottle-sidecar supervise` with o for command argv.
func (o SuperviseOptions) Args(argv []string) []string {
	args := []string{"supervise"}
	for _, f := range []struct{ name, v string }{{"log", o.Log}, {"status", o.Status}, {"pid-file", o.PidFile}} {
		if f.v != "" {
			args = append(args, "--"+f.name, f.v)
		}
	}
	if o.Check {
		args = append(args, "--check")
	}
	return append(append(args, "--"), argv...)
}

// ParseSupervise reads the flags of `bottle-sidecar supervise` (args after
// "supervise") and returns them with the command. Errors and the usage are
// printed to stderr.
func ParseSupervise(args []string, usage string, stderr io.Writer) (SuperviseOptions, []string, error) {
	var o SuperviseOptions
	fs := flag.NewFlagSet("supervise", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return o, nil, err
	}
	if fs.NArg() == 0 {
		err := errors.New("no command: write bottle-probe supervise [FLAGS] -- CMD [ARGS...]")
		fmt.Fprintf(stderr, "bottle-sidecar supervise: %v\n", err)
		return o, nil, err
	}
	return o, fs.Args(), nil
}

// FormatPidFile is a supervisor's pid file: its own pid and, once its
// command has started, the command's process group.
func FormatPidFile(pid, pgid int) []byte {
	if pgid > 0 {
		return fmt.Appendf(nil, "%d %d\n", pid, pgid)
	}
	return fmt.Appendf(nil, "%d\n", pid)
}

// ParsePidFile reads a pid file; pgid is 0 when the command has not
// started.
func ParsePidFile(data []byte) (pid, pgid int, err error) {
	n, _ := fmt.Sscan(string(data), &pid, &pgid)
	if n < 1 || pid <= 1 || pgid < 0 || n == 2 && pgid <= 1 {
		return 0, 0, fmt.Errorf("not a pid file: %q", data)
	}
	return pid, pgid, nil
}

// SignalArgs is the argv of `bottle-sidecar signal`: send sig ("INT",
// "TERM", "KILL", …) to the supervisor whose pid is in pidFile, which
// passes it on to its command's process group.
func SignalArgs(pidFile, sig string) []string {
	return []string{"signal", "--pid-file", pidFile, sig}
}

// Exit codes of a supervised command that did not run to its own end, as
// a shell reports them.
const (
	ExitNotFound      = 127 // the command is not there
	ExitNotExecutable = 126 // it is there but cannot be run
	ExitSignalBase    = 128 // + the signal's number, for a command a signal ended
)

// CommandStatus is how a supervised command ended: what the supervisor
// writes to --status, and what `bottle list` shows.
type CommandStatus struct {
	Argv    []string  `json:"argv"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended"`
	// ExitCode is the command's exit status; for one a signal ended, 128
	// plus the signal's number (and Signal names it); 127 or 126 when it
	// could not start (and Error says why).
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"` // "TERM", "KILL", …
	Error    string `json:"error,omitempty"`
}

// MaxStatusBytes bounds what the host reads of a status file: the agent
// can write there.
const MaxStatusBytes = 64 << 10

// ParseCommandStatus reads a status file's content.
func ParseCommandStatus(data []byte) (CommandStatus, error) {
	var s CommandStatus
	if len(data) > MaxStatusBytes {
		return s, fmt.Errorf("a command status of %d bytes: at most %d", len(data), MaxStatusBytes)
	}
	err := json.Unmarshal(data, &s)
	return s, err
}

// Marshal renders s as a status file's content.
func (s CommandStatus) Marshal() []byte {
	b, _ := json.MarshalIndent(s, "", "  ")
	return append(b, '\n')
}
