package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/launcher"
)

// fakeBackend is a backend whose Check says what the test wants.
type fakeBackend struct {
	launcher.Backend
	name string
	err  error
}

func (f fakeBackend) Name() string                { return f.name }
func (f fakeBackend) Check(context.Context) error { return f.err }

func TestSelectBackend(t *testing.T) {
	ctx := context.Background()
	up := func(n string) fakeBackend { return fakeBackend{name: n} }
	down := func(n, why string) fakeBackend { return fakeBackend{name: n, err: errors.New(why)} }
	cases := []struct {
		name       string
		flag, env  string
		goos, arch string
		docker, mc fakeBackend
		want, err  string
	}{
		{name: "mac with container running", goos: "darwin", arch: "arm64", docker: up("docker"), mc: up("macos-container"), want: "macos-container"},
		{name: "mac, container service stopped", goos: "darwin", arch: "arm64", docker: up("docker"), mc: down("macos-container", "not running; start it: container system start"), want: "docker"},
		{name: "intel mac", goos: "darwin", arch: "amd64", docker: up("docker"), mc: up("macos-container"), want: "docker"},
		{name: "linux", goos: "linux", arch: "amd64", docker: up("docker"), mc: up("macos-container"), want: "docker"},
		{name: "nothing works", goos: "darwin", arch: "arm64", docker: down("docker", "the Docker daemon does not answer"), mc: down("macos-container", "container 0.12.3 is too old"),
			err: "no usable backend:\n  macos-container: container 0.12.3 is too old\n  docker: the Docker daemon does not answer"},
		{name: "linux without docker", goos: "linux", arch: "amd64", docker: down("docker", "docker not found on PATH"), mc: up("macos-container"),
			err: "no usable backend:\n  macos-container: needs macOS on Apple silicon (this is linux/amd64)\n  docker: docker not found on PATH"},
		{name: "flag wins", flag: "docker", env: "macos-container", goos: "darwin", arch: "arm64", docker: down("docker", "x"), mc: up("macos-container"), want: "docker"},
		{name: "env when no flag", env: "macos-container", goos: "linux", arch: "amd64", docker: up("docker"), mc: down("macos-container", "x"), want: "macos-container"},
		{name: "unknown", flag: "podman", err: "unknown backend \"podman\"; use one of docker, macos-container"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := selectBackend(ctx, tc.flag, tc.env, Host{GOOS: tc.goos, GOARCH: tc.arch}, tc.docker, tc.mc)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("err = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil || b.Name() != tc.want {
				t.Errorf("got %v, %v; want %s", b, err, tc.want)
			}
		})
	}
}

// TestFactoryBackends: the backends the Factory makes run their CLI
// through its Runner, Apple's with the builder's DNS from the environment.
func TestFactoryBackends(t *testing.T) {
	var calls []string
	f := &Factory{IOStreams: &IOStreams{}, Env: Env{BuilderDNS: []string{"192.0.2.53"}, StateDir: t.TempDir()}, Host: Host{GOOS: "linux", GOARCH: "amd64"},
		Runner: runnerFunc(func(c launcher.Cmd) error {
			calls = append(calls, strings.Join(c.Argv, " "))
			return &launcher.RunError{Argv: c.Argv, ExitCode: 1, Err: os.ErrNotExist}
		})}
	b, err := f.PickBackend(context.Background(), "macos-container")
	if err != nil || b.Name() != "macos-container" {
		t.Fatal(b, err)
	}
	b.Build(context.Background(), launcher.BuildSpec{Tag: "t"})
	if len(calls) != 1 || calls[0] != "container builder start --dns 192.0.2.53" {
		t.Errorf("calls %q", calls)
	}
	// A missing program is said as such, with the fix.
	_, err = f.PickBackend(context.Background(), "")
	if err == nil || !strings.Contains(err.Error(), "docker: docker not found on PATH; install Docker") {
		t.Errorf("no docker: %v", err)
	}
	d := f.Diagnose(context.Background())
	if len(d) != 2 || d[0].Backend != "docker" || d[0].Err == nil || d[1].Err == nil || d[1].Err.Error() != "needs macOS on Apple silicon (this is linux/amd64)" {
		t.Errorf("%+v", d)
	}
	if _, err := f.Launcher(context.Background(), "podman", false); !IsUsage(err) {
		t.Errorf("Launcher(podman) = %v", err)
	}
	if _, _, err := f.LoadBottle(context.Background(), "../x"); !IsUsage(err) {
		t.Errorf("LoadBottle(../x) = %v", err)
	}
	if _, _, err := f.LoadBottle(context.Background(), "nothere"); !errors.Is(err, launcher.ErrNoBottle) {
		t.Errorf("LoadBottle(nothere) = %v", err)
	}
}

type runnerFunc func(launcher.Cmd) error

func (r runnerFunc) Run(_ context.Context, c launcher.Cmd) error { return r(c) }

func TestReadEnv(t *testing.T) {
	env := map[string]string{"BOTTLE_BACKEND": "docker", "BOTTLE_BUILDER_DNS": "192.0.2.1,192.0.2.2", "BOTTLE_AGENT_BASE": "base:1", "BOTTLE_APT_DIR": "/chroot/etc/apt"}
	home := func() (string, error) { return "/home/u", nil }
	e := ReadEnv(func(k string) string { return env[k] }, home)
	if e.Backend != "docker" || len(e.BuilderDNS) != 2 || e.AgentBase != "base:1" || e.AptDir != "/chroot/etc/apt" || e.StateDir != filepath.FromSlash("/home/u/.local/state/bottle") {
		t.Errorf("%+v", e)
	}
	env["XDG_STATE_HOME"] = "/x"
	if e := ReadEnv(func(k string) string { return env[k] }, home); e.StateDir != filepath.FromSlash("/x/bottle") {
		t.Errorf("%+v", e)
	}
	f := New(System(), Build{Version: "v1"})
	if f.Build.Version != "v1" || f.Host != ThisHost() || f.IOStreams.Out != os.Stdout {
		t.Errorf("%+v", f)
	}
	if _, ok := f.Lookup("BOTTLE_TEST_SURELY_UNSET"); ok {
		t.Error("Lookup found an unset variable")
	}
}

func TestHandleError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{SilentExit(3), 3, ""},
		{UsageErrorf("bad %s", "flag"), 2, "bottle: bad flag\nRun 'bottle --help' for usage.\n"},
		{&StatusError{Code: ExitUsage, Err: errors.New("bad"), Usage: true, Command: "bottle allow add"}, 2, "bottle: bad\nRun 'bottle allow add --help' for usage.\n"},
		{InvalidInputf("a.yaml does not exist; pass --file"), 2, "bottle: a.yaml does not exist; pass --file\n"},
		{UsageError(errors.New("a.yaml is not valid:\na.yaml:1:1: x")), 2, "bottle: a.yaml is not valid:\na.yaml:1:1: x\n"},
		{WithCode(ExitError, errors.New("no")), 1, "bottle: no\n"},
		{fmt.Errorf("launching: %w", context.Canceled), ExitSignal, "bottle: interrupted\n"},
		{errors.New("unknown flag: --x"), 2, "bottle: unknown flag: --x\nRun 'bottle --help' for usage.\n"},
		{errors.New("boom"), 1, "bottle: boom\n"},
		// What an error quotes is escaped; its lines and tabs stay.
		{errors.New("/workspace/\x1b]52;c;eA==\x07: no space\n\tsecond line"), 1, "bottle: /workspace/\\x1b]52;c;eA==\\x07: no space\n\tsecond line\n"},
		{WithCode(ExitError, errors.New("a \x1b[2J\nb")), 1, "bottle: a \\x1b[2J\nb\n"},
	} {
		ios, _, errb := Test("")
		if code := HandleError(tc.err, ios.Err); code != tc.code || errb.String() != tc.out {
			t.Errorf("%v: %d %q; want %d %q", tc.err, code, errb, tc.code, tc.out)
		}
	}
}

// TestClassify: every message cobra and pflag make for a bad command line,
// made by cobra itself, comes out as a usage error in bottle's words, with
// the footer naming the command that failed.
func TestClassify(t *testing.T) {
	newTree := func() *cobra.Command {
		root := &cobra.Command{Use: "bottle", SilenceErrors: true, SilenceUsage: true}
		root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return Classify(c, err) })
		run := func(*cobra.Command, []string) error { return nil }
		flags := &cobra.Command{Use: "flags", RunE: run}
		flags.Flags().String("file", "", "")
		flags.Flags().String("bottle", "", "")
		flags.Flags().String("dir", "", "")
		flags.Flags().StringP("env", "e", "", "")
		flags.Flags().UintP("port", "p", 0, "")
		flags.Flags().Bool("json", false, "")
		flags.Flags().Float64("cpus", 0, "")
		flags.Flags().Duration("wait", 0, "")
		flags.MarkFlagsMutuallyExclusive("file", "bottle")
		flags.MarkFlagsMutuallyExclusive("file", "bottle", "dir")
		together := &cobra.Command{Use: "together", RunE: run}
		together.Flags().String("cert", "", "")
		together.Flags().String("key", "", "")
		together.MarkFlagsRequiredTogether("cert", "key")
		one := &cobra.Command{Use: "one", RunE: run}
		one.Flags().String("dir", "", "")
		one.Flags().String("bottle", "", "")
		one.MarkFlagsOneRequired("dir", "bottle")
		required := &cobra.Command{Use: "required", RunE: run}
		required.Flags().String("dir", "", "")
		required.MarkFlagRequired("dir")
		args := func(use string, a cobra.PositionalArgs) *cobra.Command {
			return &cobra.Command{Use: use, Args: a, RunE: run}
		}
		root.AddCommand(flags, together, one, required,
			args("least", cobra.MinimumNArgs(1)), args("most", cobra.MaximumNArgs(1)), args("exact", cobra.ExactArgs(2)),
			args("between", cobra.RangeArgs(1, 2)), args("none", cobra.NoArgs),
			&cobra.Command{Use: "valid", ValidArgs: []string{"bash"}, Args: cobra.OnlyValidArgs, RunE: run})
		return root
	}
	for _, tc := range []struct {
		args []string
		want string // the message; the footer names the command
		cmd  string
	}{
		{[]string{"flags", "--file", "a", "--bottle", "b"}, "give --file or --bottle, not both", "bottle flags"},
		{[]string{"flags", "--file", "a", "--bottle", "b", "--dir", "c"}, "give --file or --bottle, not both", "bottle flags"},
		{[]string{"flags", "--bottle", "b", "--dir", "c"}, "give only one of --file, --bottle or --dir (--bottle and --dir were given)", "bottle flags"},
		{[]string{"flags", "--nope"}, "unknown flag: --nope", "bottle flags"},
		{[]string{"flags", "-z"}, "unknown shorthand flag: 'z' in -z", "bottle flags"},
		{[]string{"flags", "-e"}, "-e needs a value: -e VALUE", "bottle flags"},
		{[]string{"flags", "--file"}, "--file needs a value: --file VALUE", "bottle flags"},
		{[]string{"flags", "-p", "abc"}, `--port "abc": want a whole number`, "bottle flags"},
		{[]string{"flags", "--port", "99999999999999999999"}, `--port "99999999999999999999": the number is too large`, "bottle flags"},
		{[]string{"flags", "--json=3"}, `--json "3": want true or false`, "bottle flags"},
		{[]string{"flags", "--cpus", "x"}, `--cpus "x": want a number`, "bottle flags"},
		{[]string{"flags", "--wait", "x"}, `--wait "x": want a duration such as 30s or 5m`, "bottle flags"},
		{[]string{"together", "--cert", "a"}, "--cert and --key go together: add --key", "bottle together"},
		{[]string{"one"}, "give --dir or --bottle", "bottle one"},
		{[]string{"required"}, "--dir is required", "bottle required"},
		{[]string{"least"}, "bottle least takes at least 1 argument; got 0", "bottle least"},
		{[]string{"most", "a", "b"}, "bottle most takes at most 1 argument; got 2", "bottle most"},
		{[]string{"exact", "a"}, "bottle exact takes 2 arguments; got 1", "bottle exact"},
		{[]string{"between", "a", "b", "c"}, "bottle between takes 1 to 2 arguments; got 3", "bottle between"},
		{[]string{"none", "x"}, `unknown command "x" for "bottle none"`, "bottle none"},
		{[]string{"valid", "tcsh"}, `bottle valid: "tcsh" is not an argument it takes`, "bottle valid"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "bottle"`, "bottle"},
		{[]string{"flagz"}, `unknown command "flagz" for "bottle"; did you mean flags?`, "bottle"},
	} {
		root := newTree()
		root.SetArgs(tc.args)
		ios, _, errb := Test("")
		cmd, err := root.ExecuteC()
		code := HandleError(Classify(cmd, err), ios.Err)
		want := "bottle: " + tc.want + "\nRun '" + tc.cmd + " --help' for usage.\n"
		if code != ExitUsage || errb.String() != want {
			t.Errorf("%q: exit %d\n%s; want 2\n%s", tc.args, code, errb, want)
		}
	}
}

// TestGroup: a command that only holds others prints its help alone, and
// refuses an unknown command with the nearest ones, or the list.
func TestGroup(t *testing.T) {
	root := &cobra.Command{Use: "bottle", SilenceErrors: true, SilenceUsage: true}
	allow := Group(&cobra.Command{Use: "allow", Short: "the allowlist"})
	run := func(*cobra.Command, []string) error { return nil }
	allow.AddCommand(&cobra.Command{Use: "add", RunE: run}, &cobra.Command{Use: "check", RunE: run}, &cobra.Command{Use: "list", RunE: run})
	root.AddCommand(allow)
	for _, tc := range []struct {
		args      []string
		code      int
		out, errs string
	}{
		{[]string{"allow"}, 0, "the allowlist", ""},
		{[]string{"allow", "chek"}, 2, "", "bottle: unknown command \"chek\" for \"bottle allow\"; did you mean check?\nRun 'bottle allow --help' for usage.\n"},
		{[]string{"allow", "frob"}, 2, "", "bottle: unknown command \"frob\" for \"bottle allow\"; its commands are add, check and list\nRun 'bottle allow --help' for usage.\n"},
	} {
		ios, out, errb := Test("")
		root.SetOut(ios.Out)
		root.SetArgs(tc.args)
		cmd, err := root.ExecuteC()
		code := HandleError(Classify(cmd, err), ios.Err)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || errb.String() != tc.errs {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", tc.args, code, out, errb)
		}
	}
}
