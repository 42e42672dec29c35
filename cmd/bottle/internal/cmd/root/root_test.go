package root

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/internal/golden"
)

// TestEveryCommandTeaches: every command has a short description and
// examples in its help.
func TestEveryCommandTeaches(t *testing.T) {
	fx := cmdtest.New(t)
	n := 0
	walk(NewCmd(fx.F), func(c *cobra.Command) {
		n++
		if c.Short == "" || strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q lacks Short or Example", c.CommandPath())
		}
	})
	if n != 39 {
		t.Errorf("walked %d commands; want 39", n)
	}
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	if c.Hidden || c.Name() == "help" {
		return
	}
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}

// TestHelp pins every command's --help (testdata/help/*.golden; -update
// rewrites them: read the diff).
func TestHelp(t *testing.T) {
	fx := cmdtest.New(t)
	walk(NewCmd(fx.F), func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		fx.Out.Reset()
		if code := Main(context.Background(), fx.F, append(path, "--help")); code != 0 {
			t.Errorf("%s --help: exit %d", c.CommandPath(), code)
		}
		name := strings.Join(append([]string{"bottle"}, path...), "-")
		golden.Check(t, filepath.Join("testdata", "help", name+".golden"), fx.Out.Bytes())
	})
}

// TestMainExitCodes: exit codes and messages through the whole tree.
func TestMainExitCodes(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(cmdtest.Sample)
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "bottle v0.0.0-test", ""},
		{[]string{"--version"}, 0, "bottle v0.0.0-test", ""},
		{[]string{"allow", "check", "https://api.example.com/"}, 0, "allow by allow[0]", ""},
		{[]string{"allow", "check", "https://evil.example.com/"}, 1, "deny by default", ""},
		{[]string{"allow", "check"}, 2, "", "bottle: bottle allow check: missing the TARGET (a URL or HOST[:PORT])\nRun 'bottle allow check --help' for usage.\n"},
		{[]string{"frobnicate"}, 2, "", "bottle: unknown command \"frobnicate\" for \"bottle\"\nRun 'bottle --help' for usage.\n"},
		{[]string{"list", "--nope"}, 2, "", "bottle: unknown flag: --nope\nRun 'bottle list --help' for usage.\n"},
		{[]string{"stop", "nothere"}, 1, "", "bottle: no bottle named \"nothere\" (see bottle list)\n"},
		{[]string{"ls"}, 0, "no bottles", ""},
	} {
		fx.Out.Reset()
		fx.Err.Reset()
		code := Main(context.Background(), fx.F, tc.args)
		if code != tc.code || !strings.HasPrefix(fx.Out.String(), tc.stdout) || !strings.HasPrefix(fx.Err.String(), tc.stderr) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, fx.Out, fx.Err, tc.code, tc.stdout, tc.stderr)
		}
	}
}
