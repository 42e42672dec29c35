package allowlist

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"bottle.dev/bottle/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// RuleSpec is a rule as `bottle allow add|rm` names it.
// Its JSON form is part of the approvals channel (package approval).
type RuleSpec struct {
	Host        string   `json:"host"` // a host pattern, or an address/range (written as `cidr:`)
	Ports       []uint16 `json:"ports,omitempty"`
	Methods     []string `json:"methods,omitempty"`
	Paths       []string `json:"paths,omitempty"`
	Passthrough bool     `json:"passthrough,omitempty"`
	SNIOptional bool     `json:"sni_optional,omitempty"` // sni: optional; only with Passthrough
	Deny        bool     `json:"deny,omitempty"`         // the rule goes in (or comes out of) the deny list
	// Origin is the `origin:` Add writes on an allow rule ("preset
	// pypi"); it plays no part in finding a rule already there. It is not
	// part of the approvals channel: an agent cannot say who added a rule
	// it asks for.
	Origin string `json:"-"`
}

// normalized is a RuleSpec validated and in canonical form, comparable with a
// parsed Rule.
type normalized struct {
	list    string // "allow" or "deny"
	host    string // canonical pattern; "" for cidr
	cidr    netip.Prefix
	ports   []uint16
	methods []string
	paths   []string
	pass    bool
	sniOpt  bool
	origin  string
}

func (s RuleSpec) normalize() (normalized, error) {
	n := normalized{list: "allow", pass: s.Passthrough, sniOpt: s.SNIOptional, origin: s.Origin}
	if s.Origin != "" {
		if err := CheckOrigin(s.Origin); err != nil {
			return n, fmt.Errorf("origin %q %v", s.Origin, err)
		}
	}
	if s.Deny {
		n.list = "deny"
		if s.Origin != "" {
			return n, errors.New("an origin applies only to allow rules")
		}
		if s.Passthrough {
			return n, errors.New("--passthrough applies only to allow rules")
		}
		if s.SNIOptional {
			return n, errors.New("--sni-optional applies only to allow rules with --passthrough")
		}
	}
	if s.SNIOptional && !s.Passthrough {
		return n, errors.New("--sni-optional applies only with --passthrough (the proxy terminates an intercepted connection itself and knows the host from CONNECT)")
	}
	if strings.Contains(s.Host, "/") || isIP(s.Host) {
		h := s.Host
		if !strings.Contains(h, "/") {
			a, _ := netip.ParseAddr(strings.Trim(h, "[]"))
			h = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pfx, err := parseCIDR(h)
		if err != nil {
			return n, fmt.Errorf("%q %v", s.Host, err)
		}
		n.cidr = pfx
	} else {
		hp, err := parseHostPattern(s.Host)
		if err != nil {
			return n, fmt.Errorf("host %q %v", s.Host, err)
		}
		n.host = hp.String()
	}
	for _, p := range s.Ports {
		if p == 0 {
			return n, errors.New("port 0 is not a port; use a number from 1 to 65535")
		}
		if !slices.Contains(n.ports, p) {
			n.ports = append(n.ports, p)
		}
	}
	slices.Sort(n.ports)
	for _, m := range s.Methods {
		m = strings.ToUpper(m)
		if !slices.Contains(knownMethods, m) {
			return n, fmt.Errorf("unknown method %q; use one of %s", m, strings.Join(knownMethods, ", "))
		}
		if !slices.Contains(n.methods, m) {
			n.methods = append(n.methods, m)
		}
	}
	for _, p := range s.Paths {
		if _, err := parsePathGlob(p); err != nil {
			return n, fmt.Errorf("path %q %v", p, err)
		}
		if !slices.Contains(n.paths, p) {
			n.paths = append(n.paths, p)
		}
	}
	if n.pass && (n.methods != nil || n.paths != nil) {
		return n, errors.New("--passthrough tunnels without looking inside, so it cannot be combined with --method or --path")
	}
	return n, nil
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}

// equal reports whether the parsed rule r is the rule n describes: same target,
// same set of ports (an allow rule's default ports equal an explicit 80, 443),
// methods, paths, TLS mode and SNI setting.
func (n normalized) equal(r *Rule) bool {
	if r.Deny != (n.list == "deny") || r.HostPattern() != n.host || r.CIDR != n.cidr || r.Passthrough != n.pass || r.SNIOptional != n.sniOpt {
		return false
	}
	ports := n.ports
	if ports == nil && n.list == "allow" {
		ports = defaultPorts
	}
	return slices.Equal(r.Ports, ports) && sameSet(r.Methods, n.methods) && sameSet(r.PathGlobs(), n.paths)
}

func (n normalized) sameTarget(r *Rule) bool {
	return r.Deny == (n.list == "deny") && r.HostPattern() == n.host && r.CIDR == n.cidr
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// EditResult says what an edit did.
type EditResult struct {
	Data      []byte   // the new file content; nil when nothing changed
	Existing  string   // Add: the id of an identical rule already present
	Removed   []string // Remove, RemoveGit: ids of the rules or entry taken out; RemoveCredential: the name
	Replaced  string   // AddCredential: the name of the entry replaced, AddGit its id ("" when appended)
	Rewritten bool     // the file had to be re-emitted (flow-style list), so its layout changed
}

// ErrNoMatch is returned by Remove when no rule matches.
var ErrNoMatch = errors.New("no matching rule")

// Add returns data with the rule appended to its list, keeping every other
// byte of the file as it was. data may be nil for a new file. The result is
// validated before it is returned.
func Add(file string, data []byte, spec RuleSpec) (EditResult, error) {
	return add(file, data, spec, nil)
}

// AddEmbedded is Add for allowlist keys that live in another file, such as
// a project's bottle.yaml, whose own top-level keys are extra (as for
// ParseEmbedded): those are kept byte for byte, and the result is
// validated as ParseEmbedded reads it.
func AddEmbedded(file string, data []byte, spec RuleSpec, extra []string) (EditResult, error) {
	return add(file, data, spec, extra)
}

func add(file string, data []byte, spec RuleSpec, extra []string) (EditResult, error) {
	n, err := spec.normalize()
	if err != nil {
		return EditResult{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		out := []byte("version: 1\n\n" + n.list + ":\n" + renderRule(n, "  ", "    ", "\n"))
		return validated(file, EditResult{Data: out}, extra)
	}
	pol, err := parse(file, data, extra)
	if err != nil {
		return EditResult{}, fmt.Errorf("%w\nfix the file before editing it", err)
	}
	for _, r := range slices.Concat(pol.deny, pol.allow) {
		if n.equal(r) {
			return EditResult{Existing: r.ID}, nil
		}
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return EditResult{}, err
	}
	e := newTextEdit(data)
	key, val := lookup(root, n.list)
	switch {
	case key == nil:
		// No such list yet: append one at the end of the file.
		indent := e.guessItemIndent(root)
		e.insertAfter(len(e.lines), n.list+":"+e.nl+renderRule(n, indent, indent+"  ", e.nl))
	case val.Kind == yaml.ScalarNode && val.Tag == "!!null" && val.Value == "":
		// "allow:" with nothing under it.
		indent := strings.Repeat(" ", key.Column-1) + "  "
		e.insertAfter(key.Line, renderRule(n, indent, indent+"  ", e.nl))
	case val.Kind == yaml.SequenceNode && val.Style&yaml.FlowStyle == 0 && len(val.Content) > 0 && !hasBlockScalar(val):
		// Positions are those of the items as written: an item "- *r" is
		// where the alias stands, not where its anchor is.
		last := val.Content[len(val.Content)-1]
		first := val.Content[0]
		dash := strings.Repeat(" ", val.Column-1)
		keyIndent := strings.Repeat(" ", max(first.Column-1, val.Column+1))
		end := e.itemEnd(val.Column-1, last)
		e.insertAfter(end, renderRule(n, dash, keyIndent, e.nl))
	default:
		// A flow-style list ("allow: []") or something unusual: edit the node
		// tree and emit it again. Comments survive; the layout may not.
		out, err := reemit(root, func() {
			appendRuleNode(root, key, val, n)
		})
		if err != nil {
			return EditResult{}, err
		}
		return validated(file, EditResult{Data: out, Rewritten: true}, extra)
	}
	return validated(file, EditResult{Data: e.bytes()}, extra)
}

// Remove returns data without the rules that equal spec. With all set, every
// rule for spec's host (or range) in that list goes, whatever its selectors.
func Remove(file string, data []byte, spec RuleSpec, all bool) (EditResult, error) {
	return remove(file, data, spec, all, nil)
}

// RemoveEmbedded is Remove for allowlist keys that live in another file,
// whose own top-level keys are extra (see AddEmbedded).
func RemoveEmbedded(file string, data []byte, spec RuleSpec, all bool, extra []string) (EditResult, error) {
	return remove(file, data, spec, all, extra)
}

func remove(file string, data []byte, spec RuleSpec, all bool, extra []string) (EditResult, error) {
	n, err := spec.normalize()
	if err != nil {
		return EditResult{}, err
	}
	pol, err := parse(file, data, extra)
	if err != nil {
		return EditResult{}, fmt.Errorf("%w\nfix the file before editing it", err)
	}
	rules := pol.allow
	if n.list == "deny" {
		rules = pol.deny
	}
	var hit []int
	var near []string
	for _, r := range rules {
		switch {
		case n.equal(r) || all && n.sameTarget(r):
			hit = append(hit, r.Index)
		case n.sameTarget(r):
			near = append(near, r.String())
		}
	}
	if len(hit) == 0 {
		msg := fmt.Sprintf("%s: no %s rule for %s with exactly these selectors", file, n.list, n.target())
		if len(near) > 0 {
			msg += "; rules for it are:\n  " + strings.Join(near, "\n  ") + "\nname the same --port/--method/--path, or pass --all"
		}
		return EditResult{}, fmt.Errorf("%w: %s", ErrNoMatch, msg)
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return EditResult{}, err
	}
	_, val := lookup(root, n.list)
	res := EditResult{}
	var items []*yaml.Node
	for _, i := range hit {
		res.Removed = append(res.Removed, fmt.Sprintf("%s[%d]", n.list, i))
		items = append(items, val.Content[i])
	}
	if err := danglingAlias(file, root, items, res.Removed); err != nil {
		return EditResult{}, err
	}
	if val.Style&yaml.FlowStyle != 0 || hasBlockScalar(val) {
		out, err := reemit(root, func() {
			var keep []*yaml.Node
			for i, c := range val.Content {
				if !slices.Contains(hit, i) {
					keep = append(keep, c)
				}
			}
			val.Content = keep
		})
		if err != nil {
			return EditResult{}, err
		}
		res.Data, res.Rewritten = out, true
		return validated(file, res, extra)
	}
	e := newTextEdit(data)
	// Delete from the last hit backwards so earlier line numbers stay valid.
	for k := len(hit) - 1; k >= 0; k-- {
		item := val.Content[hit[k]] // as written, like Add
		start := e.dashLine(item)
		end := e.itemEnd(val.Column-1, item)
		e.deleteLines(start, end)
	}
	res.Data = e.bytes()
	return validated(file, res, extra)
}

// danglingAlias refuses a removal that would delete an anchor still used by
// an alias outside the removed items: the file would no longer be YAML.
// items are the removed list items as written, ids their rule ids.
func danglingAlias(file string, root *yaml.Node, items []*yaml.Node, ids []string) error {
	gone := map[*yaml.Node]string{} // node → id of the removed rule it is written in
	for i, item := range items {
		walkOwn(item, func(n *yaml.Node) { gone[n] = ids[i] })
	}
	var err error
	walkOwn(root, func(n *yaml.Node) {
		if err != nil || n.Kind != yaml.AliasNode || n.Alias == nil {
			return
		}
		if _, removed := gone[n]; removed {
			return
		}
		if id, ok := gone[n.Alias]; ok {
			err = ErrorList{{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(
				"*%s stands for a value in %s (anchor &%s, line %d), which removing %s would delete; write the value out in place of *%s, then run the command again",
				n.Value, id, n.Value, n.Alias.Line, id, n.Value)}}
		}
	})
	return err
}

func (n normalized) target() string {
	if n.host != "" {
		return n.host
	}
	return n.cidr.String()
}

func validated(file string, res EditResult, extra []string) (EditResult, error) {
	if _, err := parse(file, res.Data, extra); err != nil {
		if pol, err2 := parseCoverage(file, res.Data, extra, false); err2 == nil {
			// The edit is sound, but a credential would be left without the
			// allow rule that intercepts its host.
			return EditResult{}, strandedError(file, pol)
		}
		// A bug in the editor, not the user's fault: refuse to write.
		return EditResult{}, fmt.Errorf("internal error: the edited file would not be valid, so nothing was written:\n%w", err)
	}
	return res, nil
}

// strandedError names the credentials of pol bound to a host no allow rule
// intercepts, and the fix.
func strandedError(file string, pol *Policy) error {
	var msgs, names []string
	for _, c := range pol.creds {
		for _, h := range c.hosts {
			if ok, _, pass := pol.intercepted(h); !ok {
				why := "no allow rule would admit it"
				if pass != nil {
					why = fmt.Sprintf("%s would tunnel it with tls: passthrough, where no credential can apply", pass.ID)
				}
				msgs = append(msgs, fmt.Sprintf("  credential %s is bound to %s, and %s", c.Name, h, why))
				if !slices.Contains(names, c.Name) {
					names = append(names, c.Name)
				}
			}
		}
	}
	return fmt.Errorf("%s: the change would leave a credential without the allow rule it needs, so nothing was written:\n%s\nremove the credential first (bottle secret rm %s), or keep the rule", file, strings.Join(msgs, "\n"), strings.Join(names, ", "))
}

func lookup(root *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == key {
			return root.Content[i], yamlnode.Deref(root.Content[i+1])
		}
	}
	return nil, nil
}

func hasBlockScalar(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return true
	}
	for _, c := range n.Content {
		if hasBlockScalar(c) {
			return true
		}
	}
	return false
}

func maxLine(n *yaml.Node) int {
	m := n.Line
	for _, c := range n.Content {
		m = max(m, maxLine(c))
	}
	return m
}

// renderRule writes one list item. dash is the indentation of "-", keyIndent
// that of the item's keys.
func renderRule(n normalized, dash, keyIndent, nl string) string {
	var kv [][2]string
	if n.host != "" {
		kv = append(kv, [2]string{"host", yamlString(n.host)})
	} else {
		kv = append(kv, [2]string{"cidr", yamlString(n.cidr.String())})
	}
	if n.ports != nil {
		s := make([]string, len(n.ports))
		for i, p := range n.ports {
			s[i] = strconv.Itoa(int(p))
		}
		kv = append(kv, [2]string{"ports", "[" + strings.Join(s, ", ") + "]"})
	}
	if n.methods != nil {
		kv = append(kv, [2]string{"methods", "[" + strings.Join(n.methods, ", ") + "]"})
	}
	if n.paths != nil {
		s := make([]string, len(n.paths))
		for i, p := range n.paths {
			s[i] = strconv.Quote(p)
		}
		kv = append(kv, [2]string{"paths", "[" + strings.Join(s, ", ") + "]"})
	}
	if n.pass {
		kv = append(kv, [2]string{"tls", "passthrough"})
	}
	if n.sniOpt {
		kv = append(kv, [2]string{"sni", "optional"})
	}
	if n.origin != "" {
		kv = append(kv, [2]string{"origin", yamlString(n.origin)})
	}
	var b strings.Builder
	for i, p := range kv {
		if i == 0 {
			b.WriteString(dash + "-" + strings.Repeat(" ", max(1, len(keyIndent)-len(dash)-1)))
		} else {
			b.WriteString(keyIndent)
		}
		b.WriteString(p[0] + ": " + p[1] + nl)
	}
	return b.String()
}

// yamlString writes s plain when YAML reads it back as the same string, and
// double-quoted otherwise ("*.example.com" would be an alias, "null" a null).
func yamlString(s string) string {
	var n yaml.Node
	if yaml.Unmarshal([]byte("k: "+s), &n) == nil && len(n.Content) == 1 && len(n.Content[0].Content) == 2 {
		v := n.Content[0].Content[1]
		if v.Kind == yaml.ScalarNode && v.Tag == "!!str" && v.Value == s && v.Style == 0 {
			return s
		}
	}
	return strconv.Quote(s)
}

// appendRuleNode adds the rule to the node tree (the fallback path).
func appendRuleNode(root, key, val *yaml.Node, n normalized) {
	var item yaml.Node
	if err := yaml.Unmarshal([]byte(renderRule(n, "", "  ", "\n")), &item); err != nil || len(item.Content) == 0 {
		return // validated() will refuse the result
	}
	rule := item.Content[0].Content[0]
	rule.Style = 0
	if key == nil {
		root.Content = append(root.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: n.list},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{rule}})
		return
	}
	if val.Kind != yaml.SequenceNode {
		*val = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle & val.Style}
	}
	if val.Style&yaml.FlowStyle != 0 {
		rule.Style = yaml.FlowStyle
	}
	val.Content = append(val.Content, rule)
}

func reemit(root *yaml.Node, edit func()) ([]byte, error) {
	edit()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// textEdit edits a file line by line, so that everything the edit does not
// touch (comments, blank lines, quoting, key order) stays byte for byte.
type textEdit struct {
	lines []string // each with its line ending
	nl    string   // the file's line ending
}

func newTextEdit(data []byte) *textEdit {
	s := string(data)
	nl := "\n"
	if strings.Contains(s, "\r\n") {
		nl = "\r\n"
	}
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += nl
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return &textEdit{lines: lines, nl: nl}
}

func (e *textEdit) bytes() []byte { return []byte(strings.Join(e.lines, "")) }

// insertAfter inserts text after 1-based line n (0: at the top).
func (e *textEdit) insertAfter(n int, text string) {
	e.lines = slices.Insert(e.lines, n, text)
}

// deleteLines removes 1-based lines start..end inclusive.
func (e *textEdit) deleteLines(start, end int) {
	e.lines = slices.Delete(e.lines, start-1, end)
}

func indentOf(line string) int {
	return len(line) - len(strings.TrimLeft(line, " "))
}

func blankOrComment(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "#")
}

// itemEnd returns the last line of a block-list item: the last line any of
// its nodes starts on, extended over continuation lines (deeper indented than
// the dash, e.g. a flow list's closing bracket on a line of its own).
func (e *textEdit) itemEnd(dashIndent int, item *yaml.Node) int {
	end := maxLine(item)
	for end < len(e.lines) {
		next := e.lines[end]
		if blankOrComment(next) || indentOf(next) <= dashIndent {
			break
		}
		end++
	}
	return end
}

// dashLine returns the line of the "-" that opens item: its own line, or the
// line above when the dash stands alone ("-\n  host: x").
func (e *textEdit) dashLine(item *yaml.Node) int {
	l := item.Line
	line := e.lines[l-1]
	if strings.HasPrefix(strings.TrimSpace(line[:min(len(line), item.Column-1)]), "-") {
		return l
	}
	for k := l - 1; k >= 1; k-- {
		if t := strings.TrimSpace(e.lines[k-1]); t == "-" || strings.HasPrefix(t, "- #") {
			return k
		}
		if !blankOrComment(e.lines[k-1]) {
			break
		}
	}
	return l
}

// guessItemIndent returns the dash indentation the file already uses for list
// items (so a new list looks like its neighbours), or two spaces.
func (e *textEdit) guessItemIndent(root *yaml.Node) string {
	for i := 1; i < len(root.Content); i += 2 {
		if v := yamlnode.Deref(root.Content[i]); v.Kind == yaml.SequenceNode && v.Style&yaml.FlowStyle == 0 && len(v.Content) > 0 {
			return strings.Repeat(" ", v.Column-1)
		}
	}
	return "  "
}
