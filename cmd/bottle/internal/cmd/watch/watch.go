// Package watch is `bottle watch`: the live terminal view of one bottle's
// or every bottle's egress decisions and pending approvals.
package watch

import (
	"context"
	"errors"
	"os"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/cmd/bottle/internal/watch"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle watch`'s dependencies and arguments.
type Options struct {
	IO       *cmdutil.IOStreams
	StateDir string
	Name     string // NAME; "" for every bottle
	// Decide records a verdict; nil means the host's decision helper
	// (approvals/shared.Decide).
	Decide watch.DecideFunc
}

// NewCmd returns `bottle watch`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, StateDir: f.Env.StateDir}
	cmd := &cobra.Command{
		Use:   "watch [NAME]",
		Short: "Watch bottles' egress live, and decide pending approvals with one key",
		Long: `Show the egress decisions of bottle NAME, or of every bottle, as they are
made: a table of every request, tunnel and refused DNS query (time, bottle,
kind, method, host, path, decision, cause, bytes), newest at the bottom, that
follows new lines unless you scroll up. A bottle that stops or is removed
stays, marked so, with its rows.

The requests a bottle holds while it asks (allowlist 'approvals: ask', or
'bottle launch --approvals ask'), and those the agent asks for itself
through its MCP tool request_access (with its reason), are pinned on top
with the time left; a terminal bell rings when one arrives. One key decides
the one marked ▸: o allows it once, h allows its host for the bottle's
lifetime, a allows it always (the rule is written to the bottle's live
allowlist and the file it was launched from), d denies it. The decision is
audited as made by 'bottle watch (USER)'.

Keys: ↑/↓ (k/j) select, tab moves between the approvals and the table,
enter shows the detail of the selection (the rule that decided, the reason,
and the command that does the same: 'bottle allow add …' for a denial,
'bottle approve ID --always' for an approval), f shows denials only, b
cycles through the bottles, / searches hosts and paths, esc clears the
filters, ? shows every key, q quits.

It needs a terminal. Without one, 'bottle logs NAME --egress --follow'
prints the decisions and 'bottle approvals' lists the pending approvals.
NO_COLOR turns colours off.`,
		Example: `  bottle watch
  bottle watch demo`,
		Args:              cmdutil.MaximumArgs(1, "at most one bottle NAME"),
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.AllBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	return cmd
}

// ErrNoTerminal is the refusal without a terminal.
var ErrNoTerminal = errors.New("bottle watch needs a terminal, and its output is not one; without one, 'bottle logs NAME --egress --follow' prints a bottle's decisions as they are made, and 'bottle approvals' lists the pending approvals ('bottle approve ID', 'bottle deny ID' decide them)")

func run(ctx context.Context, opts *Options) error {
	if !cmdutil.IsTerminal(opts.IO.Out) || !cmdutil.IsTerminal(opts.IO.In) {
		return ErrNoTerminal
	}
	if opts.Name != "" {
		if err := launcher.ValidName(opts.Name); err != nil {
			return cmdutil.UsageError(err)
		}
		if _, err := (&launcher.Launcher{StateDir: opts.StateDir}).Load(opts.Name); err != nil {
			return err
		}
	}
	decide := opts.Decide
	if decide == nil {
		// The host's decision helper, as bottle approve and bottle deny
		// use it: for an always, it writes the rule first.
		decide = shared.Decide
	}
	return watch.Run(ctx, opts.IO.In, opts.IO.Out, watch.Options{
		StateDir: opts.StateDir,
		Name:     opts.Name,
		By:       shared.By("bottle watch"),
		Decide:   decide,
		Bell:     opts.IO.Out,
		Plain:    os.Getenv("NO_COLOR") != "",
	})
}
