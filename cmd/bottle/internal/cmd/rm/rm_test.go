package rm

import (
	"os"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "a", "b", "-f"); r.Code != 0 || strings.Join(got.Names, ",") != "a,b" || !got.Force {
		t.Errorf("%+v %+v", r, got)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: bottle rm: missing the NAME of each bottle to remove\nRun 'bottle rm --help' for usage.\n" {
		t.Errorf("no name: %+v", r)
	}
}

// TestRm: a stopped bottle's state directory goes; a running one is kept
// unless -f; a missing one is exit 1 with the message every verb uses.
func TestRm(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "docker"
	b := fx.Launch("demo", "docker")
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle demo is running; stop it first") {
		t.Errorf("running: %+v", r)
	}
	if _, err := os.Stat(b.StateDir); err != nil {
		t.Errorf("a refused rm removed the state: %v", err)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "-f", "demo"); r.Code != 0 || r.Stdout != "stopped and removed demo ("+b.StateDir+")\n" {
		t.Errorf("-f: %+v", r)
	}
	if _, err := os.Stat(b.StateDir); !os.IsNotExist(err) {
		t.Errorf("state left: %v", err)
	}
	if st := fx.Fakert("", "state", "-resources"); st != "" {
		t.Errorf("left on the engine:\n%s", st)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "demo"); r.Code != cmdutil.ExitError || r.Stderr != "bottle: no bottle named \"demo\" (see bottle list)\n" {
		t.Errorf("missing: %+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "../x"); r.Code != cmdutil.ExitUsage {
		t.Errorf("bad name: %+v", r)
	}
}
