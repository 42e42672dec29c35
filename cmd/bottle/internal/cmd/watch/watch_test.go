package watch

import (
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	for _, tc := range []struct {
		args []string
		name string
	}{{nil, ""}, {[]string{"demo"}, "demo"}} {
		r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, tc.args...)
		if r.Code != 0 || got.Name != tc.name || got.StateDir != fx.F.Env.StateDir {
			t.Errorf("%q: %+v %+v", tc.args, r, got)
		}
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "a", "b"); r.Code != cmdutil.ExitUsage {
		t.Errorf("two names: %+v", r)
	}
}

// TestNeedsATerminal: without one, watch says what to use instead, and
// both commands it names exist (bottle approvals is the host CLI's).
func TestNeedsATerminal(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Launch("demo", "docker")
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "bottle watch needs a terminal") ||
		!strings.Contains(r.Stderr, "'bottle logs NAME --egress --follow'") || !strings.Contains(r.Stderr, "'bottle approvals'") {
		t.Errorf("%+v", r)
	}
}
