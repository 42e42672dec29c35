// Package add is `bottle secret add`: declare a credential in the
// allowlist, bound to its hosts, by reference to where its value comes from.
package add

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle secret add`'s dependencies, flags and arguments.
type Options struct {
	IO      *cmdutil.IOStreams
	File    allowshared.FileOptions
	Resolve shared.ResolveFunc // checks that the sources resolve now (a warning when not)
	// Launcher is a launcher of the state directory: with --bottle, add
	// hands the running bottle's sidecar the value (as bottle secret
	// refresh does).
	Launcher func() *launcher.Launcher

	Name      string   // SECRET
	Hosts     []string // --host
	Header    string   // --header
	Bearer    bool     // --bearer
	BasicUser string   // --basic-user
	Query     string   // --query
	AWS       bool     // --aws
	From      string   // --from
	KeyIDFrom string   // --key-id-from (aws)
	TokenFrom string   // --token-from (aws)
	AgentEnv  string   // --agent-env
}

// NewCmd returns `bottle secret add`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: allowshared.FileOptions{StateDir: f.Env.StateDir}, Resolve: shared.NewResolve(f), Launcher: f.State}
	cmd := &cobra.Command{
		Use:   "add SECRET --host HOST (--header H | --bearer | --basic-user U | --query Q | --aws) --from SOURCE",
		Short: "Declare a credential the agent uses but never holds",
		Long: `Declare the credential SECRET (its name) in the allowlist: the hosts it is
sent to and nowhere else (--host, repeated; each must be allowed by a rule
that intercepts), how the proxy puts it on a request, and where its value
comes from on this machine (--from). The file holds only that reference:
the value is resolved at launch and given to the sidecar alone. The agent
gets a placeholder (in --agent-env VAR, if given), which the proxy swaps for
the value on requests to the credential's hosts and refuses anywhere else.

How it is sent (exactly one):
  --header NAME       the header NAME is set to the value (x-api-key)
  --bearer            Authorization: Bearer <value>
  --basic-user USER   Authorization: Basic USER:<value>, for git over HTTPS
                      (the agent's git uses the placeholder as its password)
  --query NAME        the query parameter NAME is set to the value
  --aws               AWS Signature V4: the agent signs with placeholder keys
                      (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, with
                      --token-from, AWS_SESSION_TOKEN), the proxy checks the
                      signature and signs again with the real key; --from is
                      the secret access key, --key-id-from the access key id

SOURCE is one of:
  env:VAR                  a variable of the environment bottle runs in
  file:PATH                a file's content (~ is your home)
  command:ARGV             a program's output, run without a shell (quote
                           arguments with '…' or "…")
  keychain:SERVICE[/ACCOUNT]  macOS's keychain (security find-generic-password)
add checks that each source resolves now and warns when one does not (the
launch would stop); it never prints a value.

A credential of the same name is replaced. A host no rule allows yet is
refused with the bottle allow add to run first. The file is chosen as for
bottle allow add (--file, or bottle.yaml or allowlist.yaml here); --bottle
NAME edits a running bottle's live allowlist and the file it was launched
from, resolves the sources, and waits until its sidecar has the value (as
bottle secret refresh does); a new agent_env reaches the agent at its next
launch.`,
		Example: `  # A model API key, from your environment, in the x-api-key header; the
  # agent's ANTHROPIC_API_KEY holds the placeholder
  bottle allow add api.anthropic.com
  bottle secret add anthropic --host api.anthropic.com --header x-api-key \
      --from env:ANTHROPIC_API_KEY --agent-env ANTHROPIC_API_KEY

  # A GitHub token as Basic auth for git over HTTPS (the token is the password)
  bottle secret add github --host github.com --basic-user x-access-token \
      --from "command:gh auth token" --agent-env GITHUB_TOKEN

  # A key sent as a query parameter, from a file
  bottle secret add maps --host maps.example.com --query key --from file:~/.config/maps/key

  # AWS: the agent signs with placeholders, the proxy re-signs with the real key
  bottle secret add aws --host sts.amazonaws.com --aws --key-id-from env:AWS_ACCESS_KEY_ID \
      --from env:AWS_SECRET_ACCESS_KEY --token-from env:AWS_SESSION_TOKEN

  # A bearer token from the macOS keychain, into a running bottle
  bottle secret add ci --host ci.example.com --bearer --from keychain:ci-token --bottle demo`,
		Args: cmdutil.ExactArgs(1, "the SECRET's name (lower case, digits and -, e.g. github)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddEditFlags(cmd)
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Hosts, "host", nil, "a host the credential is sent to (repeat for more; wildcards as in rules: '*.example.com')")
	fl.StringVar(&opts.Header, "header", "", "send the value in this header (x-api-key)")
	fl.BoolVar(&opts.Bearer, "bearer", false, "send the value as Authorization: Bearer <value>")
	fl.StringVar(&opts.BasicUser, "basic-user", "", "send Authorization: Basic USER:<value> (git over HTTPS: x-access-token for GitHub)")
	fl.StringVar(&opts.Query, "query", "", "send the value as this query parameter")
	fl.BoolVar(&opts.AWS, "aws", false, "AWS Signature V4 credentials (--key-id-from, --from and optionally --token-from)")
	fl.StringVar(&opts.From, "from", "", "where the value comes from: env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT] (with --aws: the secret access key)")
	fl.StringVar(&opts.KeyIDFrom, "key-id-from", "", "with --aws: where the access key id comes from")
	fl.StringVar(&opts.TokenFrom, "token-from", "", "with --aws: where the session token comes from (optional)")
	fl.StringVar(&opts.AgentEnv, "agent-env", "", "the agent's variable that holds the placeholder (not with --aws, which sets AWS_*)")
	cmd.MarkFlagsMutuallyExclusive("header", "bearer", "basic-user", "query", "aws")
	return cmd
}

// Spec turns the flags into the credential to add.
func (opts *Options) Spec() (allowlist.CredentialSpec, error) {
	spec := allowlist.CredentialSpec{Name: opts.Name, Hosts: opts.Hosts, AgentEnv: opts.AgentEnv}
	kinds := 0
	for _, k := range []struct {
		set  bool
		kind allowlist.CredentialKind
	}{{opts.Header != "", allowlist.CredHeader}, {opts.Bearer, allowlist.CredBearer}, {opts.BasicUser != "", allowlist.CredBasic}, {opts.Query != "", allowlist.CredQuery}, {opts.AWS, allowlist.CredAWS}} {
		if k.set {
			kinds++
			spec.Kind = k.kind
		}
	}
	switch {
	case kinds == 0:
		return spec, cmdutil.UsageErrorf("say how the credential is sent: --header NAME, --bearer, --basic-user USER, --query NAME or --aws")
	case len(opts.Hosts) == 0:
		return spec, cmdutil.UsageErrorf("name the hosts the credential is sent to with --host (it goes there and nowhere else)")
	case opts.From == "":
		if opts.AWS {
			return spec, cmdutil.UsageErrorf("--aws needs --from SOURCE, where the secret access key comes from (e.g. env:AWS_SECRET_ACCESS_KEY)")
		}
		return spec, cmdutil.UsageErrorf("name where the value comes from with --from SOURCE (env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT])")
	case opts.AWS && opts.KeyIDFrom == "":
		return spec, cmdutil.UsageErrorf("--aws needs --key-id-from SOURCE, where the access key id comes from (e.g. env:AWS_ACCESS_KEY_ID)")
	case !opts.AWS && (opts.KeyIDFrom != "" || opts.TokenFrom != ""):
		return spec, cmdutil.UsageErrorf("--key-id-from and --token-from apply only with --aws")
	}
	spec.Header, spec.BasicUser, spec.Query = opts.Header, opts.BasicUser, opts.Query
	var err error
	parse := func(flag, s string) allowlist.Source {
		if err != nil || s == "" {
			return allowlist.Source{}
		}
		src, e := allowlist.ParseSource(s)
		var secretLike *allowlist.SecretLikeError
		switch {
		case errors.As(e, &secretLike):
			err = cmdutil.UsageErrorf("%s %v", flag, e) // perhaps the secret itself: not repeated
		case e != nil:
			err = cmdutil.UsageErrorf("%s %q %v", flag, s, e)
		}
		return src
	}
	if opts.AWS {
		spec.SecretAccessKey = parse("--from", opts.From)
		spec.AccessKeyID = parse("--key-id-from", opts.KeyIDFrom)
		spec.SessionToken = parse("--token-from", opts.TokenFrom)
	} else {
		spec.Source = parse("--from", opts.From)
	}
	return spec, err
}

// Args is the command line of the same add, without --file or --bottle.
func (opts *Options) Args() string {
	words := []string{"bottle", "secret", "add", opts.Name}
	for _, h := range opts.Hosts {
		words = append(words, "--host", h)
	}
	for _, f := range []struct{ flag, v string }{{"--header", opts.Header}, {"--basic-user", opts.BasicUser}, {"--query", opts.Query}} {
		if f.v != "" {
			words = append(words, f.flag, f.v)
		}
	}
	if opts.Bearer {
		words = append(words, "--bearer")
	}
	if opts.AWS {
		words = append(words, "--aws", "--key-id-from", opts.KeyIDFrom)
	}
	words = append(words, "--from", opts.From)
	if opts.TokenFrom != "" {
		words = append(words, "--token-from", opts.TokenFrom)
	}
	if opts.AgentEnv != "" {
		words = append(words, "--agent-env", opts.AgentEnv)
	}
	return shquote.Join(words)
}

func run(ctx context.Context, opts *Options) error {
	spec, err := opts.Spec()
	if err != nil {
		return err
	}
	var added *allowlist.Credential
	err = opts.File.Edit(ctx, opts.IO, opts.Args(), func(src allowshared.Source, data []byte, exists bool) ([]byte, error) {
		res, err := shared.AddCredential(src, data, spec)
		var notAllowed *allowlist.HostNotAllowedError
		switch {
		case errors.As(err, &notAllowed):
			return nil, cmdutil.WithCode(cmdutil.ExitError, opts.allowFirst(src, notAllowed))
		case err != nil && strings.Contains(err.Error(), "\n"):
			return nil, cmdutil.InvalidInput(err) // a file to fix: its problems, one a line
		case err != nil:
			return nil, cmdutil.UsageError(err)
		}
		if res.Existing != "" {
			fmt.Fprintf(opts.IO.Out, "nothing changed in %s: it already has this credential (%s)\n", src, res.Existing)
			return nil, nil
		}
		pol, err := src.Parse(res.Data)
		if err != nil {
			return nil, err
		}
		for _, c := range pol.Credentials() {
			if c.Name == spec.Name {
				added = c
			}
		}
		if res.Replaced != "" {
			fmt.Fprintf(opts.IO.Out, "replaced credential %s in %s: now %s\n", added.Name, src, shared.Describe(added))
		} else {
			fmt.Fprintf(opts.IO.Out, "added credential %s to %s: %s\n", added.Name, src, shared.Describe(added))
		}
		if res.Rewritten {
			fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", src.Path)
		}
		return res.Data, nil
	})
	if added == nil {
		return err
	}
	if opts.File.Bottle == "" || err != nil {
		opts.checkSources(ctx, added)
		return err
	}
	return opts.handOver(ctx, added)
}

// handOver gives the running bottle's sidecar the value of the credential
// just added to its live allowlist, as bottle secret refresh does, and
// waits until the sidecar has it. A stopped bottle resolves it at its next
// launch.
func (opts *Options) handOver(ctx context.Context, added *allowlist.Credential) error {
	name := opts.File.Bottle
	l := opts.Launcher()
	if b, err := l.Load(name); err != nil || !b.Stopped.IsZero() {
		return err
	}
	res, err := l.RefreshSecrets(ctx, name)
	if err == nil {
		err = l.CredentialsApplied(ctx, name, res.Hash, allowshared.DefaultWait)
	}
	if err != nil {
		return fmt.Errorf("credential %s is in the live allowlist of %s, but its sidecar does not have the value, so nothing is injected yet: %w; fix that, then run bottle secret refresh --bottle %s", added.Name, name, err, shquote.Quote(name))
	}
	fmt.Fprintf(opts.IO.Err, "the sidecar of %s has the value of %s", name, added.Name)
	if env := shared.AgentEnv(added); len(env) > 0 && slices.ContainsFunc(env, func(v string) bool { return slices.Contains(res.NotInAgent, v) }) {
		fmt.Fprintf(opts.IO.Err, "; the agent's %s is set at its next launch (the proxy injects the credential without it)", strings.Join(env, ", "))
	}
	fmt.Fprintln(opts.IO.Err)
	return nil
}

// allowFirst says which host the credential cannot be bound to yet, and
// the bottle allow command that makes it possible, for the same file.
func (opts *Options) allowFirst(src allowshared.Source, e *allowlist.HostNotAllowedError) error {
	where := shared.Where(&opts.File)
	host := shquote.Quote(e.Host)
	if e.Passthrough != "" {
		return fmt.Errorf("%s allows %s only through %s, with tls: passthrough, and credentials apply only to intercepted hosts (the proxy cannot set a header inside a tunnel it does not open); allow it intercepted first: bottle allow rm %s%s, then bottle allow add %s%s",
			src, e.Host, e.Passthrough, shquote.Quote(e.Passthrough), where, host, where)
	}
	return fmt.Errorf("%s does not allow %s yet, so no request could carry the credential there; allow it first: bottle allow add %s%s", src, e.Host, host, where)
}

// checkSources warns about each source of c that does not resolve now:
// bottle launch would stop on it.
func (opts *Options) checkSources(ctx context.Context, c *allowlist.Credential) {
	for _, s := range shared.Sources(c) {
		if err := opts.Resolve(ctx, s.Source); err != nil {
			fmt.Fprintf(opts.IO.Err, "warning: credential %s does not resolve now: %v (bottle launch would stop on it)\n", c.Name, err)
		}
	}
}
