package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	env := map[string]string{"BOTTLE_BACKEND": "docker", "BOTTLE_BUILDER_DNS": "192.0.2.1,192.0.2.2", "BOTTLE_AGENT_BASE": "base:1"}
	home := func() (string, error) { return "/home/u", nil }
	e := ReadEnv(func(k string) string { return env[k] }, home)
	if e.Backend != "docker" || len(e.BuilderDNS) != 2 || e.AgentBase != "base:1" || e.StateDir != filepath.FromSlash("/home/u/.local/state/bottle") {
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
		{UsageErrorf("bad %s", "flag"), 2, "bottle: bad flag\nRun 'bottle --help' or add --help to the command for usage.\n"},
		{UsageError(errors.New("a.yaml is not valid:\na.yaml:1:1: x")), 2, "bottle: a.yaml is not valid:\na.yaml:1:1: x\n"},
		{WithCode(ExitError, errors.New("no")), 1, "bottle: no\n"},
		{fmt.Errorf("launching: %w", context.Canceled), ExitSignal, "bottle: interrupted\n"},
		{errors.New("unknown flag: --x"), 2, "bottle: unknown flag: --x\nRun 'bottle --help' for usage.\n"},
		{errors.New("boom"), 1, "bottle: boom\n"},
	} {
		ios, _, errb := Test("")
		if code := HandleError(tc.err, ios.Err); code != tc.code || errb.String() != tc.out {
			t.Errorf("%v: %d %q; want %d %q", tc.err, code, errb, tc.code, tc.out)
		}
	}
}
