// Package root is the bottle command tree: it wires every verb to the
// Factory, and Main runs it and turns its error into the exit code.
package root

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/agents"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals/approve"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals/deny"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/ca"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/cleanup"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/completion"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/diff"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/doctor"
	execcmd "bottle.dev/bottle/cmd/bottle/internal/cmd/exec"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/git"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/launch"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/list"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/logs"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/prune"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/pull"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/rm"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/shell"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/stop"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/version"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/watch"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Main runs the bottle CLI with args and returns the process exit code.
func Main(ctx context.Context, f *cmdutil.Factory, args []string) int {
	root := NewCmd(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return cmdutil.HandleError(cmdutil.Classify(cmd, err), f.IOStreams.Err)
}

// NewCmd builds the command tree.
func NewCmd(f *cmdutil.Factory) *cobra.Command {
	ios := f.IOStreams
	root := &cobra.Command{
		Use:   "bottle",
		Short: "Run AI coding agents in a bottle whose only way out is an allowlist",
		Long: `bottle runs an AI coding agent (Claude Code, Codex, any CLI) in a container
whose only way to the network is a sidecar proxy and DNS forwarder that
enforce a per-bottle allowlist, with a TLS CA minted for that bottle alone.

The allowlist is a YAML file (allowlist.yaml by default). Edit it with
'bottle allow', test it with 'bottle allow check'.

Exit status: 0 success; 1 failure (a name that is not a bottle, a launch
that failed, a denial from 'bottle allow check'); 2 a bad command line, or
an invalid file or value (an allowlist, a project file); 130 interrupted
(Ctrl-C). 'bottle exec' and 'bottle shell' exit with the status of the
command in the agent.`,
		Example: `  # Allow the agent's API, then test a URL against the allowlist
  bottle allow add api.anthropic.com
  bottle allow check https://api.anthropic.com/v1/messages

  # Show the rules
  bottle allow list`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// cobra's --version prints Version through the template.
		Version: version.Line(f.Build),
	}
	root.Flags().Bool("version", false, "print bottle's version (as 'bottle version' does)")
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetHelpCommand(helpCmd())
	// A group (cmdutil.Group) runs only to print its help or refuse an
	// unknown command: its usage is its commands, not a line of its own.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.Err)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return cmdutil.Classify(cmd, err) })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		launch.NewCmd(f, nil),
		agents.NewCmd(f, nil),
		list.NewCmd(f, nil),
		execcmd.NewCmd(f, nil),
		shell.NewCmd(f, nil),
		logs.NewCmd(f, nil),
		watch.NewCmd(f, nil),
		diff.NewCmd(f, nil),
		pull.NewCmd(f, nil),
		stop.NewCmd(f, nil),
		rm.NewCmd(f, nil),
		prune.NewCmd(f, nil),
		cleanup.NewCmd(f, nil),
		doctor.NewCmd(f, nil),
		approvals.NewCmd(f, nil),
		approve.NewCmd(f, nil),
		deny.NewCmd(f, nil),
		allow.NewCmd(f),
		secret.NewCmd(f),
		git.NewCmd(f),
		ca.NewCmd(f),
		version.NewCmd(f, nil),
		completion.NewCmd(f, nil),
	)
	return root
}

// helpCmd is `bottle help [COMMAND]`: cobra's own says "Unknown help
// topic" and exits 0.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Help about any command: the same as COMMAND --help.",
		ValidArgsFunction: func(c *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			cmd, _, err := c.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || cmd == nil {
				return cmdutil.UsageErrorf("no help for %q: it is not a command of bottle; 'bottle --help' lists them", strings.Join(args, " "))
			}
			if len(rest) > 0 && cmd.HasSubCommands() {
				return cmdutil.UnknownCommand(cmd, rest[0])
			}
			return cmd.Help()
		},
	}
}
