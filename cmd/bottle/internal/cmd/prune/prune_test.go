package prune

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "--older-than", "7d", "--dry-run"); r.Code != 0 || got.OlderThan != 7*24*time.Hour || !got.DryRun {
		t.Errorf("%+v %+v", r, got)
	}
	for args, want := range map[string]string{
		"--older-than 0": `--older-than: "0" is not an age; write e.g. 7d, 36h or 90m`,
		"demo":           `bottle prune: too many arguments (["demo"]); it takes no arguments; bottle rm NAME removes one bottle`,
	} {
		r := fx.Run(NewCmd(fx.F, nil), nil, strings.Fields(args)...)
		if r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: "+want+"\nRun 'bottle prune --help' for usage.\n" {
			t.Errorf("%s: %+v", args, r)
		}
	}
}

// TestPrune: the stopped bottle's state goes, the running one's stays.
func TestPrune(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "docker"
	live := fx.Launch("live", "docker")
	old := fx.Launch("old", "docker")
	if _, err := fx.Launcher("docker").Stop(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "--dry-run"); r.Code != 0 || r.Stdout != "would remove old (stopped, just now)\n" {
		t.Errorf("--dry-run: %+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != 0 || r.Stdout != "removed old (stopped, just now)\n" {
		t.Errorf("prune: %+v", r)
	}
	if _, err := os.Stat(old.StateDir); !os.IsNotExist(err) {
		t.Errorf("old's state: %v", err)
	}
	if _, err := os.Stat(live.StateDir); err != nil {
		t.Errorf("live's state: %v", err)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != 0 || r.Stdout != "nothing to prune\n" {
		t.Errorf("again: %+v", r)
	}
}
