package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"bottle.dev/bottle/internal/yamlnode"
	"go.yaml.in/yaml/v3"
)

// gitKeys are the keys of one `git:` entry.
var gitKeys = []string{"repo", "push", "delete", "credential", "scan", "gitleaks_allow"}

// gitPort is the one port a git entry's implied rule allows: git's smart
// HTTP over TLS, which the proxy intercepts to gate pushes.
const gitPort = 443

// ParseRepo validates a repository as `git:` and `bottle git` take it
// (host/path, ".git" optional) and returns its canonical host and path
// ("git.example.com", "acme/widget"). Errors are phrased to follow the
// repository in a message and end with the fix.
func ParseRepo(s string) (host, path string, err error) {
	for _, c := range s {
		if unicode.IsControl(c) {
			return "", "", badChar(c)
		}
	}
	if strings.TrimSpace(s) != s {
		return "", "", fmt.Errorf("has leading or trailing spaces; use %q", strings.TrimSpace(s))
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return "", "", errors.New("contains a space; write it as host/path, e.g. \"git.example.com/acme/widget\"")
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		if _, after, ok := strings.Cut(rest, "@"); ok && !strings.Contains(rest[:len(rest)-len(after)], "/") {
			rest = after // a user in the URL: "https://me@host/path"
		}
		return "", "", fmt.Errorf("must be host/path without a scheme (bottle reaches it over https); use %q", suggestRepo(scheme, rest))
	}
	if user, rest, ok := strings.Cut(s, "@"); ok && !strings.Contains(user, "/") {
		// The scp-like form of an SSH remote: "git@git.example.com:acme/widget.git".
		h, p, _ := strings.Cut(rest, ":")
		return "", "", fmt.Errorf("is an SSH remote; write it as host/path (bottle reaches it over https and rewrites the agent's SSH remotes): %q", suggestRepo("", h+"/"+p))
	}
	rawHost, rawPath, ok := strings.Cut(s, "/")
	if !ok || strings.Trim(rawPath, "/") == "" || strings.Trim(rawPath, "/") == ".git" {
		return "", "", fmt.Errorf("names no repository path; write host/path, e.g. %q", cmpOr(rawHost, "git.example.com")+"/acme/widget")
	}
	if h, port, ok := strings.Cut(rawHost, ":"); ok && !strings.HasPrefix(rawHost, "[") && !strings.Contains(port, ":") {
		return "", "", fmt.Errorf("has a port (%s) after its host; bottle gates git over https on port 443 only: use %q", port, h+"/"+strings.Trim(strings.TrimSuffix(strings.Trim(rawPath, "/"), ".git"), "/"))
	}
	host, err = gitHost(rawHost)
	if err != nil {
		return "", "", err
	}
	path, err = gitPath(rawHost, rawPath)
	if err != nil {
		return "", "", err
	}
	return host, path, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// suggestRepo turns what followed a scheme into host/path, for messages.
func suggestRepo(scheme, rest string) string {
	rest = strings.TrimSuffix(strings.TrimRight(rest, "/"), ".git")
	if h, p, ok := strings.Cut(rest, "/"); ok {
		if hh, _, ok := strings.Cut(h, ":"); ok && (scheme == "https" || scheme == "http" || scheme == "ssh" || scheme == "git") {
			h = hh // the port goes: the gate is on 443
		}
		return h + "/" + strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	}
	return rest + "/acme/widget"
}

// gitHost validates a repository's host: one exact name, no port, no
// wildcard, no address.
func gitHost(s string) (string, error) {
	if s == "" {
		return "", errors.New("names no host; write host/path, e.g. \"git.example.com/acme/widget\"")
	}
	if strings.Contains(s, "*") {
		return "", fmt.Errorf("has a wildcard in its host %q; a repository lives on one host, so name it (declare one entry per host)", s)
	}
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") >= 2 {
		if _, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			return "", fmt.Errorf("has the IP address %s as host; name the host, as the agent's remote does", s)
		}
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return "", fmt.Errorf("has the IP address %s as host; name the host, as the agent's remote does", s)
	}
	hp, err := parseHostPattern(s)
	if err != nil {
		return "", fmt.Errorf("has the host %q, which %v", s, err)
	}
	return hp.suffix, nil
}

// gitPath validates a repository's path: segments that are literal names
// or whole "*" (one segment) and "**" (any depth), without ".git" or slashes
// at its ends.
func gitPath(host, s string) (string, error) {
	p := strings.Trim(s, "/")
	p = strings.TrimSuffix(p, ".git")
	p = strings.Trim(p, "/")
	segs := strings.Split(p, "/")
	for _, seg := range segs {
		switch {
		case seg == "":
			return "", fmt.Errorf("has an empty segment (\"//\") in its path; use %q", host+"/"+strings.Join(splitPath(p), "/"))
		case seg == "." || seg == "..":
			return "", fmt.Errorf("has %q in its path; write the path it resolves to", seg)
		case seg == segOne || seg == segAny:
		case strings.Contains(seg, "*"):
			return "", fmt.Errorf("has %q in its path: a wildcard must be a whole segment (\"*\" or \"**\"), e.g. \"git.example.com/acme/*\"", seg)
		default:
			for _, c := range seg {
				if !repoChar(c) {
					return "", fmt.Errorf("has the character %q in its path; a repository path is made of letters, digits and - _ . ~ + @, as git hosts name them", c)
				}
			}
		}
	}
	return p, nil
}

// repoChar reports whether c may appear in a literal path segment: the
// characters forges allow in owner and repository names, none of which a
// URL escapes or a server reads as anything but itself.
func repoChar(c rune) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.ContainsRune("-_.~+@", c)
}

// CheckRefGlob validates a push: glob: a ref name under "refs/" whose
// segments are literal or a whole "*" (one segment) or "**" (any depth).
// Errors are phrased to follow the glob in a message.
func CheckRefGlob(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	if !strings.HasPrefix(s, "refs/") {
		hint := "refs/heads/" + strings.TrimPrefix(s, "/")
		if strings.HasPrefix(s, "heads/") || strings.HasPrefix(s, "tags/") {
			hint = "refs/" + s
		}
		return fmt.Errorf("must start with \"refs/\" (a branch is refs/heads/NAME, a tag refs/tags/NAME); use %q", hint)
	}
	for _, seg := range strings.Split(s, "/") {
		switch {
		case seg == "":
			return errors.New("has an empty segment (\"//\" or a trailing \"/\"); for everything under a prefix end it with \"/**\"")
		case seg == segOne || seg == segAny:
		case strings.Contains(seg, "*"):
			return fmt.Errorf("has %q: a wildcard must be a whole segment (\"*\" or \"**\"), e.g. \"refs/heads/agent/**\"", seg)
		default:
			if err := refSegment(seg); err != nil {
				return err
			}
		}
	}
	return nil
}

// refSegment checks one literal segment of a ref name against what git
// itself refuses (git check-ref-format).
func refSegment(seg string) error {
	switch {
	case seg == "." || seg == "..":
		return fmt.Errorf("has %q as a segment, which git does not allow in a ref name", seg)
	case strings.HasPrefix(seg, "."):
		return fmt.Errorf("has the segment %q starting with \".\", which git does not allow in a ref name", seg)
	case strings.HasSuffix(seg, ".lock"), strings.HasSuffix(seg, "."):
		return fmt.Errorf("has the segment %q, which git does not allow in a ref name (it must not end in \".\" or \".lock\")", seg)
	case strings.Contains(seg, ".."), strings.Contains(seg, "@{"):
		return fmt.Errorf("has %q, which git does not allow in a ref name (no \"..\" and no \"@{\")", seg)
	}
	for _, c := range seg {
		if unicode.IsControl(c) || strings.ContainsRune(" ~^:?[\\", c) {
			return fmt.Errorf("has the character %q, which git does not allow in a ref name", c)
		}
	}
	return nil
}

// gitRef is one repository entry's parse state for the checks across
// entries and sections.
type gitRef struct {
	repo     *GitRepo
	repoNode *yaml.Node
	credNode *yaml.Node
}

// gitRepos parses the `git:` section.
func (p *parser) gitRepos(n *yaml.Node) ([]*GitRepo, []gitRef) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return nil, nil
	case n.Kind != yaml.SequenceNode:
		p.errorf(n, "git must be a list of repositories (\"- repo: git.example.com/acme/widget\"); found %s", yamlnode.KindName(n))
		return nil, nil
	}
	var out []*GitRepo
	var refs []gitRef
	seen := map[string]*GitRepo{}
	for i, item := range n.Content {
		g, repoNode, credNode := p.gitRepo(i, yamlnode.Deref(item))
		if g == nil {
			continue
		}
		if first := seen[g.Repo()]; first != nil {
			p.errorf(repoNode, "%s.repo %q is already declared by %s (line %d); keep one entry per repository", g.ID, g.Repo(), first.ID, first.Line)
			continue
		}
		seen[g.Repo()] = g
		out = append(out, g)
		refs = append(refs, gitRef{g, repoNode, credNode})
	}
	return out, refs
}

// gitRepo parses one entry; nil when it has an error (reported). It also
// returns the nodes of repo and credential, for the checks across entries.
func (p *parser) gitRepo(i int, n *yaml.Node) (*GitRepo, *yaml.Node, *yaml.Node) {
	id := fmt.Sprintf("git[%d]", i)
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		p.errorf(n, "%s must be a mapping; use `- repo: %s`", id, n.Value)
		return nil, nil, nil
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping such as `- {repo: git.example.com/acme/widget, push: [\"refs/heads/agent/**\"]}`; found %s", id, yamlnode.KindName(n))
		return nil, nil, nil
	}
	g := &GitRepo{ID: id, Line: n.Line, Col: n.Column}
	before := len(p.errs)
	var repoNode, credNode, deleteKey *yaml.Node
	p.mapping(id, n, gitKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "repo":
			repoNode = v
			s, ok := p.scalarString(id+".repo", v)
			if !ok {
				return
			}
			host, path, err := ParseRepo(s)
			if err != nil {
				p.errorf(v, "%s.repo %q %v", id, s, err)
				return
			}
			g.Host, g.Path = host, path
		case "push":
			g.Push = p.refGlobs(id+".push", v)
		case "delete":
			deleteKey = k
			g.Delete, _ = p.boolean(id+".delete", v, "true lets the agent delete the refs push: names")
		case "credential":
			credNode = v
			s, ok := p.str(id+".credential", v)
			if !ok {
				return
			}
			if err := CheckCredentialName(s); err != nil {
				p.errorf(v, "%s.credential %q %v", id, s, err)
				return
			}
			g.Credential = s
		case "scan":
			s, ok := p.str(id+".scan", v)
			if !ok {
				return
			}
			scan, err := ParseGitScan(s)
			if err != nil {
				p.errorf(v, "%s.scan %q %v", id, s, err)
				return
			}
			g.Scan = scan
		case "gitleaks_allow":
			g.GitleaksAllow, _ = p.boolean(id+".gitleaks_allow", v, "true honours inline \"gitleaks:allow\" comments in pushed content")
		}
	})
	if repoNode == nil {
		p.errorf(n, "%s needs `repo:`, the repository as host/path, e.g. `repo: git.example.com/acme/widget`", id)
	}
	if g.Delete && g.Push == nil && len(p.errs) == before {
		p.errorf(deleteKey, "%s.delete: true has no effect without push: (a ref may be deleted only where push: lets the agent update it); add push: globs or remove delete", id)
	}
	if len(p.errs) > before {
		return nil, nil, nil
	}
	g.segs = strings.Split(g.Path, "/")
	g.fold = strings.Split(strings.ToLower(g.Path), "/")
	return g, repoNode, credNode
}

// ParseGitScan reads a scan: setting. Errors follow the value in a message.
func ParseGitScan(s string) (GitScan, error) {
	switch s {
	case "block":
		return GitScanBlock, nil
	case "report":
		return GitScanReport, nil
	case "off":
		return GitScanOff, nil
	}
	return 0, errors.New("is not a scan setting; use \"block\" (a secret in pushed content rejects the push: the default), \"report\" (audit it, let the push through) or \"off\" (do not look)")
}

// boolean reads a true/false scalar; what says what true means, for the
// message.
func (p *parser) boolean(what string, v *yaml.Node, meaning string) (bool, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
		p.errorf(v, "%s must be true or false (%s); found %s", what, meaning, describe(v))
		return false, false
	}
	return v.Value == "true" || v.Value == "True" || v.Value == "TRUE", true
}

// refGlobs reads push:, a list of ref globs; an empty list is read-only,
// as no push: is.
func (p *parser) refGlobs(what string, v *yaml.Node) []string {
	switch {
	case v.Kind == yaml.ScalarNode && v.Tag == "!!str":
		p.errorf(v, "%s must be a list; use `push: [%s]`", what, yamlString(v.Value))
		return nil
	case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
		return nil
	case v.Kind != yaml.SequenceNode:
		p.errorf(v, "%s must be a list of ref globs such as [\"refs/heads/agent/**\"]; found %s", what, describe(v))
		return nil
	}
	var out []string
	for _, c := range v.Content {
		c = yamlnode.Deref(c)
		if c.Kind != yaml.ScalarNode || c.Tag != "!!str" {
			p.errorf(c, "%s: %s is not a ref glob; quote it, e.g. \"refs/heads/agent/**\"", what, describe(c))
			continue
		}
		if err := CheckRefGlob(c.Value); err != nil {
			p.errorf(c, "%s: %q %v", what, c.Value, err)
			continue
		}
		if !containsString(out, c.Value) {
			out = append(out, c.Value)
		}
	}
	return out
}

func containsString(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// gitCredentials checks that each entry's credential names a credential
// of basic_user kind bound to the repository's host: git authenticates
// over HTTPS with Basic auth, and the proxy sends a credential only to its
// hosts.
func (p *parser) gitCredentials(refs []gitRef, creds []*Credential) {
	for _, r := range refs {
		g := r.repo
		if g.Credential == "" {
			continue
		}
		var c *Credential
		var names []string
		for _, x := range creds {
			names = append(names, x.Name)
			if x.Name == g.Credential {
				c = x
			}
		}
		switch {
		case c == nil:
			hint := ""
			if s := yamlnode.Closest(g.Credential, names); s != "" {
				hint = fmt.Sprintf("did you mean %q? Or ", s)
			} else {
				hint = "Or "
			}
			p.errorf(r.credNode, "%s.credential %q is not in credentials:; %sdeclare it: `bottle secret add %s --host %s --basic-user USER --from SOURCE`", g.ID, g.Credential, hint, g.Credential, g.Host)
		case c.Kind != CredBasic:
			p.errorf(r.credNode, "%s.credential %q is a %s credential (line %d), but git signs in with Basic auth; give it `basic_user:` (e.g. x-access-token) instead", g.ID, g.Credential, c.Kind, c.Line)
		case !c.Matches(g.Host):
			p.errorf(r.credNode, "%s.credential %q is bound to %s (line %d), not to %s, so the proxy would never send it there; add %s to its hosts", g.ID, g.Credential, strings.Join(c.Hosts(), ", "), c.Line, g.Host, g.Host)
		}
	}
}

// impliedRules builds the allow rule each entry implies: GET and POST on
// port 443, intercepted, to the repository's smart-HTTP endpoints only.
func impliedRules(repos []*GitRepo) []*Rule {
	out := make([]*Rule, 0, len(repos))
	for i, g := range repos {
		r := &Rule{
			ID:      g.ID,
			Index:   i,
			Host:    hostPattern{wild: exact, suffix: g.Host},
			hasHost: true,
			Ports:   []uint16{gitPort},
			Methods: []string{"GET", "POST"},
			Line:    g.Line,
			Col:     g.Col,
			implied: true,
		}
		for _, base := range g.bases() {
			for _, ep := range []string{"info/refs", "git-upload-pack", "git-receive-pack"} {
				raw := "/" + base + "/" + ep
				r.Paths = append(r.Paths, pathGlob{raw: raw, segs: splitPath(raw)})
			}
		}
		out = append(out, r)
	}
	return out
}

// bases are the repository's paths a URL may name: "acme/widget" and
// "acme/widget.git". A path that ends in a wildcard has one: "*" and "**"
// already match a name ending in ".git".
func (g *GitRepo) bases() []string {
	last := g.segs[len(g.segs)-1]
	if last == segOne || last == segAny {
		return []string{g.Path}
	}
	return []string{g.Path, g.Path + ".git"}
}
