// Package validate is `bottle allow validate`: report every problem in an
// allowlist file.
package validate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Options are `bottle allow validate`'s dependencies, flags and arguments.
type Options struct {
	IO   *cmdutil.IOStreams
	File shared.FileOptions // FILE, or --file
}

// NewCmd returns `bottle allow validate`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: shared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check an allowlist file and report every problem in it",
		Long: `Check FILE (default: --file, else bottle.yaml here when there is one, else
allowlist.yaml) and report every problem at once as FILE:LINE:COL: message on
stderr. A bottle.yaml is checked whole, with the allowlist it names or its
inline rules.

Exit status: 0 valid, 2 invalid or missing.`,
		Example: `  bottle allow validate
  bottle allow validate team/allowlist.yaml`,
		Args:              cmdutil.MaximumArgs(1, "one FILE at most"),
		ValidArgsFunction: cmdutil.CompleteYAML,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.File.File != "" && opts.File.File != args[0] {
					return cmdutil.UsageErrorf("give the file once: as an argument or with --file")
				}
				opts.File.File = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	opts.File.AddFlags(cmd)
	return cmd
}

func run(opts *Options) error {
	if err := opts.File.Exists(); err != nil {
		return err
	}
	src, err := opts.File.Source()
	var el allowlist.ErrorList
	if errors.As(err, &el) {
		// A project file's own problems, with those of its inline rules.
		for _, e := range el {
			fmt.Fprintln(opts.IO.Err, e)
		}
		return cmdutil.SilentExit(cmdutil.ExitUsage)
	} else if err != nil {
		return err
	}
	data, err := os.ReadFile(src.Path)
	var pol *allowlist.Policy
	if err == nil {
		pol, err = src.Parse(data)
	}
	switch {
	case errors.As(err, &el):
		for _, e := range el {
			fmt.Fprintln(opts.IO.Err, e)
		}
		return cmdutil.SilentExit(cmdutil.ExitUsage)
	case errors.Is(err, fs.ErrNotExist):
		return cmdutil.InvalidInputf("%s does not exist; name the allowlist to check (bottle allow validate FILE)", src)
	case err != nil:
		return cmdutil.InvalidInput(err)
	}
	repos := ""
	if n := len(pol.Git()); n > 0 {
		repos = fmt.Sprintf(", %d git repositories", n)
	}
	fmt.Fprintf(opts.IO.Out, "%s: valid (%d allow, %d deny rules%s; mode %s)\n", src, len(pol.Allow()), len(pol.DenyRules()), repos, pol.Mode())
	return nil
}
