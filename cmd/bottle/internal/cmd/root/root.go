// Package root is the bottle command tree: it wires every verb to the
// Factory, and Main runs it and turns its error into the exit code.
package root

import (
	"context"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/ca"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/cleanup"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/completion"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/doctor"
	execcmd "bottle.dev/bottle/cmd/bottle/internal/cmd/exec"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/launch"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/list"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/logs"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/shell"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/stop"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/version"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Main runs the bottle CLI with args and returns the process exit code.
func Main(ctx context.Context, f *cmdutil.Factory, args []string) int {
	root := NewCmd(f)
	root.SetArgs(args)
	return cmdutil.HandleError(root.ExecuteContext(ctx), f.IOStreams.Err)
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
'bottle allow', test it with 'bottle allow check'.`,
		Example: `  # Allow the agent's API, then test a URL against the allowlist
  bottle allow add api.anthropic.com
  bottle allow check https://api.anthropic.com/v1/messages

  # Show the rules
  bottle allow list`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cmdutil.UsageError(err) })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		launch.NewCmd(f, nil),
		list.NewCmd(f, nil),
		execcmd.NewCmd(f, nil),
		shell.NewCmd(f, nil),
		logs.NewCmd(f, nil),
		stop.NewCmd(f, nil),
		cleanup.NewCmd(f, nil),
		doctor.NewCmd(f, nil),
		allow.NewCmd(f),
		ca.NewCmd(f),
		version.NewCmd(f, nil),
		completion.NewCmd(f, nil),
	)
	return root
}
