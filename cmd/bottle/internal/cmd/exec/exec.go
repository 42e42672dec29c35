// Package exec is `bottle exec`: run a command in a bottle's agent.
package exec

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
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
	cmd := &cobra.Command{
		Use:   "exec NAME -- CMD [ARGS...]",
		Short: "Run a command in a bottle's agent (its exit status is bottle's)",
		Example: `  bottle exec demo -- git status
  bottle exec demo -- curl -sI https://api.github.com/`,
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.LiveBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkArgs(cmd.ArgsLenAtDash(), args); err != nil {
				return err
			}
			opts.Name, opts.Command = args[0], args[1:]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	// exec has no flags: one here is the command's, which goes after --.
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return cmdutil.Classify(cmd, fmt.Errorf("%w; the command goes after --: bottle exec NAME -- CMD [ARGS...]", err))
	})
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, b, err := opts.Bottle(ctx, opts.Name)
	if err != nil {
		return err
	}
	return cmdutil.ExecInAgent(ctx, opts.IO, l, b, opts.Command)
}

// checkArgs wants NAME, then --, then the command; each mistake is said
// with the command line that would work.
func checkArgs(dash int, args []string) error {
	switch {
	case len(args) == 0:
		return cmdutil.UsageErrorf("bottle exec: missing the bottle NAME and the command: bottle exec NAME -- CMD [ARGS...]")
	case dash < 0 && len(args) == 1:
		return cmdutil.UsageErrorf("bottle exec: missing the command: bottle exec %s -- CMD [ARGS...]", args[0])
	case dash < 0:
		return cmdutil.UsageErrorf("bottle exec: put the command after --: bottle exec %s -- %s", args[0], shquote.Join(args[1:]))
	case dash == 0:
		return cmdutil.UsageErrorf("bottle exec: missing the bottle NAME before --: bottle exec NAME -- %s", shquote.Join(args))
	case dash > 1:
		return cmdutil.UsageErrorf("bottle exec: one bottle NAME before --, not %d: bottle exec %s -- %s", dash, args[0], shquote.Join(args[dash:]))
	case len(args) == 1:
		return cmdutil.UsageErrorf("bottle exec: missing the command after --: bottle exec %s -- CMD [ARGS...]", args[0])
	}
	return nil
}
