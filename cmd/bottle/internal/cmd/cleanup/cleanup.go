// Package cleanup is `bottle cleanup`: remove half-made or orphaned
// bottles' resources.
package cleanup

import (
	"context"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle cleanup`'s dependencies and flags.
type Options struct {
	IO       *cmdutil.IOStreams
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

	DryRun bool // --dry-run
}

// NewCmd returns `bottle cleanup`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Launcher: f.Launcher}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove half-made or orphaned bottle resources",
		Long: `Remove the containers and networks of bottles that are not complete and
running: a launch that died half way, a bottle whose sidecar or agent is gone.
Only resources labelled dev.bottle.managed=true are ever touched.`,
		Example: `  bottle cleanup --dry-run
  bottle cleanup`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "only say what would be removed")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, err := opts.Launcher(ctx, "", false)
	if err != nil {
		return err
	}
	return l.Cleanup(ctx, opts.DryRun, opts.IO.Out)
}
