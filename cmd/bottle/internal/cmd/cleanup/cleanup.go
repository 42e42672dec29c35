// Package cleanup is `bottle cleanup`: remove half-made or orphaned
// bottles' resources.
package cleanup

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle cleanup`'s dependencies and flags.
type Options struct {
	IO       *cmdutil.IOStreams
	Launcher func(ctx context.Context, backend string, verbose bool) (*launcher.Launcher, error)

	DryRun  bool // --dry-run
	Quiet   bool // -q
	JSON    bool // --json
	Verbose bool // -v
}

// JSON is what `bottle cleanup --json` prints (fields are only ever added).
type JSON struct {
	DryRun bool `json:"dry_run"`
	// Bottles are the ones removed (with dry_run: that would be removed).
	Bottles []BottleJSON `json:"bottles"`
}

// BottleJSON is one bottle cleanup removed, or would remove.
type BottleJSON struct {
	Name       string   `json:"name"`
	Status     string   `json:"status"` // what list says of it: "incomplete"
	Containers []string `json:"containers"`
	Networks   []string `json:"networks"`
	Removed    bool     `json:"removed"`         // false in a dry run, or when it failed
	Error      string   `json:"error,omitempty"` // why it could not be removed
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
Only resources labelled dev.bottle.managed=true are ever touched.

-q prints nothing but errors. --json prints what was removed (with
--dry-run: what would be) as one JSON object: dry_run, and bottles, each
with name, status, containers, networks, removed and, when it could not be
removed, error. Exit status 1 when something could not be removed.`,
		Example: `  bottle cleanup --dry-run
  bottle cleanup
  bottle cleanup --dry-run --json | jq -r '.bottles[].name'`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Quiet && opts.DryRun {
				return cmdutil.UsageErrorf("a dry run only prints what it would remove, and -q would print nothing: give one of them")
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.DryRun, "dry-run", false, "only say what would be removed")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing but errors")
	fl.BoolVar(&opts.JSON, "json", false, "print what was (or would be) removed as JSON (stable field names; see above)")
	fl.BoolVarP(&opts.Verbose, "verbose", "v", false, "show a failed engine command whole (its argv and output), not in one line")
	cmd.MarkFlagsMutuallyExclusive("quiet", "json")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, err := opts.Launcher(ctx, "", false)
	if err != nil {
		return err
	}
	var report io.Writer = opts.IO.Out
	if opts.Quiet || opts.JSON {
		report = nil
	}
	done, err := l.Cleanup(ctx, opts.DryRun, report)
	if !opts.JSON || done == nil && err != nil { // nothing listed: the error is all there is
		return cmdutil.Brief(err, opts.Verbose)
	}
	out := JSON{DryRun: opts.DryRun, Bottles: []BottleJSON{}}
	for _, c := range done {
		b := BottleJSON{Name: c.Name, Status: string(c.Status), Containers: orEmpty(c.Containers), Networks: orEmpty(c.Networks), Removed: !opts.DryRun && c.Err == nil}
		if c.Err != nil {
			b.Error = c.Err.Error()
		}
		out.Bottles = append(out.Bottles, b)
	}
	if jerr := cmdutil.WriteJSON(opts.IO.Out, out); jerr != nil {
		return jerr
	}
	return cmdutil.Brief(err, opts.Verbose)
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
