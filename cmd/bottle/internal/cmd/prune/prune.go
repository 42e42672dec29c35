// Package prune is `bottle prune`: remove the state of the bottles that do
// not run.
package prune

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle prune`'s dependencies and flags.
type Options struct {
	IO       *cmdutil.IOStreams
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

	OlderThan time.Duration // --older-than
	DryRun    bool          // --dry-run
	Verbose   bool          // -v
}

// NewCmd returns `bottle prune`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Launcher: f.Launcher}
	var olderThan string
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Remove the state of every bottle that does not run",
		Long: `Remove the state directories of the bottles that do not run: stopped ones,
ones whose launch failed, failed its self-test or was interrupted, and
incomplete ones (what the engine still holds of those is removed first). A
bottle that runs, is being launched, or whose backend does not answer is
never touched, nor one whose saved /workspace changes were never pulled
(bottle pull NAME, or bottle rm -f NAME). Each one removed or kept is
printed; --dry-run only prints them.

--older-than keeps the ones that stopped (or were launched) more recently: a
Go duration (36h, 90m) or a number of days (7d).`,
		Example: `  bottle prune --dry-run
  bottle prune --older-than 7d`,
		Args: cmdutil.ExactArgs(0, "no arguments; bottle rm NAME removes one bottle"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("older-than") {
				d, err := launcher.ParseAge(olderThan)
				if err != nil {
					return cmdutil.UsageErrorf("--older-than: %v", err)
				}
				opts.OlderThan = d
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&olderThan, "older-than", "", "only those that last ran longer ago than this (7d, 36h)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be removed, and remove nothing")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "show a failed engine command whole (its argv and output), not in one line")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, err := opts.Launcher(ctx, "", false)
	if err != nil {
		return err
	}
	return cmdutil.Brief(l.Prune(ctx, opts.OlderThan, opts.DryRun, opts.IO.Out), opts.Verbose)
}
