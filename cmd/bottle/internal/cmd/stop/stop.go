// Package stop is `bottle stop`: save a bottle's logs, remove its
// containers and networks.
package stop

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle stop`'s dependencies and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Bottle loads a bottle's metadata, on the backend it was launched on.
	Bottle func(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error)
	// Launcher is a launcher on the backend that would be picked now, for a
	// bottle without metadata (a launch that died half way).
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

	Names   []string // NAME...
	Quiet   bool     // -q
	Verbose bool     // -v
}

// NewCmd returns `bottle stop`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.LoadBottle, Launcher: f.Launcher}
	cmd := &cobra.Command{
		Use:   "stop NAME...",
		Short: "Stop bottles: save their logs, remove their containers and networks",
		Long: `Stop a bottle: save the agent's and the sidecar's logs into its state
directory (the egress audit is already there), then remove its containers and
networks, on the backend it was launched on. Only resources that carry the
bottle's labels are removed. Stopping a stopped bottle changes nothing (its
saved logs stay as they are); a name that is not a bottle is an error.
-q prints nothing but errors.`,
		Example: `  bottle stop demo
  bottle stop a b c
  bottle stop -q demo`,
		Args:              cmdutil.MinimumArgs(1, "the NAME of each bottle to stop"),
		ValidArgsFunction: f.CompleteBottles(0, cmdutil.LiveBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "show a failed engine command whole (its argv and output), not in one line")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	var errs []error
	usage := false
	for _, n := range opts.Names {
		stopped, dir, cut, err := stopOne(ctx, opts, n)
		switch {
		case errors.Is(err, launcher.ErrNoBottle):
			errs = append(errs, err) // it names the bottle, in the words every verb uses
		case err != nil:
			usage = usage || cmdutil.IsUsage(err)
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		case opts.Quiet:
		case stopped:
			fmt.Fprintf(opts.IO.Out, "stopped %s (logs in %s)\n", n, dir)
			if cut != nil {
				fmt.Fprintf(opts.IO.Out, "  its command (%s) was still running and ended with it; its output: bottle logs %s\n", termsafe.Line(shquote.Join(cut)), n)
			}
		default:
			fmt.Fprintf(opts.IO.Out, "%s was already stopped (logs in %s)\n", n, dir)
		}
	}
	err := errors.Join(errs...)
	if err != nil && usage {
		return cmdutil.UsageError(err)
	}
	return cmdutil.Brief(err, opts.Verbose)
}

// stopOne stops bottle name on the backend recorded at its launch, and
// returns its detached command if the stop cut it short. Without metadata
// (a launch that died half way), the labelled resources are found on the
// backend that would be picked now.
func stopOne(ctx context.Context, opts *Options, name string) (bool, string, []string, error) {
	l, b, err := opts.Bottle(ctx, name)
	if errors.Is(err, launcher.ErrNoBottle) {
		l, err = opts.Launcher(ctx, "", false)
	}
	if err != nil {
		return false, "", nil, err
	}
	var cut []string
	if b != nil && len(b.Command) > 0 && l.CheckUsable(b) == nil && !l.CommandEnded(b) {
		cut = b.Command
	}
	stopped, err := l.Stop(ctx, name)
	return stopped, l.LogDir(name), cut, err
}
