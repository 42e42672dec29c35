// Package rm is `bottle allow rm`: remove a rule from an allowlist.
package rm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/atomicfile"
)

// Options are `bottle allow rm`'s dependencies, flags and arguments.
type Options struct {
	IO   *cmdutil.IOStreams
	File shared.FileOptions
	Rule shared.RuleFlags
	All  bool   // --all
	Host string // HOST
}

// NewCmd returns `bottle allow rm`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: shared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:     "rm HOST",
		Aliases: []string{"remove"},
		Short:   "Remove a rule from the allowlist",
		Long: `Remove the rule for HOST whose ports, methods, paths and TLS mode are exactly
the ones given (none given: the rule with none). --all removes every rule for
HOST in the list. Comments and layout of the rest of the file are kept.`,
		Example: `  bottle allow rm api.anthropic.com
  bottle allow rm ssh.github.com --port 22 --port 443 --passthrough
  bottle allow rm github.com --all
  bottle allow rm gist.github.com --deny`,
		Args: cmdutil.ExactArgs(1, "the HOST whose rule to remove"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Host = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddFlags(cmd)
	opts.Rule.AddFlags(cmd)
	cmd.Flags().BoolVar(&opts.All, "all", false, "remove every rule for HOST in the list, whatever its selectors")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	spec, err := opts.Rule.Spec(opts.Host)
	if err != nil {
		return err
	}
	if err := opts.File.Exists(); err != nil {
		return err
	}
	src, err := opts.File.Source()
	if err != nil {
		return err
	}
	path := src.Path
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cmdutil.InvalidInputf("%s does not exist; pass --file", src)
	} else if err != nil {
		return err
	}
	res, err := src.Remove(data, spec, opts.All)
	switch {
	case errors.Is(err, allowlist.ErrNoMatch):
		return cmdutil.WithCode(cmdutil.ExitError, errors.New(strings.TrimPrefix(err.Error(), allowlist.ErrNoMatch.Error()+": ")))
	case err != nil:
		return cmdutil.UsageError(err)
	}
	if err := atomicfile.Write(path, res.Data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fmt.Fprintf(opts.IO.Out, "removed %s from %s\n", strings.Join(res.Removed, ", "), src)
	if res.Rewritten {
		fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", path)
	}
	return opts.File.Applied(ctx, opts.IO, res.Data)
}
