// Package check is `bottle allow check`: test a URL or HOST:PORT against an
// allowlist without sending anything.
package check

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	secretshared "bottle.dev/bottle/cmd/bottle/internal/cmd/secret/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
)

// Options are `bottle allow check`'s dependencies, flags and arguments.
type Options struct {
	IO     *cmdutil.IOStreams
	File   shared.FileOptions
	Method string // --method
	JSON   bool   // --json
	Target string // TARGET
	// NoResolve is --no-resolve: no lookup of the name on the host.
	NoResolve bool
	// Resolve resolves a name on the host (Factory.Resolve).
	Resolve func(ctx context.Context, name string) ([]netip.Addr, error)
}

// resolveTimeout bounds the lookup of the name on the host: a warning is
// not worth a hang.
const resolveTimeout = 2 * time.Second

// JSON is what --json prints (fields are only ever added).
type JSON struct {
	Decision string `json:"decision"`         // "allow", "deny", or "would-deny" (mode: report lets it through)
	Rule     string `json:"rule"`             // the rule that decided: "allow[3]", "deny[0]", "default"
	Cause    string `json:"cause"`            // why, as the audit log's constant key: "allowed", "no-rule", "port-not-covered", …
	Reason   string `json:"reason"`           // why, in words
	Hint     string `json:"hint,omitempty"`   // for a denial: the command that would allow it
	Action   string `json:"action,omitempty"` // HOST[:PORT] that is allowed: "intercept" (TLS terminated, each request checked) or "tunnel" (tls: passthrough)
	// Warnings are what else stands in the way: a name that resolves on
	// the host to an address only a cidr rule allows; or what would slip
	// by: a push an allow rule admits to a repository git: does not
	// declare, which the git gate does not check.
	Warnings []string `json:"warnings,omitempty"`
	// Git is the repository (host/path) of the git: entry whose implied
	// rule decided ("git[N]"), if one did.
	Git string `json:"git,omitempty"`
	// Origin is the origin: of the rule that decided ("agent claude",
	// "preset pypi"), when the file says who added it.
	Origin string `json:"origin,omitempty"`
}

// NewCmd returns `bottle allow check`. With runF, the parsed options go
// there instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, File: shared.FileOptions{StateDir: f.Env.StateDir}, Resolve: f.Resolve}
	cmd := &cobra.Command{
		Use:   "check TARGET",
		Short: "Test whether the allowlist allows a URL or host:port",
		Long: `Test TARGET against the allowlist without sending anything.

TARGET is a URL (the request the agent would make, with --method, default GET)
or HOST[:PORT] (a connection, as a CONNECT through the proxy; port 443 by
default). The first word printed is "allow" or "deny", then the deciding
rule (and who added it, "(from preset pypi)", when the rule has an origin:)
and the reason; a denial also prints the command that would allow it.

--json prints one JSON object instead: decision ("allow", "deny" or
"would-deny"), rule, cause (the audit log's key, e.g. "no-rule"), reason,
hint (for a denial: the command that would allow it), for an allowed
HOST[:PORT] action ("intercept" or "tunnel"), origin (the deciding rule's
origin:, when it has one) and warnings (see below).

A name is also looked up on the host (--no-resolve: not): if it resolves to a
private, loopback, link-local or unique-local address, a warning says so,
since the proxy dials such an address only when a cidr rule allows it too.
The sidecar resolves through its own upstream resolvers, which may answer
otherwise.

Exit status: 0 allowed, 1 denied (also would-deny in report mode), 2 bad
usage or invalid allowlist.`,
		Example: `  bottle allow check https://api.github.com/repos/acme/widget
  bottle allow check --method POST https://github.com/acme/widget.git/git-receive-pack
  bottle allow check ssh.github.com:22
  bottle allow check 10.20.1.5:5432
  if bottle allow check -f ci.yaml https://pypi.org/simple/; then echo ok; fi
  bottle allow check --json https://pypi.org/simple/ | jq -r .cause`,
		Args: cmdutil.ExactArgs(1, "the TARGET (a URL or HOST[:PORT])"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.File.AddFlags(cmd)
	cmd.Flags().StringVarP(&opts.Method, "method", "X", "GET", "HTTP method of the request (URL targets only)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the decision as JSON (stable field names; see above)")
	cmd.Flags().BoolVar(&opts.NoResolve, "no-resolve", false, "do not look the name up on the host (no warning about private addresses)")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	req, isURL, err := parseTarget(opts.Target)
	if err != nil {
		return err
	}
	pol, err := opts.File.Load()
	if err != nil {
		return err
	}
	var d allowlist.Decision
	if isURL {
		req.Method = opts.Method
		d = pol.Decide(req)
	} else {
		d = pol.DecideConnect(req.Host, req.Port)
	}
	hint := ""
	// The command edits the allowlist this check read: the same --bottle
	// or --file.
	scope := allowlist.HintScope{Bottle: opts.File.Bottle, File: opts.File.File}
	if d.Denied() {
		hint = opts.hint(pol, req, d, scope)
	}
	warnings := opts.addressWarnings(ctx, pol, req, scope)
	if w := opts.ungated(pol, req, d); w != "" {
		warnings = append(warnings, w)
	}
	if g := hostEntry(pol, req.Host); g != nil && !isURL && d.Denied() && d.Cause != allowlist.CauseGitSSH {
		warnings = append(warnings, fmt.Sprintf("%s is the host of %s (%s): git reaches it over https only, and a tls: passthrough tunnel there would be refused (git over SSH would bypass the git gate); use https://%s", g.Host, g.ID, g.Repo(), g.Repo()))
	}
	entry := gitEntry(pol, d.Rule)
	origin := ""
	if r := pol.Rule(d.Rule); r != nil {
		origin = r.Origin
	}
	if opts.JSON {
		j := JSON{Decision: "allow", Rule: d.Rule, Cause: d.Cause.String(), Reason: d.Explain(), Hint: hint, Warnings: warnings, Origin: origin}
		if entry != nil {
			j.Git = entry.Repo()
		}
		switch {
		case d.WouldDeny:
			j.Decision = "would-deny"
		case !d.Allowed:
			j.Decision = "deny"
		case !isURL:
			j.Action = d.Action.String()
		}
		if err := cmdutil.WriteJSON(opts.IO.Out, j); err != nil {
			return err
		}
		if d.Denied() {
			return cmdutil.SilentExit(cmdutil.ExitError)
		}
		return nil
	}
	word := "allow"
	if d.Denied() {
		word = "deny"
	}
	fmt.Fprintf(opts.IO.Out, "%s by %s%s: %s\n", word, d.Rule, shared.FromOrigin(origin), d.Explain())
	if entry != nil {
		fmt.Fprintf(opts.IO.Out, "%s is the rule the git: entry for %s implies (line %d): %s\n", entry.ID, entry.Repo(), entry.Line, gated(entry))
	}
	for _, w := range warnings {
		fmt.Fprintf(opts.IO.Err, "warning: %s\n", w)
	}
	if d.Allowed && !d.WouldDeny && !isURL {
		switch d.Action {
		case allowlist.ActionTunnel:
			fmt.Fprintln(opts.IO.Out, "the connection is tunnelled without interception (tls: passthrough)")
		case allowlist.ActionIntercept:
			fmt.Fprintln(opts.IO.Out, "TLS is intercepted and each request inside is checked against the rules for this host")
		}
	}
	if !d.Denied() {
		return nil
	}
	if d.WouldDeny {
		fmt.Fprintln(opts.IO.Out, "mode is report: the sidecar would log this and let it through")
	}
	if hint != "" {
		fmt.Fprintf(opts.IO.Out, "to allow it: %s\n", hint)
	}
	return cmdutil.SilentExit(cmdutil.ExitError)
}

// gitEntry returns the git: entry whose implied rule has the id rule, or
// nil.
func gitEntry(pol *allowlist.Policy, rule string) *allowlist.GitRepo {
	for _, g := range pol.Git() {
		if g.ID == rule {
			return g
		}
	}
	return nil
}

// hostEntry returns the first git: entry on host, or nil.
func hostEntry(pol *allowlist.Policy, host string) *allowlist.GitRepo {
	name, err := allowlist.NormalizeName(host)
	if err != nil {
		return nil
	}
	for _, g := range pol.Git() {
		if g.Host == name {
			return g
		}
	}
	return nil
}

// gated says what the git gate lets through to the entry's repository.
func gated(g *allowlist.GitRepo) string {
	if g.Push == nil {
		return "clone and fetch; it is read-only, so the git gate refuses every push"
	}
	s := "clone, fetch, and pushes the git gate checks against push: " + strings.Join(g.Push, ", ")
	if g.Delete {
		s += " (deletion too)"
	}
	return s
}

// hint is the command that would allow a denied req: for a smart-HTTP
// endpoint of a repository, the bottle git add that declares it, which
// lets its pushes through the gate (an allow rule would let them by it);
// none for a tunnel refused as git over SSH, whose reason says to use
// https.
func (opts *Options) hint(pol *allowlist.Policy, req allowlist.Request, d allowlist.Decision, scope allowlist.HintScope) string {
	if g := hostEntry(pol, req.Host); g != nil && req.Method == "" {
		// A tunnel to a declared repository's host would be refused as
		// git over SSH (a passthrough rule), and a connection on 443 is
		// already intercepted: no rule to add helps.
		return ""
	}
	switch d.Cause {
	case allowlist.CauseGitSSH:
		return ""
	case allowlist.CauseNoRule, allowlist.CausePath, allowlist.CauseMethod, allowlist.CausePort:
		port := req.Port
		if port == 0 {
			port = allowlist.DefaultPort(req.Scheme)
		}
		// A git: entry admits its endpoints over https, on port 443.
		if repo, svc := allowlist.GitEndpoint(req.Path); svc != allowlist.GitNone && req.Method != "" && port == 443 && strings.EqualFold(req.Scheme, "https") {
			if host, path, err := allowlist.ParseRepo(strings.ToLower(req.Host) + "/" + repo); err == nil {
				return "bottle git add " + shquote.Quote(host+"/"+path) + secretshared.Where(&opts.File)
			}
		}
	}
	return pol.AllowCommand(req, d, scope)
}

// ungated warns about a push an allow rule admits to a repository no git:
// entry declares: it would reach the upstream unchecked.
func (opts *Options) ungated(pol *allowlist.Policy, req allowlist.Request, d allowlist.Decision) string {
	if d.Denied() || req.Method == "" || gitEntry(pol, d.Rule) != nil {
		return ""
	}
	repo, svc := allowlist.GitEndpoint(req.Path)
	if svc != allowlist.GitReceivePack {
		return ""
	}
	if g, _ := pol.GitRepoFor(req.Host, req.Path); g != nil {
		return ""
	}
	add := "bottle git add " + shquote.Quote(strings.ToLower(req.Host)+"/"+repo) + secretshared.Where(&opts.File)
	if hostEntry(pol, req.Host) != nil {
		// The proxy refuses it (a forge may take a push to another
		// spelling of a declared repository, which would pass the gate).
		return fmt.Sprintf("%s admits this request, but the proxy refuses the push: %s has git: entries, and a push to a repository none of them declares is refused; declare it: %s",
			d.Rule, strings.ToLower(req.Host), add)
	}
	return fmt.Sprintf("%s admits this push, but no git: entry declares the repository, so the git gate does not check its refs or scan its content; declare it: %s",
		d.Rule, add)
}

// addressWarnings look req's name up on the host and say which of its
// addresses the proxy would refuse to dial for want of a cidr rule (or
// because one denies it), with the command that allows each. An address
// literal, --no-resolve, or a failed lookup give none.
func (opts *Options) addressWarnings(ctx context.Context, pol *allowlist.Policy, req allowlist.Request, scope allowlist.HintScope) []string {
	if opts.NoResolve || opts.Resolve == nil {
		return nil
	}
	if _, err := netip.ParseAddr(strings.Trim(req.Host, "[]")); err == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	addrs, err := opts.Resolve(ctx, req.Host)
	if err != nil {
		return nil
	}
	port := req.Port
	if port == 0 {
		port = allowlist.DefaultPort(req.Scheme)
	}
	var out []string
	seen := map[netip.Addr]bool{}
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		if seen[a] {
			continue
		}
		seen[a] = true
		d := pol.CheckDst(req.Host, port, a)
		if !d.Denied() {
			continue
		}
		w := "on this host, " + d.Explain()
		if d.Cause == allowlist.CauseSpecialAddress {
			w += "; to allow it: " + pol.AllowCommand(allowlist.Request{Scheme: "https", Host: a.String(), Port: port}, pol.DecideConnect(a.String(), port), scope)
		}
		out = append(out, w)
	}
	return out
}

// parseTarget reads a URL or HOST[:PORT]; it reports whether it was a URL.
func parseTarget(s string) (allowlist.Request, bool, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return allowlist.Request{}, false, cmdutil.UsageErrorf("%q is not a URL: %v", s, err)
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme != "http" && scheme != "https" {
			return allowlist.Request{}, false, cmdutil.UsageErrorf("%q: scheme %q is not http or https", s, u.Scheme)
		}
		if u.Hostname() == "" {
			return allowlist.Request{}, false, cmdutil.UsageErrorf("%q has no host", s)
		}
		req := allowlist.Request{Scheme: scheme, Host: u.Hostname(), Path: u.EscapedPath()}
		if p := u.Port(); p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				return req, false, cmdutil.UsageErrorf("%q: port %q is not a port number", s, p)
			}
			req.Port = uint16(n)
		}
		if req.Path == "" {
			req.Path = "/"
		}
		return req, true, nil
	}
	if strings.ContainsAny(s, "/?#") {
		return allowlist.Request{}, false, cmdutil.UsageErrorf("%q is neither a URL nor HOST[:PORT]; write https://%s", s, s)
	}
	host, port := s, uint64(443)
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return allowlist.Request{}, false, cmdutil.UsageErrorf("%q: port %q is not a port number", s, p)
		}
		host, port = h, n
	}
	if host == "" {
		return allowlist.Request{}, false, cmdutil.UsageErrorf("%q has no host", s)
	}
	return allowlist.Request{Scheme: "https", Host: host, Port: uint16(port)}, false, nil
}
