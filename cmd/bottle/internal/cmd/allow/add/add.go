// Package add is `bottle allow add`: add a rule to an allowlist.
package add

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/preset"
)

// Options are `bottle allow add`'s dependencies, flags and arguments.
type Options struct {
	IO   *cmdutil.IOStreams
	File shared.FileOptions
	Rule shared.RuleFlags
	Host string // HOST
	// Presets are --preset NAME: their rules instead of HOST's.
	Presets []string
	// Registry is --registry URL: the registry a preset allows, instead
	// of the one the user's configuration names.
	Registry string
	// PresetEnv is where the presets read the user's configuration.
	PresetEnv *preset.Env
}

// NewCmd returns `bottle allow add`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: shared.FileOptions{StateDir: f.Env.StateDir}, PresetEnv: shared.PresetEnv(f)}
	cmd := &cobra.Command{
		Use:   "add HOST | --preset NAME",
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
validated before it is written, and replaced atomically.

--preset NAME adds, instead of a HOST's rule, the few exact rules an
ecosystem needs, each marked "origin: preset NAME" (bottle allow list shows
it); they are rules like any other, to edit or remove afterwards. The
presets are ` + presetNames() + ` (repeat --preset, or
separate names with commas); bottle allow presets prints each one's rules.
Those of npm, go and debian allow the registry your own npm, go and apt are
configured with, read now (npm config get registry, go env GOPROXY
GOSUMDB, apt's sources); --registry URL names it instead, for one preset of
npm, go, debian, pypi and crates (a mirror). A preset whose rules are all
there already changes nothing, and says so.`,
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
  bottle allow add gist.github.com --deny

  # What pip and cargo need, then the registry npm is configured with
  bottle allow add --preset pypi,crates
  bottle allow add --preset npm

  # A mirror of PyPI instead of PyPI itself
  bottle allow add --preset pypi --registry https://pypi.example.com/simple`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(opts.Presets) > 0 {
				if len(args) > 0 {
					return cmdutil.UsageErrorf("%s: --preset adds the preset's own rules; give no HOST with it (%q)", cmd.CommandPath(), args)
				}
				return nil
			}
			return cmdutil.ExactArgs(1, "the HOST to allow (or --preset NAME)")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Host = args[0]
			}
			if err := opts.checkPresetFlags(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			if len(opts.Presets) > 0 {
				return runPresets(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddEditFlags(cmd)
	opts.Rule.AddFlags(cmd)
	cmd.Flags().StringSliceVar(&opts.Presets, "preset", nil, "add the rules of these presets instead of HOST's: "+presetNames()+" (repeatable; bottle allow presets shows them)")
	cmd.Flags().StringVar(&opts.Registry, "registry", "", "with --preset npm, go, debian, pypi or crates: the registry (or mirror) to allow, instead of the one your configuration names")
	cmd.RegisterFlagCompletionFunc("preset", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return preset.Names(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func presetNames() string { return strings.Join(preset.Names(), ", ") }

// checkPresetFlags refuses the flags that do not go with --preset (the
// selectors of HOST's rule), and --registry without it.
func (opts *Options) checkPresetFlags() error {
	switch {
	case len(opts.Presets) == 0 && opts.Registry != "":
		return cmdutil.UsageErrorf("--registry names the registry of a preset; use it with --preset npm, go, debian, pypi or crates")
	case len(opts.Presets) == 0:
		return nil
	case opts.Rule.Selects():
		return cmdutil.UsageErrorf("--preset writes the preset's own rules; --port, --method, --path, --passthrough, --sni-optional and --deny are for a HOST's rule (edit the preset's rules afterwards, or add HOST with them)")
	}
	takes := 0
	for _, name := range opts.Presets {
		p, err := preset.Find(name)
		if err != nil {
			return cmdutil.UsageError(err)
		}
		if p.TakesRegistry() {
			takes++
		}
	}
	if opts.Registry != "" && (len(opts.Presets) > 1 || takes == 0) {
		return cmdutil.UsageErrorf("--registry names the registry of one preset: give it with a single --preset of npm, go, debian, pypi or crates")
	}
	return nil
}

// presetRules are one preset's rules, as found on this machine.
type presetRules struct {
	p     *preset.Preset
	rules []allowlist.RuleSpec
}

// runPresets adds the rules of the --preset presets.
func runPresets(ctx context.Context, opts *Options) error {
	var all []presetRules
	var names []string
	for _, name := range opts.Presets {
		p, _ := preset.Find(name) // checkPresetFlags found each
		if slices.Contains(names, p.Name) {
			continue
		}
		names = append(names, p.Name)
		rules, from, err := p.Rules(ctx, opts.PresetEnv, opts.Registry)
		if err != nil {
			return err
		}
		if from != "" {
			fmt.Fprintf(opts.IO.Err, "preset %s: %s\n", p.Name, from)
		}
		all = append(all, presetRules{p, rules})
	}
	again := "bottle allow add --preset " + strings.Join(names, ",")
	if opts.Registry != "" {
		again += " --registry " + shquote.Quote(opts.Registry)
	}
	return opts.File.Edit(ctx, opts.IO, again, func(src shared.Source, data []byte, exists bool) ([]byte, error) {
		changed, fresh := false, !exists // fresh: the file is made by the first preset that adds
		for _, pr := range all {
			var added, had []string
			for _, spec := range pr.rules {
				res, err := src.Add(data, spec)
				if err != nil {
					return nil, cmdutil.UsageError(fmt.Errorf("preset %s: %w", pr.p.Name, err))
				}
				if res.Existing != "" {
					had = append(had, res.Existing)
					continue
				}
				pol, err := src.Parse(res.Data)
				if err != nil {
					return nil, err
				}
				list := pol.Allow()
				added = append(added, shared.RuleLine(list[len(list)-1]))
				if res.Rewritten {
					fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
				}
				data, changed = res.Data, true
			}
			switch {
			case len(added) == 0:
				fmt.Fprintf(opts.IO.Out, "nothing changed in %s: it already has every rule of preset %s (%s)\n", src, pr.p.Name, strings.Join(had, ", "))
				continue
			case fresh:
				fmt.Fprintf(opts.IO.Out, "created %s with the rules of preset %s:\n", src, pr.p.Name)
			default:
				fmt.Fprintf(opts.IO.Out, "added the rules of preset %s to %s:\n", pr.p.Name, src)
			}
			fresh = false
			for _, a := range added {
				fmt.Fprintf(opts.IO.Out, "  %s\n", a)
			}
			if len(had) > 0 {
				fmt.Fprintf(opts.IO.Out, "  (already there: %s)\n", strings.Join(had, ", "))
			}
		}
		if !changed {
			return nil, nil
		}
		return data, nil
	})
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
