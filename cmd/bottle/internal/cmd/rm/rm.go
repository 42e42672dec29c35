// Package rm is `bottle rm`: remove bottles' state directories.
package rm

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle rm`'s dependencies, flags and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Launcher is a launcher on the backend that would be picked now; each
	// bottle is looked up on the backend it was launched on.
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

	Names   []string // NAME...
	Force   bool     // -f
	Quiet   bool     // -q
	Verbose bool     // -v
}

// NewCmd returns `bottle rm`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Launcher: f.Launcher}
	cmd := &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove bottles' state: their CA, saved logs, command output and saved changes",
		Long: `Remove a bottle's state directory: its CA, its live allowlist, the logs saved
when it stopped, the egress audit, the detached command's output, and the changes of its
/workspace that bottle stop saved. A
stopped bottle (or one whose launch failed) keeps all of that until it is
removed; 'bottle list --all' shows them.

A bottle that runs, or that the engine still holds something of, is refused:
stop it first, or give -f to stop and remove it at once. A bottle being
launched is always refused. So is one whose saved /workspace changes were
never pulled (bottle pull NAME), unless -f says they may go. A name that is
not a bottle is an error (exit 1).`,
		Example: `  bottle rm demo
  bottle rm -f demo
  bottle rm a b c`,
		ValidArgsFunction: f.CompleteBottles(0, cmdutil.AllBottles),
		Args:              cmdutil.MinimumArgs(1, "the NAME of each bottle to remove"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "stop a bottle that runs, then remove it; remove its unpulled /workspace changes too")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "show a failed engine command whole (its argv and output), not in one line")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	for _, n := range opts.Names {
		if err := launcher.ValidName(n); err != nil {
			return cmdutil.UsageError(err)
		}
	}
	l, err := opts.Launcher(ctx, "", false)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range opts.Names {
		s, err := l.Remove(ctx, n, opts.Force)
		switch {
		case err != nil:
			errs = append(errs, err) // each names the bottle
		case opts.Quiet:
		case s.Active():
			fmt.Fprintf(opts.IO.Out, "stopped and removed %s (%s)\n", n, l.Dir(n))
		default:
			fmt.Fprintf(opts.IO.Out, "removed %s (%s)\n", n, l.Dir(n))
		}
	}
	return cmdutil.Brief(errors.Join(errs...), opts.Verbose)
}
