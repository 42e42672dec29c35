package shared

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
)

// RuleFlags are the selectors shared by add and rm.
type RuleFlags struct {
	Ports       []string // --port: numbers or service names (https, ssh, postgres)
	Methods     []string // --method
	Paths       []string // --path
	Passthrough bool     // --passthrough
	SNIOptional bool     // --sni-optional
	Deny        bool     // --deny
}

// AddFlags adds the selectors to cmd.
func (f *RuleFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringSliceVarP(&f.Ports, "port", "p", nil, "port the rule covers, a number or a service name: https, ssh, postgres, … (repeatable; default 80 and 443 for allow rules, every port for deny rules)")
	cmd.Flags().StringArrayVarP(&f.Methods, "method", "X", nil, "HTTP method the rule covers (repeatable; default every method)")
	cmd.Flags().StringArrayVar(&f.Paths, "path", nil, "path glob the rule covers: * is one segment, ** any depth (repeatable; default every path)")
	cmd.Flags().BoolVar(&f.Passthrough, "passthrough", false, "tunnel TLS without interception (the proxy checks only the name); no --method/--path")
	cmd.Flags().BoolVar(&f.SNIOptional, "sni-optional", false, "with --passthrough: let TLS clients that send no SNI through (by default the ClientHello must name the host)")
	cmd.Flags().BoolVar(&f.Deny, "deny", false, "edit the deny list instead of the allow list (deny always wins)")
}

// Spec is the rule the flags select for target, which is written as
// people type it: a host or wildcard ("api.example.com",
// "*.example.com"), HOST:PORT, an address or range ("10.20.5.7",
// "10.20.0.0/16": a cidr rule), or a URL ("https://api.example.com/v1":
// the host, and the path and everything under it; a scheme other than
// http and https stands for its port, "postgres://db.example.com"). What
// the target says and the flags say must agree. Notes about what was
// left out (a URL's query) are returned for the user. Every mistake is a
// usage error in terms of the command's arguments and flags.
func (f *RuleFlags) Spec(target string) (allowlist.RuleSpec, []string, error) {
	s := allowlist.RuleSpec{Methods: f.Methods, Paths: f.Paths, Passthrough: f.Passthrough, SNIOptional: f.SNIOptional, Deny: f.Deny}
	for _, p := range f.Ports {
		n, err := portArg(p)
		if err != nil {
			return s, nil, err
		}
		s.Ports = append(s.Ports, n)
	}
	host, port, path, notes, err := splitTarget(target)
	if err != nil {
		return s, nil, err
	}
	s.Host = host
	if port != 0 {
		if len(s.Ports) > 0 && !slices.Contains(s.Ports, port) {
			return s, nil, cmdutil.UsageErrorf("%q names port %d and --port says %s; give the port once", target, port, strings.Join(f.Ports, ","))
		}
		if len(s.Ports) == 0 {
			s.Ports = []uint16{port}
		}
	}
	if path != "" {
		if len(s.Paths) > 0 {
			return s, nil, cmdutil.UsageErrorf("%q has the path %s and --path is given too; give the path once (in the URL or with --path)", target, path)
		}
		s.Paths = []string{path}
	}
	return s, notes, nil
}

// portArg reads a --port value: a number, or a service name.
func portArg(p string) (uint16, error) {
	if n, err := strconv.ParseUint(p, 10, 64); err == nil {
		if n < 1 || n > 65535 {
			return 0, cmdutil.UsageErrorf("--port %d is not a port; use a number from 1 to 65535", n)
		}
		return uint16(n), nil
	}
	if n, _, ok := allowlist.ServicePort(p); ok {
		return n, nil
	}
	return 0, cmdutil.UsageErrorf("--port %q is not a port; use a number from 1 to 65535 or a service name (%s)", p, strings.Join(allowlist.ServiceNames(), ", "))
}

// splitTarget reads the target of add and rm: the host (or address, or
// range), the port it names (0: none) and the path glob a URL stands for
// ("" for none).
func splitTarget(target string) (host string, port uint16, path string, notes []string, err error) {
	if strings.Contains(target, "://") {
		return splitURL(target)
	}
	bare := strings.Trim(target, "[]")
	if _, err := netip.ParseAddr(bare); err == nil {
		return target, 0, "", nil, nil
	}
	if before, _, ok := strings.Cut(target, "/"); ok {
		if _, err := netip.ParseAddr(before); err == nil {
			return target, 0, "", nil, nil // a range; a bad one is refused with the cidr's own error
		}
		return "", 0, "", nil, cmdutil.UsageErrorf("%q is not a host; for a URL write its scheme (https://%s), for a path use --path", target, target)
	}
	if strings.Contains(target, ":") {
		h, p, err := net.SplitHostPort(target)
		if err != nil || h == "" {
			return "", 0, "", nil, cmdutil.UsageErrorf("%q is not HOST or HOST:PORT", target)
		}
		n, err := portArg(p)
		if err != nil {
			return "", 0, "", nil, cmdutil.UsageErrorf("%q: %q is not a port; use a number from 1 to 65535 or a service name", target, p)
		}
		return h, n, "", nil, nil
	}
	return target, 0, "", nil, nil
}

// splitURL reads a URL target (see Spec).
func splitURL(target string) (host string, port uint16, path string, notes []string, err error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", 0, "", nil, cmdutil.UsageErrorf("%q is not a URL: %v", target, err)
	}
	if u.Hostname() == "" {
		return "", 0, "", nil, cmdutil.UsageErrorf("%q has no host", target)
	}
	scheme := strings.ToLower(u.Scheme)
	web := scheme == "http" || scheme == "https"
	if !web {
		n, _, ok := allowlist.ServicePort(scheme)
		if !ok {
			return "", 0, "", nil, cmdutil.UsageErrorf("%q: scheme %q is not http, https or a service name (%s); name the host and give --port", target, u.Scheme, strings.Join(allowlist.ServiceNames(), ", "))
		}
		port = n
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return "", 0, "", nil, cmdutil.UsageErrorf("%q: port %q is not a port number", target, p)
		}
		port = uint16(n)
		if web && port == allowlist.DefaultPort(scheme) {
			port = 0 // the rule's default ports cover it
		}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		notes = append(notes, fmt.Sprintf("a rule matches the path, not the query or fragment: %q stands for its path only", target))
	}
	if p := strings.TrimRight(u.EscapedPath(), "/"); p != "" {
		if !web {
			return "", 0, "", nil, cmdutil.UsageErrorf("%q: a %s connection has no paths; give the host alone", target, scheme)
		}
		path = p
		if !strings.HasSuffix(p, "/**") {
			path = p + "/**"
		}
	}
	return u.Hostname(), port, path, notes, nil
}

// ruleID is a rule's id as `bottle allow list` shows it.
var ruleID = regexp.MustCompile(`^(allow|deny)\[[0-9]+\]$`)

// IsRuleID reports whether s is a rule id ("allow[1]", "deny[0]").
func IsRuleID(s string) bool { return ruleID.MatchString(s) }

// Selects reports whether any selector flag was given.
func (f *RuleFlags) Selects() bool {
	return len(f.Ports) > 0 || len(f.Methods) > 0 || len(f.Paths) > 0 || f.Passthrough || f.SNIOptional || f.Deny
}

// InterceptedPortNote is the note for an intercepted allow rule on a port
// other than 80 and 443, which suits only HTTP inside TLS (or plain); ""
// when there is nothing to say. again is the command that adds the rule
// with --passthrough instead, without it.
func InterceptedPortNote(s allowlist.RuleSpec, again string) string {
	if s.Deny || s.Passthrough {
		return ""
	}
	var odd []string
	for _, p := range s.Ports {
		if p != 80 && p != 443 {
			odd = append(odd, strconv.Itoa(int(p)))
		}
	}
	if len(odd) == 0 {
		return ""
	}
	return fmt.Sprintf("note: port %s is intercepted: the proxy expects TLS there and checks each HTTP request inside; for ssh, a database or another protocol that is not HTTP, tunnel it instead: %s --passthrough", strings.Join(odd, ","), again)
}

// RuleJSON is one rule as `bottle allow list --json` prints it (fields are
// only ever added).
type RuleJSON struct {
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
	// From says where a rule the file does not spell out comes from:
	// "git" for the rule a git: entry implies (its id is "git[N]").
	From string `json:"from,omitempty"`
	// Origin is the rule's origin: who added it ("agent claude",
	// "preset pypi"), when the file says.
	Origin string `json:"origin,omitempty"`
}

// ToJSON is r as RuleJSON.
func ToJSON(r *allowlist.Rule) RuleJSON {
	j := RuleJSON{ID: r.ID, List: "allow", Host: r.HostPattern(), Ports: r.Ports, DefaultPorts: r.DefaultPorts, Methods: r.Methods, Line: r.Line, Origin: r.Origin}
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

// RuleLine is a one-line description of a rule for confirmations (the one
// rendering every message uses: allowlist.Rule.String).
func RuleLine(r *allowlist.Rule) string { return r.String() }

// FromOrigin is " (from ORIGIN)" for an entry whose file says who added
// it, "" for one it does not. The origin is printable text (the parser
// checks it), but it is escaped all the same: it is read from a file.
func FromOrigin(origin string) string {
	if origin == "" {
		return ""
	}
	return " (from " + termsafe.Line(origin) + ")"
}
