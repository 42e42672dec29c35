// Package list is `bottle allow list`: an allowlist's rules.
package list

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
)

// Options are `bottle allow list`'s dependencies and flags.
type Options struct {
	IO   *cmdutil.IOStreams
	File shared.FileOptions
	JSON bool // --json
}

// JSON is what --json prints (fields are only ever added).
type JSON struct {
	File  string            `json:"file"`
	Mode  string            `json:"mode"`
	Rules []shared.RuleJSON `json:"rules"`
	// Implied are the rules the file's git: entries imply ("git[N]", from
	// "git"): judged like allow rules, after them, and edited with bottle
	// git, not bottle allow.
	Implied []shared.RuleJSON `json:"implied"`
}

// NewCmd returns `bottle allow list`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: shared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the allowlist's rules",
		Long: `List the allowlist's rules: the allow and deny rules the file spells out,
then the rules its git: entries imply (git[N]). Once a rule says who added it
(origin: "preset pypi", written by bottle allow add --preset, or "agent
claude" on the rules an agent recipe brings), an ORIGIN column shows it;
--json has it as "origin".`,
		Example: `  bottle allow list
  bottle allow list --file team/allowlist.yaml
  bottle allow list --json | jq '.rules[].host'`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	opts.File.AddFlags(cmd)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON (stable field names)")
	return cmd
}

func run(opts *Options) error {
	if err := opts.File.Exists(); err != nil {
		return err
	}
	src, err := opts.File.Source()
	if err != nil {
		return err
	}
	pol, err := src.Load()
	if err != nil {
		return err
	}
	rules := append(append([]*allowlist.Rule{}, pol.Allow()...), pol.DenyRules()...)
	implied := pol.ImpliedRules()
	if opts.JSON {
		out := JSON{File: src.Path, Mode: pol.Mode().String(), Rules: []shared.RuleJSON{}, Implied: []shared.RuleJSON{}}
		for _, r := range rules {
			out.Rules = append(out.Rules, shared.ToJSON(r))
		}
		for _, r := range implied {
			j := shared.ToJSON(r)
			j.From = "git"
			out.Implied = append(out.Implied, j)
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(rules) == 0 && len(implied) == 0 {
		fmt.Fprintf(opts.IO.Out, "%s has no rules: everything is denied (mode: %s)\n", src, pol.Mode())
		return nil
	}
	// ORIGIN, who added a rule (origin:), appears once a rule has one.
	origins := slices.ContainsFunc(rules, func(r *allowlist.Rule) bool { return r.Origin != "" })
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	header := "RULE\tTARGET\tPORTS\tMETHODS\tPATHS\tTLS\tLINE"
	if origins {
		header += "\tORIGIN"
	}
	fmt.Fprintln(tw, header)
	for i, r := range append(rules, implied...) {
		j := shared.ToJSON(r)
		if i >= len(rules) && len(j.Paths) > 1 {
			// A repository's six endpoints, with and without ".git":
			// bottle git list and --json show them all.
			j.Paths = []string{j.Paths[0] + ",…"}
		}
		target := j.Host
		if target == "" {
			target = j.CIDR
		}
		ports := "any"
		if r.Ports != nil {
			ports = allowlist.JoinPorts(r.Ports)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d", r.ID, target, ports, orAny(r.Methods), orAny(j.Paths), orDash(j.TLS), r.Line)
		if origins {
			fmt.Fprintf(tw, "\t%s", orDash(termsafe.Line(r.Origin)))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(implied) > 0 {
		fmt.Fprintf(opts.IO.Out, "git[N] rules are implied by the git: section (each repository's smart-HTTP endpoints; bottle git list shows them, bottle git rm removes them)\n")
	}
	if pol.Mode() == allowlist.Report {
		fmt.Fprintln(opts.IO.Out, "mode: report (denials are logged, not enforced)")
	}
	return nil
}

func orAny(s []string) string {
	if s == nil {
		return "any"
	}
	return strings.Join(s, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
