// Package list is `bottle git list`: the repositories of the allowlist's
// git: section, what the agent may push to each, and the rule each implies.
package list

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/git/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Options are `bottle git list`'s dependencies and flags.
type Options struct {
	IO   *cmdutil.IOStreams
	File allowshared.FileOptions
	JSON bool // --json
}

// JSON is what --json prints (fields are only ever added).
type JSON struct {
	File  string     `json:"file"`
	Repos []RepoJSON `json:"repos"`
}

// RepoJSON is one git: entry in --json.
type RepoJSON struct {
	ID            string   `json:"id"`   // "git[0]"
	Repo          string   `json:"repo"` // host/path, canonical
	Host          string   `json:"host"`
	Path          string   `json:"path"`
	Push          []string `json:"push"` // []: read-only
	Delete        bool     `json:"delete"`
	Credential    string   `json:"credential"` // "": none
	Scan          string   `json:"scan"`       // block, report, off
	GitleaksAllow bool     `json:"gitleaks_allow"`
	Line          int      `json:"line"`
	// Implies is the allow rule the entry implies (id as the entry's).
	Implies allowshared.RuleJSON `json:"implies"`
}

// NewCmd returns `bottle git list`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: allowshared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the repositories, what the agent may push, and the rules they imply",
		Long: `List the allowlist's git: entries: each repository, the refs the agent may
push to it (read-only without), whether it may delete them, the credential
the proxy signs in with, how pushed content is scanned, and the allow rule
the entry implies (git[N]: its smart-HTTP endpoints only, on port 443). The
file is chosen as for bottle git add; --bottle NAME lists a running bottle's
live allowlist.`,
		Example: `  bottle git list
  bottle git list --bottle demo
  bottle git list --json | jq -r '.repos[] | select(.push == []) | .repo'`,
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
	if opts.JSON {
		out := JSON{File: src.Path, Repos: []RepoJSON{}}
		for _, g := range pol.Git() {
			out.Repos = append(out.Repos, toJSON(pol, g))
		}
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	if len(pol.Git()) == 0 {
		fmt.Fprintf(opts.IO.Out, "%s declares no repositories (add one with bottle git add git.example.com/acme/widget --push 'refs/heads/agent/**')\n", src)
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tREPO\tPUSH\tDELETE\tCREDENTIAL\tSCAN\tLINE")
	for _, g := range pol.Git() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", g.ID, g.Repo(), shared.Push(g), yesNo(g.Delete), orDash(g.Credential), shared.Scan(g), g.Line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range pol.Git() {
		fmt.Fprintf(opts.IO.Out, "implies %s\n", shared.ImpliedLine(shared.Implied(pol, g)))
	}
	return nil
}

func toJSON(pol *allowlist.Policy, g *allowlist.GitRepo) RepoJSON {
	j := RepoJSON{ID: g.ID, Repo: g.Repo(), Host: g.Host, Path: g.Path, Push: g.Push, Delete: g.Delete, Credential: g.Credential,
		Scan: g.Scan.String(), GitleaksAllow: g.GitleaksAllow, Line: g.Line, Implies: shared.ImpliedJSON(shared.Implied(pol, g))}
	if j.Push == nil {
		j.Push = []string{}
	}
	return j
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
