// Package rm is `bottle allow rm`: remove a rule from an allowlist.
package rm

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
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
the ones given (none given: the rule with none). HOST is written as for add
(a name, HOST:PORT, a URL, an address or range), or is a rule's id as
bottle allow list shows it ("allow[1]", "deny[0]"), given alone. --all removes
every rule for HOST in the list. Comments and layout of the rest of the file
are kept.

--bottle NAME removes the rule from the bottle's live allowlist and from the
file it was launched from, as add does (--live-only: the live one alone; a
rule id is read from the live allowlist). Without --bottle, a running bottle
launched from the file keeps the rule until its next launch, and rm says how
to remove it now.`,
		Example: `  bottle allow rm api.anthropic.com
  bottle allow rm ssh.github.com --port 22 --port 443 --passthrough
  bottle allow rm github.com --all
  bottle allow rm 'allow[3]' --bottle demo
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
	opts.File.AddEditFlags(cmd)
	opts.Rule.AddFlags(cmd)
	cmd.Flags().BoolVar(&opts.All, "all", false, "remove every rule for HOST in the list, whatever its selectors")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	spec, err := opts.spec()
	if err != nil {
		return err
	}
	return opts.File.Edit(ctx, opts.IO, "bottle allow rm "+spec.Args(), func(src shared.Source, data []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, cmdutil.InvalidInputf("%s does not exist; pass --file", src)
		}
		res, err := src.Remove(data, spec, opts.All)
		switch {
		case errors.Is(err, allowlist.ErrNoMatch):
			return nil, cmdutil.WithCode(cmdutil.ExitError, &shared.NotThereError{Err: errors.New(strings.TrimPrefix(err.Error(), allowlist.ErrNoMatch.Error()+": "))})
		case err != nil:
			return nil, cmdutil.UsageError(err)
		}
		fmt.Fprintf(opts.IO.Out, "removed %s from %s\n", strings.Join(res.Removed, ", "), src)
		if res.Rewritten {
			fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
		}
		return res.Data, nil
	})
}

// spec is the rule to remove: the one the flags select for HOST, or the
// rule whose id HOST is ("allow[1]", as bottle allow list shows it), read
// from the allowlist the command edits first. The same rule, by what it
// says, is then removed from every file the edit reaches, where its id
// may differ.
func (opts *Options) spec() (allowlist.RuleSpec, error) {
	if strings.HasPrefix(opts.Host, "git[") {
		return allowlist.RuleSpec{}, cmdutil.UsageErrorf("%s is the rule a git: entry implies; remove the entry instead: bottle git rm REPO (bottle git list shows them)", opts.Host)
	}
	if !shared.IsRuleID(opts.Host) {
		spec, _, err := opts.Rule.Spec(opts.Host)
		return spec, err
	}
	if opts.Rule.Selects() || opts.All {
		return allowlist.RuleSpec{}, cmdutil.UsageErrorf("%s names one rule; give it without --port, --method, --path, --passthrough, --sni-optional, --deny or --all", opts.Host)
	}
	pol, err := opts.File.Load()
	if err != nil {
		return allowlist.RuleSpec{}, err
	}
	r := pol.Rule(opts.Host)
	if r == nil {
		return allowlist.RuleSpec{}, cmdutil.WithCode(cmdutil.ExitError, fmt.Errorf("%s has no rule %s (see bottle allow list)", opts.File.Path(), opts.Host))
	}
	return r.Spec(), nil
}
