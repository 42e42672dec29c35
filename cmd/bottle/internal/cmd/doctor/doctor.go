// Package doctor is `bottle doctor`: which backends work here, and why the
// others do not.
package doctor

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Options are `bottle doctor`'s dependencies.
type Options struct {
	IO *cmdutil.IOStreams
	// Diagnose checks every backend.
	Diagnose func(ctx context.Context) []cmdutil.Diagnosis
	Env      cmdutil.Env
}

// NewCmd returns `bottle doctor`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Diagnose: f.Diagnose, Env: f.Env}
	return &cobra.Command{
		Use:     "doctor",
		Short:   "Say which backends work here, and why the others do not",
		Example: `  bottle doctor`,
		Args:    cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
}

func run(ctx context.Context, opts *Options) error {
	ok := false
	for _, d := range opts.Diagnose(ctx) {
		label := fmt.Sprintf("%-17s", d.Backend+":")
		if d.Err != nil {
			fmt.Fprintf(opts.IO.Out, "%s not usable: %v\n", label, d.Err)
			continue
		}
		fmt.Fprintf(opts.IO.Out, "%s ok (%s)\n", label, d.Detail)
		ok = true
	}
	fmt.Fprintf(opts.IO.Out, "state directory:  %s\n", opts.Env.StateDir)
	if opts.Env.Backend != "" {
		fmt.Fprintf(opts.IO.Out, "BOTTLE_BACKEND:   %s\n", opts.Env.Backend)
	}
	if !ok {
		return cmdutil.SilentExit(cmdutil.ExitError)
	}
	return nil
}
