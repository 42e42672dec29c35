// Package shell is `bottle shell`: a login shell in a bottle's agent, or
// the agent itself when the bottle was launched with one (--agent).
package shell

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// Argv is what runs in the agent: bash when the image has it, else sh.
var Argv = []string{"sh", "-c", "command -v bash >/dev/null && exec bash -l || exec sh -l"}

// Options are `bottle shell`'s dependencies and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Bottle loads a running bottle, on the backend it was launched on.
	Bottle func(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error)

	Name string // NAME
}

// NewCmd returns `bottle shell`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.RunningBottle}
	return &cobra.Command{
		Use:   "shell NAME",
		Short: "Open a shell in a bottle's agent, or the agent it was launched with",
		Long: `Open a login shell in a bottle's agent container, as the agent's user in
/workspace, with a terminal when you have one; bottle exits with its status.

A bottle launched with --agent opens its agent instead, interactive and in
its unattended mode (the bottle is the sandbox): for a shell there, run
'bottle exec NAME -- bash'.`,
		Example: `  bottle shell demo

  # A bottle launched with --agent claude: Claude Code again, then a shell
  bottle shell fix
  bottle exec fix -- bash`,
		Args:              cmdutil.ExactArgs(1, "the bottle NAME"),
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.LiveBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
}

func run(ctx context.Context, opts *Options) error {
	l, b, err := opts.Bottle(ctx, opts.Name)
	if err != nil {
		return err
	}
	if b.Recipe != "" && len(b.AgentArgv) > 0 {
		fmt.Fprintf(opts.IO.Err, "%s in bottle %s; for a shell: bottle exec %s -- bash\n", termsafe.Line(b.Recipe), b.Name, b.Name)
		return cmdutil.ExecInAgent(ctx, opts.IO, l, b, b.AgentArgv)
	}
	return cmdutil.ExecInAgent(ctx, opts.IO, l, b, Argv)
}
