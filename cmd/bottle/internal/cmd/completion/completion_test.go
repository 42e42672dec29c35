package completion

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestCompletion(t *testing.T) {
	fx := cmdtest.New(t)
	for shell, marker := range map[string]string{"bash": "bash completion V2 for bottle", "zsh": "#compdef bottle", "fish": "fish completion for bottle", "powershell": "powershell completion for bottle"} {
		r := fx.Run(NewCmd(fx.F, nil), nil, shell)
		if r.Code != 0 || !strings.Contains(r.Stdout, marker) {
			t.Errorf("completion %s: exit %d, %d bytes: %.80q", shell, r.Code, len(r.Stdout), r.Stdout)
		}
	}
	for _, args := range [][]string{{"tcsh"}, {}, {"bash", "zsh"}} {
		if r := fx.Run(NewCmd(fx.F, nil), nil, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "zsh"); r.Code != 0 || got.Shell != "zsh" {
		t.Errorf("%+v %+v", r, got)
	}
	if err := run(&cobra.Command{Use: "x"}, &Options{IO: fx.F.IOStreams, Shell: "tcsh"}); !cmdutil.IsUsage(err) {
		t.Errorf("run tcsh: %v", err)
	}
}
