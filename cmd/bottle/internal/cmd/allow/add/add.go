// Package add is `bottle allow add`: add a rule to an allowlist.
package add

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
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

HOST is written as you would type it:
  api.example.com                a name; without --port, ports 80 and 443
  *.example.com, **.example.com  a wildcard over one label, or any depth; it
                                 does not cover example.com itself
  api.example.com:8443           a name and its port (db.example.com:postgres)
  https://api.example.com/v1     a URL: its host and --path '/v1/**' (a URL
                                 with no path, or "/", is the host alone; the
                                 query is left out; postgres://db.example.com
                                 is the service's port)
  10.20.5.7, 10.20.0.0/16        an address or range, written as a cidr rule
--port takes a number or a service name (https, ssh, postgres, …). A wildcard
directly over a public suffix, where anyone can make a name ("*.github.io"),
is refused: name the host. A rule on a port other than 80 and 443 is
intercepted unless --passthrough is given; add says so, since ssh, databases
and other protocols that are not HTTP need --passthrough.

Which file is edited:
  --bottle NAME  the bottle's live allowlist, applied at once, and the file
                 it was launched from (its allowlist, or the inline rules of
                 its bottle.yaml), so that a relaunch keeps the rule; both
                 are named. If that file is gone or no longer takes the rule,
                 a warning says so and the live edit stands.
  --live-only    with --bottle: the live allowlist alone; a relaunch forgets it.
  --file FILE    that file; a bottle.yaml's allowlist or inline rules.
  (neither)      bottle.yaml here when there is one, else allowlist.yaml.
Without --bottle a running bottle's policy does not change: if one was
launched from the file, add names it and the command that applies the rule
to it now (--bottle NAME). Adding a rule that is already there changes
nothing. The file is created if it does not exist (never with --bottle),
validated before it is written, and replaced atomically.`,
		Example: `  # A whole host on ports 80 and 443
  bottle allow add api.anthropic.com

  # Only reads and pushes to one repository
  bottle allow add github.com -X GET -X POST --path '/acme/widget.git/**'

  # A TLS service the proxy must not intercept (ssh over 443)
  bottle allow add ssh.github.com --port 22 --port 443 --passthrough

  # The API under /v1 only, from its URL
  bottle allow add https://api.example.com/v1

  # A database on the LAN
  bottle allow add 10.20.0.0/16 --port postgres

  # A running bottle now, and the file it was launched from
  bottle allow add pypi.org --bottle demo

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
	opts.File.AddEditFlags(cmd)
	opts.Rule.AddFlags(cmd)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	spec, notes, err := opts.Rule.Spec(opts.Host)
	if err != nil {
		return err
	}
	again := "bottle allow add " + spec.Args()
	added := false
	err = opts.File.Edit(ctx, opts.IO, again, func(src shared.Source, data []byte, exists bool) ([]byte, error) {
		res, err := src.Add(data, spec)
		if err != nil {
			return nil, cmdutil.UsageError(err)
		}
		if res.Existing != "" {
			fmt.Fprintf(opts.IO.Out, "nothing changed in %s: it already has this rule (%s)\n", src, res.Existing)
			return nil, nil
		}
		pol, err := src.Parse(res.Data)
		if err != nil {
			return nil, err
		}
		list := pol.Allow()
		if spec.Deny {
			list = pol.DenyRules()
		}
		if exists {
			fmt.Fprintf(opts.IO.Out, "added %s to %s\n", shared.RuleLine(list[len(list)-1]), src)
		} else {
			fmt.Fprintf(opts.IO.Out, "created %s with %s\n", src, shared.RuleLine(list[len(list)-1]))
		}
		if res.Rewritten {
			fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
		}
		added = true
		return res.Data, nil
	})
	for _, n := range notes {
		fmt.Fprintf(opts.IO.Err, "note: %s\n", n)
	}
	if note := shared.InterceptedPortNote(spec, again); added && note != "" {
		fmt.Fprintln(opts.IO.Err, note)
	}
	return err
}
