package launch

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// parse runs `bottle launch ARGS` up to the launch and returns the options
// it would launch with.
func parse(t *testing.T, fx *cmdtest.Fixture, args ...string) (*Options, cmdtest.Result) {
	t.Helper()
	var got Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = *o; return nil }), nil, args...)
	return &got, r
}

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	fx.UserEnv["TOKEN"] = "from-here"
	o, r := parse(t, fx, strings.Fields("demo --backend docker -d --image img:1 --workspace ws -e A=1 -e TOKEN --memory 4G --cpus 1.5 --pids-limit 1024 --egress-network corp --upstream-dns 192.0.2.53:53 --upstream-ca ca.pem -v -- claude -p hi")...)
	if r.Code != 0 {
		t.Fatalf("%+v", r)
	}
	if o.Name != "demo" || o.Backend != "docker" || !o.Detach || o.Image != "img:1" || o.Workspace != "ws" || strings.Join(o.Env, " ") != "A=1 TOKEN=from-here" ||
		strings.Join(o.Imported, ",") != "TOKEN" || o.Limits != (launcher.Limits{Memory: "4g", CPUs: "1.5", Pids: 1024}) || o.EgressNetwork != "corp" ||
		o.UpstreamDNS != "192.0.2.53:53" || o.UpstreamCA != "ca.pem" || !o.Verbose || strings.Join(o.Command, " ") != "claude -p hi" || o.Allowlist != "allowlist.yaml" {
		t.Errorf("%+v", o)
	}
	if o.SidecarBinary != fx.F.SidecarBinary || o.StateDir != fx.F.Env.StateDir {
		t.Errorf("dependencies: %+v", o)
	}
}

func TestDefaultName(t *testing.T) {
	fx := cmdtest.New(t)
	for dir, want := range map[string]string{"My Project!": "my-project", "...": "bottle", strings.Repeat("x", 50): "bottle"} {
		d := filepath.Join(t.TempDir(), dir)
		os.MkdirAll(d, 0o755)
		t.Chdir(d)
		if o, r := parse(t, fx); r.Code != 0 || o.Name != want {
			t.Errorf("in %q: %q (%+v); want %q", dir, o.Name, r, want)
		}
	}
}

func TestUsage(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "b"}, "launch takes one NAME; put the command after --: bottle launch a -- b"},
		{[]string{"a", "--image", "x", "--dockerfile", "y"}, "give --image or --dockerfile, not both"},
		{[]string{"a", "-e", "BOTTLE_TEST_SURELY_UNSET"}, "-e BOTTLE_TEST_SURELY_UNSET: BOTTLE_TEST_SURELY_UNSET is not set here; write -e BOTTLE_TEST_SURELY_UNSET=VALUE"},
		{[]string{"a", "-e", "A=1\n2"}, "-e: the value of A has a line break"},
		{[]string{"a", "--memory", "lots"}, "--memory: "},
		{[]string{"a", "--cpus", "0"}, "--cpus: "},
		{[]string{"a", "--pids-limit", "3"}, "--pids-limit: "},
		{[]string{"a", "--project", "p.yaml", "--no-project"}, "give --project or --no-project, not both"},
		{[]string{"a", "--project", "nothere.yaml"}, "nothere.yaml"},
		{[]string{"a", "--backend", "podman"}, `unknown backend "podman"; use one of docker, macos-container`},
	} {
		r := fx.Run(NewCmd(fx.F, nil), nil, tc.args...)
		if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
}

// TestLaunch: a launch through the verb on each backend, detached, and
// with a command, whose exit status becomes bottle's.
func TestLaunch(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		t.Run(backend, func(t *testing.T) {
			fx := cmdtest.New(t)
			fx.Dir("version: 1\nallow:\n  - host: api.example.com\n")
			fx.Fakert("", "image", "agent:1")
			fx.UserEnv["TOKEN"] = "secret-value"
			r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--backend", backend, "--image", "agent:1", "-e", "TOKEN", "-d", "--", "echo", "hello from the agent")
			for _, want := range []string{
				"the agent gets these variables from your environment: TOKEN\n",
				"[9/9] ready; running in the background: echo 'hello from the agent' (its output: bottle logs demo -f)\n",
				"\nbottle \"demo\" is running (" + backend + ", launched in ",
				"  stop:      bottle stop demo\n", "  command:   echo 'hello from the agent', in the background\n",
				"  output:    bottle logs demo -f (ends when the command does)\n",
			} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
				}
			}
			if r.Code != 0 || r.Stdout != "" || strings.Contains(r.Stderr+fx.Fakert("", "argv"), "secret-value") {
				t.Errorf("launch: %+v", r)
			}
			if _, err := os.Stat(filepath.Join(fx.F.Env.StateDir, "demo", contract.MetadataFile)); err != nil {
				t.Error(err)
			}
			// It ran detached, under the supervisor, its output and status
			// in the command directory.
			out, err := os.ReadFile(filepath.Join(fx.F.Env.StateDir, "demo", contract.CommandDir, contract.CommandLogFile))
			if err != nil || string(out) != "hello from the agent\n" {
				t.Errorf("the command's output: %q %v", out, err)
			}
			if st, _ := os.ReadFile(filepath.Join(fx.F.Env.StateDir, "demo", contract.CommandDir, contract.CommandStatusFile)); !strings.Contains(string(st), `"exit_code": 0`) {
				t.Errorf("the command's status: %s", st)
			}
			if argv := fx.Fakert("", "argv"); !strings.Contains(argv, " exec -d -u agent -w /workspace bottle-demo-agent /usr/local/bin/bottle-probe supervise --log /run/bottle/output.log --status /run/bottle/status.json --pid-file /run/bottle/command.pid -- echo 'hello from the agent'\n") {
				t.Errorf("argv:\n%s", argv)
			}
			// A command the agent does not have fails the launch at once.
			r = fx.Run(NewCmd(fx.F, nil), nil, "nocmd", "--backend", backend, "--image", "agent:1", "-d", "--", "no-such-program")
			if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle: launch failed at step 9/9 (ready): the command cannot start in the agent: bottle-probe: exec: \"no-such-program\": executable file not found in $PATH\n") {
				t.Errorf("a command that is not there: %+v", r)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil, "other", "--backend", backend, "--image", "agent:1", "--", "sh", "-c", "exit 7")
			if r.Code != 7 || !strings.Contains(r.Stderr, `bottle "other" is running`) {
				t.Errorf("with a command: %+v", r)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--backend", backend, "--image", "agent:1")
			if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, `bottle "demo" already exists`) {
				t.Errorf("again: %+v", r)
			}
		})
	}
}

// TestLaunchFailsClosed: a self-test that finds a way around the sidecar
// tears the bottle down, and the error says what leaked.
func TestLaunchFailsClosed(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.example.com\n")
	fx.Fakert("", "image", "agent:1")
	fx.Fake.Probe = "tcp=0"
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--backend", "docker", "--image", "agent:1")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "self-test: the bottle leaks, so it was torn down:\n") || !strings.Contains(r.Stderr, "the agent reached the internal network's gateway 172.30.0.1:") {
		t.Errorf("%+v", r)
	}
	if st := fx.Fakert("", "state", "-resources"); st != "" {
		t.Errorf("left behind:\n%s", st)
	}
}

// TestLaunchQuietAndJSON: -q prints nothing but errors; --json prints the
// bottle's summary on stdout, with these field names, and nothing of it
// on stderr.
func TestLaunchQuietAndJSON(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.example.com\n")
	fx.Fakert("", "image", "agent:1")
	fx.UserEnv["TOKEN"] = "x"
	r := fx.Run(NewCmd(fx.F, nil), nil, "quiet", "--backend", "docker", "--image", "agent:1", "-e", "TOKEN", "-q")
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("-q: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "js", "--backend", "docker", "--image", "agent:1", "--json")
	if r.Code != 0 || !strings.Contains(r.Stderr, "[9/9] ready\n") || strings.Contains(r.Stderr, "is running") {
		t.Errorf("--json: %+v", r)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &fields); err != nil {
		t.Fatalf("--json: %v\n%s", err, r.Stdout)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if strings.Join(keys, " ") != "agent_user backend ca_fingerprint containers mcp_url mode name networks proxy_url state_dir" {
		t.Errorf("--json fields: %s", keys)
	}
	var got JSON
	json.Unmarshal([]byte(r.Stdout), &got)
	b, err := fx.F.State().Load("js")
	if err != nil {
		t.Fatal(err)
	}
	want := JSON{Name: "js", Backend: "docker", ProxyURL: b.ProxyURL, CAFingerprint: b.CAFingerprint, StateDir: b.StateDir,
		Containers: JSONContainers{Agent: "bottle-js-agent", Sidecar: "bottle-js-sidecar"},
		Networks:   JSONNetworks{Internal: "bottle-js-internal", Egress: "bottle-js-egress"}, AgentUser: "agent", Mode: "enforce", MCPURL: b.MCPURL}
	if !reflect.DeepEqual(got, want) || got.MCPURL != strings.Replace(got.ProxyURL, ":3128", ":3129/mcp", 1) || !strings.HasPrefix(got.ProxyURL, "http://172.30.") {
		t.Errorf("--json:\n%+v\nwant\n%+v", got, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "both", "--backend", "docker", "--image", "agent:1", "-q", "--json", "-d", "--", "echo", "hi")
	got = JSON{}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || r.Stderr != "" || strings.Join(got.Command, " ") != "echo hi" {
		t.Errorf("-q --json -d -- CMD: %v %+v", err, r)
	}
	// A failure is still said with -q.
	fx.Fake.Probe = "tcp=0"
	r = fx.Run(NewCmd(fx.F, nil), nil, "leaky", "--backend", "docker", "--image", "agent:1", "-q")
	if r.Code != cmdutil.ExitError || !strings.HasPrefix(r.Stderr, "bottle: self-test: the bottle leaks") || strings.Contains(r.Stderr, "[1/9]") {
		t.Errorf("-q, failing: %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"x", "-q", "-v"}, "bottle: give --quiet or --verbose, not both\n"},
		{[]string{"x", "--json", "--", "make", "test"}, "bottle: --json prints the summary for scripts, and the command's output would be mixed into it: add -d, or run the command afterwards with bottle exec x -- make test\n"},
	} {
		r := fx.Run(NewCmd(fx.F, nil), nil, tc.args...)
		if r.Code != cmdutil.ExitUsage || r.Stderr != tc.want+"Run 'bottle launch --help' for usage.\n" {
			t.Errorf("%q: %+v", tc.args, r)
		}
	}
}

// interruptAt is a runner that cancels the launch's context (as a Ctrl-C
// does) when the engine is asked to do what starts with at.
type interruptAt struct {
	next   launcher.Runner
	at     string
	cancel context.CancelCauseFunc
}

func (r interruptAt) Run(ctx context.Context, c launcher.Cmd) error {
	if strings.HasPrefix(strings.Join(c.Argv, " "), r.at) {
		r.cancel(errors.New("interrupt signal received"))
	}
	return r.next.Run(ctx, c)
}

// TestLaunchInterrupted: Ctrl-C during a launch tears it down, says what
// it removed, exits 130, and is not a failure of the bottle: list shows it
// as interrupted, and nothing of it is left on the engine.
func TestLaunchInterrupted(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.example.com\n")
	fx.Fakert("", "image", "agent:1")
	ctx, cancel := context.WithCancelCause(context.Background())
	fx.F.Runner = interruptAt{next: fx.F.Runner, at: "docker start bottle-demo-agent", cancel: cancel}
	cmd := NewCmd(fx.F, nil)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs([]string{"demo", "--backend", "docker", "--image", "agent:1"})
	cmd.SetOut(fx.Out)
	cmd.SetErr(fx.Err)
	code := cmdutil.HandleError(cmd.ExecuteContext(ctx), fx.Err)
	stderr := fx.Err.String()
	if code != cmdutil.ExitSignal || !strings.HasSuffix(stderr, "interrupted at step 6/9 (agent); tearing down what was made\nbottle: interrupted; removed 2 containers and 2 networks\n") ||
		strings.Contains(stderr, "self-test") || strings.Contains(stderr, "launch failed") {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
	if st := fx.Fakert("", "state", "-resources"); st != "" {
		t.Errorf("left on the engine:\n%s", st)
	}
	sums, err := fx.Launcher("docker").List(context.Background())
	if err != nil || len(sums) != 1 || sums[0].Status != launcher.StatusInterrupted || sums[0].Step != "agent" {
		t.Errorf("listed as %+v %v", sums, err)
	}
}

// TestLaunchInterruptedInBuild: Ctrl-C during an image build is an
// interruption too, said once, with nothing made yet; not a failed build.
func TestLaunchInterruptedInBuild(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.example.com\n")
	fx.Fakert("", "image", "base:1")
	os.WriteFile("Dockerfile", []byte("FROM base:1\n"), 0o644)
	ctx, cancel := context.WithCancelCause(context.Background())
	fx.F.Runner = interruptAt{next: fx.F.Runner, at: "docker build --force-rm -f " + filepath.Join(mustGetwd(t), "Dockerfile"), cancel: cancel}
	cmd := NewCmd(fx.F, nil)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetArgs([]string{"demo", "--backend", "docker", "--dockerfile", "Dockerfile", "-v"})
	code := cmdutil.HandleError(cmd.ExecuteContext(ctx), fx.Err)
	stderr := fx.Err.String()
	if code != cmdutil.ExitSignal || !strings.HasSuffix(stderr, "\nbottle: interrupted; removed 0 containers and 0 networks\n") ||
		strings.Contains(stderr, "failed") || strings.Count(stderr, "docker build") > 0 {
		t.Errorf("exit %d:\n%s", code, stderr)
	}
	if st := fx.Fakert("", "state", "-resources"); st != "" {
		t.Errorf("left on the engine:\n%s", st)
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}
