package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"bottle.dev/bottle/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// topLevelKeys are the keys an allowlist has at its top.
var topLevelKeys = []string{"version", "mode", "dlp", "approvals", "approval_timeout", "allow", "deny", "credentials", "git"}

// Keys returns the top-level keys of an allowlist: in a project's
// bottle.yaml, these are the allowlist's and the rest the project's.
func Keys() []string { return slices.Clone(topLevelKeys) }

// credentialKeys are the keys of one `credentials:` entry; kindKeys the
// ones of which an entry has exactly one.
var (
	credentialKeys = []string{"name", "hosts", "header", "bearer", "basic_user", "query", "aws", "source", "agent_env", "origin"}
	kindKeys       = []string{"header", "bearer", "basic_user", "query", "aws"}
	awsKeys        = []string{"access_key_id", "secret_access_key", "session_token"}
)

// MaxCredentialName is the longest credential name: it is part of the
// placeholder the agent sees, which should stay short.
const MaxCredentialName = 32

var (
	credentialNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	envNameRE        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// ReservedEnv are the agent's variables bottle sets itself (the proxy and
// the CA bundle, the supervise MCP server; see launcher): no credential's
// agent_env may take one.
var reservedEnv = []string{
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "MCP_SUPERVISE_URL", "NODE_USE_ENV_PROXY",
	"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
	"PIP_CERT", "AWS_CA_BUNDLE", "CARGO_HTTP_CAINFO", "DENO_CERT",
}

// AWSEnv are the variables an `aws:` credential gives the agent.
var awsEnv = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// ownedHeaders are headers the proxy itself writes or that describe the
// connection rather than the request: a credential cannot be one.
var ownedHeaders = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"}

// CheckCredentialName validates a credential's name: lower-case letters,
// digits and '-', starting with a letter or digit, at most
// MaxCredentialName long.
func CheckCredentialName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty; name the credential, e.g. \"github\"")
	case len(name) > MaxCredentialName:
		return fmt.Errorf("is longer than %d characters; use a shorter name (it is part of the placeholder the agent sees)", MaxCredentialName)
	case !credentialNameRE.MatchString(name):
		return errors.New("is not a credential name; use lower-case letters, digits and '-', starting with a letter or digit, e.g. \"github\"")
	}
	return nil
}

// CheckHeader validates a credential's header name and returns it in
// canonical form ("X-Api-Key").
func CheckHeader(h string) (string, error) {
	if h == "" {
		return "", errors.New("is empty; name the header to set, e.g. \"x-api-key\"")
	}
	for i := 0; i < len(h); i++ {
		if !isTokenChar(h[i]) {
			return "", fmt.Errorf("is not an HTTP header name: character %q is not allowed", h[i])
		}
	}
	c := textproto.CanonicalMIMEHeaderKey(h)
	if slices.Contains(ownedHeaders, c) || strings.HasPrefix(c, "Proxy-") {
		return "", fmt.Errorf("is a header the proxy sets itself or that describes the connection, not the request (%s); a credential cannot replace it", c)
	}
	return c, nil
}

// isTokenChar reports whether c may appear in an HTTP token (RFC 9110 §5.6.2).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// CheckAgentEnv validates a credential's agent_env: a variable name that is
// not one of bottle's own.
func CheckAgentEnv(v string) error {
	switch {
	case v == "":
		return errors.New("is empty; name the variable in which the agent gets the placeholder, or leave agent_env out")
	case !envNameRE.MatchString(v):
		return errors.New("is not a variable name; use letters, digits and '_', not starting with a digit, e.g. \"ANTHROPIC_API_KEY\"")
	case slices.Contains(reservedEnv, v):
		return fmt.Errorf("is a variable bottle sets itself in the agent (the proxy and its CA); choose another name")
	case slices.Contains(awsEnv, v):
		return fmt.Errorf("is a variable an aws credential sets; declare the key as a credential with `aws:` instead")
	}
	return nil
}

// CheckQuery validates a credential's query parameter name.
func CheckQuery(q string) error {
	if q == "" {
		return errors.New("is empty; name the query parameter, e.g. \"key\"")
	}
	for _, c := range q {
		if unicode.IsControl(c) || unicode.IsSpace(c) || strings.ContainsRune("&=#?+%", c) {
			return fmt.Errorf("is not a query parameter name: character %q is not allowed", c)
		}
	}
	return nil
}

// CheckBasicUser validates a credential's basic_user.
func CheckBasicUser(u string) error {
	switch {
	case u == "":
		return errors.New("is empty; name the user sent with the secret as password, e.g. \"x-access-token\"")
	case strings.Contains(u, ":"):
		return errors.New("must not contain ':' (Basic auth separates the user from the password with it)")
	}
	for _, c := range u {
		if unicode.IsControl(c) {
			return fmt.Errorf("has the control character %q", c)
		}
	}
	return nil
}

// SecretLikeError is ParseSource's error for a source with no scheme: as
// likely as not the secret itself, pasted where its source belongs, so
// messages say what is wrong without quoting it.
type SecretLikeError struct{ Msg string }

func (e *SecretLikeError) Error() string { return e.Msg }

var (
	// schemeRE is what a scheme looks like; anything else before a colon
	// (a token with a ':' in it) is no scheme.
	schemeRE = regexp.MustCompile(`^[a-z]{1,12}$`)
	// varNameRE is a conventional variable name, in upper case: one that
	// a message may repeat, as a token is rarely all capitals.
	varNameRE = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)
)

// sourceSchemes are the schemes of a Source.
var sourceSchemes = []string{"env", "file", "command", "keychain"}

// ParseSource validates a source as written (`env:VAR`, `file:PATH`,
// `command:ARGV`, `keychain:SERVICE[/ACCOUNT]`). Errors are phrased to follow
// the source in a message.
func ParseSource(s string) (Source, error) {
	for _, c := range s {
		if unicode.IsControl(c) {
			return Source{}, fmt.Errorf("has the control character %q", c)
		}
	}
	scheme, ref, ok := strings.Cut(s, ":")
	if !ok || !schemeRE.MatchString(scheme) {
		// Most likely the secret itself: not quoted back (see
		// SecretLikeError).
		hint := ""
		if varNameRE.MatchString(s) {
			hint = fmt.Sprintf(" (for the variable %s: \"env:%s\")", s, s)
		}
		return Source{}, &SecretLikeError{Msg: "has no scheme; write env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT], never the secret itself" + hint}
	}
	if !slices.Contains(sourceSchemes, scheme) {
		hint := ""
		if c := yamlnode.Closest(scheme, sourceSchemes); c != "" {
			hint = fmt.Sprintf("did you mean %q? ", c+":")
		}
		return Source{}, fmt.Errorf("has the unknown scheme %q; %suse one of env:VAR, file:PATH, command:ARGV or keychain:SERVICE", scheme+":", hint)
	}
	src := Source{Scheme: scheme, Ref: ref}
	switch scheme {
	case "env":
		if !envNameRE.MatchString(ref) {
			return Source{}, fmt.Errorf("does not name a variable after env:; use letters, digits and '_', e.g. \"env:ANTHROPIC_API_KEY\"")
		}
	case "file":
		if strings.TrimSpace(ref) == "" {
			return Source{}, errors.New("names no file after file:; e.g. \"file:~/.config/acme/token\"")
		}
	case "command":
		if _, err := src.Argv(); err != nil {
			return Source{}, err
		}
	case "keychain":
		service, account, hasAccount := strings.Cut(ref, "/")
		if strings.TrimSpace(service) == "" {
			return Source{}, errors.New("names no keychain service after keychain:; e.g. \"keychain:acme-api\" or \"keychain:acme-api/me\"")
		}
		if hasAccount && strings.TrimSpace(account) == "" {
			return Source{}, fmt.Errorf("has an empty account after the '/'; use \"keychain:%s\" for any account", service)
		}
	}
	return src, nil
}

// Argv splits a command: source into its arguments, without a shell:
// words are separated by spaces; '…' quotes literally, "…" quotes with \"
// and \\ as escapes, and a backslash outside quotes escapes the next
// character. It is an error for any other scheme.
func (s Source) Argv() ([]string, error) {
	if s.Scheme != "command" {
		return nil, fmt.Errorf("source %q is not a command", s.String())
	}
	var args []string
	var cur strings.Builder
	inWord := false
	r := []rune(s.Ref)
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			inWord = true
			j := i + 1
			for j < len(r) && r[j] != '\'' {
				cur.WriteRune(r[j])
				j++
			}
			if j == len(r) {
				return nil, errors.New("has an unterminated ' quote in its command")
			}
			i = j
		case c == '"':
			inWord = true
			j := i + 1
			for ; j < len(r) && r[j] != '"'; j++ {
				if r[j] == '\\' && j+1 < len(r) && (r[j+1] == '"' || r[j+1] == '\\') {
					j++
				}
				cur.WriteRune(r[j])
			}
			if j == len(r) {
				return nil, errors.New("has an unterminated \" quote in its command")
			}
			i = j
		case c == '\\':
			if i+1 == len(r) {
				return nil, errors.New("ends in a lone backslash")
			}
			inWord = true
			i++
			cur.WriteRune(r[i])
		default:
			inWord = true
			cur.WriteRune(c)
		}
	}
	if inWord {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, errors.New("names no command after command:; e.g. \"command:gh auth token\"")
	}
	return args, nil
}

// credHost is one host of a credential as written, kept for the check that
// an allow rule covers it.
type credHost struct {
	id  string // "credentials[0].hosts"
	hp  hostPattern
	pos *yaml.Node
}

func (p *parser) credentials(n *yaml.Node) []*Credential {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil
	case n.Kind != yaml.SequenceNode:
		p.errorf(n, "credentials must be a list (\"- name: github\"); found %s", yamlnode.KindName(n))
		return nil
	}
	var out []*Credential
	names := map[string]*Credential{}
	envs := map[string]*Credential{}
	var aws *Credential
	for i, item := range n.Content {
		item = yamlnode.Deref(item)
		c, nameNode, envNode := p.credential(i, item)
		if c == nil {
			continue
		}
		id := fmt.Sprintf("credentials[%d]", i)
		bad := false
		if first := names[c.Name]; first != nil {
			p.errorf(nameNode, "%s.name %q is taken by the credential at line %d; names are unique", id, c.Name, first.Line)
			bad = true
		}
		if c.AgentEnv != "" {
			if first := envs[c.AgentEnv]; first != nil {
				p.errorf(envNode, "%s.agent_env %q is already the agent_env of %q (line %d); each variable holds one placeholder", id, c.AgentEnv, first.Name, first.Line)
				bad = true
			}
		}
		if c.Kind == CredAWS {
			if aws != nil {
				p.errorf(item, "%s is a second aws credential (the first is %q, line %d); the agent has one AWS_ACCESS_KEY_ID, so keep one and list all its hosts", id, aws.Name, aws.Line)
				bad = true
			}
		}
		if bad {
			continue
		}
		names[c.Name] = c
		if c.AgentEnv != "" {
			envs[c.AgentEnv] = c
		}
		if c.Kind == CredAWS {
			aws = c
		}
		out = append(out, c)
	}
	p.clashes(out)
	return out
}

// clashes reports two credentials that would set the same header or query
// parameter on the same host: the proxy can send one value only.
func (p *parser) clashes(creds []*Credential) {
	type slot struct{ host, target string }
	seen := map[slot]*Credential{}
	for _, c := range creds {
		for _, h := range c.hosts {
			s := slot{h.String(), c.target()}
			if first := seen[s]; first != nil {
				p.errs = append(p.errs, &Error{File: p.file, Line: c.Line, Col: c.Col,
					Msg: fmt.Sprintf("credential %q sets %s on %s, as %q (line %d) does; the proxy can send only one, so keep one of them", c.Name, s.target, s.host, first.Name, first.Line)})
				continue
			}
			seen[s] = c
		}
	}
}

// target is what a credential sets on a request: a header, or a query
// parameter.
func (c *Credential) target() string {
	switch c.Kind {
	case CredHeader:
		return c.Header
	case CredQuery:
		return "the query parameter " + c.Query
	}
	return "Authorization"
}

// credential parses one entry; it returns nil when the entry has an error
// (reported), and the name and agent_env nodes for the checks across
// entries.
func (p *parser) credential(i int, n *yaml.Node) (*Credential, *yaml.Node, *yaml.Node) {
	id := fmt.Sprintf("credentials[%d]", i)
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping such as `- {name: github, hosts: [github.com], basic_user: x-access-token, source: \"command:gh auth token\"}`; found %s", id, yamlnode.KindName(n))
		return nil, nil, nil
	}
	c := &Credential{Line: n.Line, Col: n.Column}
	before := len(p.errs)
	var nameNode, envNode, sourceKey, awsKey, envKey *yaml.Node
	var kindKey *yaml.Node
	kindKeyName := ""
	hasHosts := false
	p.mapping(id, n, credentialKeys, func(key string, k, v *yaml.Node) {
		if slices.Contains(kindKeys, key) {
			if kindKey != nil {
				p.errorf(k, "%s has both %s and %s; a credential is sent one way: keep one", id, kindKeyName, key)
				return
			}
			kindKey, kindKeyName = k, key
		}
		switch key {
		case "name":
			nameNode = v
			s, ok := p.scalarString(id+".name", v)
			if !ok {
				return
			}
			if err := CheckCredentialName(s); err != nil {
				p.errorf(v, "%s.name %q %v", id, s, err)
				return
			}
			c.Name = s
		case "hosts":
			hasHosts = true
			c.hosts = p.credentialHosts(id, v)
		case "header":
			c.Kind = CredHeader
			s, ok := p.str(id+".header", v)
			if !ok {
				return
			}
			h, err := CheckHeader(s)
			if err != nil {
				p.errorf(v, "%s.header %q %v", id, s, err)
				return
			}
			c.Header = h
		case "bearer":
			c.Kind = CredBearer
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" || v.Value != "true" {
				p.errorf(v, "%s.bearer must be true (send Authorization: Bearer <secret>); found %s: to send the secret another way, use header, basic_user or query instead", id, describe(v))
			}
		case "basic_user":
			c.Kind = CredBasic
			s, ok := p.scalarString(id+".basic_user", v)
			if !ok {
				return
			}
			if err := CheckBasicUser(s); err != nil {
				p.errorf(v, "%s.basic_user %q %v", id, s, err)
				return
			}
			c.BasicUser = s
		case "query":
			c.Kind = CredQuery
			s, ok := p.str(id+".query", v)
			if !ok {
				return
			}
			if err := CheckQuery(s); err != nil {
				p.errorf(v, "%s.query %q %v", id, s, err)
				return
			}
			c.Query = s
		case "aws":
			c.Kind = CredAWS
			awsKey = k
			p.awsSources(id, c, v)
		case "source":
			sourceKey = k
			if src, ok := p.source(id+".source", v); ok {
				c.Source = src
			}
		case "agent_env":
			envKey, envNode = k, v
			s, ok := p.str(id+".agent_env", v)
			if !ok {
				return
			}
			if err := CheckAgentEnv(s); err != nil {
				p.errorf(v, "%s.agent_env %q %v", id, s, err)
				return
			}
			c.AgentEnv = s
		case "origin":
			if s, ok := p.origin(id+".origin", v); ok {
				c.Origin = s
			}
		}
	})
	if nameNode == nil {
		p.errorf(n, "%s needs `name:` (lower-case letters, digits and '-', e.g. \"github\")", id)
	}
	if !hasHosts {
		p.errorf(n, "%s needs `hosts:`, the hosts the secret is sent to and nowhere else, e.g. `hosts: [api.example.com]`", id)
	}
	switch {
	case kindKey == nil:
		p.errorf(n, "%s needs one of header: NAME, bearer: true, basic_user: USER, query: NAME or aws:, to say how the secret is sent", id)
	case awsKey != nil:
		if sourceKey != nil {
			p.errorf(sourceKey, "%s.source does not apply to an aws credential; its sources are access_key_id, secret_access_key and session_token under aws:", id)
		}
		if envKey != nil {
			p.errorf(envKey, "%s.agent_env does not apply to an aws credential; the agent always gets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN with a session token)", id)
		}
	case sourceKey == nil:
		p.errorf(n, "%s needs `source:`, where the secret comes from on the host: env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT]", id)
	}
	if len(p.errs) > before {
		return nil, nil, nil
	}
	return c, nameNode, envNode
}

func (p *parser) credentialHosts(id string, v *yaml.Node) []hostPattern {
	what := id + ".hosts"
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		p.errorf(v, "%s must be a list; use `hosts: [%s]`", what, v.Value)
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s must be a list such as [api.example.com]; found %s", what, describe(v))
		return nil
	}
	if len(v.Content) == 0 {
		p.errorf(v, "%s is empty, so the secret could be sent nowhere; name the hosts it is for", what)
		return nil
	}
	var out []hostPattern
	for _, c := range v.Content {
		c = yamlnode.Deref(c)
		s, ok := p.scalarString(what+" entry", c)
		if !ok {
			continue
		}
		hp, err := credentialHost(s)
		if err != nil {
			p.errorf(c, "%s: %q %v", what, s, err)
			continue
		}
		if slices.Contains(out, hp) {
			continue
		}
		out = append(out, hp)
		p.credHosts = append(p.credHosts, credHost{id: what, hp: hp, pos: c})
	}
	return out
}

// credentialHost validates a host of a credential: a host pattern, as in a
// rule, but never an address (credentials are bound to names) and never a
// URL.
func credentialHost(s string) (hostPattern, error) {
	t := strings.Trim(strings.TrimSpace(s), "[]")
	if _, err := netip.ParseAddr(t); err == nil {
		return hostPattern{}, errors.New("is an IP address; a credential is bound to host names (the name a client connects to), so name the host")
	}
	switch strings.TrimSpace(s) {
	case "*", "**", "*.", "**.":
		return hostPattern{}, errors.New("matches every host, so the secret could go anywhere; list the hosts it is for")
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#") {
		return hostPattern{}, errors.New("must be a host name, not a URL; use the name alone")
	}
	return parseHostPattern(s)
}

func (p *parser) awsSources(id string, c *Credential, v *yaml.Node) {
	what := id + ".aws"
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "%s must be a mapping with access_key_id, secret_access_key and, optionally, session_token (each a source such as env:AWS_ACCESS_KEY_ID); found %s", what, yamlnode.KindName(v))
		return
	}
	var keyID, secret bool
	p.mapping(what, v, awsKeys, func(key string, k, v *yaml.Node) {
		src, ok := p.source(what+"."+key, v)
		switch key {
		case "access_key_id":
			keyID = true
			if ok {
				c.AccessKeyID = src
			}
		case "secret_access_key":
			secret = true
			if ok {
				c.SecretAccessKey = src
			}
		case "session_token":
			if ok {
				c.SessionToken = src
			}
		}
	})
	if !keyID {
		p.errorf(v, "%s needs access_key_id, the source of the access key id (e.g. env:AWS_ACCESS_KEY_ID)", what)
	}
	if !secret {
		p.errorf(v, "%s needs secret_access_key, the source of the secret access key (e.g. env:AWS_SECRET_ACCESS_KEY)", what)
	}
}

func (p *parser) source(what string, v *yaml.Node) (Source, bool) {
	s, ok := p.str(what, v)
	if !ok {
		return Source{}, false
	}
	src, err := ParseSource(s)
	var secretLike *SecretLikeError
	switch {
	case errors.As(err, &secretLike):
		p.errorf(v, "%s %v", what, err)
		return Source{}, false
	case err != nil:
		p.errorf(v, "%s %q %v", what, s, err)
		return Source{}, false
	}
	return src, true
}

// credentialCoverage checks that an allow rule admits, and intercepts, every
// host of every credential: a credential is sent only on requests the
// policy allows, inside connections the proxy opens.
func (p *parser) credentialCoverage(pol *Policy) {
	for _, ch := range p.credHosts {
		ok, intercept, pass := pol.intercepted(ch.hp)
		switch {
		case ok:
		case pass != nil && intercept != nil:
			r := pass
			p.errorf(ch.pos, "%s: %q is allowed by %s, but %s (line %d) tunnels it with tls: passthrough on the same ports, and a passthrough rule wins; credentials apply only to intercepted hosts: the proxy cannot set a header inside a tunnel it does not open; remove `tls: passthrough` from %s, or give it other ports",
				ch.id, ch.hp.String(), intercept.ID, r.ID, r.Line, r.ID)
		case pass != nil:
			r := pass
			p.errorf(ch.pos, "%s: %q is allowed only through %s (line %d) with tls: passthrough, and credentials apply only to intercepted hosts: the proxy cannot set a header inside a tunnel it does not open; remove `tls: passthrough` from %s, or bind the credential to another host",
				ch.id, ch.hp.String(), r.ID, r.Line, r.ID)
		default:
			p.errorf(ch.pos, "%s: %q is not allowed by any allow rule, so no request could reach it to carry the secret; run `bottle allow add %s` first (or add `- host: %s` under allow:)%s",
				ch.id, ch.hp.String(), shellQuote(ch.hp.String()), yamlString(ch.hp.String()), pol.apexHint(ch.hp))
		}
	}
}

// apexHint says why a wildcard rule does not cover a credential's name.
func (p *Policy) apexHint(hp hostPattern) string {
	if hp.wild != exact {
		return ""
	}
	if w := p.apexWildcards(hp.suffix); len(w) > 0 {
		return fmt.Sprintf("; %s (%s) covers the names under %s, not %s itself", w[0].HostPattern(), w[0].ID, hp.suffix, hp.suffix)
	}
	return ""
}

// intercepted reports whether an allow rule that intercepts admits the
// names hp matches on some port that no passthrough rule takes over (a
// passthrough rule wins where both match). It also returns the first
// covering rule of each kind, for messages.
func (p *Policy) intercepted(hp hostPattern) (ok bool, intercept, pass *Rule) {
	in, through := p.coveringRules(hp)
	ports := map[uint16]bool{}
	for _, r := range in {
		for _, port := range r.Ports {
			ports[port] = true
		}
	}
	for _, r := range through {
		for _, port := range r.Ports {
			delete(ports, port)
		}
	}
	if len(in) > 0 {
		intercept = in[0]
	}
	if len(through) > 0 {
		pass = through[0]
	}
	return len(ports) > 0, intercept, pass
}

// coveringRules returns the allow host rules that admit every name hp
// matches, those that intercept and those that pass through, each in file
// order. A name is covered by the rules that match it; a wildcard by a
// wildcard rule over the same or a broader part of the tree.
func (p *Policy) coveringRules(hp hostPattern) (intercept, pass []*Rule) {
	var rules []*Rule
	if hp.wild == exact {
		rules = p.hostRules(hp.suffix)
	} else {
		for _, r := range p.allow {
			if r.hasHost && r.Host.coversPattern(hp) {
				rules = append(rules, r)
			}
		}
	}
	for _, r := range rules {
		switch {
		case r.Deny:
		case r.Passthrough:
			pass = append(pass, r)
		default:
			intercept = append(intercept, r)
		}
	}
	return intercept, pass
}

// coversPattern reports whether every name the wildcard pattern o matches
// is matched by h.
func (h hostPattern) coversPattern(o hostPattern) bool {
	switch h.wild {
	case oneLabel:
		return o.wild == oneLabel && o.suffix == h.suffix
	case anyDepth:
		return o.suffix == h.suffix || strings.HasSuffix(o.suffix, "."+h.suffix)
	}
	return false
}

// match reports whether the normalised name matches h.
func (h hostPattern) match(name string) bool {
	switch h.wild {
	case exact:
		return name == h.suffix
	case oneLabel:
		rest, ok := strings.CutSuffix(name, "."+h.suffix)
		return ok && rest != "" && !strings.Contains(rest, ".")
	default:
		rest, ok := strings.CutSuffix(name, "."+h.suffix)
		return ok && rest != ""
	}
}

// shellQuote quotes a host pattern for a command line when it has a
// wildcard.
func shellQuote(s string) string {
	if strings.Contains(s, "*") {
		return "'" + s + "'"
	}
	return s
}
