package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
)

const superviseUsage = `usage: bottle-probe supervise [--log FILE] [--status FILE] [--pid-file FILE] [--check] -- CMD [ARGS...]

Runs CMD as its parent: the signals the supervisor gets (INT, TERM, HUP,
QUIT, USR1, USR2) go on to CMD's process group, and it exits as CMD did (128
plus the signal's number when a signal ended it; 127 when CMD is not found,
126 when it cannot be run). bottle runs the agent's commands through it, so
that a Ctrl-C on the host reaches them and a detached command's output and
exit status are kept.

`

// forwarded are the signals a supervisor passes on to its command.
var forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// drainAfterExit is how long the supervisor waits, once its command has
// ended, for the rest of its output (a child the command left behind may
// hold the pipe open) before it writes the status.
const drainAfterExit = time.Second

func superviseCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, argv, err := contract.ParseSupervise(args, superviseUsage, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return probeUsage
	}
	st := contract.CommandStatus{Argv: argv}
	// The diagnostics of a detached command go where its output goes.
	say := stderr
	var log *audit.File
	if o.Log != "" && !o.Check {
		if log, err = audit.OpenFile(o.Log, contract.CommandLogMax, 1); err != nil {
			fmt.Fprintf(stderr, "bottle-probe supervise: %v\n", err)
			return 1
		}
		defer log.Close()
		say = log
	}
	finish := func(code int) int {
		st.ExitCode, st.Ended = code, time.Now().UTC()
		if o.Status != "" {
			if err := atomicfile.Write(o.Status, st.Marshal()); err != nil {
				fmt.Fprintf(say, "bottle-probe supervise: %v\n", err)
			}
		}
		return code
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		code := contract.ExitNotFound
		if errors.Is(err, fs.ErrPermission) {
			code = contract.ExitNotExecutable
		}
		st.Error = err.Error()
		fmt.Fprintf(say, "bottle-probe: %v\n", err)
		if o.Check {
			return code
		}
		return finish(code)
	}
	if o.Check {
		return 0
	}
	pidFile := func(pgid int) {
		if o.PidFile != "" {
			if err := atomicfile.Write(o.PidFile, contract.FormatPidFile(os.Getpid(), pgid)); err != nil {
				fmt.Fprintf(say, "bottle-probe supervise: %v\n", err)
			}
		}
	}
	// The pid file is there before the command starts, so a signal sent
	// at once is not lost: it waits in sigs until the command runs.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwarded...)
	defer signal.Stop(sigs)
	pidFile(0)
	if o.PidFile != "" {
		defer os.Remove(o.PidFile)
	}

	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	// Its own process group: a signal passed on reaches what it started
	// too, as a terminal's Ctrl-C would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var copied chan struct{}
	if log != nil {
		pr, pw, err := os.Pipe()
		if err != nil {
			fmt.Fprintf(say, "bottle-probe supervise: %v\n", err)
			return finish(1)
		}
		defer pr.Close()
		cmd.Stdout, cmd.Stderr = pw, pw // one pipe: the two streams keep their order
		copied = make(chan struct{})
		go func() {
			defer close(copied)
			io.Copy(log, pr)
		}()
		err = cmd.Start()
		pw.Close()
		if err != nil {
			return startFailed(&st, err, say, finish)
		}
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
		if err := cmd.Start(); err != nil {
			return startFailed(&st, err, say, finish)
		}
	}
	st.Started = time.Now().UTC()
	pidFile(cmd.Process.Pid)

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			// To the group; the command may have started others.
			syscall.Kill(-cmd.Process.Pid, s.(syscall.Signal))
			continue
		case err := <-done:
			code := 0
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				ws, _ := ee.Sys().(syscall.WaitStatus)
				if ws.Signaled() {
					code = contract.ExitSignalBase + int(ws.Signal())
					st.Signal = signalName(ws.Signal())
				} else {
					code = ee.ExitCode()
				}
			case err != nil:
				st.Error, code = err.Error(), 1
			}
			if copied != nil {
				select {
				case <-copied:
				case <-time.After(drainAfterExit):
				}
			}
			return finish(code)
		}
	}
}

func startFailed(st *contract.CommandStatus, err error, say io.Writer, finish func(int) int) int {
	st.Error = err.Error()
	fmt.Fprintf(say, "bottle-probe: %v\n", err)
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.ENOEXEC) {
		return finish(contract.ExitNotExecutable)
	}
	return finish(contract.ExitNotFound)
}

// signalName is a signal's short name: TERM, KILL, INT.
func signalName(s syscall.Signal) string {
	for name, sig := range signalNames {
		if sig == s {
			return name
		}
	}
	return strconv.Itoa(int(s))
}

var signalNames = map[string]syscall.Signal{
	"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "HUP": syscall.SIGHUP,
	"QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

const signalUsage = `usage: bottle-probe signal [--pid-file FILE] [--wait D] SIGNAL

Sends SIGNAL (INT, TERM, KILL, HUP, QUIT, USR1, USR2) to the command of the
supervisor whose pid file is FILE, waiting up to D for the file to appear.
`

// signalCmd passes a signal to a supervised command: to its process group
// once it runs, else to its supervisor, which passes it on once it does.
func signalCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("signal", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, signalUsage); fset.PrintDefaults() }
	pidFile := fset.String("pid-file", "", "the supervisor's pid file")
	wait := fset.Duration("wait", 5*time.Second, "how long to wait for the pid file")
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return probeUsage
	}
	sig, ok := signalNames[strings.TrimPrefix(strings.ToUpper(fset.Arg(0)), "SIG")]
	if fset.NArg() != 1 || !ok || *pidFile == "" {
		fmt.Fprint(stderr, signalUsage)
		return probeUsage
	}
	// The supervisor may not have written it yet: the signal can come the
	// moment the exec that starts it does.
	deadline := time.Now().Add(*wait)
	var data []byte
	var err error
	for {
		if data, err = os.ReadFile(*pidFile); err == nil || !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bottle-probe signal: %v (the command has ended, or never started)\n", err)
		return 1
	}
	pid, pgid, err := contract.ParsePidFile(data)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-probe signal: %s: %v\n", *pidFile, err)
		return 1
	}
	target := pid
	if pgid > 0 {
		target = -pgid
	}
	if err := syscall.Kill(target, sig); err != nil {
		fmt.Fprintf(stderr, "bottle-probe signal: %d: %v\n", target, err)
		return 1
	}
	fmt.Fprintf(stdout, "sent %s to %d\n", signalName(sig), target)
	return 0
}
