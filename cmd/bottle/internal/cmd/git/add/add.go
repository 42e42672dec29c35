// Package add is `bottle git add`: declare a repository the agent clones,
// fetches and pushes over HTTPS, through the git gate.
package add

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/git/shared"
	secretshared "bottle.dev/bottle/cmd/bottle/internal/cmd/secret/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
)

// Options are `bottle git add`'s dependencies, flags and arguments.
type Options struct {
	IO            *cmdutil.IOStreams
	File          allowshared.FileOptions
	Repo          string   // REPO
	Push          []string // --push
	Delete        bool     // --delete
	Credential    string   // --credential
	Scan          string   // --scan
	GitleaksAllow bool     // --gitleaks-allow
}

// NewCmd returns `bottle git add`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: allowshared.FileOptions{StateDir: f.Env.StateDir}}
	cmd := &cobra.Command{
		Use:   "add REPO",
		Short: "Declare a repository the agent may clone, fetch and push to",
		Long: `Declare REPO in the allowlist's git: section. REPO is host/path, as in the
clone URL without https:// (".git" is optional): git.example.com/acme/widget.
A path segment may be * (one segment) or ** (any depth): git.example.com/acme/*.

The entry lets the agent reach the repository's smart-HTTP endpoints only
(GET …/info/refs, POST …/git-upload-pack and …/git-receive-pack, on port 443,
intercepted): clone and fetch work, and other repositories on the same host
stay denied unless a rule of allow: admits them. bottle git list shows the
rule it implies, as git[N].

Every push is checked in the proxy before anything is sent upstream:
  --push GLOB        a ref the agent may create or update (repeat for more;
                     * is one segment, ** any depth: 'refs/heads/agent/**').
                     Without --push the repository is read-only.
  --delete           the agent may also delete the refs --push names
  --scan MODE        secrets in the pushed commits: block (the default)
                     rejects the push, report lets it through and audits
                     the findings, off does not look
  --gitleaks-allow   honour "gitleaks:allow" comments in pushed content
                     (the agent writes that content, so not by default)
A refused push reaches the agent as git shows any server's refusal:
  ! [remote rejected] refs/heads/main (bottle: refs/heads/main is not in push: …)

--credential NAME signs the requests in with a credential of credentials:
declared with --basic-user and bound to the host (bottle secret add); the
agent never holds it. As the entry's rule is what lets the host in, declare
the repository first, then the credential, then add --credential.

An entry for the same repository is replaced. The file is chosen as for
bottle allow add (--file, or bottle.yaml or allowlist.yaml here); --bottle
NAME edits a running bottle's live allowlist, applied at once, and the file
it was launched from.`,
		Example: `  # Read-only: the agent clones and fetches, never pushes
  bottle git add git.example.com/acme/docs

  # The agent pushes to its own branches, signed in with the forge token
  bottle git add git.example.com/acme/widget
  bottle secret add forge --host git.example.com --basic-user x-access-token \
      --from "command:forge-cli auth token"
  bottle git add git.example.com/acme/widget --push 'refs/heads/agent/**' --credential forge

  # Branches and tags, deletion too, findings audited instead of refused
  bottle git add git.example.com/acme/tools --push 'refs/heads/agent/**' \
      --push 'refs/tags/agent/*' --delete --scan report

  # Into a running bottle, at once
  bottle git add git.example.com/acme/widget --push 'refs/heads/agent/**' --bottle demo`,
		Args: cmdutil.ExactArgs(1, "the REPO (host/path, e.g. git.example.com/acme/widget)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Repo = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddEditFlags(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Push, "push", nil, "a ref glob the agent may create or update, e.g. 'refs/heads/agent/**' (repeatable; none: read-only)")
	fl.BoolVar(&opts.Delete, "delete", false, "let the agent delete the refs --push names")
	fl.StringVar(&opts.Credential, "credential", "", "a credential of credentials: (basic_user, bound to the host) the proxy signs in with")
	fl.StringVar(&opts.Scan, "scan", "block", "secrets in pushed content: block, report or off")
	fl.BoolVar(&opts.GitleaksAllow, "gitleaks-allow", false, "honour inline \"gitleaks:allow\" comments in pushed content")
	cmd.RegisterFlagCompletionFunc("scan", cobra.FixedCompletions([]cobra.Completion{
		cobra.CompletionWithDesc("block", "a secret in pushed content rejects the push"),
		cobra.CompletionWithDesc("report", "audit the findings, let the push through"),
		cobra.CompletionWithDesc("off", "do not scan"),
	}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("credential", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return opts.completeCredential(), cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

// completeCredential offers the allowlist's basic_user credentials.
func (opts *Options) completeCredential() []cobra.Completion {
	pol, err := opts.File.Load()
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	for _, c := range pol.Credentials() {
		if c.Kind == allowlist.CredBasic {
			out = append(out, cobra.CompletionWithDesc(c.Name, secretshared.Describe(c)))
		}
	}
	return out
}

// Spec turns the arguments and flags into the entry to add.
func (opts *Options) Spec() (allowlist.GitSpec, error) {
	scan, err := allowlist.ParseGitScan(opts.Scan)
	if err != nil {
		return allowlist.GitSpec{}, cmdutil.UsageErrorf("--scan %q %v", opts.Scan, err)
	}
	return allowlist.GitSpec{Repo: opts.Repo, Push: opts.Push, Delete: opts.Delete, Credential: opts.Credential, Scan: scan, GitleaksAllow: opts.GitleaksAllow}, nil
}

// Args is the command line of the same add, without --file or --bottle.
func (opts *Options) Args() string {
	words := []string{"bottle", "git", "add", opts.Repo}
	for _, g := range opts.Push {
		words = append(words, "--push", g)
	}
	if opts.Delete {
		words = append(words, "--delete")
	}
	if opts.Credential != "" {
		words = append(words, "--credential", opts.Credential)
	}
	if opts.Scan != "block" {
		words = append(words, "--scan", opts.Scan)
	}
	if opts.GitleaksAllow {
		words = append(words, "--gitleaks-allow")
	}
	return shquote.Join(words)
}

func run(ctx context.Context, opts *Options) error {
	spec, err := opts.Spec()
	if err != nil {
		return err
	}
	var added *allowlist.GitRepo
	var addedTo *allowlist.Policy
	err = opts.File.Edit(ctx, opts.IO, opts.Args(), func(src allowshared.Source, data []byte, exists bool) ([]byte, error) {
		res, err := shared.AddGit(src, data, spec)
		switch {
		case err != nil && strings.Contains(err.Error(), "\n"):
			return nil, cmdutil.InvalidInput(err) // a file to fix: its problems, one a line
		case err != nil:
			return nil, cmdutil.UsageError(err)
		}
		if res.Existing != "" {
			fmt.Fprintf(opts.IO.Out, "nothing changed in %s: it already declares this repository (%s)\n", src, res.Existing)
			return nil, nil
		}
		pol, err := src.Parse(res.Data)
		if err != nil {
			return nil, err
		}
		g := shared.Find(pol, opts.Repo)
		switch {
		case res.Replaced != "":
			fmt.Fprintf(opts.IO.Out, "replaced %s in %s: now %s\n", res.Replaced, src, g)
		case exists:
			fmt.Fprintf(opts.IO.Out, "added %s to %s\n", g, src)
		default:
			fmt.Fprintf(opts.IO.Out, "created %s with %s\n", src, g)
		}
		fmt.Fprintf(opts.IO.Out, "  implies %s\n", shared.ImpliedLine(shared.Implied(pol, g)))
		if res.Rewritten {
			fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
		}
		added, addedTo = g, pol
		return res.Data, nil
	})
	if added != nil {
		opts.notes(addedTo, added)
	}
	return err
}

// notes say what else the entry needs or changes: a push needs a
// credential, and a passthrough rule for the host no longer tunnels.
func (opts *Options) notes(pol *allowlist.Policy, g *allowlist.GitRepo) {
	if g.Push != nil && g.Credential == "" {
		fmt.Fprintf(opts.IO.Err, "note: %s has no --credential, so the agent's pushes sign in with nothing (most forges refuse them); to sign in with a token the agent never holds: bottle secret add NAME --host %s --basic-user x-access-token --from SOURCE%s, then %s --credential NAME%s\n",
			g.Repo(), g.Host, secretshared.Where(&opts.File), opts.Args(), secretshared.Where(&opts.File))
	}
	var refused []string
	for _, r := range pol.Allow() {
		if !r.Passthrough {
			continue
		}
		for _, port := range r.Ports {
			if d := pol.DecideConnect(g.Host, port); d.Cause == allowlist.CauseGitSSH && !slices.Contains(refused, d.Rule) {
				refused = append(refused, d.Rule)
			}
		}
	}
	for _, id := range refused {
		fmt.Fprintf(opts.IO.Err, "note: %s tunnels %s with tls: passthrough; with a repository declared there, that tunnel is refused (git over SSH would bypass the git gate): the agent's git@%s: remotes are rewritten to https\n", id, g.Host, g.Host)
	}
}
