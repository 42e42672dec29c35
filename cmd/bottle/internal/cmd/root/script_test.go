// The scripts run bottle's CLI end to end: testscript scripts
// (testdata/script/*.txtar) against the fake container runtime, with no
// engine and no network. They live in this package, which has code of its
// own, so that under -cover the processes they start carry coverage
// metadata (a package with only tests has none, and each child would say
// so on stderr).

package root

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/cmd/bottle/internal/fakert"
	"bottle.dev/bottle/internal/golden"
	"bottle.dev/bottle/launcher"
)

// TestMain makes this test binary also bottle itself and the fake
// container runtime: testscript puts copies named bottle, docker,
// container and fakert first on PATH and runs the one a script execs.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"bottle":    bottle,
		"docker":    fakert.Main,
		"container": fakert.Main,
		"fakert":    fakert.Main,
	})
}

// bottle is cmd/bottle's main, except that names resolve only through
// the script's table (scriptHosts): no script makes a real lookup.
func bottle() {
	f := cmdutil.New(cmdutil.System(), cmdutil.Build{})
	f.LookupHost = scriptHosts
	os.Exit(Main(context.Background(), f, os.Args[1:]))
}

// scriptHosts resolves the names a script lists in $TEST_HOSTS
// ("name=addr name=addr …"); any other name is not found.
func scriptHosts(_ context.Context, name string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, entry := range strings.Fields(os.Getenv("TEST_HOSTS")) {
		if n, a, ok := strings.Cut(entry, "="); ok && n == name {
			addr, err := netip.ParseAddr(a)
			if err != nil {
				return nil, err
			}
			out = append(out, addr)
		}
	}
	if out == nil {
		return nil, &net.DNSError{Err: "no such host (scripts resolve only $TEST_HOSTS)", Name: name, IsNotFound: true}
	}
	return out, nil
}

// TestScripts runs testdata/script/*.txtar: the CLI end to end, against
// the fake runtime, with no engine and no network. -update rewrites the
// scripts' expected files from what the commands printed.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       golden.Updating(),
		Setup:               setup,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exits": exits, "sleep": sleep},
		Condition: func(cond string) (bool, error) {
			if cond == "root" { // the goldens pin a run as root: the sidecar runs as 65532:65532
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// sleep waits a while: `sleep DURATION`, for a command in the background
// to be under way.
func sleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("sleep: %v", err)
	}
	time.Sleep(d)
}

// exits runs a program and checks its exit status: `exits N PROG ARGS...`.
// Its output is kept for stdout and stderr, as exec's is.
func exits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %v", err)
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d; want %d", args[1], got, want)
	}
}

// setup gives each script its own state directory and fake engine, a
// PATH with nothing but bottle and the fakes (so no real engine can be
// reached), BOTTLES (the state directory) and OWNER (its owner label),
// which fakert prints as $OWNER.
func setup(e *testscript.Env) error {
	bottle, err := exec.LookPath("bottle")
	if err != nil {
		return err
	}
	bin := filepath.Dir(bottle)
	// The launcher hands the image build a static bottle-sidecar from
	// beside the bottle executable; the fake engine never runs it.
	if err := placeSidecar(filepath.Join(bin, "bottle-sidecar")); err != nil {
		return err
	}
	state := filepath.Join(e.WorkDir, "state")
	e.Setenv("PATH", bin)
	e.Setenv("XDG_STATE_HOME", state)
	// The user's agent recipes: none, unless a script writes some there.
	e.Setenv("XDG_CONFIG_HOME", filepath.Join(e.WorkDir, "config"))
	e.Setenv("BOTTLES", filepath.Join(state, "bottle"))
	e.Setenv("FAKERT_DIR", filepath.Join(e.WorkDir, ".fakert"))
	e.Setenv("OWNER", launcher.Owner(filepath.Join(state, "bottle")))
	// Under -race every process sleeps a second at exit, by default; the
	// fakes are a process per engine call.
	e.Setenv("GORACE", "atexit_sleep_ms=0")
	return nil
}

// placeSidecar writes the stand-in bottle-sidecar once; scripts run in
// parallel, so it is written beside and renamed into place.
func placeSidecar(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "bottle-sidecar-*")
	if err != nil {
		return err
	}
	_, werr := tmp.WriteString("#!/bin/false\n# a stand-in: the fake runtime never runs the sidecar\n")
	if err := tmp.Close(); werr != nil || err != nil {
		return fmt.Errorf("writing %s: %v %v", tmp.Name(), werr, err)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
