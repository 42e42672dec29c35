package exec

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "demo", "--", "git", "status"); r.Code != 0 || got.Name != "demo" || strings.Join(got.Command, " ") != "git status" {
		t.Errorf("%+v %+v", r, got)
	}
	// Each mistake is said with the command line that would work.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"demo", "ls", "/tmp"}, "bottle exec: put the command after --: bottle exec demo -- ls /tmp"},
		{[]string{"demo", "ls", "-la"}, "unknown shorthand flag: 'l' in -la; the command goes after --: bottle exec NAME -- CMD [ARGS...]"},
		{[]string{"demo"}, "bottle exec: missing the command: bottle exec demo -- CMD [ARGS...]"},
		{[]string{"demo", "--"}, "bottle exec: missing the command after --: bottle exec demo -- CMD [ARGS...]"},
		{[]string{"--", "ls"}, "bottle exec: missing the bottle NAME before --: bottle exec NAME -- ls"},
		{[]string{"a", "b", "--", "ls"}, "bottle exec: one bottle NAME before --, not 2: bottle exec a -- ls"},
		{nil, "bottle exec: missing the bottle NAME and the command: bottle exec NAME -- CMD [ARGS...]"},
	} {
		r := fx.Run(NewCmd(fx.F, nil), nil, tc.args...)
		if r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: "+tc.want+"\nRun 'bottle exec --help' for usage.\n" {
			t.Errorf("%q: %+v", tc.args, r)
		}
	}
}

// TestExec: the command runs in the agent as its user, its output and exit
// status are bottle's; on the backend the bottle was launched on.
func TestExec(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		t.Run(backend, func(t *testing.T) {
			fx := cmdtest.New(t)
			fx.Launch("demo", backend)
			fx.F.Env.Backend = "podman" // not asked: the recorded backend is used
			fx.Calls()
			fx.SetIn("from stdin\n")
			if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--", "cat"); r.Code != 0 || r.Stdout != "from stdin\n" {
				t.Errorf("cat: %+v", r)
			}
			bin := map[string]string{"docker": "docker", "macos-container": "container"}[backend]
			// Without a terminal, under the supervisor, with a pid file
			// of its own that a Ctrl-C's signal is sent through.
			supervised := regexp.MustCompile("^" + bin + ` exec -i -u agent -w /workspace bottle-demo-agent /usr/local/bin/bottle-probe supervise --pid-file /run/bottle/exec-[0-9a-f]{12}\.pid -- cat$`)
			if c := fx.Calls(); len(c) != 1 || !supervised.MatchString(c[0]) {
				t.Errorf("calls: %q", c)
			}
			if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--", "sh", "-c", "exit 3"); r.Code != 3 || r.Stderr != "" {
				t.Errorf("exit 3: %+v", r)
			}
			if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--", "no-such-program"); r.Code != 99 || !strings.Contains(r.Stderr, "no program the fake knows") {
				t.Errorf("unknown program: %+v", r)
			}
		})
	}
}

func TestExecRefuses(t *testing.T) {
	fx := cmdtest.New(t)
	if r := fx.Run(NewCmd(fx.F, nil), nil, "nothere", "--", "ls"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, `no bottle named "nothere"`) {
		t.Errorf("missing bottle: %+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "../../evil", "--", "id"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "bottle name") {
		t.Errorf("bad name: %+v", r)
	}
	fx.Launch("demo", "docker")
	if _, err := fx.Launcher("docker").Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--", "true"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle demo was stopped at") || !strings.Contains(r.Stderr, "(bottle logs demo)") {
		t.Errorf("stopped: %+v", r)
	}
	fx.Launch("live", "docker")
	fx.Fake.Fail = "exec bottle-live-agent"
	if r := fx.Run(NewCmd(fx.F, nil), nil, "live", "--", "true"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "injected failure") {
		t.Errorf("the engine fails: %+v", r)
	}
}

// TestExecInterrupted: without a terminal, a Ctrl-C (or SIGTERM) is passed
// on to the command in the agent through its supervisor's pid file, and
// bottle exits 130 once the command has ended.
func TestExecInterrupted(t *testing.T) {
	for sig, cause := range map[string]string{"INT": "interrupt signal received", "TERM": "terminated signal received"} {
		fx := cmdtest.New(t)
		fx.Launch("demo", "docker")
		fx.Calls()
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan int, 1)
		go func() {
			opts := &Options{IO: fx.F.IOStreams, Bottle: fx.F.RunningBottle, Name: "demo", Command: []string{"sleep", "60"}}
			done <- cmdutil.HandleError(run(ctx, opts), fx.Err)
		}()
		time.Sleep(300 * time.Millisecond)
		select {
		case code := <-done:
			t.Fatalf("%s: the command ended by itself (exit %d): %s", sig, code, fx.Err)
		default:
		}
		cancel(errors.New(cause)) // as signal.NotifyContext says it
		var code int
		select {
		case code = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: bottle exec did not end", sig)
		}
		calls := strings.Join(fx.Calls(), "\n")
		forwarded := regexp.MustCompile(`(?m)^docker exec -u agent bottle-demo-agent /usr/local/bin/bottle-probe signal --pid-file /run/bottle/exec-[0-9a-f]{12}\.pid ` + sig + `$`)
		if code != cmdutil.ExitSignal || !forwarded.MatchString(calls) {
			t.Errorf("%s: exit %d, calls:\n%s", sig, code, calls)
		}
		if st := fx.Fakert("", "state"); strings.Contains(st, "sleep") {
			t.Errorf("%s: the command still runs in the agent:\n%s", sig, st)
		}
	}
}
