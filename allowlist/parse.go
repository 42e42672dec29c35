package allowlist

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"bottle.dev/bottle/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds what Parse reads; a policy file is hand-written.
const MaxFileSize = 16 << 20

// defaultPorts are the ports of an allow rule that names none.
var defaultPorts = []uint16{80, 443}

// knownMethods are the methods a rule may name. Anything else is more likely
// a typo than a need.
var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}

// Load reads and parses the allowlist at path.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse turns the bytes of an allowlist file into an immutable Policy. Any
// problem yields an ErrorList naming every problem found; file is used only in
// messages.
func Parse(file string, data []byte) (*Policy, error) {
	return parse(file, data, nil)
}

// ParseEmbedded parses allowlist keys (version, mode, dlp, allow, deny,
// credentials, git) that live in another file, such as a project's bottle.yaml, whose own top-level keys
// are extra. Errors carry that file's positions.
func ParseEmbedded(file string, data []byte, extra []string) (*Policy, error) {
	return parse(file, data, extra)
}

func parse(file string, data []byte, extra []string) (*Policy, error) {
	return parseCoverage(file, data, extra, true)
}

// parseCoverage is parse that, with coverage false, does not check that an
// allow rule admits each credential's hosts: how an edit tells a file it
// broke from a change that leaves a credential without its rule.
func parseCoverage(file string, data []byte, extra []string, coverage bool) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, ErrorList{{File: file, Msg: fmt.Sprintf("file is larger than %d MiB; an allowlist is a short hand-written file", MaxFileSize>>20)}}
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	p := &parser{file: file, extra: extra}
	pol := p.policy(root)
	if len(p.errs) > 0 {
		slices.SortStableFunc(p.errs, func(a, b *Error) int {
			if a.Line != b.Line {
				return a.Line - b.Line
			}
			return a.Col - b.Col
		})
		return nil, p.errs
	}
	pol.buildIndex()
	// Whether each credential's hosts are allowed (and intercepted) is judged
	// on a file whose rules are all valid: a rule dropped for an error would
	// make its hosts look unallowed.
	if coverage {
		p.credentialCoverage(pol)
	}
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return pol, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML decodes exactly one YAML document into a node tree and returns its
// root, or a positioned error.
func parseYAML(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{File: file, Line: 1, Col: 1, Msg: "file is empty; start it with `version: 1`"}}
		}
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, ErrorList{{File: file, Line: extra.Line, Col: extra.Column, Msg: "a second YAML document (after \"---\"); an allowlist is one document"}}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	if len(doc.Content) == 0 {
		return nil, ErrorList{{File: file, Line: 1, Col: 1, Msg: "file is empty; start it with `version: 1`"}}
	}
	return doc.Content[0], nil
}

func yamlError(file string, err error) error {
	msg := err.Error()
	line := 0
	for _, l := range strings.Split(msg, "\n") {
		if m := yamlLineRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
			break
		}
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if line == 0 {
		return ErrorList{{File: file, Msg: "not valid YAML: " + msg}}
	}
	// The YAML library reports lines only; column 1 points at the line.
	return ErrorList{{File: file, Line: line, Col: 1, Msg: "not valid YAML: " + msg}}
}

type parser struct {
	file  string
	extra []string // top-level keys another schema owns (ParseEmbedded)
	errs  ErrorList

	credHosts []credHost // every credential's hosts, for credentialCoverage
}

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// mapping walks a mapping node, reporting duplicate and unknown keys, and calls
// fn for each known key with its value.
func (p *parser) mapping(where string, n *yaml.Node, known []string, fn func(key string, k, v *yaml.Node)) {
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := yamlnode.Deref(n.Content[i]), yamlnode.Deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain words", where)
			continue
		}
		name := k.Value
		if first, dup := seen[name]; dup {
			p.errorf(k, "%skey %q appears twice (first at line %d); keep one", prefix(where), name, first.Line)
			continue
		}
		seen[name] = k
		if !slices.Contains(known, name) {
			hint := ""
			if s := yamlnode.Closest(name, known); s != "" {
				hint = fmt.Sprintf("did you mean %q? ", s)
			}
			p.errorf(k, "%sunknown key %q; %sknown keys are %s", prefix(where), name, hint, strings.Join(known, ", "))
			continue
		}
		fn(name, k, v)
	}
}

func prefix(where string) string {
	if where == "" {
		return ""
	}
	return where + ": "
}

func (p *parser) policy(root *yaml.Node) *Policy {
	root = yamlnode.Deref(root)
	pol := &Policy{mode: Enforce}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "the file must be a mapping with `version: 1` and `allow:`; found %s", yamlnode.KindName(root))
		return pol
	}
	hasVersion := false
	var gitRefs []gitRef
	p.mapping("", root, append(Keys(), p.extra...), func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			hasVersion = true
			if v.Kind != yaml.ScalarNode || v.Value != "1" || (v.Tag != "!!int" && v.Tag != "!!str") {
				p.errorf(v, "version %s is not supported; use `version: 1`", describe(v))
			}
		case "mode":
			s, ok := p.str("mode", v)
			if !ok {
				return
			}
			switch s {
			case "enforce":
				pol.mode = Enforce
			case "report":
				pol.mode = Report
			default:
				p.errorf(v, "mode %q is not a mode; use \"enforce\" (deny what is not allowed) or \"report\" (log would-deny, let it through)", s)
			}
		case "dlp":
			if m, ok := p.dlpMode("dlp", v); ok {
				pol.dlp = m
			}
		case "approvals":
			s, ok := p.str("approvals", v)
			if !ok {
				return
			}
			switch s {
			case "off":
				pol.approvals = ApprovalsOff
			case "ask":
				pol.approvals = ApprovalsAsk
			default:
				p.errorf(v, "approvals %q is not a setting; use \"ask\" (hold a denied request until you decide) or \"off\" (deny at once)", s)
			}
		case "approval_timeout":
			s, ok := p.scalarString("approval_timeout", v)
			if !ok {
				return
			}
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				p.errorf(v, "approval_timeout %q is not a duration; use a number with a unit, like `approval_timeout: 90s`", s)
			case d < time.Second || d > MaxApprovalTimeout:
				p.errorf(v, "approval_timeout %s is out of range; use from 1s to %s", s, MaxApprovalTimeout)
			default:
				pol.approvalTimeout = d
			}
		case "credentials":
			pol.creds = p.credentials(v)
		case "git":
			pol.git, gitRefs = p.gitRepos(v)
		case "allow", "deny":
			rules := p.rules(key, v)
			if key == "allow" {
				pol.allow = rules
			} else {
				pol.deny = rules
			}
		}
	})
	if !hasVersion {
		p.errorf(root, "missing `version: 1` at the top of the file")
	}
	p.gitCredentials(gitRefs, pol.creds)
	pol.gitRules = impliedRules(pol.git)
	p.sharedNodes(root)
	return pol
}

// sharedNodes reports every YAML alias that makes one node part of both the
// allow and the deny list ("allow: &r [...]" with "deny: *r", a rule or a
// host used in both). Such a file means the same text twice: an edit to one
// list would change the other, and a passthrough rule added to allow would
// become an invalid deny rule.
func (p *parser) sharedNodes(root *yaml.Node) {
	var allowV, denyV *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch yamlnode.Deref(root.Content[i]).Value {
		case "allow":
			allowV = cmp.Or(allowV, root.Content[i+1])
		case "deny":
			denyV = cmp.Or(denyV, root.Content[i+1])
		}
	}
	if allowV == nil || denyV == nil {
		return
	}
	inAllow, inDeny := reachable(allowV), reachable(denyV)
	p.crossAliases("allow", allowV, ownNodes(allowV), inDeny, "deny", map[*yaml.Node]bool{})
	p.crossAliases("deny", denyV, ownNodes(denyV), inAllow, "allow", map[*yaml.Node]bool{})
}

// crossAliases walks one list, following aliases, and reports each alias
// that leads to a node the other list also reaches, when that node is not
// written in this list itself (so that the alias that crosses over is
// blamed, not the anchor it points at). It does not look below a reported
// alias.
func (p *parser) crossAliases(where string, n *yaml.Node, own, other map[*yaml.Node]bool, otherList string, seen map[*yaml.Node]bool) {
	if n.Kind == yaml.AliasNode {
		t := yamlnode.Deref(n)
		if t == nil {
			return
		}
		if other[t] && !own[t] {
			p.errorf(n, "%s is the YAML alias *%s of a node that is also part of %s (anchor &%s, line %d); one node cannot be in both lists, as editing one would change the other: write the rules out in each list", where, n.Value, otherList, n.Value, t.Line)
			return
		}
		n = t
	}
	if seen[n] {
		return
	}
	seen[n] = true
	switch n.Kind {
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p.crossAliases(fmt.Sprintf("%s[%d]", where, i), c, own, other, otherList, seen)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			p.crossAliases(where, key, own, other, otherList, seen)
			if k := yamlnode.Deref(key); k != nil && k.Kind == yaml.ScalarNode {
				p.crossAliases(where+"."+k.Value, n.Content[i+1], own, other, otherList, seen)
			} else {
				p.crossAliases(where, n.Content[i+1], own, other, otherList, seen)
			}
		}
	}
}

// reachable returns the nodes n stands for, following aliases. Each node is
// visited once, so a chain of aliases to aliases costs no more than the file.
func reachable(n *yaml.Node) map[*yaml.Node]bool {
	seen := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		n = yamlnode.Deref(n)
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return seen
}

// ownNodes returns the nodes written under n, not following aliases.
func ownNodes(n *yaml.Node) map[*yaml.Node]bool {
	own := map[*yaml.Node]bool{}
	walkOwn(n, func(c *yaml.Node) { own[c] = true })
	return own
}

// walkOwn calls fn for n and every node written under it, not following
// aliases.
func walkOwn(n *yaml.Node, fn func(*yaml.Node)) {
	fn(n)
	for _, c := range n.Content {
		walkOwn(c, fn)
	}
}

func (p *parser) rules(list string, n *yaml.Node) []*Rule {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil // "allow:" with nothing under it
	case n.Kind != yaml.SequenceNode:
		p.errorf(n, "%s must be a list of rules (\"- host: example.com\"); found %s", list, yamlnode.KindName(n))
		return nil
	}
	var out []*Rule
	for i, item := range n.Content {
		if r := p.rule(list, i, yamlnode.Deref(item)); r != nil {
			out = append(out, r)
		}
	}
	return out
}

func (p *parser) rule(list string, i int, n *yaml.Node) *Rule {
	id := fmt.Sprintf("%s[%d]", list, i)
	r := &Rule{ID: id, Deny: list == "deny", Index: i, Line: n.Line, Col: n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		p.errorf(n, "%s must be a mapping; use `- host: %s`", id, n.Value)
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping such as `- host: example.com`; found %s", id, yamlnode.KindName(n))
		return nil
	}
	before := len(p.errs)
	var hostKey, cidrKey *yaml.Node
	var methodsNode, pathsNode *yaml.Node
	var sniKey, sniVal *yaml.Node
	var dlpKey, dlpVal *yaml.Node
	tlsBad := false
	known := []string{"host", "cidr", "ports", "methods", "paths", "tls", "sni", "dlp", "origin"}
	p.mapping(id, n, known, func(key string, k, v *yaml.Node) {
		switch key {
		case "host":
			hostKey = k
			s, ok := p.scalarString(id+".host", v)
			if !ok {
				return
			}
			hp, err := parseHostPattern(s)
			if err != nil {
				p.errorf(v, "%s.host %q %v", id, s, err)
				return
			}
			r.Host = hp
		case "cidr":
			cidrKey = k
			s, ok := p.str(id+".cidr", v)
			if !ok {
				return
			}
			pfx, err := parseCIDR(s)
			if err != nil {
				p.errorf(v, "%s.cidr %q %v", id, s, err)
				return
			}
			r.CIDR = pfx
		case "ports":
			r.Ports = p.ports(id, v)
		case "methods":
			methodsNode = v
			r.Methods = p.methods(id, v)
		case "paths":
			pathsNode = v
			r.Paths = p.paths(id, v)
		case "tls":
			s, ok := p.str(id+".tls", v)
			if !ok {
				return
			}
			switch {
			case list == "deny":
				p.errorf(k, "%s.tls applies only to allow rules; remove it (a deny rule blocks whatever the TLS mode)", id)
			case s == "passthrough":
				r.Passthrough = true
			case s == "intercept":
			default:
				tlsBad = true
				p.errorf(v, "%s.tls %q is not a TLS mode; use \"passthrough\" (tunnel without inspection) or leave it out (intercept and check every request)", id, s)
			}
		case "sni":
			// Judged below, once tls is known whatever the key order.
			sniKey, sniVal = k, v
		case "dlp":
			// Judged below, once host, cidr and tls are known.
			dlpKey, dlpVal = k, v
		case "origin":
			if list == "deny" {
				p.errorf(k, "%s.origin applies only to allow rules (it says who added a rule that lets traffic through); remove it", id)
				return
			}
			if s, ok := p.origin(id+".origin", v); ok {
				r.Origin = s
			}
		}
	})
	if sniKey != nil {
		p.sni(id, list, r, sniKey, sniVal, tlsBad)
	}
	if dlpKey != nil {
		p.ruleDLP(id, list, r, cidrKey != nil && hostKey == nil, dlpKey, dlpVal, tlsBad)
	}
	switch {
	case hostKey != nil && cidrKey != nil:
		p.errorf(cidrKey, "%s has both host and cidr; split it into two rules", id)
	case hostKey == nil && cidrKey == nil:
		p.errorf(n, "%s needs `host:` (a name) or `cidr:` (an address range)", id)
	}
	if r.Passthrough {
		if methodsNode != nil {
			p.errorf(methodsNode, "%s.methods cannot be checked with tls: passthrough (the proxy does not see requests inside the tunnel); remove methods or tls", id)
		}
		if pathsNode != nil {
			p.errorf(pathsNode, "%s.paths cannot be checked with tls: passthrough (the proxy does not see requests inside the tunnel); remove paths or tls", id)
		}
	}
	if len(p.errs) > before {
		return nil
	}
	if r.Ports == nil && !r.Deny {
		r.Ports = defaultPorts
		r.DefaultPorts = true
	}
	r.hasHost = hostKey != nil
	return r
}

// sni reads a rule's `sni:`, which says whether a passthrough tunnel's TLS
// ClientHello must name the host (required, the default) or may leave the
// name out (optional, for clients that send none).
func (p *parser) sni(id, list string, r *Rule, k, v *yaml.Node, tlsBad bool) {
	switch {
	case list == "deny":
		p.errorf(k, "%s.sni applies only to allow rules with tls: passthrough; remove it (a deny rule blocks whatever the client sends)", id)
		return
	case tlsBad:
		return // the tls error says what to fix first
	case !r.Passthrough:
		p.errorf(k, "%s.sni applies only with tls: passthrough (the proxy terminates an intercepted connection itself and knows the host from CONNECT); add `tls: passthrough` or remove sni", id)
		return
	}
	s, ok := p.str(id+".sni", v)
	if !ok {
		return
	}
	switch s {
	case "optional":
		r.SNIOptional = true
	case "required":
	default:
		p.errorf(v, "%s.sni %q is not an SNI setting; use \"optional\" (the TLS client may leave the server name out) or leave it out (\"required\": the ClientHello must name the host)", id, s)
	}
}

// ruleDLP reads a host rule's `dlp:`, the pattern detection of secrets in
// what that rule admits, instead of the file's own setting.
func (p *parser) ruleDLP(id, list string, r *Rule, cidr bool, k, v *yaml.Node, tlsBad bool) {
	switch {
	case list == "deny":
		p.errorf(k, "%s.dlp applies only to allow rules; remove it (a deny rule refuses the request, so nothing of it is sent to scan)", id)
		return
	case cidr:
		p.errorf(k, "%s.dlp applies only to host rules; remove it (a cidr rule admits addresses, which also back the names other rules allow, so the setting would not say which requests it is for; put `dlp:` on a host rule)", id)
		return
	case tlsBad:
		return // the tls error says what to fix first
	case r.Passthrough:
		p.errorf(k, "%s.dlp cannot apply with tls: passthrough (the proxy does not see requests inside the tunnel, so it scans nothing of them); remove dlp or tls", id)
		return
	}
	if m, ok := p.dlpMode(id+".dlp", v); ok {
		r.DLP, r.HasDLP = m, true
	}
}

// dlpMode reads a `dlp:` value.
func (p *parser) dlpMode(what string, v *yaml.Node) (DLPMode, bool) {
	s, ok := p.str(what, v)
	if !ok {
		return 0, false
	}
	switch s {
	case "report":
		return DLPReport, true
	case "block":
		return DLPBlock, true
	case "off":
		return DLPOff, true
	}
	p.errorf(v, "%s %q is not a DLP setting; use \"report\" (audit secrets found in requests, let them through: the default), \"block\" (refuse such requests) or \"off\" (do not look)", what, s)
	return 0, false
}

// origin reads an `origin:` value (see CheckOrigin).
func (p *parser) origin(what string, v *yaml.Node) (string, bool) {
	s, ok := p.str(what, v)
	if !ok {
		return "", false
	}
	if err := CheckOrigin(s); err != nil {
		p.errorf(v, "%s %q %v", what, s, err)
		return "", false
	}
	return s, true
}

// MaxOrigin is the longest `origin:`: a short note such as "agent claude"
// or "preset pypi".
const MaxOrigin = 64

// CheckOrigin validates an `origin:`, which says who added a rule or a
// credential ("agent claude", "preset pypi"): printable text on one line,
// at most MaxOrigin bytes, without spaces at either end. It is shown by
// `bottle allow list` and `check`, so it must not be able to disturb a
// terminal.
func CheckOrigin(s string) error {
	switch {
	case s == "":
		return errors.New("is empty; say who added the entry, e.g. \"agent claude\", or leave origin out")
	case len(s) > MaxOrigin:
		return fmt.Errorf("is longer than %d bytes; keep it a short note such as \"agent claude\"", MaxOrigin)
	case strings.TrimSpace(s) != s:
		return errors.New("has spaces at its start or end; remove them")
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return fmt.Errorf("has the character %q, which is not printable; use plain text such as \"agent claude\"", c)
		}
	}
	return nil
}

// str reads a string scalar.
func (p *parser) str(what string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
		p.errorf(v, "%s must be a string; found %s", what, describe(v))
		return "", false
	}
	return v.Value, true
}

// scalarString reads any scalar as a string, so that `host: 123` reaches the
// name validator and gets its specific message.
func (p *parser) scalarString(what string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errorf(v, "%s must be a string; found %s", what, describe(v))
		return "", false
	}
	return v.Value, true
}

func (p *parser) list(what string, v *yaml.Node, example string) []*yaml.Node {
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		p.errorf(v, "%s must be a list; use `%s: [%s]`", what, what[strings.LastIndex(what, ".")+1:], v.Value)
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s must be a list such as %s; found %s", what, example, describe(v))
		return nil
	}
	if len(v.Content) == 0 {
		p.errorf(v, "%s is empty, so the rule could never match; remove the key to match all", what)
		return nil
	}
	out := make([]*yaml.Node, len(v.Content))
	for i, c := range v.Content {
		out[i] = yamlnode.Deref(c)
	}
	return out
}

func (p *parser) ports(id string, v *yaml.Node) []uint16 {
	what := id + ".ports"
	var out []uint16
	for _, c := range p.list(what, v, "[443]") {
		if c.Kind != yaml.ScalarNode || c.Tag != "!!int" {
			p.errorf(c, "%s: %s is not a port number; use a number from 1 to 65535", what, describe(c))
			continue
		}
		n, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil || n < 1 || n > 65535 {
			p.errorf(c, "%s: %s is not a port number; use a number from 1 to 65535", what, c.Value)
			continue
		}
		if !slices.Contains(out, uint16(n)) {
			out = append(out, uint16(n))
		}
	}
	slices.Sort(out)
	return out
}

func (p *parser) methods(id string, v *yaml.Node) []string {
	what := id + ".methods"
	var out []string
	for _, c := range p.list(what, v, "[GET, HEAD]") {
		if c.Kind != yaml.ScalarNode || c.Tag != "!!str" {
			p.errorf(c, "%s: %s is not a method name", what, describe(c))
			continue
		}
		m := strings.ToUpper(c.Value)
		if !slices.Contains(knownMethods, m) {
			p.errorf(c, "%s: unknown method %q; use one of %s", what, c.Value, strings.Join(knownMethods, ", "))
			continue
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func (p *parser) paths(id string, v *yaml.Node) []pathGlob {
	what := id + ".paths"
	var out []pathGlob
	for _, c := range p.list(what, v, `["/org/repo/**"]`) {
		if c.Kind != yaml.ScalarNode || c.Tag != "!!str" {
			p.errorf(c, "%s: %s is not a path glob; quote it, e.g. \"/org/**\"", what, describe(c))
			continue
		}
		g, err := parsePathGlob(c.Value)
		if err != nil {
			p.errorf(c, "%s: %q %v", what, c.Value, err)
			continue
		}
		out = append(out, g)
	}
	return out
}

func parseCIDR(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		if a, err := netip.ParseAddr(s); err == nil {
			return netip.Prefix{}, fmt.Errorf("has no prefix length; use %q for that one address", netip.PrefixFrom(a, a.BitLen()).String())
		}
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("is not an address range; write it as ADDRESS/BITS, e.g. \"10.20.0.0/16\"")
	}
	if pfx.Addr().Zone() != "" {
		return netip.Prefix{}, errors.New("must not carry an IPv6 zone")
	}
	if m := pfx.Masked(); m != pfx {
		return netip.Prefix{}, fmt.Errorf("has bits set after the prefix length; use %q", m.String())
	}
	if pfx.Addr().Is4In6() {
		return netip.Prefix{}, errors.New("is an IPv4-mapped IPv6 range; write the IPv4 range instead")
	}
	return pfx, nil
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!str":
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return yamlnode.KindName(n)
}
