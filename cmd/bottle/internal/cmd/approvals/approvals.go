// Package approvals is `bottle approvals`: the requests bottles hold
// while a human decides them (`bottle launch --approvals ask`, or
// `approvals: ask` in the allowlist). Its subpackages are `bottle
// approve`, `bottle deny`, and what they share with `bottle watch`.
package approvals

import (
	"fmt"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/approvals/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle approvals`' dependencies, flags and arguments.
type Options struct {
	IO       *cmdutil.IOStreams
	StateDir string
	Now      func() time.Time

	Name string // NAME: one bottle's ("": every bottle's)
	JSON bool   // --json
}

// NewCmd returns `bottle approvals`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, StateDir: f.Env.StateDir, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "approvals [NAME]",
		Short: "List the requests bottles hold until you approve or deny them",
		Long: `List the requests that bottles hold while they wait for you: requests the
allowlist denied that a human may allow (a host with no rule, or a port,
method or path the rules do not cover), in a bottle launched with
--approvals ask or whose allowlist says approvals: ask, and the requests
the agent filed itself through the supervise MCP server (request_access),
with the reason it gave. Deny rules, secrets and the address guard are
never held: they are refused at once.

A held request waits until you decide it or until approval_timeout (60s by
default) passes; then the agent gets the 403 that says why, and the request
stays listed for 10 minutes as expired, so that you can still allow it next
time. Identical requests collapse into one, COUNT of them.

  ID       what 'bottle approve' and 'bottle deny' take
  AGE      how long ago it was first held
  EXPIRES  when the agent gives up ("in 48s"), or gave up ("2m ago")
  STATE    pending (held now) or expired
  KIND     request (an HTTP request, plain or inside HTTPS) or connect (a
           tunnel that cannot be shown a page: an address, another port)
  CAUSE    why the allowlist denied it: no-rule, port-not-covered,
           method-not-covered, path-not-covered
  REASON   the agent's own words, for a request it filed through MCP

Decide one with 'bottle approve ID' (--once, --host or --always) or 'bottle
deny ID'; 'bottle watch' shows them live. --json prints the requests as a
JSON array: bottle, id, created, expires, state, source (proxy or mcp),
kind, scheme, host, port, method, path, cause, rule, reason, count,
agent_reason, always (the rules --always writes), command (the bottle allow
add command that writes them) and host_rule (what --host allows).`,
		Example: `  bottle approvals
  bottle approvals demo
  bottle approvals --json | jq -r '.[] | select(.state=="pending") | .id'`,
		Args:              cmdutil.MaximumArgs(1, "at most one bottle NAME"),
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.LiveBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if err := launcher.ValidName(args[0]); err != nil {
					return cmdutil.UsageError(err)
				}
				opts.Name = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the requests as JSON")
	return cmd
}

func run(opts *Options) error {
	all, err := shared.Pending(opts.StateDir, opts.Name)
	if err != nil {
		return err
	}
	if opts.JSON {
		if all == nil {
			all = []shared.PendingRequest{}
		}
		return cmdutil.WriteJSON(opts.IO.Out, all)
	}
	if len(all) == 0 {
		fmt.Fprintln(opts.IO.Out, "no pending approvals")
		return nil
	}
	now := opts.Now()
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tBOTTLE\tAGE\tEXPIRES\tSTATE\tKIND\tMETHOD\tHOST:PORT\tPATH\tCAUSE\tCOUNT\tREASON")
	for _, p := range all {
		q := p.Request
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", q.ID, p.Bottle, age(now.Sub(q.Created)), expires(now, q.Expires),
			q.State, q.Kind, dash(q.Method), shared.HostPort(q), dash(cut(q.Path, 40)), q.Cause, q.Count, dash(cut(q.AgentReason, 60)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(opts.IO.Err, "decide: bottle approve ID [--once|--host|--always] [--note TEXT], or bottle deny ID")
	return nil
}

// age is a duration as the table shows it: 12s, 3m, 2h, 3d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// expires is when the held request gives up: "in 48s", or "2m ago".
func expires(now, at time.Time) string {
	if at.After(now) {
		return "in " + age(at.Sub(now))
	}
	return age(now.Sub(at)) + " ago"
}

// cut makes s, which comes from the agent, safe for a terminal and at
// most n runes long.
func cut(s string, n int) string {
	s = termsafe.Line(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
