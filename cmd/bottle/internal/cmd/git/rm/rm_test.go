package rm

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

const file = `version: 1
git:
  # the agent's own
  - repo: git.example.com/acme/widget
    push: ["refs/heads/agent/**"]
  - repo: git.example.com/acme/docs
`

func TestRemove(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(file)
	r := fx.Run(NewCmd(fx.F, nil), []string{"git"}, "git.example.com/acme/widget.git")
	if r.Code != 0 || r.Stdout != "removed git[0] (git.example.com/acme/widget) from allowlist.yaml\n" {
		t.Fatalf("rm: %+v", r)
	}
	data, _ := os.ReadFile("allowlist.yaml")
	if want := strings.Replace(file, "  - repo: git.example.com/acme/widget\n    push: [\"refs/heads/agent/**\"]\n", "", 1); string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"git"}, "git.example.com/acme/widget")
	if r.Code != cmdutil.ExitError || r.Stderr != "bottle: allowlist.yaml: no git entry for git.example.com/acme/widget; its repositories are git.example.com/acme/docs\n" {
		t.Errorf("again: %+v", r)
	}
	for _, args := range [][]string{{}, {"git.example.com"}, {"a/b", "c/d"}, {"a.b/c", "--live-only"}} {
		if r := fx.Run(NewCmd(fx.F, nil), []string{"git"}, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"git"}, "a.b/c", "--file", "none.yaml"); r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: none.yaml does not exist; pass --file\n" {
		t.Errorf("missing file: %+v", r)
	}
}

// TestComplete: rm offers the repositories, each with what it allows.
func TestComplete(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(file)
	root := &cobra.Command{Use: "bottle"}
	root.SetOut(fx.Out)
	group := &cobra.Command{Use: "git"}
	root.AddCommand(group)
	group.AddCommand(NewCmd(fx.F, nil))
	got, d := cmdtest.Complete(t, root, fx.Out, "git", "rm", "")
	if strings.Join(got, ",") != "git.example.com/acme/widget,git.example.com/acme/docs" || d != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("rm <TAB> = %q (directive %d)", got, d)
	}
	fx.Out.Reset()
	root.SetArgs([]string{cobra.ShellCompRequestCmd, "git", "rm", ""})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fx.Out.String(), "git.example.com/acme/widget\tpush refs/heads/agent/** scan block") {
		t.Errorf("descriptions: %q", fx.Out.String())
	}
	if got, _ := cmdtest.Complete(t, root, fx.Out, "git", "rm", "git.example.com/acme/docs", ""); len(got) != 0 {
		t.Errorf("rm REPO <TAB> = %q; want nothing", got)
	}
}
