// Package deny is `bottle deny`: refuse a request a bottle holds, now.
package deny

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Options are `bottle deny`'s dependencies, flags and arguments.
type Options struct {
	IO       *cmdutil.IOStreams
	StateDir string

	ID   string // ID
	Note string // --note
}

// NewCmd returns `bottle deny`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, StateDir: f.Env.StateDir}
	cmd := &cobra.Command{
		Use:   "deny ID [--note TEXT]",
		Short: "Refuse a request a bottle holds, now",
		Long: `Refuse a request that a bottle holds (bottle approvals lists them, by ID):
the agent gets, at once rather than at the timeout, the 403 that says why the
allowlist denied it, and so do the identical requests held with it. Nothing
else changes: the next such request is held again. To refuse a host for
good, add a deny rule: bottle allow add HOST --deny --bottle NAME.

--note TEXT goes back to an agent that asked through MCP (request_access),
and into the audit, which records every decision with who made it.`,
		Example: `  bottle deny 3f9a2c1b
  bottle deny 3f9a2c1b --note "use the mirror, not the public index"`,
		Args:              cmdutil.ExactArgs(1, "the ID of the request, as bottle approvals lists it"),
		ValidArgsFunction: shared.CompleteIDs(&opts.StateDir),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Note, "note", "", "a note for the agent (returned to an MCP request_access) and the audit")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	bottle, q, err := shared.Decide(ctx, opts.StateDir, opts.ID, approval.Deny, shared.By("bottle deny"), opts.Note)
	if err != nil {
		return err
	}
	if q.State == approval.StateExpired {
		fmt.Fprintf(opts.IO.Out, "denied %s (bottle %s); it had timed out already, and the agent had its 403\n", shared.Describe(q), bottle)
		return nil
	}
	fmt.Fprintf(opts.IO.Out, "denied %s (bottle %s): the agent gets the 403 (%s)\n", shared.Describe(q), bottle, shared.Held(q))
	return nil
}
