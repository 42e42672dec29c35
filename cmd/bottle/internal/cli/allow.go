package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// defaultAllowlist is the file `bottle allow` uses without --file.
const defaultAllowlist = "allowlist.yaml"

// fileOptions locates the allowlist a command works on. A later --bottle NAME
// resolves to that bottle's live allowlist here, in one place.
type fileOptions struct {
	File   string
	Bottle string
}

func (o *fileOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.File, "file", "f", "", "allowlist file (default \"allowlist.yaml\" in the current directory)")
	cmd.Flags().StringVar(&o.Bottle, "bottle", "", "the live allowlist of this running bottle (applied at once)")
	cmd.MarkFlagsMutuallyExclusive("file", "bottle")
	cmd.PreRunE = func(*cobra.Command, []string) error { return o.check() }
}

// check refuses a --bottle NAME that is not a bottle name before any path
// is made of it ("../../x" would edit a file outside the state dir).
func (o *fileOptions) check() error {
	if o.Bottle == "" {
		return nil
	}
	if err := launcher.ValidName(o.Bottle); err != nil {
		return &exitError{code: ExitUsage, err: fmt.Errorf("--bottle: %w", err)}
	}
	return nil
}

func (o *fileOptions) path() string {
	switch {
	case o.Bottle != "":
		l := launcher.Launcher{StateDir: readEnv().StateDir}
		return filepath.Join(l.ConfigDir(o.Bottle), contract.AllowlistFile)
	case o.File != "":
		return o.File
	}
	return defaultAllowlist
}

// applyWait is how long `--bottle` edits wait for the sidecar to confirm.
var applyWait = 5 * time.Second // tests shorten it

// applied waits until the bottle's sidecar has loaded the allowlist it was
// given (data), so that "added" means "in force". The sidecar's own status
// file says so (contract.ReloadStatus): it lives in the sidecar's state,
// which the agent cannot write, and names the hash of what was loaded. A
// file the sidecar rejected is reported with the sidecar's errors.
func (o *fileOptions) applied(ctx context.Context, ios *IOStreams, data []byte) error {
	if o.Bottle == "" {
		return nil
	}
	l := launcher.Launcher{StateDir: readEnv().StateDir}
	b, err := l.Load(o.Bottle)
	if err != nil {
		return err
	}
	if !b.Stopped.IsZero() {
		fmt.Fprintf(ios.Err, "bottle %s is stopped; the change applies when it is launched again\n", o.Bottle)
		return nil
	}
	want := contract.Hash(data)
	statusPath := filepath.Join(l.LogDir(o.Bottle), contract.StatusFile)
	deadline := time.Now().Add(applyWait)
	for {
		st, err := contract.ReadStatus(statusPath)
		if err == nil && st.Tried == want {
			if st.OK {
				fmt.Fprintf(ios.Err, "the sidecar of %s applied it\n", o.Bottle)
				return nil
			}
			return fmt.Errorf("the sidecar of %s rejected the new file and keeps the previous policy:\n%s", o.Bottle, strings.TrimRight(st.Errors, "\n"))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the file was written, but the sidecar of %s did not confirm it within %s; is the bottle running? (bottle list; its log: bottle logs %s --sidecar)",
				o.Bottle, applyWait, o.Bottle)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load reads and parses the allowlist; a missing or invalid file is a usage
// error (exit 2) with every problem listed.
func (o *fileOptions) load() (*allowlist.Policy, error) {
	p := o.path()
	pol, err := allowlist.Load(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, usageErrorf("%s does not exist; create it with 'bottle allow add HOST' or pass --file", p)
	case err != nil:
		var el allowlist.ErrorList
		if errors.As(err, &el) {
			return nil, &exitError{code: ExitUsage, err: fmt.Errorf("%s is not a valid allowlist:\n%w", p, err)}
		}
		return nil, &exitError{code: ExitUsage, err: err}
	}
	return pol, nil
}

func newAllowCmd(ios *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "allow",
		Short: "Read, test and edit the allowlist",
		Long: `The allowlist says which hosts, ports, methods and paths a bottle's agent may
reach. Everything else is denied. These commands edit the YAML file in place,
keeping your comments and layout, and test targets against it.`,
		Example: `  bottle allow add api.anthropic.com
  bottle allow add github.com --method GET --method POST --path '/acme/widget.git/**'
  bottle allow add ssh.github.com --port 22 --port 443 --passthrough
  bottle allow add gist.github.com --deny
  bottle allow rm api.anthropic.com
  bottle allow list
  bottle allow check https://api.github.com/repos/acme/widget
  bottle allow validate allowlist.yaml`,
	}
	cmd.AddCommand(
		newAllowAddCmd(ios),
		newAllowRmCmd(ios),
		newAllowListCmd(ios),
		newAllowCheckCmd(ios),
		newAllowValidateCmd(ios),
	)
	return cmd
}

// ruleFlags are the selectors shared by add and rm.
type ruleFlags struct {
	ports       []uint
	methods     []string
	paths       []string
	passthrough bool
	sniOptional bool
	deny        bool
}

func (f *ruleFlags) add(cmd *cobra.Command) {
	cmd.Flags().UintSliceVarP(&f.ports, "port", "p", nil, "port the rule covers (repeatable; default 80 and 443 for allow rules, every port for deny rules)")
	cmd.Flags().StringArrayVarP(&f.methods, "method", "X", nil, "HTTP method the rule covers (repeatable; default every method)")
	cmd.Flags().StringArrayVar(&f.paths, "path", nil, "path glob the rule covers: * is one segment, ** any depth (repeatable; default every path)")
	cmd.Flags().BoolVar(&f.passthrough, "passthrough", false, "tunnel TLS without interception (the proxy checks only the name); no --method/--path")
	cmd.Flags().BoolVar(&f.sniOptional, "sni-optional", false, "with --passthrough: let TLS clients that send no SNI through (by default the ClientHello must name the host)")
	cmd.Flags().BoolVar(&f.deny, "deny", false, "edit the deny list instead of the allow list (deny always wins)")
}

func (f *ruleFlags) spec(host string) (allowlist.RuleSpec, error) {
	s := allowlist.RuleSpec{Host: host, Methods: f.methods, Paths: f.paths, Passthrough: f.passthrough, SNIOptional: f.sniOptional, Deny: f.deny}
	for _, p := range f.ports {
		if p < 1 || p > 65535 {
			return s, usageErrorf("--port %d is not a port; use a number from 1 to 65535", p)
		}
		s.Ports = append(s.Ports, uint16(p))
	}
	return s, nil
}

type allowEditOptions struct {
	ctx  context.Context
	IO   *IOStreams
	File fileOptions
	Rule ruleFlags
	All  bool
	Host string
}

func newAllowAddCmd(ios *IOStreams) *cobra.Command {
	opts := &allowEditOptions{IO: ios}
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
		Args: exactArgs(1, "the HOST to allow"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Host, opts.ctx = args[0], cmd.Context()
			return allowAddRun(opts)
		},
	}
	opts.File.addFlags(cmd)
	opts.Rule.add(cmd)
	return cmd
}

func allowAddRun(opts *allowEditOptions) error {
	spec, err := opts.Rule.spec(opts.Host)
	if err != nil {
		return err
	}
	path := opts.File.path()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	created := errors.Is(err, fs.ErrNotExist)
	if created && opts.File.Bottle != "" {
		return fmt.Errorf("bottle %q has no allowlist at %s; is it running? (bottle list)", opts.File.Bottle, path)
	}
	res, err := allowlist.Add(path, data, spec)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	if res.Existing != "" {
		fmt.Fprintf(opts.IO.Out, "%s already has this rule (%s); nothing changed\n", path, res.Existing)
		return nil
	}
	if err := atomicfile.Write(path, res.Data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	pol, err := allowlist.Parse(path, res.Data)
	if err != nil {
		return err
	}
	list := pol.Allow()
	if spec.Deny {
		list = pol.DenyRules()
	}
	verb := "added"
	if created {
		verb = "created " + path + " with"
	}
	fmt.Fprintf(opts.IO.Out, "%s %s\n", verb, ruleLine(list[len(list)-1]))
	if res.Rewritten {
		fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", path)
	}
	return opts.File.applied(opts.ctx, opts.IO, res.Data)
}

func newAllowRmCmd(ios *IOStreams) *cobra.Command {
	opts := &allowEditOptions{IO: ios}
	cmd := &cobra.Command{
		Use:     "rm HOST",
		Aliases: []string{"remove"},
		Short:   "Remove a rule from the allowlist",
		Long: `Remove the rule for HOST whose ports, methods, paths and TLS mode are exactly
the ones given (none given: the rule with none). --all removes every rule for
HOST in the list. Comments and layout of the rest of the file are kept.`,
		Example: `  bottle allow rm api.anthropic.com
  bottle allow rm ssh.github.com --port 22 --port 443 --passthrough
  bottle allow rm github.com --all
  bottle allow rm gist.github.com --deny`,
		Args: exactArgs(1, "the HOST whose rule to remove"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Host, opts.ctx = args[0], cmd.Context()
			return allowRmRun(opts)
		},
	}
	opts.File.addFlags(cmd)
	opts.Rule.add(cmd)
	cmd.Flags().BoolVar(&opts.All, "all", false, "remove every rule for HOST in the list, whatever its selectors")
	return cmd
}

func allowRmRun(opts *allowEditOptions) error {
	spec, err := opts.Rule.spec(opts.Host)
	if err != nil {
		return err
	}
	path := opts.File.path()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return usageErrorf("%s does not exist; pass --file", path)
	} else if err != nil {
		return err
	}
	res, err := allowlist.Remove(path, data, spec, opts.All)
	switch {
	case errors.Is(err, allowlist.ErrNoMatch):
		return &exitError{code: ExitError, err: errors.New(strings.TrimPrefix(err.Error(), allowlist.ErrNoMatch.Error()+": "))}
	case err != nil:
		return &exitError{code: ExitUsage, err: err}
	}
	if err := atomicfile.Write(path, res.Data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fmt.Fprintf(opts.IO.Out, "removed %s from %s\n", strings.Join(res.Removed, ", "), path)
	if res.Rewritten {
		fmt.Fprintf(opts.IO.Err, "note: %s uses a flow-style list, so it was re-emitted in block style (comments kept)\n", path)
	}
	return opts.File.applied(opts.ctx, opts.IO, res.Data)
}

type allowListOptions struct {
	IO   *IOStreams
	File fileOptions
	JSON bool
}

func newAllowListCmd(ios *IOStreams) *cobra.Command {
	opts := &allowListOptions{IO: ios}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the allowlist's rules",
		Example: `  bottle allow list
  bottle allow list --file team/allowlist.yaml
  bottle allow list --json | jq '.rules[].host'`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error { return allowListRun(opts) },
	}
	opts.File.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON (stable field names)")
	return cmd
}

type ruleJSON struct {
	ID           string   `json:"id"`
	List         string   `json:"list"`
	Host         string   `json:"host,omitempty"`
	CIDR         string   `json:"cidr,omitempty"`
	Ports        []uint16 `json:"ports"` // null: every port
	DefaultPorts bool     `json:"default_ports"`
	Methods      []string `json:"methods"` // null: every method
	Paths        []string `json:"paths"`   // null: every path
	TLS          string   `json:"tls,omitempty"`
	SNI          string   `json:"sni,omitempty"` // passthrough rules: "required" or "optional"
	Line         int      `json:"line"`
}

type listJSON struct {
	File  string     `json:"file"`
	Mode  string     `json:"mode"`
	Rules []ruleJSON `json:"rules"`
}

func toJSON(r *allowlist.Rule) ruleJSON {
	j := ruleJSON{ID: r.ID, List: "allow", Host: r.HostPattern(), Ports: r.Ports, DefaultPorts: r.DefaultPorts, Methods: r.Methods, Line: r.Line}
	if r.Deny {
		j.List = "deny"
	} else {
		j.TLS = "intercept"
		if r.Passthrough {
			j.TLS, j.SNI = "passthrough", "required"
			if r.SNIOptional {
				j.SNI = "optional"
			}
		}
	}
	if j.Host == "" {
		j.CIDR = r.CIDR.String()
	}
	if r.Paths != nil {
		j.Paths = r.PathGlobs()
	}
	return j
}

func allowListRun(opts *allowListOptions) error {
	pol, err := opts.File.load()
	if err != nil {
		return err
	}
	rules := append(append([]*allowlist.Rule{}, pol.Allow()...), pol.DenyRules()...)
	if opts.JSON {
		out := listJSON{File: opts.File.path(), Mode: pol.Mode().String(), Rules: []ruleJSON{}}
		for _, r := range rules {
			out.Rules = append(out.Rules, toJSON(r))
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(rules) == 0 {
		fmt.Fprintf(opts.IO.Out, "%s has no rules: everything is denied (mode: %s)\n", opts.File.path(), pol.Mode())
		return nil
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tTARGET\tPORTS\tMETHODS\tPATHS\tTLS\tLINE")
	for _, r := range rules {
		j := toJSON(r)
		target := j.Host
		if target == "" {
			target = j.CIDR
		}
		ports := "any"
		if r.Ports != nil {
			ports = joinPorts(r.Ports)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", r.ID, target, ports, orAny(r.Methods), orAny(j.Paths), orDash(j.TLS), r.Line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pol.Mode() == allowlist.Report {
		fmt.Fprintln(opts.IO.Out, "mode: report (denials are logged, not enforced)")
	}
	return nil
}

func joinPorts(ps []uint16) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ",")
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

// ruleLine is a one-line description of a rule for confirmations.
func ruleLine(r *allowlist.Rule) string {
	j := toJSON(r)
	var b strings.Builder
	b.WriteString(r.ID + ": ")
	if j.Host != "" {
		b.WriteString(j.Host)
	} else {
		b.WriteString(j.CIDR)
	}
	if r.Ports != nil {
		b.WriteString(" ports " + joinPorts(r.Ports))
	} else {
		b.WriteString(" all ports")
	}
	if r.Methods != nil {
		b.WriteString(" methods " + strings.Join(r.Methods, ","))
	}
	if j.Paths != nil {
		b.WriteString(" paths " + strings.Join(j.Paths, ","))
	}
	switch {
	case r.Passthrough && r.SNIOptional:
		b.WriteString(" (tls passthrough, sni optional)")
	case r.Passthrough:
		b.WriteString(" (tls passthrough)")
	}
	return b.String()
}

type allowCheckOptions struct {
	IO     *IOStreams
	File   fileOptions
	Method string
	Target string
}

func newAllowCheckCmd(ios *IOStreams) *cobra.Command {
	opts := &allowCheckOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "check TARGET",
		Short: "Test whether the allowlist allows a URL or host:port",
		Long: `Test TARGET against the allowlist without sending anything.

TARGET is a URL (the request the agent would make, with --method, default GET)
or HOST[:PORT] (a connection, as a CONNECT through the proxy; port 443 by
default). The first word printed is "allow" or "deny", then the deciding
rule and the reason; a denial also prints the command that would allow it.

Exit status: 0 allowed, 1 denied, 2 bad usage or invalid allowlist.`,
		Example: `  bottle allow check https://api.github.com/repos/acme/widget
  bottle allow check --method POST https://github.com/acme/widget.git/git-receive-pack
  bottle allow check ssh.github.com:22
  bottle allow check 10.20.1.5:5432
  if bottle allow check -f ci.yaml https://pypi.org/simple/; then echo ok; fi`,
		Args: exactArgs(1, "the TARGET (a URL or HOST[:PORT])"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Target = args[0]
			return allowCheckRun(opts)
		},
	}
	opts.File.addFlags(cmd)
	cmd.Flags().StringVarP(&opts.Method, "method", "X", "GET", "HTTP method of the request (URL targets only)")
	return cmd
}

func allowCheckRun(opts *allowCheckOptions) error {
	req, isURL, err := parseCheckTarget(opts.Target)
	if err != nil {
		return err
	}
	pol, err := opts.File.load()
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
	word := "allow"
	if d.Denied() {
		word = "deny"
	}
	fmt.Fprintf(opts.IO.Out, "%s by %s: %s\n", word, d.Rule, d.Reason)
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
	if hint := pol.AllowCommand(req, d); hint != "" {
		fmt.Fprintf(opts.IO.Out, "to allow it: %s\n", hint)
	}
	return silentExit(ExitError)
}

// parseCheckTarget reads a URL or HOST[:PORT].
func parseCheckTarget(s string) (allowlist.Request, bool, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return allowlist.Request{}, false, usageErrorf("%q is not a URL: %v", s, err)
		}
		scheme := strings.ToLower(u.Scheme)
		if scheme != "http" && scheme != "https" {
			return allowlist.Request{}, false, usageErrorf("%q: scheme %q is not http or https", s, u.Scheme)
		}
		if u.Hostname() == "" {
			return allowlist.Request{}, false, usageErrorf("%q has no host", s)
		}
		req := allowlist.Request{Scheme: scheme, Host: u.Hostname(), Path: u.EscapedPath()}
		if p := u.Port(); p != "" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				return req, false, usageErrorf("%q: port %q is not a port number", s, p)
			}
			req.Port = uint16(n)
		}
		if req.Path == "" {
			req.Path = "/"
		}
		return req, true, nil
	}
	if strings.ContainsAny(s, "/?#") {
		return allowlist.Request{}, false, usageErrorf("%q is neither a URL nor HOST[:PORT]; write https://%s", s, s)
	}
	host, port := s, uint64(443)
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return allowlist.Request{}, false, usageErrorf("%q: port %q is not a port number", s, p)
		}
		host, port = h, n
	}
	if host == "" {
		return allowlist.Request{}, false, usageErrorf("%q has no host", s)
	}
	return allowlist.Request{Scheme: "https", Host: host, Port: uint16(port)}, false, nil
}

type allowValidateOptions struct {
	IO   *IOStreams
	File fileOptions
}

func newAllowValidateCmd(ios *IOStreams) *cobra.Command {
	opts := &allowValidateOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "validate [FILE]",
		Short: "Check an allowlist file and report every problem in it",
		Long: `Check FILE (default: --file, else allowlist.yaml) and report every problem at
once as FILE:LINE:COL: message on stderr.

Exit status: 0 valid, 2 invalid or missing.`,
		Example: `  bottle allow validate
  bottle allow validate team/allowlist.yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if opts.File.File != "" && opts.File.File != args[0] {
					return usageErrorf("give the file once: as an argument or with --file")
				}
				opts.File.File = args[0]
			}
			return allowValidateRun(opts)
		},
	}
	opts.File.addFlags(cmd)
	return cmd
}

func allowValidateRun(opts *allowValidateOptions) error {
	path := opts.File.path()
	pol, err := allowlist.Load(path)
	var el allowlist.ErrorList
	switch {
	case errors.As(err, &el):
		for _, e := range el {
			fmt.Fprintln(opts.IO.Err, e)
		}
		return silentExit(ExitUsage)
	case errors.Is(err, fs.ErrNotExist):
		return usageErrorf("%s does not exist", path)
	case err != nil:
		return &exitError{code: ExitUsage, err: err}
	}
	fmt.Fprintf(opts.IO.Out, "%s: valid (%d allow, %d deny rules; mode %s)\n", path, len(pol.Allow()), len(pol.DenyRules()), pol.Mode())
	return nil
}
