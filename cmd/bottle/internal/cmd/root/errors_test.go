package root

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

// rawCobra are pieces of the messages cobra and pflag make themselves,
// which never reach the user: cmdutil.Classify says each in bottle's words.
var rawCobra = regexp.MustCompile(`arg\(s\)|if any flags in the group|none of the others can be|Did you mean this|strconv\.|flag needs an argument|Unknown help topic|invalid syntax`)

// footer is the usage footer of the command at path.
func footer(path string) string { return "Run '" + path + " --help' for usage.\n" }

// TestBadInvocations: each verb's bad command lines end with exit 2, a
// sentence that says what is wrong and the fix, and the usage footer of
// that verb; an invalid file is exit 2 without the footer; a name that is
// not a bottle is exit 1 with the same words from every verb.
func TestBadInvocations(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(cmdtest.Sample)
	type bad struct {
		args   []string
		code   int
		stderr string // exactly, footer included
	}
	usage := func(path, msg string, args ...string) bad {
		return bad{args, 2, "bottle: " + msg + "\n" + footer(path)}
	}
	invalid := func(msg string, args ...string) bad { return bad{args, 2, "bottle: " + msg + "\n"} }
	cases := []bad{
		usage("bottle", `unknown command "frobnicate" for "bottle"`, "frobnicate"),
		usage("bottle", `unknown command "launh" for "bottle"; did you mean launch?`, "launh"),
		usage("bottle help", `no help for "frobnicate": it is not a command of bottle; 'bottle --help' lists them`, "help", "frobnicate"),

		usage("bottle launch", "launch takes one NAME; put the command after --: bottle launch a -- b", "launch", "a", "b"),
		usage("bottle launch", "give --image or --dockerfile, not both", "launch", "--image", "a", "--dockerfile", "b"),
		usage("bottle launch", "-e needs a value: -e VALUE", "launch", "-e"),
		usage("bottle launch", `--pids-limit "many": want a whole number`, "launch", "--pids-limit", "many"),
		usage("bottle launch", `unknown backend "podman"; use one of docker, macos-container`, "launch", "--backend", "podman"),
		usage("bottle launch", "give --project or --no-project, not both", "launch", "--project", "p.yaml", "--no-project"),
		usage("bottle launch", "give --quiet or --verbose, not both", "launch", "-q", "-v"),
		usage("bottle launch", "--json prints the summary for scripts, and the command's output would be mixed into it: add -d, or run the command afterwards with bottle exec x -- make test", "launch", "x", "--json", "--", "make", "test"),

		usage("bottle list", `bottle list: too many arguments (["x"]); it takes no arguments`, "list", "x"),
		usage("bottle list", `--json "3": want true or false`, "list", "--json=3"),

		usage("bottle exec", "bottle exec: missing the bottle NAME and the command: bottle exec NAME -- CMD [ARGS...]", "exec"),
		usage("bottle exec", "bottle exec: put the command after --: bottle exec demo -- ls /tmp", "exec", "demo", "ls", "/tmp"),
		usage("bottle exec", "unknown shorthand flag: 'l' in -la; the command goes after --: bottle exec NAME -- CMD [ARGS...]", "exec", "demo", "ls", "-la"),
		usage("bottle exec", `bottle name "../evil": use 1-40 lower-case letters, digits, '-', '_' or '.', starting with a letter or digit`, "exec", "../evil", "--", "id"),

		usage("bottle shell", "bottle shell: missing the bottle NAME", "shell"),
		usage("bottle shell", `bottle shell: too many arguments (["b"]); it takes the bottle NAME`, "shell", "a", "b"),

		usage("bottle logs", "bottle logs: missing the bottle NAME", "logs"),
		usage("bottle logs", "give --egress or --sidecar, not both", "logs", "demo", "--egress", "--sidecar"),
		usage("bottle logs", "--json is for the egress audit, whose lines are JSON: add --egress (the agent's and the sidecar's logs are text)", "logs", "demo", "--json"),

		usage("bottle stop", "bottle stop: missing the NAME of each bottle to stop", "stop"),

		usage("bottle cleanup", `bottle cleanup: too many arguments (["x"]); it takes no arguments`, "cleanup", "x"),
		usage("bottle cleanup", "a dry run only prints what it would remove, and -q would print nothing: give one of them", "cleanup", "-q", "--dry-run"),
		usage("bottle cleanup", "give --quiet or --json, not both", "cleanup", "-q", "--json"),
		usage("bottle doctor", `bottle doctor: too many arguments (["x"]); it takes no arguments`, "doctor", "x"),
		usage("bottle version", `bottle version: too many arguments (["x"]); it takes no arguments`, "version", "x"),
		usage("bottle completion", "bottle completion: missing the shell name (bash, zsh, fish or powershell)", "completion"),
		usage("bottle completion", `unknown shell "tcsh"; use bash, zsh, fish or powershell`, "completion", "tcsh"),

		usage("bottle allow", `unknown command "chek" for "bottle allow"; did you mean check?`, "allow", "chek"),
		usage("bottle allow", `unknown command "frob" for "bottle allow"; its commands are add, check, list, presets, rm and validate`, "allow", "frob"),
		usage("bottle allow add", "bottle allow add: missing the HOST to allow (or --preset NAME)", "allow", "add"),
		usage("bottle allow add", "give --file or --bottle, not both", "allow", "add", "a.example.com", "--file", "x.yaml", "--bottle", "demo"),
		usage("bottle allow add", `--port "gopher" is not a port; use a number from 1 to 65535 or a service name (`+strings.Join(allowlist.ServiceNames(), ", ")+`)`, "allow", "add", "a.example.com", "-p", "gopher"),
		usage("bottle allow rm", "bottle allow rm: missing the HOST whose rule to remove", "allow", "rm"),
		invalid("missing.yaml does not exist; pass --file", "allow", "rm", "a.example.com", "--file", "missing.yaml"),
		usage("bottle allow list", `bottle allow list: too many arguments (["x"]); it takes no arguments`, "allow", "list", "x"),
		invalid("missing.yaml does not exist; create it with 'bottle allow add HOST' or pass --file", "allow", "list", "--file", "missing.yaml"),
		usage("bottle allow check", "bottle allow check: missing the TARGET (a URL or HOST[:PORT])", "allow", "check"),
		usage("bottle allow check", "-X needs a value: -X VALUE", "allow", "check", "https://a.example.com/", "-X"),
		usage("bottle allow validate", `bottle allow validate: too many arguments (["b"]); it takes one FILE at most`, "allow", "validate", "a", "b"),
		invalid("missing.yaml does not exist; name the allowlist to check (bottle allow validate FILE)", "allow", "validate", "missing.yaml"),

		usage("bottle ca", `unknown command "frob" for "bottle ca"; its commands are export and init`, "ca", "frob"),
		usage("bottle ca init", "--dir is required: the directory to create the CA in", "ca", "init"),
		usage("bottle ca init", `bottle ca init: too many arguments (["x"]); it takes no arguments (use --dir)`, "ca", "init", "x"),
		usage("bottle ca export", "give --dir or --bottle, not both", "ca", "export", "--dir", "a", "--bottle", "b"),
	}
	// A name that is not a bottle: the same words, exit 1, whatever the verb.
	missing := bad{code: 1, stderr: "bottle: no bottle named \"nothere\" (see bottle list)\n"}
	for _, args := range [][]string{
		{"allow", "add", "x.example.com", "--bottle", "nothere"},
		{"allow", "rm", "x.example.com", "--bottle", "nothere"},
		{"allow", "list", "--bottle", "nothere"},
		{"allow", "check", "--bottle", "nothere", "https://x.example.com/"},
		{"allow", "validate", "--bottle", "nothere"},
		{"ca", "export", "--bottle", "nothere"},
	} {
		cases = append(cases, bad{args, missing.code, missing.stderr})
	}
	tree := NewCmd(fx.F)
	walk(tree, func(c *cobra.Command) {
		// Every verb that takes a bottle NAME first.
		use := strings.Fields(c.Use)
		if len(use) > 1 && strings.TrimSuffix(use[1], "...") == "NAME" {
			args := append(strings.Fields(c.CommandPath())[1:], "nothere")
			if strings.Contains(c.Use, " -- ") {
				args = append(args, "--", "true")
			}
			cases = append(cases, bad{args, missing.code, missing.stderr})
		}
		// Every command refuses a flag it does not have, and says where its
		// flags are.
		if c.Runnable() && c != tree {
			path := c.CommandPath()
			msg := "unknown flag: --no-such-flag"
			if path == "bottle exec" {
				msg += "; the command goes after --: bottle exec NAME -- CMD [ARGS...]"
			}
			cases = append(cases, usage(path, msg, append(strings.Fields(path)[1:], "--no-such-flag")...))
		}
	})
	for _, tc := range cases {
		fx.Out.Reset()
		fx.Err.Reset()
		code := Main(context.Background(), fx.F, tc.args)
		got := fx.Err.String()
		if code != tc.code || got != tc.stderr {
			t.Errorf("bottle %s: exit %d\n%s\nwant exit %d\n%s", strings.Join(tc.args, " "), code, got, tc.code, tc.stderr)
		}
		if rawCobra.MatchString(got + fx.Out.String()) {
			t.Errorf("bottle %s: cobra's own words reach the user: %q", strings.Join(tc.args, " "), got)
		}
	}
}
