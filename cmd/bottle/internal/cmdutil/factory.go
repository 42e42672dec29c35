// Package cmdutil holds what bottle's verbs share: the Factory that hands
// them their dependencies (streams, the environment read once, the
// backends, launchers), exit codes and the one mapping from errors to
// them, and usage errors.
package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/docker"
	"bottle.dev/bottle/launcher/macoscontainer"
	"bottle.dev/bottle/secret/source"
)

// BackendNames are the values --backend takes.
var BackendNames = []string{"docker", "macos-container"}

// Build describes the binary, for `bottle version`.
type Build struct {
	Version string // from -ldflags; empty means "from build info"
}

// Host is the platform backend selection looks at.
type Host struct{ GOOS, GOARCH string }

// ThisHost is the platform bottle runs on.
func ThisHost() Host { return Host{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH} }

// AppleSilicon reports whether Apple's container can run here at all.
func (h Host) AppleSilicon() bool { return h.GOOS == "darwin" && h.GOARCH == "arm64" }

// Factory hands the verbs what they depend on. Only the Factory knows the
// concrete backend types: verbs see launcher.Backend and *launcher.Launcher.
type Factory struct {
	IOStreams *IOStreams
	Env       Env
	Host      Host
	Build     Build
	// Runner runs the engines' CLIs (docker, container). If nil, the real
	// programs are run from PATH.
	Runner launcher.Runner
	// LookupEnv reads a variable of the user's environment that the agent
	// is to get (`-e NAME`, a project file's env without a value). If nil,
	// os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// SidecarBinary is the static bottle-sidecar a launch builds the
	// sidecar image from. If empty, the launcher finds one (beside the
	// bottle executable, or built from the checkout).
	SidecarBinary string
	// LookupHost resolves a name on the host, for the warnings of `bottle
	// allow check`. If nil, the system's resolver. Tests set it: they never
	// resolve real names.
	LookupHost func(ctx context.Context, name string) ([]netip.Addr, error)
}

// New returns the Factory of a real run: the process's environment, read
// here once.
func New(ios *IOStreams, b Build) *Factory {
	return &Factory{IOStreams: ios, Env: ReadEnv(os.Getenv, os.UserHomeDir), Host: ThisHost(), Build: b}
}

// Resolve resolves name on the host (see LookupHost).
func (f *Factory) Resolve(ctx context.Context, name string) ([]netip.Addr, error) {
	if f.LookupHost == nil {
		return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	}
	return f.LookupHost(ctx, name)
}

// Lookup reads a variable of the user's environment (see LookupEnv).
func (f *Factory) Lookup(name string) (string, bool) {
	if f.LookupEnv == nil {
		return os.LookupEnv(name)
	}
	return f.LookupEnv(name)
}

func (f *Factory) docker() *docker.Backend { return &docker.Backend{Runner: f.Runner} }

func (f *Factory) container() *macoscontainer.Backend {
	return &macoscontainer.Backend{Runner: f.Runner, BuilderDNS: f.Env.BuilderDNS}
}

// PickBackend chooses the backend: name (--backend, or the one a bottle
// was launched on), then BOTTLE_BACKEND, then the first that works here.
// Each refusal says why and what to do.
func (f *Factory) PickBackend(ctx context.Context, name string) (launcher.Backend, error) {
	return selectBackend(ctx, name, f.Env.Backend, f.Host, f.docker(), f.container())
}

func selectBackend(ctx context.Context, flag, env string, h Host, dockerB, containerB launcher.Backend) (launcher.Backend, error) {
	name := flag
	if name == "" {
		name = env
	}
	switch name {
	case "docker":
		return dockerB, nil
	case "macos-container":
		return containerB, nil
	case "":
	default:
		return nil, UsageErrorf("unknown backend %q; use one of %s", name, strings.Join(BackendNames, ", "))
	}
	var reasons []string
	if h.AppleSilicon() {
		err := containerB.Check(ctx)
		if err == nil {
			return containerB, nil
		}
		reasons = append(reasons, "macos-container: "+err.Error())
	} else {
		reasons = append(reasons, "macos-container: "+h.notAppleSilicon())
	}
	err := dockerB.Check(ctx)
	if err == nil {
		return dockerB, nil
	}
	reasons = append(reasons, "docker: "+err.Error())
	return nil, fmt.Errorf("no usable backend:\n  %s", strings.Join(reasons, "\n  "))
}

func (h Host) notAppleSilicon() string {
	return fmt.Sprintf("needs macOS on Apple silicon (this is %s/%s)", h.GOOS, h.GOARCH)
}

// State is a launcher without a backend: for what lives in the state
// directory alone (paths, metadata). Its BackendNamed gives each bottle
// the backend it was launched on.
func (f *Factory) State() *launcher.Launcher {
	return &launcher.Launcher{StateDir: f.Env.StateDir, Progress: f.IOStreams.Err, BackendNamed: f.PickBackend,
		Secrets: &source.Resolver{LookupEnv: f.Lookup}}
}

// Launcher is a launcher on the backend PickBackend chooses for backend.
func (f *Factory) Launcher(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error) {
	b, err := f.PickBackend(ctx, backend)
	if err != nil {
		return nil, err
	}
	l := f.State()
	l.Backend, l.Verbose = b, verbose
	return l, nil
}

// LoadBottle reads a bottle's metadata and gives it the backend it was
// launched on (recorded there), whatever BOTTLE_BACKEND or auto-selection
// would pick now. A name that is not valid is a usage error.
func (f *Factory) LoadBottle(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error) {
	if err := launcher.ValidName(name); err != nil {
		return nil, nil, UsageError(err)
	}
	l := f.State()
	b, err := l.Load(name)
	if err != nil {
		return nil, nil, err
	}
	be, err := f.PickBackend(ctx, b.Backend)
	if err != nil {
		return nil, nil, err
	}
	l.Backend = be
	return l, b, nil
}

// RunningBottle is LoadBottle for verbs that need the bottle running: one
// whose launch is under way, died, failed or was stopped is refused,
// saying which and what to do.
func (f *Factory) RunningBottle(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error) {
	l, b, err := f.LoadBottle(ctx, name)
	if err == nil {
		err = l.CheckUsable(b)
	}
	return l, b, err
}

// Diagnosis is what `bottle doctor` says about one backend.
type Diagnosis struct {
	Backend string
	Err     error  // nil: usable here
	Detail  string // for a usable one: its version, or that it is the default
	Version string // for a usable one: the engine's (docker) or the CLI's (container) version
}

// Diagnose checks every backend, in the order doctor prints them.
func (f *Factory) Diagnose(ctx context.Context) []Diagnosis {
	d := Diagnosis{Backend: "docker"}
	db := f.docker()
	if d.Err = db.Check(ctx); d.Err == nil {
		d.Version, _ = db.Version(ctx)
		d.Detail = "engine " + d.Version
	}
	mc := Diagnosis{Backend: "macos-container"}
	if f.Host.AppleSilicon() {
		if mc.Err = f.container().Check(ctx); mc.Err == nil {
			mc.Detail = "the default here"
			mc.Version, _ = f.container().Version(ctx)
		}
	} else {
		mc.Err = errors.New(f.Host.notAppleSilicon())
	}
	return []Diagnosis{d, mc}
}

// ExecInAgent runs argv in the agent as its user, in /workspace, with a
// terminal when ours is one; the command's exit status becomes bottle's.
// Without a terminal, a Ctrl-C or SIGTERM is passed on to the command in
// the agent (launcher.Exec), and bottle exits 130 once it has ended.
func ExecInAgent(ctx context.Context, ios *IOStreams, l *launcher.Launcher, b *launcher.Bottle, argv []string) error {
	err := l.Exec(ctx, b, launcher.ExecSpec{Argv: argv, TTY: ios.Interactive(), Stdin: ios.In, Stdout: ios.Out, Stderr: ios.Err})
	var ie *launcher.ExecInterrupted
	switch {
	case errors.As(err, &ie) && ie.Err != nil:
		return WithCode(ExitSignal, err)
	case errors.As(err, &ie):
		return SilentExit(ExitSignal)
	case err != nil:
		if code := launcher.ExitCode(err); code > 0 {
			return SilentExit(code)
		}
		return err
	}
	return nil
}
