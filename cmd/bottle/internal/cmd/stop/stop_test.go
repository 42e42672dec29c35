package stop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "a", "b"); r.Code != 0 || strings.Join(got.Names, ",") != "a,b" {
		t.Errorf("%+v %+v", r, got)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: bottle stop: missing the NAME of each bottle to stop\nRun 'bottle stop --help' for usage.\n" {
		t.Errorf("no name: %+v", r)
	}
}

// TestStop: a bottle's logs are saved and its resources removed, on the
// backend it was launched on (not the one picked now); stopping it again
// changes nothing saved.
func TestStop(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		t.Run(backend, func(t *testing.T) {
			fx := cmdtest.New(t)
			b := fx.Launch("demo", backend)
			fx.Fakert("the agent's log\n", "log", b.Agent)
			fx.Fakert("the sidecar's log\n", "log", b.Sidecar)
			fx.F.Env.Backend = map[string]string{"docker": "macos-container", "macos-container": "docker"}[backend] // what would be picked now
			fx.Calls()
			logs := filepath.Join(b.StateDir, contract.LogDir)
			r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
			if r.Code != 0 || r.Stdout != "stopped demo (logs in "+logs+")\n" {
				t.Fatalf("stop: %+v", r)
			}
			bin := map[string]string{"docker": "docker ", "macos-container": "container "}[backend]
			for _, c := range fx.Calls() {
				if !strings.HasPrefix(c, bin) {
					t.Errorf("%s bottle stopped with %s", backend, c)
				}
			}
			if st := fx.Fakert("", "state", "-resources"); st != "" {
				t.Errorf("left on the engine:\n%s", st)
			}
			for role, want := range map[string]string{"agent": "the agent's log\n", "sidecar": "the sidecar's log\n"} {
				if got, _ := os.ReadFile(filepath.Join(logs, role+".log")); string(got) != want {
					t.Errorf("%s.log = %q", role, got)
				}
			}
			meta, _ := fx.F.State().Load("demo")
			if meta.Stopped.IsZero() {
				t.Error("the metadata does not say stopped")
			}
			r = fx.Run(NewCmd(fx.F, nil), nil, "demo")
			if r.Code != 0 || r.Stdout != "demo was already stopped (logs in "+logs+")\n" {
				t.Errorf("second stop: %+v", r)
			}
			for _, c := range fx.Calls() {
				if !strings.Contains(c, " list ") && !strings.Contains(c, " ps ") && !strings.Contains(c, "network l") {
					t.Errorf("the second stop did more than look: %s", c)
				}
			}
			if again, _ := fx.F.State().Load("demo"); !again.Stopped.Equal(meta.Stopped) {
				t.Errorf("the second stop moved the stop time: %v, was %v", again.Stopped, meta.Stopped)
			}
		})
	}
}

// TestStopNames: an unknown name is an error (no state made for it), a
// name that is not a bottle name is a usage error and touches nothing, and
// one bad name does not keep the others from stopping.
func TestStopNames(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "docker"
	r := fx.Run(NewCmd(fx.F, nil), nil, "nothere")
	if r.Code != cmdutil.ExitError || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" || r.Stdout != "" {
		t.Errorf("unknown: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(fx.F.Env.StateDir, "nothere")); !os.IsNotExist(err) {
		t.Errorf("a state dir was made for an unknown name: %v", err)
	}
	fx.Launch("demo", "docker")
	fx.Calls()
	r = fx.Run(NewCmd(fx.F, nil), nil, "../../evil", "demo")
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "../../evil: bottle name") || !strings.Contains(r.Stdout, "stopped demo") {
		t.Errorf("bad name and a good one: %+v", r)
	}
	for _, c := range fx.Calls() {
		if strings.Contains(c, "evil") {
			t.Errorf("the engine was asked about an invalid name: %s", c)
		}
	}
	// A launch that died half way has no metadata: its labelled resources
	// are found on the backend picked now.
	fx.Fakert("", "network", "bottle-half-internal", launcher.LabelManaged+"=true", launcher.LabelName+"=half", launcher.LabelOwner+"="+launcher.Owner(fx.F.Env.StateDir))
	if r = fx.Run(NewCmd(fx.F, nil), nil, "half"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "stopped half") {
		t.Errorf("half-made: %+v", r)
	}
	fx.F.Env.Backend = "podman"
	if r = fx.Run(NewCmd(fx.F, nil), nil, "other"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, `unknown backend "podman"`) {
		t.Errorf("no metadata, bad backend: %+v", r)
	}
}

// TestStopQuiet: -q prints nothing but errors, and still stops.
func TestStopQuiet(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Launch("a", "docker")
	fx.Launch("b", "docker")
	r := fx.Run(NewCmd(fx.F, nil), nil, "-q", "a", "nothere", "b")
	if r.Code != cmdutil.ExitError || r.Stdout != "" || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" {
		t.Errorf("stop -q: %+v", r)
	}
	if st := fx.Fakert("", "state", "-resources"); st != "" {
		t.Errorf("-q did not stop them:\n%s", st)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "-q", "a"); r.Code != 0 || r.Stdout+r.Stderr != "" {
		t.Errorf("stop -q of a stopped bottle: %+v", r)
	}
}

// TestStopEngineErrorBrief: an engine command that fails is said in one
// line naming it; -v shows it whole.
func TestStopEngineErrorBrief(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Launch("demo", "docker")
	fx.Fake.Fail = "rm bottle-demo-agent"
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	// The container stays, so its network cannot go either: a line each.
	if r.Code != cmdutil.ExitError || !strings.HasPrefix(r.Stderr, "bottle: demo: docker rm failed (exit 1): Error response from daemon: fakert: injected failure of \"rm bottle-demo-agent\"\ndocker network rm failed (exit 1): ") ||
		!strings.HasSuffix(r.Stderr, " (-v shows the whole command and its output)\n") || strings.Contains(r.Stderr, "`") {
		t.Errorf("brief: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "-v")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "`docker rm -f bottle-demo-agent` failed (exit 1)") || strings.Contains(r.Stderr, "-v shows") {
		t.Errorf("-v: %+v", r)
	}
}

// TestStopSavesWorkspace: stop keeps the agent's changes and says they
// were not pulled (and again when asked to stop the stopped bottle); when
// /workspace cannot be copied out, nothing is stopped unless --force,
// which says the changes are lost.
func TestStopSavesWorkspace(t *testing.T) {
	fx := cmdtest.New(t)
	b := fx.LaunchRepo("demo", "docker", fx.Repo())
	fx.Write(filepath.Join(fx.Workspace(b), "README"), "changed\n")

	fx.Fake.Fail = "cp " + b.Agent
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle: demo: copying /workspace out of bottle demo: ") ||
		!strings.Contains(r.Stderr, "nothing was stopped, so the agent's changes are still in the bottle: fix that and stop again, get them first (bottle pull demo --patch FILE), or stop with --force to drop them (-v shows the whole command and its output)\n") || r.Stdout != "" {
		t.Errorf("stop that cannot save: %+v", r)
	}
	if st := fx.Fakert("", "state", "-resources"); !strings.Contains(st, b.Agent) {
		t.Errorf("the refused stop removed the agent:\n%s", st)
	}
	fx.Fake.Fail = ""

	r = fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != 0 || r.Stderr != "demo: /workspace has 1 changed path that was not pulled; they are kept: see them with bottle diff demo, get them with bottle pull demo (bottle rm demo drops them)\n" {
		t.Errorf("stop: %+v", r)
	}
	if data, err := os.ReadFile(filepath.Join(b.StateDir, contract.WorkspaceDir, contract.SavedWorkspace, "files", "README")); err != nil || string(data) != "changed\n" {
		t.Errorf("the saved copy: %q %v", data, err)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != 0 || !strings.Contains(r.Stderr, "demo: /workspace has changes that were not pulled; they are kept") {
		t.Errorf("stop of the stopped bottle: %+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "-q", "demo"); r.Code != 0 || r.Stderr+r.Stdout != "" {
		t.Errorf("stop -q: %+v", r)
	}

	// --force: the changes may go.
	b2 := fx.LaunchRepo("other", "docker", fx.Repo())
	fx.Write(filepath.Join(fx.Workspace(b2), "README"), "changed\n")
	fx.Fake.Fail = "cp " + b2.Agent
	r = fx.Run(NewCmd(fx.F, nil), nil, "--force", "other")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "stopped other") || !strings.HasPrefix(r.Stderr, "warning: other: /workspace was not saved (--force): copying /workspace out of bottle other: ") {
		t.Errorf("stop --force: %+v", r)
	}
}
