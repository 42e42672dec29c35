// Package add is `bottle allow add`: add a rule to an allowlist.
package add

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/atomicfile"
)

// Options are `bottle allow add`'s dependencies, flags and arguments.
type Options struct {
	IO   *cmdutil.IOStreams
	File shared.FileOptions
	Rule shared.RuleFlags
	Host string // HOST
}

// NewCmd returns `bottle allow add`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: shared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:   "add HOST",
		Short: "Add a rule to the allowlist",
		Long: `Add a rule for HOST to the allowlist, keeping the file's comments and layout.

HOST is a name ("api.github.com"), a wildcard over one label
("*.cdn.example.com") or over any depth ("**.pythonhosted.org"), or an
address range ("10.20.0.0/16", written as a cidr rule). A wildcard directly
over a public suffix, where anyone can make a name ("*.github.io"), is
refused: name the host. Without --port an allow rule
covers ports 80 and 443. Adding a rule that is already there changes nothing.
The file is created if it does not exist, validated before it is written, and
replaced atomically.`,
		Example: `  # A whole host on ports 80 and 443
  bottle allow add api.anthropic.com

  # Only reads and pushes to one repository
  bottle allow add github.com -X GET -X POST --path '/acme/widget.git/**'

  # A TLS service the proxy must not intercept (ssh over 443)
  bottle allow add ssh.github.com --port 22 --port 443 --passthrough

  # A database on the LAN
  bottle allow add 10.20.0.0/16 --port 5432

  # Never allow this one, whatever else says so
  bottle allow add gist.github.com --deny`,
		Args: cmdutil.ExactArgs(1, "the HOST to allow"),
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
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	created := errors.Is(err, fs.ErrNotExist)
	if created && opts.File.Bottle != "" {
		return fmt.Errorf("bottle %q has no allowlist at %s; is it running? (bottle list)", opts.File.Bottle, path)
	}
	res, err := src.Add(data, spec)
	if err != nil {
		return cmdutil.UsageError(err)
	}
	if res.Existing != "" {
		fmt.Fprintf(opts.IO.Out, "%s already has this rule (%s); nothing changed\n", src, res.Existing)
		return nil
	}
	if err := atomicfile.Write(path, res.Data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	pol, err := src.Parse(res.Data)
	if err != nil {
		return err
	}
	list := pol.Allow()
	if spec.Deny {
		list = pol.DenyRules()
	}
	if created {
		fmt.Fprintf(opts.IO.Out, "created %s with %s\n", src, shared.RuleLine(list[len(list)-1]))
	} else {
		fmt.Fprintf(opts.IO.Out, "added %s to %s\n", shared.RuleLine(list[len(list)-1]), src)
	}
	if res.Rewritten {
		fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", path)
	}
	return opts.File.Applied(ctx, opts.IO, res.Data)
}
