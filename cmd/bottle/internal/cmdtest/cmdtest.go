// Package cmdtest runs bottle's verbs in tests: a Factory over buffers, a
// temporary state directory and the fake container runtime (fakert) in
// process, and a way to run one verb's command as a user would and get its
// exit code and output.
package cmdtest

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/cmd/bottle/internal/fakert"
	"bottle.dev/bottle/launcher"
)

// Fixture is one test's world.
type Fixture struct {
	T       testing.TB
	F       *cmdutil.Factory
	In      *strings.Reader
	Out     *bytes.Buffer
	Err     *bytes.Buffer
	Fake    *fakert.Config // the fake runtime's configuration; change it between runs
	UserEnv map[string]string
	// Hosts are the names the Factory's LookupHost resolves; any other
	// is not found. No test resolves a real name.
	Hosts map[string][]netip.Addr
}

// New returns a Fixture: state under a temporary directory, the fake
// runtime for both backends, a Linux host, no BOTTLE_* variables.
func New(t testing.TB) *Fixture {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bottle-sidecar")
	if err := os.WriteFile(bin, []byte("a stand-in: the fake runtime never runs it\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fx := &Fixture{T: t, In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{},
		Fake: &fakert.Config{Dir: filepath.Join(dir, "fakert")}, UserEnv: map[string]string{}, Hosts: map[string][]netip.Addr{}}
	fx.F = &cmdutil.Factory{
		IOStreams:     &cmdutil.IOStreams{In: fx.In, Out: fx.Out, Err: fx.Err},
		Env:           cmdutil.Env{StateDir: filepath.Join(dir, "state", "bottle")},
		Host:          cmdutil.Host{GOOS: "linux", GOARCH: "amd64"},
		Build:         cmdutil.Build{Version: "v0.0.0-test"},
		Runner:        runner{fx},
		SidecarBinary: bin,
		LookupEnv: func(k string) (string, bool) {
			v, ok := fx.UserEnv[k]
			return v, ok
		},
		LookupHost: func(_ context.Context, name string) ([]netip.Addr, error) {
			if a, ok := fx.Hosts[name]; ok {
				return a, nil
			}
			return nil, &net.DNSError{Err: "no such host (the tests resolve only Fixture.Hosts)", Name: name, IsNotFound: true}
		},
	}
	return fx
}

// runner runs the fake with the Fixture's configuration at the time of
// the call.
type runner struct{ fx *Fixture }

func (r runner) Run(ctx context.Context, c launcher.Cmd) error {
	return fakert.Runner{Config: *r.fx.Fake}.Run(ctx, c)
}

// Sample is an allowlist with comments, each kind of rule and a deny rule.
const Sample = `# team rules
version: 1
allow:
  - host: api.example.com   # the API
  - host: github.com
    methods: [GET, POST]
    paths: ["/acme/**"]
  - host: ssh.example.com
    ports: [22]
    tls: passthrough
deny:
  - host: github.com
    methods: [DELETE]
`

// Dir makes a temporary working directory holding allowlist.yaml with
// content, and changes to it for the test.
func (fx *Fixture) Dir(content string) string {
	fx.T.Helper()
	dir := fx.T.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte(content), 0o644); err != nil {
		fx.T.Fatal(err)
	}
	fx.T.Chdir(dir)
	return dir
}

// Result is how a command ended.
type Result struct {
	Code           int
	Stdout, Stderr string
}

// Run runs cmd with args under a root named bottle and groups (e.g.
// "allow"), as Main does, and returns its exit code and output.
func (fx *Fixture) Run(cmd *cobra.Command, groups []string, args ...string) Result {
	fx.T.Helper()
	root := fx.root(cmd, groups)
	root.SetArgs(append(append(groups, cmd.Name()), args...))
	fx.Out.Reset()
	fx.Err.Reset()
	ran, err := root.ExecuteContextC(context.Background())
	code := cmdutil.HandleError(cmdutil.Classify(ran, err), fx.Err)
	return Result{Code: code, Stdout: fx.Out.String(), Stderr: fx.Err.String()}
}

// root puts cmd under a root named bottle and groups.
func (fx *Fixture) root(cmd *cobra.Command, groups []string) *cobra.Command {
	root := &cobra.Command{Use: "bottle", SilenceErrors: true, SilenceUsage: true}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return cmdutil.Classify(cmd, err) })
	parent := root
	for _, g := range groups {
		c := &cobra.Command{Use: g}
		parent.AddCommand(c)
		parent = c
	}
	parent.AddCommand(cmd)
	root.SetIn(fx.In)
	root.SetOut(fx.Out)
	root.SetErr(fx.Err)
	return root
}

// Complete runs `root __complete ARGS...` with its output going to out, and
// returns the choices (without their descriptions) and the directive.
func Complete(t testing.TB, root *cobra.Command, out *bytes.Buffer, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	out.Reset()
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %q: %v", args, err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	last := lines[len(lines)-1]
	d, err := strconv.Atoi(strings.TrimPrefix(last, ":"))
	if !strings.HasPrefix(last, ":") || err != nil {
		t.Fatalf("__complete %q: no directive in %q", args, out.String())
	}
	var choices []string
	for _, l := range lines[:len(lines)-1] {
		choice, _, _ := strings.Cut(l, "\t")
		choices = append(choices, choice)
	}
	return choices, cobra.ShellCompDirective(d)
}

// SetIn gives the next commands stdin.
func (fx *Fixture) SetIn(s string) { fx.In.Reset(s) }

// Launcher is a launcher of the Fixture's state on backend.
func (fx *Fixture) Launcher(backend string) *launcher.Launcher {
	fx.T.Helper()
	l, err := fx.F.Launcher(context.Background(), backend, false)
	if err != nil {
		fx.T.Fatal(err)
	}
	l.Progress = nil
	return l
}

// Allowlist writes an allowlist for a launch and returns its path.
func (fx *Fixture) Allowlist(content string) string {
	fx.T.Helper()
	p := filepath.Join(fx.T.TempDir(), "allowlist.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		fx.T.Fatal(err)
	}
	return p
}

// Launch launches bottle name on backend with the fake runtime and
// returns it.
func (fx *Fixture) Launch(name, backend string) *launcher.Bottle {
	fx.T.Helper()
	return fx.LaunchSpec(backend, launcher.Spec{Name: name, Allowlist: fx.Allowlist("version: 1\nallow:\n  - host: api.example.com\n")})
}

// LaunchSpec launches s on backend with the fake runtime, with image
// agent:1 unless s names one, and returns it.
func (fx *Fixture) LaunchSpec(backend string, s launcher.Spec) *launcher.Bottle {
	fx.T.Helper()
	fx.Fakert("", "image", "agent:1")
	if s.Image == "" && s.Dockerfile == "" {
		s.Image = "agent:1"
	}
	if s.SidecarBinary == "" {
		s.SidecarBinary = fx.F.SidecarBinary
	}
	b, err := fx.Launcher(backend).Launch(context.Background(), s)
	if err != nil {
		fx.T.Fatalf("launch %s on %s: %v", s.Name, backend, err)
	}
	return b
}

// Fakert runs a fakert tool command (state, log, container …) and returns
// its output.
func (fx *Fixture) Fakert(stdin string, args ...string) string {
	fx.T.Helper()
	var out, errb bytes.Buffer
	if code := fakert.Run(context.Background(), *fx.Fake, "fakert", args, strings.NewReader(stdin), &out, &errb); code != 0 {
		fx.T.Fatalf("fakert %q: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

// Calls returns the argv log so far (normalised) and empties it.
func (fx *Fixture) Calls() []string {
	fx.T.Helper()
	s := strings.TrimSpace(fx.Fakert("", "argv"))
	os.Remove(filepath.Join(fx.Fake.Dir, "argv.log"))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
