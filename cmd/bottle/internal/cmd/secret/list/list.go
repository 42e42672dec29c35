// Package list is `bottle secret list`: the allowlist's credentials, and
// whether each source resolves now. It never prints a value.
package list

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
)

// Options are `bottle secret list`'s dependencies and flags.
type Options struct {
	IO      *cmdutil.IOStreams
	File    allowshared.FileOptions
	Resolve shared.ResolveFunc // whether a source resolves now
	JSON    bool               // --json
}

// JSON is what --json prints (fields are only ever added).
type JSON struct {
	File        string           `json:"file"`
	DLP         string           `json:"dlp"`
	Credentials []CredentialJSON `json:"credentials"`
}

// CredentialJSON is one credential in --json.
type CredentialJSON struct {
	Name      string       `json:"name"`
	Kind      string       `json:"kind"` // header, bearer, basic, query, aws
	Header    string       `json:"header,omitempty"`
	BasicUser string       `json:"basic_user,omitempty"`
	Query     string       `json:"query,omitempty"`
	Hosts     []string     `json:"hosts"`
	Sources   []SourceJSON `json:"sources"`
	AgentEnv  []string     `json:"agent_env"` // the agent's variables holding its placeholders
	Line      int          `json:"line"`
	// Origin is the credential's origin: who added it ("agent claude"),
	// when the file says.
	Origin string `json:"origin,omitempty"`
}

// SourceJSON is one source of a credential and whether it resolves now.
type SourceJSON struct {
	Role     string `json:"role"` // value; aws: access_key_id, secret_access_key, session_token
	Source   string `json:"source"`
	Resolves bool   `json:"resolves"`
	Error    string `json:"error,omitempty"`
	// NotRun says a command: source of a project file was not run: a
	// bottle.yaml comes with a repository, and its commands run only at
	// bottle launch, once the user has approved the file.
	NotRun bool `json:"not_run,omitempty"`
}

// NewCmd returns `bottle secret list`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: allowshared.FileOptions{StateDir: f.Env.StateDir}, Resolve: shared.NewResolve(f)}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the credentials, and whether each source resolves now",
		Long: `List the allowlist's credentials: how each is sent, the hosts it is bound
to, where its value comes from, the agent's variables that hold its
placeholders, and whether each source resolves now on this machine, as
bottle launch would resolve it (a command: source is run, the keychain is
asked; but not the command: sources of a bottle.yaml, which comes with a
repository: those run only at bottle launch, once you have approved the
file). A value is read only to check it, and never printed; list exits 0
either way (--json's resolves says which do). Once a credential says who
added it (origin: "agent claude"), an ORIGIN column shows it. The file is
chosen as for bottle secret add; --bottle NAME lists a running bottle's
live allowlist.`,
		Example: `  bottle secret list
  bottle secret list --bottle demo
  bottle secret list --json | jq '.credentials[] | select(any(.sources[]; .resolves == false)) | .name'`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddFlags(cmd)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON (stable field names)")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	pol, src, err := opts.load()
	if err != nil {
		return err
	}
	out := JSON{File: src.Path, DLP: pol.DLP().String(), Credentials: []CredentialJSON{}}
	for _, c := range pol.Credentials() {
		out.Credentials = append(out.Credentials, opts.credential(ctx, c, src.Project || src.Via != ""))
	}
	if opts.JSON {
		return cmdutil.WriteJSON(opts.IO.Out, out)
	}
	if len(out.Credentials) == 0 {
		fmt.Fprintf(opts.IO.Out, "%s has no credentials (add one with bottle secret add SECRET --host HOST … --from SOURCE)\n", src)
		return nil
	}
	// ORIGIN, who added a credential (origin:), appears once one has it.
	origins := slices.ContainsFunc(out.Credentials, func(c CredentialJSON) bool { return c.Origin != "" })
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	header := "NAME\tSENT AS\tHOSTS\tSOURCE\tAGENT_ENV\tRESOLVES"
	if origins {
		header += "\tORIGIN"
	}
	fmt.Fprintln(tw, header)
	var problems []string
	for i, c := range out.Credentials {
		how := shared.How(pol.Credentials()[i])
		for j, s := range c.Sources {
			source := s.Source
			if s.Role != "value" {
				source += " (" + s.Role + ")"
			}
			if j == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s", c.Name, how, strings.Join(c.Hosts, ","), source, orDash(strings.Join(c.AgentEnv, ",")), resolves(s))
				if origins {
					fmt.Fprintf(tw, "\t%s", orDash(termsafe.Line(c.Origin)))
				}
				fmt.Fprintln(tw)
			} else {
				fmt.Fprintf(tw, "\t\t\t%s\t\t%s\n", source, resolves(s))
			}
			if s.Error != "" {
				problems = append(problems, c.Name+": "+s.Error)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(opts.IO.Out, p)
	}
	return nil
}

// load reads the allowlist the flags name.
func (opts *Options) load() (*allowlist.Policy, allowshared.Source, error) {
	if err := opts.File.Exists(); err != nil {
		return nil, allowshared.Source{}, err
	}
	src, err := opts.File.Source()
	if err != nil {
		return nil, src, err
	}
	pol, err := src.Load()
	return pol, src, err
}

// credential describes c, resolving each of its sources once; the value
// is dropped at once.
//
// The command: sources of a project file (fromProject) are not run: a
// bottle.yaml comes with a repository, and listing it must not run its
// code on the host (bottle launch runs them once the file is approved).
func (opts *Options) credential(ctx context.Context, c *allowlist.Credential, fromProject bool) CredentialJSON {
	j := CredentialJSON{Name: c.Name, Kind: c.Kind.String(), Header: c.Header, BasicUser: c.BasicUser, Query: c.Query,
		Hosts: c.Hosts(), AgentEnv: shared.AgentEnv(c), Line: c.Line, Origin: c.Origin}
	if j.AgentEnv == nil {
		j.AgentEnv = []string{}
	}
	for _, s := range shared.Sources(c) {
		sj := SourceJSON{Role: s.Role, Source: s.Source.String()}
		if fromProject && s.Source.Scheme == "command" {
			sj.NotRun = true
			sj.Error = s.Source.String() + " was not run: a project file's commands run only at bottle launch, once you have approved the file; run it yourself to check it"
			j.Sources = append(j.Sources, sj)
			continue
		}
		err := opts.Resolve(ctx, s.Source)
		ok := err == nil
		sj.Resolves = ok
		if err != nil {
			sj.Error = err.Error()
		}
		j.Sources = append(j.Sources, sj)
	}
	return j
}

func resolves(s SourceJSON) string {
	switch {
	case s.Resolves:
		return "yes"
	case s.NotRun:
		return "not run"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
