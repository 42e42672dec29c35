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
	Force   bool     // --force: stop even when /workspace cannot be saved
	MaxSize string   // --max-size
}

// NewCmd returns `bottle stop`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.LoadBottle, Launcher: f.Launcher}
	cmd := &cobra.Command{
		Use:   "stop NAME...",
		Short: "Stop bottles: save their /workspace changes and logs, remove their containers and networks",
		Long: `Stop a bottle: save the agent's and the sidecar's logs into its state
directory (the egress audit is already there), then remove its containers and
networks, on the backend it was launched on. Only resources that carry the
bottle's labels are removed. Stopping a stopped bottle changes nothing (its
saved logs stay as they are); a name that is not a bottle is an error.
-q prints nothing but errors.

First the agent's /workspace is copied out and, when the agent changed
anything, kept in the state directory: bottle diff and bottle pull read it
after the stop, until bottle rm or a prune removes the bottle. Stop says
when those changes were not pulled yet. When /workspace cannot be saved (the
engine fails, it is larger than --max-size, it holds a fifo), nothing is
stopped, unless --force says the changes may be lost.`,
		Example: `  bottle stop demo
  bottle stop a b c
  bottle stop -q demo
  bottle stop --force demo   # even if /workspace cannot be saved`,
		Args:              cmdutil.MinimumArgs(1, "the NAME of each bottle to stop"),
		ValidArgsFunction: f.CompleteBottles(0, cmdutil.LiveBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := cmdutil.Limit(opts.MaxSize); err != nil {
				return err
			}
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing but errors")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "show a failed engine command whole (its argv and output), not in one line")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "stop even when the agent's /workspace cannot be saved (its changes are lost)")
	cmdutil.MaxSizeFlag(cmd.Flags(), &opts.MaxSize)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	var errs []error
	usage := false
	for _, n := range opts.Names {
		res, err := stopOne(ctx, opts, n)
		switch {
		case errors.Is(err, launcher.ErrNoBottle):
			errs = append(errs, err) // it names the bottle, in the words every verb uses
		case err != nil:
			usage = usage || cmdutil.IsUsage(err)
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		case opts.Quiet:
		case res.stopped:
			fmt.Fprintf(opts.IO.Out, "stopped %s (logs in %s)\n", n, res.logs)
			if res.cut != nil {
				fmt.Fprintf(opts.IO.Out, "  its command (%s) was still running and ended with it; its output: bottle logs %s\n", termsafe.Line(shquote.Join(res.cut)), n)
			}
		default:
			fmt.Fprintf(opts.IO.Out, "%s was already stopped (logs in %s)\n", n, res.logs)
		}
		if err == nil {
			res.tell(opts, n)
		}
	}
	err := errors.Join(errs...)
	if err != nil && usage {
		return cmdutil.UsageError(err)
	}
	return cmdutil.Brief(err, opts.Verbose)
}

// result is what stopOne did.
type result struct {
	stopped bool
	logs    string // the saved logs' directory
	saved   launcher.Saved
	unsaved error // why /workspace was not saved, under --force
	// unpulled says an earlier stop kept changes not pulled yet.
	unpulled bool
	// cut is the detached command the stop cut short; nil for none.
	cut []string
}

// tell says what became of the agent's /workspace: kept changes that were
// not pulled, or changes lost (--force). -q keeps only the warnings.
func (r result) tell(opts *Options, name string) {
	switch {
	case r.unsaved != nil:
		fmt.Fprintf(opts.IO.Err, "warning: %s: /workspace was not saved (--force): %v\n", name, r.unsaved)
	case r.saved.Gone:
		fmt.Fprintf(opts.IO.Err, "warning: %s: the agent's container was gone, so its /workspace could not be saved\n", name)
	case opts.Quiet:
	case r.saved.Unpulled || r.unpulled:
		what := "changes that were"
		if n := r.saved.Changed; n == 1 {
			what = "1 changed path that was"
		} else if n > 1 {
			what = fmt.Sprintf("%d changed paths that were", n)
		}
		fmt.Fprintf(opts.IO.Err, "%s: /workspace has %s not pulled; they are kept: see them with bottle diff %s, get them with bottle pull %s (bottle rm %s drops them)\n",
			name, what, name, name, name)
	}
}

// stopOne stops bottle name on the backend recorded at its launch, saving
// its /workspace first, and notes its detached command if the stop cuts it
// short. Without metadata (a launch that died half way),
// the labelled resources are found on the backend that would be picked
// now.
func stopOne(ctx context.Context, opts *Options, name string) (result, error) {
	var res result
	l, b, err := opts.Bottle(ctx, name)
	if errors.Is(err, launcher.ErrNoBottle) {
		l, err = opts.Launcher(ctx, "", false)
	}
	if err != nil {
		return res, err
	}
	if b != nil {
		if res, err = save(ctx, opts, l, b); err != nil {
			return res, err
		}
		if len(b.Command) > 0 && l.CheckUsable(b) == nil && !l.CommandEnded(b) {
			res.cut = b.Command
		}
	}
	res.stopped, err = l.Stop(ctx, name)
	res.logs = l.LogDir(name)
	return res, err
}

// save keeps what the agent changed in /workspace before the stop removes
// it; when that fails, the stop goes on only with --force.
func save(ctx context.Context, opts *Options, l *launcher.Launcher, b *launcher.Bottle) (result, error) {
	var res result
	if !b.Stopped.IsZero() {
		st, err := l.ReadWorkspaceStatus(b.Name)
		res.unpulled = err == nil && st.Unpulled()
		return res, nil
	}
	limit, err := cmdutil.Limit(opts.MaxSize)
	if err != nil {
		return res, err
	}
	res.saved, err = l.SaveWorkspace(ctx, b, limit)
	switch {
	case err == nil:
	case opts.Force:
		res.unsaved = err
	default:
		return res, fmt.Errorf("%w\nnothing was stopped, so the agent's changes are still in the bottle: fix that and stop again, get them first (bottle pull %s --patch FILE), or stop with --force to drop them",
			err, b.Name)
	}
	return res, nil
}
