// Package list is `bottle list`: the bottles and their state.
package list

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle list`'s dependencies and flags.
type Options struct {
	IO       *cmdutil.IOStreams
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

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
		Example: `  bottle list
  bottle list --json`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, err := opts.Launcher(ctx, "", false)
	if err != nil {
		return err
	}
	sums, err := l.List(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		if sums == nil {
			sums = []launcher.Summary{}
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(sums)
	}
	if len(sums) == 0 {
		fmt.Fprintln(opts.IO.Out, "no bottles")
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tPROXY\tCONTAINERS")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", s.Name, s.Status, s.ProxyURL, len(s.Containers))
	}
	return tw.Flush()
}
