// Package approve is `bottle approve`: let a request a bottle holds go
// through, once, for its host, or always.
package approve

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
)

// Options are `bottle approve`'s dependencies, flags and arguments.
type Options struct {
	IO       *cmdutil.IOStreams
	StateDir string

	ID     string // ID
	Once   bool   // --once (the default)
	Host   bool   // --host
	Always bool   // --always
	Note   string // --note
}

// Verdict is what the flags say.
func (o *Options) Verdict() approval.Verdict {
	switch {
	case o.Host:
		return approval.Host
	case o.Always:
		return approval.Always
	}
	return approval.Once
}

// NewCmd returns `bottle approve`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, StateDir: f.Env.StateDir}
	cmd := &cobra.Command{
		Use:   "approve ID [--once|--host|--always] [--note TEXT]",
		Short: "Let a request a bottle holds go through: once, for its host, or always",
		Long: `Let a request that a bottle holds (bottle approvals lists them, by ID) go
through. The agent's request was held, not refused: it proceeds as if the
allowlist had allowed it, with no retry, and so do the identical requests
held with it. Say how far the approval goes, with one of:

  --once    this request, and nothing else (the default). The next one is
            held again. For a request the agent filed through MCP
            (request_access), the host it asked for, for 10 minutes.
  --host    this request, and every later one to the same host and port,
            any method and path, for as long as the bottle runs. Nothing is
            written to the allowlist: a relaunch asks again.
  --always  this request, and a rule in the bottle's live allowlist, as
            narrow as the request (its host and port; and its method and
            path when only those were refused), written with the editor of
            'bottle allow add --bottle NAME': into the live allowlist and
            the file the bottle was launched from, comments kept. The rule
            and the file are printed; 'bottle allow rm' takes it out.

--note TEXT goes back to an agent that asked through MCP, with the answer,
and into the audit. Every decision is audited with who made it
("bottle approve (USER)").

A request that timed out (STATE expired: the agent already got its 403) is
listed for 10 minutes more: --host and --always still allow it next time;
--once says it is too late. 'bottle deny ID' refuses a request at once.`,
		Example: `  $ bottle approvals
  ID        BOTTLE  AGE  EXPIRES  STATE    KIND     METHOD  HOST:PORT             PATH      CAUSE    COUNT  REASON
  3f9a2c1b  demo    4s   in 56s   pending  request  GET     pypi.example.com:443  /simple/  no-rule  1      -

  # This one request (the agent's pip install goes on)
  bottle approve 3f9a2c1b

  # The host, until the bottle stops
  bottle approve 3f9a2c1b --host

  # For good: a rule in the bottle's allowlist and in the file it came from
  bottle approve 3f9a2c1b --always --note "the package index is fine"`,
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
	cmd.Flags().BoolVar(&opts.Once, "once", false, "this request only (the default); for an MCP request_access, its host for 10 minutes")
	cmd.Flags().BoolVar(&opts.Host, "host", false, "this request and every later one to its host and port, while the bottle runs (nothing is written)")
	cmd.Flags().BoolVar(&opts.Always, "always", false, "this request, and a rule as narrow as it in the bottle's live allowlist and the file it was launched from")
	cmd.Flags().StringVar(&opts.Note, "note", "", "a note for the agent (returned to an MCP request_access) and the audit")
	cmd.MarkFlagsMutuallyExclusive("once", "host", "always")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	v := opts.Verdict()
	d := shared.Decider{StateDir: opts.StateDir, IO: opts.IO}
	bottle, q, err := d.Decide(ctx, opts.ID, v, shared.By("bottle approve"), opts.Note)
	if err != nil {
		return err
	}
	what := shared.Describe(q)
	gone := q.State == approval.StateExpired
	switch {
	case v == approval.Once && q.Source == approval.SourceMCP:
		fmt.Fprintf(opts.IO.Out, "allowed %s for 10 minutes, as %s asked through MCP (bottle %s)\n", shared.HostPort(q), reason(q), bottle)
	case v == approval.Once:
		fmt.Fprintf(opts.IO.Out, "allowed once: %s (bottle %s; %s proceed%s)\n", what, bottle, shared.Held(q), s(q.Count))
	case v == approval.Host:
		fmt.Fprintf(opts.IO.Out, "allowed %s, every method and path, while bottle %s runs (not written to its allowlist: --always does that)\n",
			termsafe.Line(q.HostRule.Host+portSuffix(q.HostRule.Ports)), bottle)
	default:
		fmt.Fprintf(opts.IO.Out, "allowed always: %s (bottle %s); the rule stays in its allowlist (bottle allow list --bottle %s)\n", what, bottle, bottle)
	}
	switch {
	case gone:
		fmt.Fprintf(opts.IO.Out, "the request itself had timed out (the agent got the 403); the next one goes through\n")
	case v != approval.Once:
		fmt.Fprintf(opts.IO.Out, "%s: %s proceed%s\n", what, shared.Held(q), s(q.Count))
	}
	return nil
}

// reason is who asked, and why, for an MCP request.
func reason(q approval.Request) string {
	if q.AgentReason == "" {
		return "the agent"
	}
	return `the agent ("` + termsafe.Line(q.AgentReason) + `")`
}

func portSuffix(ports []uint16) string {
	if len(ports) == 1 {
		return fmt.Sprintf(":%d", ports[0])
	}
	return ""
}

// s is the verb's ending for n requests: "1 held request proceeds".
func s(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}
