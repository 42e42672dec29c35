// Package list is `bottle list`: the bottles and their state.
package list

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// JSON is one bottle as `bottle list --json` prints it: its summary, and
// the agent recipe it was launched with (bottle launch --agent).
type JSON struct {
	launcher.Summary
	Recipe string `json:"recipe,omitempty"`
}

// Options are `bottle list`'s dependencies and flags.
type Options struct {
	IO       *cmdutil.IOStreams
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

	All  bool // --all
	JSON bool // --json
}

// NewCmd returns `bottle list`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Launcher: f.Launcher}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List bottles",
		Long: `List the bottles that run, are being launched, or that the engine still holds
something of; --all adds the ones that are stopped or whose launch failed, and
whose state directory (saved logs, the detached command's output) is kept
until 'bottle rm' or 'bottle prune'.

STATUS is one of: running; launching; incomplete (a launch that died or was
killed, or a container that went away: 'bottle cleanup' removes what is
left); stopped; failed (the launch failed at the step shown); failed
self-test (the bottle leaked and was torn down); interrupted (Ctrl-C during
its launch); unknown (its backend does not answer).

COMMAND is the command started with 'bottle launch NAME -d -- CMD': running,
or how it exited (its output: bottle logs NAME).

--json prints a JSON array, one object per bottle, with these fields: name,
status, step and error (where its launch stopped, and why), backend,
created, stopped, containers, networks, proxy_url, mcp_url (the agent's
MCP_SUPERVISE_URL), approvals (what launch --approvals said: ask or off),
recipe (the agent it runs: what launch --agent said), and command (argv,
state, exit_code, signal, error) when it has one.`,
		Example: `  bottle list
  bottle list --all
  bottle list --json | jq -r '.[] | select(.status=="incomplete") | .name'`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.All, "all", "a", false, "also the stopped and failed bottles whose state is kept")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, err := opts.Launcher(ctx, "", false)
	if err != nil {
		return err
	}
	all, err := l.List(ctx)
	if err != nil {
		return err
	}
	sums := []launcher.Summary{}
	for _, s := range all {
		if opts.All || s.Active() {
			sums = append(sums, s)
		}
	}
	hidden := len(all) - len(sums)
	if opts.JSON {
		out := make([]JSON, 0, len(sums))
		for _, s := range sums {
			j := JSON{Summary: s}
			if b, err := l.Load(s.Name); err == nil {
				j.Recipe = b.Recipe
			}
			out = append(out, j)
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(sums) == 0 {
		if hidden > 0 {
			fmt.Fprintf(opts.IO.Out, "no running bottles (%s stopped or failed: bottle list --all)\n", bottles(hidden))
			return nil
		}
		fmt.Fprintln(opts.IO.Out, "no bottles")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tPROXY\tCONTAINERS\tCOMMAND")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", s.Name, s.StatusText(), s.ProxyURL, len(s.Containers), command(s.Command))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if hidden > 0 {
		fmt.Fprintf(opts.IO.Err, "and %s stopped or failed: bottle list --all\n", bottles(hidden))
	}
	return nil
}

// command is the COMMAND column: "-", or "exited 0: make test".
func command(c *launcher.CommandState) string {
	if c == nil {
		return "-"
	}
	return c.String() + ": " + termsafe.Line(shquote.Join(c.Argv))
}

func bottles(n int) string {
	if n == 1 {
		return "1 bottle"
	}
	return fmt.Sprintf("%d bottles", n)
}
