package allowlist

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"

	"bottle.dev/bottle/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// CredentialSpec is a credential as `bottle secret add` names it.
type CredentialSpec struct {
	Name      string
	Hosts     []string // host patterns
	Kind      CredentialKind
	Header    string // CredHeader
	BasicUser string // CredBasic
	Query     string // CredQuery
	Source    Source // every kind but CredAWS

	// CredAWS: the sources of the access key id, the secret access key and,
	// optionally, the session token.
	AccessKeyID, SecretAccessKey, SessionToken Source

	AgentEnv string // optional; not with CredAWS
}

// credSpec is a CredentialSpec validated and in canonical form.
type credSpec struct {
	CredentialSpec
	hosts     []hostPattern
	rawHeader string // the header as given, which the file keeps
}

// normalize validates the spec, phrasing each problem in terms of the
// command's flags.
func (s CredentialSpec) normalize() (credSpec, error) {
	n := credSpec{CredentialSpec: s}
	if err := CheckCredentialName(s.Name); err != nil {
		return n, fmt.Errorf("credential name %q %v", s.Name, err)
	}
	if len(s.Hosts) == 0 {
		return n, errors.New("name the hosts the secret is sent to with --host (it goes there and nowhere else)")
	}
	for _, h := range s.Hosts {
		hp, err := credentialHost(h)
		if err != nil {
			return n, fmt.Errorf("--host %q %v", h, err)
		}
		if !slices.Contains(n.hosts, hp) {
			n.hosts = append(n.hosts, hp)
		}
	}
	// Only what the kind uses is kept, so that a spec compares equal to
	// the entry it writes.
	if s.Kind != CredHeader {
		n.Header = ""
	}
	if s.Kind != CredBasic {
		n.BasicUser = ""
	}
	if s.Kind != CredQuery {
		n.Query = ""
	}
	if s.Kind == CredAWS {
		n.Source = Source{}
	} else {
		n.AccessKeyID, n.SecretAccessKey, n.SessionToken = Source{}, Source{}, Source{}
	}
	switch s.Kind {
	case CredHeader:
		h, err := CheckHeader(s.Header)
		if err != nil {
			return n, fmt.Errorf("--header %q %v", s.Header, err)
		}
		n.Header, n.rawHeader = h, s.Header
	case CredBearer:
	case CredBasic:
		if err := CheckBasicUser(s.BasicUser); err != nil {
			return n, fmt.Errorf("--basic-user %q %v", s.BasicUser, err)
		}
	case CredQuery:
		if err := CheckQuery(s.Query); err != nil {
			return n, fmt.Errorf("--query %q %v", s.Query, err)
		}
	case CredAWS:
		if s.AgentEnv != "" {
			return n, errors.New("--agent-env does not apply to an aws credential; the agent always gets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN with --token-from)")
		}
		for _, src := range []struct {
			what string
			s    Source
			opt  bool
		}{{"the access key id's source", s.AccessKeyID, false}, {"the secret access key's source", s.SecretAccessKey, false}, {"the session token's source", s.SessionToken, true}} {
			if src.s.Scheme == "" && src.opt {
				continue
			}
			if _, err := ParseSource(src.s.String()); err != nil {
				return n, sourceError(src.what, src.s.String(), err)
			}
		}
	default:
		return n, errors.New("say how the secret is sent: --header NAME, --bearer, --basic-user USER, --query NAME or --aws")
	}
	if s.Kind != CredAWS {
		if _, err := ParseSource(s.Source.String()); err != nil {
			return n, sourceError("--from", s.Source.String(), err)
		}
	}
	if s.AgentEnv != "" {
		if err := CheckAgentEnv(s.AgentEnv); err != nil {
			return n, fmt.Errorf("--agent-env %q %v", s.AgentEnv, err)
		}
	}
	return n, nil
}

// sourceError is err of ParseSource(s) after what, with s quoted unless
// it may be the secret itself.
func sourceError(what, s string, err error) error {
	var secretLike *SecretLikeError
	if errors.As(err, &secretLike) {
		return fmt.Errorf("%s %v", what, err)
	}
	return fmt.Errorf("%s %q %v", what, s, err)
}

// equal reports whether the parsed credential c is what n describes.
func (n credSpec) equal(c *Credential) bool {
	return c.Name == n.Name && slices.Equal(c.hosts, n.hosts) && c.Kind == n.Kind && c.Header == n.Header &&
		c.BasicUser == n.BasicUser && c.Query == n.Query && c.Source == n.Source && c.AccessKeyID == n.AccessKeyID &&
		c.SecretAccessKey == n.SecretAccessKey && c.SessionToken == n.SessionToken && c.AgentEnv == n.AgentEnv
}

// HostNotAllowedError is AddCredential's answer when an allow rule that
// intercepts does not admit one of the credential's hosts: the command that
// adds the credential says which `bottle allow add` to run first.
type HostNotAllowedError struct {
	Host string // the host pattern, canonical
	// Passthrough is the id of the tls: passthrough rule that tunnels the
	// host ("" when no allow rule admits it at all).
	Passthrough string
}

func (e *HostNotAllowedError) Error() string {
	if e.Passthrough != "" {
		return fmt.Sprintf("host %s is allowed only through %s with tls: passthrough, and credentials apply only to intercepted hosts (the proxy cannot set a header inside a tunnel it does not open); remove the passthrough rule (bottle allow rm %s --passthrough) and allow it intercepted (bottle allow add %s)",
			e.Host, e.Passthrough, shellQuote(e.Host), shellQuote(e.Host))
	}
	return fmt.Sprintf("host %s is not allowed yet, so no request could carry the secret there; run `bottle allow add %s` first", e.Host, shellQuote(e.Host))
}

// AddCredential returns data with the credential added: an entry of the same
// name is replaced where it stands, else the entry is appended to
// `credentials:` (made when the file has none). Everything else in the file
// stays byte for byte; the result is validated. A spec that equals the entry
// already there changes nothing (EditResult.Existing is its name).
func AddCredential(file string, data []byte, spec CredentialSpec) (EditResult, error) {
	return addCredential(file, data, spec, nil)
}

// AddCredentialEmbedded is AddCredential for allowlist keys that live in
// another file, such as a project's bottle.yaml, whose own top-level keys
// are extra (see AddEmbedded).
func AddCredentialEmbedded(file string, data []byte, spec CredentialSpec, extra []string) (EditResult, error) {
	return addCredential(file, data, spec, extra)
}

func addCredential(file string, data []byte, spec CredentialSpec, extra []string) (EditResult, error) {
	n, err := spec.normalize()
	if err != nil {
		return EditResult{}, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("version: 1\n")
	}
	pol, err := parse(file, data, extra)
	if err != nil {
		return EditResult{}, fmt.Errorf("%w\nfix the file before editing it", err)
	}
	if err := n.fits(pol); err != nil {
		return EditResult{}, err
	}
	for _, c := range pol.creds {
		if c.Name == n.Name && n.equal(c) {
			return EditResult{Existing: c.Name}, nil
		}
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return EditResult{}, err
	}
	_, val := lookup(root, "credentials")
	idx := credentialIndex(val, n.Name)
	res := EditResult{}
	if idx >= 0 {
		res.Replaced = n.Name
	}
	render := func(dash, keyIndent, nl string) string { return renderCredential(n, dash, keyIndent, nl) }
	return putEntry(file, data, root, "credentials", "the credential", idx, fmt.Sprintf("credentials[%d]", idx), render, res, extra)
}

// putEntry puts an entry, render(dash indent, key indent, newline), in
// the list under section of root (parsed from data): in place of item
// idx (id, for messages), or at the end when idx is -1, making the
// section when the file has none. The entry's lines are edited as text,
// so everything else stays byte for byte; a layout the line editor does
// not handle is emitted anew (reemitEntry). what names the entry in an
// internal error. The result is validated.
func putEntry(file string, data []byte, root *yaml.Node, section, what string, idx int, id string, render func(dash, keyIndent, nl string) string, res EditResult, extra []string) (EditResult, error) {
	e := newTextEdit(data)
	key, val := lookup(root, section)
	if idx >= 0 {
		if err := danglingAlias(file, root, val.Content[idx:idx+1], []string{id}); err != nil {
			return EditResult{}, err
		}
	}
	anew := func() (EditResult, error) {
		return reemitEntry(file, section, what, render("", "  ", "\n"), root, key, val, idx, res, extra)
	}
	switch {
	case root.Style&yaml.FlowStyle != 0:
		// "{version: 1, allow: [...]}": no line of its own to edit.
		return anew()
	case key == nil:
		indent := e.guessItemIndent(root)
		e.insertAfter(len(e.lines), section+":"+e.nl+render(indent, indent+"  ", e.nl))
	case val.Kind == yaml.ScalarNode && val.Tag == "!!null" && val.Value == "":
		indent := strings.Repeat(" ", key.Column-1) + "  "
		e.insertAfter(key.Line, render(indent, indent+"  ", e.nl))
	case val.Kind == yaml.SequenceNode && val.Style&yaml.FlowStyle == 0 && len(val.Content) > 0 && !hasBlockScalar(val):
		first := val.Content[0]
		dash := strings.Repeat(" ", val.Column-1)
		keyIndent := strings.Repeat(" ", max(first.Column-1, val.Column+1))
		text := render(dash, keyIndent, e.nl)
		if idx >= 0 {
			item := val.Content[idx]
			if lineShared(val, idx, item) {
				return anew()
			}
			start, end := e.dashLine(item), e.itemEnd(val.Column-1, item)
			e.deleteLines(start, end)
			e.insertAfter(start-1, text)
		} else {
			last := val.Content[len(val.Content)-1]
			e.insertAfter(e.itemEnd(val.Column-1, last), text)
		}
	default:
		return anew()
	}
	res.Data = e.bytes()
	return validated(file, res, extra)
}

// lineShared reports whether item shares a line with its neighbours, so
// that replacing its lines would touch them too.
func lineShared(list *yaml.Node, idx int, item *yaml.Node) bool {
	if idx > 0 && maxLine(list.Content[idx-1]) >= item.Line {
		return true
	}
	return idx+1 < len(list.Content) && list.Content[idx+1].Line <= maxLine(item)
}

// reemitEntry puts the entry rendered (a one-item YAML list) in the
// section of root (key and val; key nil: none yet), at idx (-1: at the
// end), by editing the node tree and emitting it again: the fallback for a
// layout the line editor does not handle. Comments survive; the layout
// may not. what names the entry in an internal error.
func reemitEntry(file, section, what, rendered string, root, key, val *yaml.Node, idx int, res EditResult, extra []string) (EditResult, error) {
	var item yaml.Node
	if err := yaml.Unmarshal([]byte(rendered), &item); err != nil || len(item.Content) == 0 {
		return EditResult{}, fmt.Errorf("internal error: rendering %s: %v", what, err)
	}
	entry := item.Content[0].Content[0]
	out, err := reemit(root, func() {
		switch {
		case key == nil:
			root.Content = append(root.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: section},
				&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{entry}})
		case val.Kind != yaml.SequenceNode:
			*val = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{entry}}
		case idx >= 0:
			val.Content[idx] = entry
		default:
			val.Content = append(val.Content, entry)
		}
	})
	if err != nil {
		return EditResult{}, err
	}
	res.Data, res.Rewritten = out, true
	return validated(file, res, extra)
}

// fits checks the spec against the credentials and rules already in the
// file (leaving out the entry of the same name, which it replaces): its
// agent_env and AWS variables are its own, it sets no header another
// credential sets on the same host, and an allow rule intercepts each host.
func (n credSpec) fits(pol *Policy) error {
	for _, c := range pol.creds {
		if c.Name == n.Name {
			continue
		}
		if n.AgentEnv != "" && c.AgentEnv == n.AgentEnv {
			return fmt.Errorf("--agent-env %s is already the agent_env of the credential %q; each variable holds one placeholder, so choose another", n.AgentEnv, c.Name)
		}
		if n.Kind == CredAWS && c.Kind == CredAWS {
			return fmt.Errorf("the aws credential %q is already declared, and the agent has one AWS_ACCESS_KEY_ID; add the hosts to it instead (bottle secret add %s --aws … with all the hosts)", c.Name, c.Name)
		}
		mine := (&Credential{Kind: n.Kind, Header: n.Header, Query: n.Query}).target()
		for _, h := range n.hosts {
			if slices.Contains(c.hosts, h) && c.target() == mine {
				return fmt.Errorf("the credential %q already sets %s on %s, and the proxy can send only one; remove it first (bottle secret rm %s) or use another host", c.Name, mine, h, c.Name)
			}
		}
	}
	for _, h := range n.hosts {
		ok, _, pass := pol.intercepted(h)
		switch {
		case ok:
		case pass != nil:
			return &HostNotAllowedError{Host: h.String(), Passthrough: pass.ID}
		default:
			return &HostNotAllowedError{Host: h.String()}
		}
	}
	return nil
}

// credentialIndex returns the index in the credentials list of the entry
// named name, or -1.
func credentialIndex(list *yaml.Node, name string) int {
	if list == nil || list.Kind != yaml.SequenceNode {
		return -1
	}
	for i, item := range list.Content {
		item = yamlnode.Deref(item)
		if item.Kind != yaml.MappingNode {
			continue
		}
		if _, v := lookup(item, "name"); v != nil && v.Kind == yaml.ScalarNode && v.Value == name {
			return i
		}
	}
	return -1
}

// renderCredential writes one list item. dash is the indentation of "-",
// keyIndent that of the item's keys.
func renderCredential(n credSpec, dash, keyIndent, nl string) string {
	hosts := make([]string, len(n.hosts))
	for i, h := range n.hosts {
		hosts[i] = yamlString(h.String())
	}
	kv := [][2]string{{"name", yamlString(n.Name)}, {"hosts", "[" + strings.Join(hosts, ", ") + "]"}}
	switch n.Kind {
	case CredHeader:
		kv = append(kv, [2]string{"header", yamlString(n.rawHeader)})
	case CredBearer:
		kv = append(kv, [2]string{"bearer", "true"})
	case CredBasic:
		kv = append(kv, [2]string{"basic_user", yamlString(n.BasicUser)})
	case CredQuery:
		kv = append(kv, [2]string{"query", yamlString(n.Query)})
	case CredAWS:
		kv = append(kv, [2]string{"aws", ""})
	}
	if n.Kind != CredAWS {
		kv = append(kv, [2]string{"source", yamlString(n.Source.String())})
	}
	if n.AgentEnv != "" {
		kv = append(kv, [2]string{"agent_env", yamlString(n.AgentEnv)})
	}
	var b strings.Builder
	for i, p := range kv {
		if i == 0 {
			b.WriteString(dash + "-" + strings.Repeat(" ", max(1, len(keyIndent)-len(dash)-1)))
		} else {
			b.WriteString(keyIndent)
		}
		if p[1] == "" {
			b.WriteString(p[0] + ":" + nl)
			continue
		}
		b.WriteString(p[0] + ": " + p[1] + nl)
	}
	if n.Kind == CredAWS {
		sub := keyIndent + "  "
		b.WriteString(sub + "access_key_id: " + yamlString(n.AccessKeyID.String()) + nl)
		b.WriteString(sub + "secret_access_key: " + yamlString(n.SecretAccessKey.String()) + nl)
		if n.SessionToken.Scheme != "" {
			b.WriteString(sub + "session_token: " + yamlString(n.SessionToken.String()) + nl)
		}
	}
	return b.String()
}

// RemoveCredential returns data without the credential named name. The
// error wraps ErrNoMatch when the file has no such credential.
func RemoveCredential(file string, data []byte, name string) (EditResult, error) {
	return removeCredential(file, data, name, nil)
}

// RemoveCredentialEmbedded is RemoveCredential for allowlist keys that live
// in another file, whose own top-level keys are extra (see AddEmbedded).
func RemoveCredentialEmbedded(file string, data []byte, name string, extra []string) (EditResult, error) {
	return removeCredential(file, data, name, extra)
}

func removeCredential(file string, data []byte, name string, extra []string) (EditResult, error) {
	pol, err := parse(file, data, extra)
	if err != nil {
		return EditResult{}, fmt.Errorf("%w\nfix the file before editing it", err)
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return EditResult{}, err
	}
	_, val := lookup(root, "credentials")
	idx := credentialIndex(val, name)
	if idx < 0 {
		msg := fmt.Sprintf("%s: no credential named %q", file, name)
		if len(pol.creds) > 0 {
			names := make([]string, len(pol.creds))
			for i, c := range pol.creds {
				names[i] = c.Name
			}
			msg += "; the credentials are " + strings.Join(names, ", ")
		} else {
			msg += "; it has no credentials"
		}
		return EditResult{}, fmt.Errorf("%w: %s", ErrNoMatch, msg)
	}
	id := fmt.Sprintf("credentials[%d]", idx)
	return removeItem(file, data, root, val, idx, id, EditResult{Removed: []string{name}}, extra)
}

// removeItem removes item idx (id, for messages) of the sequence val of
// root, parsed from data: by deleting its lines where it has lines of its
// own, else by writing the file anew. res says what was removed.
func removeItem(file string, data []byte, root, val *yaml.Node, idx int, id string, res EditResult, extra []string) (EditResult, error) {
	item := val.Content[idx]
	if err := danglingAlias(file, root, []*yaml.Node{item}, []string{id}); err != nil {
		return EditResult{}, err
	}
	if val.Style&yaml.FlowStyle != 0 || hasBlockScalar(val) || lineShared(val, idx, item) {
		out, err := reemit(root, func() {
			val.Content = slices.Delete(val.Content, idx, idx+1)
		})
		if err != nil {
			return EditResult{}, err
		}
		res.Data, res.Rewritten = out, true
		return validated(file, res, extra)
	}
	e := newTextEdit(data)
	e.deleteLines(e.dashLine(item), e.itemEnd(val.Column-1, item))
	res.Data = e.bytes()
	return validated(file, res, extra)
}
