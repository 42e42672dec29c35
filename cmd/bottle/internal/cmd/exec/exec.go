// Package exec is `bottle exec`: run a command in a bottle's agent.
package exec

import (
	"context"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle exec`'s dependencies and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Bottle loads a running bottle, on the backend it was launched on.
	Bottle func(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error)

	Name    string   // NAME
	Command []string // after --
}

// NewCmd returns `bottle exec`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.RunningBottle}
	return &cobra.Command{
		Use:   "exec NAME -- CMD [ARGS...]",
		Short: "Run a command in a bottle's agent (its exit status is bottle's)",
		Example: `  bottle exec demo -- git status
  bottle exec demo -- curl -sI https://api.github.com/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 || len(args) < 2 {
				return cmdutil.UsageErrorf("usage: bottle exec NAME -- CMD [ARGS...]")
			}
			opts.Name, opts.Command = args[0], args[1:]
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
	return cmdutil.ExecInAgent(ctx, opts.IO, l, b, opts.Command)
}
