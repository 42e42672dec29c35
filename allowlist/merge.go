package allowlist

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"bottle.dev/bottle/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// mergeKeys are the top-level keys a document given to Merge may have:
// it brings rules and credentials, never a file's settings.
var mergeKeys = []string{"version", "allow", "credentials"}

// Merge returns data, an allowlist file (file names it in errors), with
// the allow rules and credentials of extra appended, each marked
// `origin: ORIGIN`; the comments and order of data are kept. extra is a
// standalone allowlist document (a recipe's Policy), validated first, its
// errors naming extraFile. A rule whose host (or cidr) a rule of data
// already names is left out, and a credential whose name, or one of whose
// hosts, a credential of data already has: what the user wrote wins.
// added names what was appended ("allow[7]: api.anthropic.com ports 443",
// "credential anthropic"), skipped what was left out and why. The result
// parses (Parse) or Merge fails.
//
// A credential is also left out when it cannot stand beside data's: its
// agent_env is already another credential's, it is a second aws
// credential, or data's rules for its host tunnel it with tls:
// passthrough, where no credential can apply. Merging the same extra twice
// adds nothing the second time. data may be empty: the result is then a
// new file. Like Add, Merge edits data's text where it can (everything
// else stays byte for byte) and emits the file anew only for a layout the
// line editor does not handle (a flow-style list).
func Merge(file string, data []byte, extraFile string, extra []byte, origin string) (out []byte, added, skipped []string, err error) {
	if err := CheckOrigin(origin); err != nil {
		return nil, nil, nil, fmt.Errorf("origin %q %v", origin, err)
	}
	xpol, err := Parse(extraFile, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	xroot, err := parseYAML(extraFile, extra)
	if err != nil {
		return nil, nil, nil, err
	}
	var bad ErrorList
	for i := 0; i+1 < len(xroot.Content); i += 2 {
		if k := yamlnode.Deref(xroot.Content[i]); !slices.Contains(mergeKeys, k.Value) {
			bad = append(bad, &Error{File: extraFile, Line: k.Line, Col: k.Column, Msg: fmt.Sprintf(
				"%s is not merged into the bottle's allowlist (only allow rules and credentials are); remove it, or set it in the allowlist itself", k.Value)})
		}
	}
	if len(bad) > 0 {
		return nil, nil, nil, bad
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("version: 1\n")
	}
	pol, err := Parse(file, data)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w\nfix the file before merging into it", err)
	}

	_, xallow := lookup(xroot, "allow")
	var rules []*yaml.Node
	for i, r := range xpol.allow {
		desc := strings.TrimPrefix(r.String(), r.ID+": ")
		if d := sameTarget(pol.allow, r); d != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %s already names %s", desc, d.ID, r.Target()))
			continue
		}
		rules = append(rules, withOrigin(xallow.Content[i], origin))
	}
	out = data
	for _, item := range rules {
		if out, err = mergeEntry(file, out, "allow", item); err != nil {
			return nil, nil, nil, err
		}
	}
	withRules := pol
	if len(rules) > 0 {
		if withRules, err = Parse(file, out); err != nil {
			return nil, nil, nil, fmt.Errorf("internal error: merging the rules of %s: %w", extraFile, err)
		}
		for _, r := range withRules.allow[len(withRules.allow)-len(rules):] {
			added = append(added, r.String())
		}
	}

	_, xcreds := lookup(xroot, "credentials")
	for i, c := range xpol.creds {
		if why := credentialClash(file, pol, withRules, c); why != "" {
			skipped = append(skipped, fmt.Sprintf("credential %s: %s", c.Name, why))
			continue
		}
		if out, err = mergeEntry(file, out, "credentials", withOrigin(xcreds.Content[i], origin)); err != nil {
			return nil, nil, nil, err
		}
		added = append(added, "credential "+c.Name)
	}
	return out, added, skipped, nil
}

// sameTarget returns the first of rules that names r's host pattern (or
// address range), or nil.
func sameTarget(rules []*Rule, r *Rule) *Rule {
	for _, d := range rules {
		if d.hasHost == r.hasHost && d.Target() == r.Target() {
			return d
		}
	}
	return nil
}

// credentialClash says why the credential c of a merged document cannot
// join the credentials of pol (data as it was; withRules is data with the
// merged rules), or "" when it can.
func credentialClash(file string, pol, withRules *Policy, c *Credential) string {
	for _, d := range pol.creds {
		switch {
		case d.Name == c.Name:
			return fmt.Sprintf("%s already has a credential named %s", file, c.Name)
		case c.AgentEnv != "" && d.AgentEnv == c.AgentEnv:
			return fmt.Sprintf("its agent_env %s is already that of the credential %s", c.AgentEnv, d.Name)
		case c.Kind == CredAWS && d.Kind == CredAWS:
			return fmt.Sprintf("the credential %s is already the aws credential, and the agent has one AWS_ACCESS_KEY_ID", d.Name)
		}
		for _, h := range c.hosts {
			if slices.Contains(d.hosts, h) {
				return fmt.Sprintf("the credential %s is already bound to %s", d.Name, h)
			}
		}
	}
	for _, h := range c.hosts {
		if ok, _, pass := withRules.intercepted(h); !ok {
			if pass != nil {
				return fmt.Sprintf("%s tunnels %s with tls: passthrough, where no credential can apply; remove that rule (or its tls:) to let the credential through", pass.ID, h)
			}
			// The merged document's own rules admit its credentials'
			// hosts (Parse checked), so only a rule of data left one out.
			return fmt.Sprintf("no allow rule of %s intercepts %s on the ports the credential's rules name", file, h)
		}
	}
	return ""
}

// mergeEntry appends item to the list under section of data, by the
// line editor of Add (putEntry).
func mergeEntry(file string, data []byte, section string, item *yaml.Node) ([]byte, error) {
	root, err := parseYAML(file, data)
	if err != nil {
		return nil, err
	}
	text, err := encodeItem(item)
	if err != nil {
		return nil, err
	}
	render := func(dash, keyIndent, nl string) string { return indentItem(text, dash, keyIndent, nl) }
	const what = "the merged entry"
	res, err := putEntry(file, data, root, section, what, -1, "", render, EditResult{}, nil)
	if err != nil && strings.HasPrefix(err.Error(), "internal error") {
		// A layout the line editor misjudged (a document end marker,
		// say): edit the node tree and emit the file anew instead.
		if root, err = parseYAML(file, data); err != nil {
			return nil, err
		}
		key, val := lookup(root, section)
		res, err = reemitEntry(file, section, what, render("", "  ", "\n"), root, key, val, -1, EditResult{}, nil)
	}
	if err != nil {
		return nil, err
	}
	return res.Data, nil
}

// withOrigin returns a copy of the list item n (a rule or a credential of
// a merged document), written out (aliases followed: the anchors are not
// in the file it goes to) without comments, in block style, with its
// `origin:` set to origin.
func withOrigin(n *yaml.Node, origin string) *yaml.Node {
	m := plainCopy(n)
	m.Style = 0
	var kv []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "origin" {
			kv = append(kv, m.Content[i], m.Content[i+1])
		}
	}
	m.Content = append(kv,
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "origin"},
		&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: origin})
	return m
}

// plainCopy copies n deeply, following aliases, without anchors or
// comments. A document that parses has items only a few levels deep, so
// following aliases cannot blow up.
func plainCopy(n *yaml.Node) *yaml.Node {
	n = yamlnode.Deref(n)
	c := &yaml.Node{Kind: n.Kind, Style: n.Style, Tag: n.Tag, Value: n.Value}
	for _, k := range n.Content {
		c.Content = append(c.Content, plainCopy(k))
	}
	return c
}

// encodeItem writes item as a one-item YAML list ("- host: …\n  …\n").
func encodeItem(item *yaml.Node) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{item}}); err != nil {
		return "", fmt.Errorf("internal error: writing a merged entry: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("internal error: writing a merged entry: %w", err)
	}
	return buf.String(), nil
}

// indentItem moves a one-item list as encodeItem writes it (the dash in
// column 1, its keys in column 3) to the indentation of the list it joins:
// dash that of "-", keyIndent that of the item's keys; nl ends each line.
func indentItem(text, dash, keyIndent, nl string) string {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var b strings.Builder
	for i, l := range lines {
		switch {
		case i == 0:
			b.WriteString(dash + "-" + strings.Repeat(" ", max(1, len(keyIndent)-len(dash)-1)) + strings.TrimPrefix(l, "- "))
		case strings.HasPrefix(l, "  "):
			b.WriteString(keyIndent + l[2:])
		default:
			b.WriteString(l) // an empty line inside a block scalar
		}
		b.WriteString(nl)
	}
	return b.String()
}
