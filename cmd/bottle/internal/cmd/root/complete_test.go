package root

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

// TestCompletion: the shell completes bottle names for every verb that
// takes a NAME and for every --bottle flag, from the state directory (a
// running bottle for the verbs that need one, a stopped one to launch
// again), and --backend's values; asked as the completion scripts ask
// (cobra's __complete).
func TestCompletion(t *testing.T) {
	fx := cmdtest.New(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no recipes of the user's
	fx.Launch("up", "docker")
	fx.Launch("old", "macos-container")
	if _, err := fx.Launcher("macos-container").Stop(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	// Not bottles: a launch that never wrote its metadata, and a directory
	// whose name no bottle can have.
	os.MkdirAll(filepath.Join(fx.F.Env.StateDir, "half", "logs"), 0o700)
	os.MkdirAll(filepath.Join(fx.F.Env.StateDir, "Not-A-Name"), 0o700)

	complete := func(args ...string) ([]string, cobra.ShellCompDirective) {
		t.Helper()
		return cmdtest.Complete(t, NewCmd(fx.F), fx.Out, args...)
	}
	// What each NAME verb offers: a verb added later must say here which
	// bottles its NAME completes to.
	want := map[string][]string{
		"bottle exec":      {"up"},
		"bottle shell":     {"up"},
		"bottle stop":      {"up"},
		"bottle logs":      {"old", "up"},
		"bottle launch":    {"old"},
		"bottle rm":        {"old", "up"},
		"bottle diff":      {"old", "up"},
		"bottle pull":      {"old", "up"},
		"bottle approvals": {"up"},
		"bottle watch":     {"old", "up"},
	}
	seen := 0
	walk(NewCmd(fx.F), func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		if use := strings.Fields(c.Use); len(use) > 1 && strings.Trim(strings.TrimSuffix(use[1], "..."), "[]") == "NAME" {
			seen++
			w, ok := want[c.CommandPath()]
			if !ok {
				t.Errorf("%s takes a NAME: say in this test which bottles it completes", c.CommandPath())
			}
			if got, d := complete(append(path, "")...); !slices.Equal(got, w) || d != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("%s <TAB>: %q (directive %d); want %q", c.CommandPath(), got, d, w)
			}
		}
		if c.Flags().Lookup("bottle") != nil {
			seen++
			bottles := []string{"old", "up"}
			if c.CommandPath() == "bottle secret refresh" {
				bottles = []string{"up"} // a stopped bottle has no sidecar to refresh
			}
			if got, d := complete(append(path, "--bottle", "")...); !slices.Equal(got, bottles) || d != cobra.ShellCompDirectiveNoFileComp {
				t.Errorf("%s --bottle <TAB>: %q (directive %d)", c.CommandPath(), got, d)
			}
		}
	})
	if seen != len(want)+13 { // the five allow verbs, the four secret verbs, the three git verbs and ca export have --bottle
		t.Errorf("%d verbs complete bottle names; want %d", seen, len(want)+13)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"logs", "u"}, []string{"up"}},
		{[]string{"logs", "up", ""}, nil},       // one NAME
		{[]string{"stop", "up", ""}, nil},       // not offered twice
		{[]string{"exec", "up", "--", ""}, nil}, // the command in the agent: nothing bottle knows
		{[]string{"launch", "--backend", ""}, []string{"docker", "macos-container"}},
		{[]string{"launch", "--agent", ""}, []string{"claude", "codex", "gemini"}}, // the recipes: here, none but the built-in ones
		{[]string{"agents", ""}, []string{"claude", "codex", "gemini"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
		{[]string{"allow", "ch"}, []string{"check"}},
		{[]string{"help", "al"}, []string{"allow"}},
	} {
		if got, _ := complete(tc.args...); !slices.Equal(got, tc.want) {
			t.Errorf("bottle %s<TAB>: %q; want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
	// Each name says its backend, and whether it is stopped.
	complete("logs", "")
	if out := fx.Out.String(); !strings.Contains(out, "old\tmacos-container, stopped\n") || !strings.Contains(out, "up\tdocker\n") {
		t.Errorf("descriptions:\n%s", out)
	}
	// File flags complete files: allowlists and project files by extension.
	if got, d := complete("launch", "--allowlist", ""); !slices.Equal(got, []string{"yaml", "yml"}) || d != cobra.ShellCompDirectiveFilterFileExt {
		t.Errorf("--allowlist: %q %d", got, d)
	}
	if _, d := complete("launch", "--workspace", ""); d != cobra.ShellCompDirectiveFilterDirs {
		t.Errorf("--workspace: directive %d", d)
	}
}
