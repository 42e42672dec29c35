package rm

import (
	"github.com/spf13/cobra"

	"os"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

const file = `version: 1
allow:
  - host: api.example.com
credentials:
  # the model
  - name: model
    hosts: [api.example.com]
    bearer: true
    source: env:K
  - name: other
    hosts: [api.example.com]
    header: x-other
    source: env:O
`

func TestRemove(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(file)
	r := fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "model")
	if r.Code != 0 || r.Stdout != "removed credential model from allowlist.yaml\n" {
		t.Fatalf("rm: %+v", r)
	}
	data, _ := os.ReadFile("allowlist.yaml")
	if want := strings.Replace(file, "  - name: model\n    hosts: [api.example.com]\n    bearer: true\n    source: env:K\n", "", 1); string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "model")
	if r.Code != cmdutil.ExitError || r.Stderr != "bottle: allowlist.yaml: no credential named \"model\"; the credentials are other\n" {
		t.Errorf("again: %+v", r)
	}
	for _, args := range [][]string{{}, {"Bad"}, {"a", "b"}, {"a", "--live-only"}} {
		if r := fx.Run(NewCmd(fx.F, nil), []string{"secret"}, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"secret"}, "other", "--file", "none.yaml"); r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: none.yaml does not exist; pass --file\n" {
		t.Errorf("missing file: %+v", r)
	}
}

func TestComplete(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(file)
	root := &cobra.Command{Use: "bottle"}
	root.SetOut(fx.Out)
	group := &cobra.Command{Use: "secret"}
	root.AddCommand(group)
	group.AddCommand(NewCmd(fx.F, nil))
	got, d := cmdtest.Complete(t, root, fx.Out, "secret", "rm", "")
	if strings.Join(got, ",") != "model,other" || d != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("rm <TAB> = %q (directive %d)", got, d)
	}
	if got, _ := cmdtest.Complete(t, root, fx.Out, "secret", "rm", "model", ""); len(got) != 0 {
		t.Errorf("rm model <TAB> = %q; want nothing", got)
	}
}
