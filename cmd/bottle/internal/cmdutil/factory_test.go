package cmdutil_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// TestBottles: a bottle is loaded on the backend it was launched on; a
// stopped one is refused to verbs that need it running; a command in it
// gives bottle its exit status.
func TestBottles(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Launch("demo", "macos-container")
	fx.F.Env.Backend = "docker"
	ctx := context.Background()
	l, b, err := fx.F.RunningBottle(ctx, "demo")
	if err != nil || l.Backend.Name() != "macos-container" || b.Agent != "bottle-demo-agent" {
		t.Fatalf("%v %v %v", l, b, err)
	}
	err = cmdutil.ExecInAgent(ctx, fx.F.IOStreams, l, b, []string{"sh", "-c", "exit 4"})
	var se *cmdutil.StatusError
	if !errors.As(err, &se) || se.Code != 4 || !se.Silent {
		t.Errorf("exit 4: %v", err)
	}
	if err := cmdutil.ExecInAgent(ctx, fx.F.IOStreams, l, b, []string{"echo", "hi"}); err != nil || fx.Out.String() != "hi\n" {
		t.Errorf("echo: %v %q", err, fx.Out)
	}
	if _, err := l.Stop(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fx.F.RunningBottle(ctx, "demo"); err == nil || !strings.HasPrefix(err.Error(), "bottle demo was stopped at ") {
		t.Errorf("stopped: %v", err)
	}
	fx.F.Env.Backend = ""
	if _, _, err := fx.F.LoadBottle(ctx, "demo"); err != nil {
		t.Errorf("LoadBottle of a stopped bottle: %v", err)
	}
}

func TestExactArgs(t *testing.T) {
	fx := cmdtest.New(t)
	cmd := func() *cobra.Command {
		return &cobra.Command{Use: "verb", Args: cmdutil.ExactArgs(1, "the NAME"), RunE: func(*cobra.Command, []string) error { return nil }}
	}
	for args, want := range map[string]string{"": "bottle verb: missing the NAME", "a b c": `bottle verb: too many arguments (["b" "c"]); it takes the NAME`} {
		if r := fx.Run(cmd(), nil, strings.Fields(args)...); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, want) {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if r := fx.Run(cmd(), nil, "a"); r.Code != 0 {
		t.Errorf("one: %+v", r)
	}
}
