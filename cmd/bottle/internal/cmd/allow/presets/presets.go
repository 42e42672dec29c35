// Package presets is `bottle allow presets`: the rules each preset of
// `bottle allow add --preset` writes.
package presets

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/preset"
)

// Options are `bottle allow presets`' dependencies and arguments.
type Options struct {
	IO       *cmdutil.IOStreams
	Names    []string // NAME…; none: every preset
	Registry string   // --registry
	// PresetEnv is where the presets read the user's configuration.
	PresetEnv *preset.Env
}

// NewCmd returns `bottle allow presets`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, PresetEnv: shared.PresetEnv(f)}
	cmd := &cobra.Command{
		Use:   "presets [NAME...]",
		Short: "Show the rules each preset of allow add --preset writes",
		Long: `Show the rules that bottle allow add --preset NAME writes, for each preset
(or the ones named): ` + strings.Join(preset.Names(), ", ") + `.

The rules of pypi, crates and github are those services' public hosts. Those
of npm, go and debian are the registry your own npm, go and apt are
configured with, read now as add would read it: the line under the rules
says where from, or what was looked at and how to name the registry
(--registry URL) when nothing was found. Nothing is written.`,
		Example: `  bottle allow presets
  bottle allow presets github
  bottle allow presets npm --registry https://registry.example.com`,
		Args: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if _, err := preset.Find(a); err != nil {
					return cmdutil.UsageError(err)
				}
			}
			if opts.Registry != "" && len(args) != 1 {
				return cmdutil.UsageErrorf("--registry names the registry of one preset: give its NAME")
			}
			return nil
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return preset.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Registry, "registry", "", "with one NAME: the registry (or mirror) to show the rules for, as add --registry")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	ps := preset.All()
	if len(opts.Names) > 0 {
		ps = nil
		for _, n := range opts.Names {
			p, _ := preset.Find(n) // Args checked each
			ps = append(ps, p)
		}
	}
	var failed error
	for i, p := range ps {
		if i > 0 {
			fmt.Fprintln(opts.IO.Out)
		}
		fmt.Fprintf(opts.IO.Out, "%s: %s\n", p.Name, p.Summary)
		rules, from, err := p.Rules(ctx, opts.PresetEnv, opts.Registry)
		if err != nil {
			fmt.Fprintf(opts.IO.Out, "  (none here: %s)\n", termsafe.Line(err.Error()))
			if len(opts.Names) > 0 {
				failed = cmdutil.SilentExit(cmdutil.ExitError)
			}
			continue
		}
		lines, err := describe(rules)
		if err != nil {
			return fmt.Errorf("preset %s: %w", p.Name, err)
		}
		for _, l := range lines {
			fmt.Fprintf(opts.IO.Out, "  %s\n", termsafe.Line(l))
		}
		if from != "" {
			fmt.Fprintf(opts.IO.Out, "  (from %s)\n", termsafe.Line(from))
		}
	}
	return failed
}

// describe writes each rule as every message shows a rule
// (allowlist.Rule.String), without an id: the rules are written into a
// new file, which also checks them.
func describe(rules []allowlist.RuleSpec) ([]string, error) {
	var data []byte
	for _, r := range rules {
		res, err := allowlist.Add("preset", data, r)
		if err != nil {
			return nil, err
		}
		if res.Data != nil {
			data = res.Data
		}
	}
	pol, err := allowlist.Parse("preset", data)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range pol.Allow() {
		out = append(out, strings.TrimPrefix(r.String(), r.ID+": "))
	}
	return out, nil
}
