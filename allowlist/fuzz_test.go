package allowlist

import (
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: no input panics Parse, every error has a position, and a policy
// that parses answers every kind of question without panicking.
func FuzzParse(f *testing.F) {
	f.Add([]byte(testPolicy))
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("version: 1\nallow:\n  - &a {host: a.example.com}\n  - *a\n"))
	f.Add([]byte("version: 1\nallow: [{host: \"**.a.b\", paths: [\"/**/x/**\"]}]\n"))
	f.Add([]byte("version: 1\nallow: [{host: a.b, paths: [\"/a;x/**\", \"/a%3b/*\"]}]\n"))
	f.Add([]byte("version: 1\nallow: [{host: a.b, tls: passthrough, sni: optional}, {host: c.d, sni: required}]\n"))
	f.Add([]byte(credPolicy))
	f.Add([]byte("version: 1\ndlp: off\nallow: [{host: \"*.a.b\", dlp: block}]\ncredentials: [{name: x, hosts: [\"*.a.b\"], query: k, source: \"command:a 'b c' \\\"d\\\"\"}]\n"))
	f.Add([]byte("version: 1\nallow: [{host: a.b}]\ncredentials: [&c {name: x, hosts: [a.b], aws: {access_key_id: env:A, secret_access_key: env:B}}, *c]\n"))
	f.Add([]byte(gitPolicy))
	f.Add([]byte("version: 1\ngit: [{repo: a.b/**, push: [\"refs/**\"], delete: true}, {repo: a.b/c/*/d.git}]\nallow: [{host: a.b, tls: passthrough}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yaml", data)
		if err != nil {
			el, ok := err.(ErrorList)
			if !ok || len(el) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			for _, e := range el {
				if e.Msg == "" || !strings.HasPrefix(e.Error(), "f.yaml:") {
					t.Fatalf("bad error %q", e.Error())
				}
			}
			return
		}
		if n := sharedNode(data); n != nil {
			t.Fatalf("allow and deny share the node at %d:%d", n.Line, n.Column)
		}
		for _, r := range p.Allow() {
			host := strings.TrimLeft(r.HostPattern(), "*.")
			if host == "" {
				host = r.CIDR.Addr().String()
			}
			p.Decide(Request{Scheme: "https", Host: host, Method: "GET", Path: "/a/b"})
			p.DecideConnect(host, 443)
			p.DecideName(host)
			p.DLPFor(Request{Scheme: "https", Host: host, Method: "POST", Path: "/"})
			p.CredentialsFor(host)
		}
		for _, g := range p.Git() {
			checkGitEntry(t, p, g)
		}
		for _, c := range p.Credentials() {
			if c.Name == "" || c.Kind == 0 || len(c.Hosts()) == 0 {
				t.Fatalf("incomplete credential %+v", c)
			}
			if (c.Kind == CredAWS) != (c.Source.Scheme == "") {
				t.Fatalf("credential %s of kind %v has source %q", c.Name, c.Kind, c.Source)
			}
			for _, h := range c.Hosts() {
				if name := strings.TrimLeft(h, "*."); !c.Matches("x."+name) && !c.Matches(name) {
					t.Fatalf("credential %s does not match its own host %s", c.Name, h)
				}
			}
		}
	})
}

// sharedNode returns a node that both the allow and the deny list of the
// YAML document in data stand for, following aliases, or nil.
func sharedNode(data []byte) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	lists := map[string]map[*yaml.Node]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		name := root.Content[i].Value
		if root.Content[i].Kind == yaml.AliasNode && root.Content[i].Alias != nil {
			name = root.Content[i].Alias.Value
		}
		if name != "allow" && name != "deny" || lists[name] != nil {
			continue
		}
		seen := map[*yaml.Node]bool{}
		var walk func(*yaml.Node)
		walk = func(n *yaml.Node) {
			for n != nil && n.Kind == yaml.AliasNode {
				n = n.Alias
			}
			if n == nil || seen[n] {
				return
			}
			seen[n] = true
			for _, c := range n.Content {
				walk(c)
			}
		}
		walk(root.Content[i+1])
		lists[name] = seen
	}
	for n := range lists["allow"] {
		if lists["deny"][n] {
			return n
		}
	}
	return nil
}

// FuzzDecide: whatever the request, decisions never panic, a denied name is
// never allowed, and an allowed path on the L7 rule really lies under it.
func FuzzDecide(f *testing.F) {
	p := mustParse(f, testPolicy)
	f.Add("github.com", uint16(443), "GET", "/acme/widget.git/info/refs", "")
	f.Add("github.com", uint16(443), "GET", "/acme/widget.git/%2e%2e/%2e%2e/x", "")
	f.Add("GIST.github.com.", uint16(443), "get", "/", "")
	f.Add("api.example.com", uint16(443), "GET", "/", "127.0.0.1")
	f.Add("[::ffff:10.20.0.1]", uint16(5432), "GET", "/", "")
	f.Add("bücher.example", uint16(80), "POST", "//a/../b", "::1")
	f.Add("github.com", uint16(443), "GET", "/acme/widget.git/..;/..;/secret", "")
	f.Add("github.com", uint16(443), "GET", "/acme/widget.git/%2e%2e%3bx=1/x", "")
	f.Add("github.com", uint16(443), "GET", "/acme/widget.git;jsessionid=1/info/refs", "")
	f.Add("both.example.com", uint16(443), "GET", "/admin;jsessionid=1/users", "")
	f.Add("both.example.com", uint16(443), "GET", "/;x/admin%3b/users", "")
	f.Fuzz(func(t *testing.T, host string, port uint16, method, path, dst string) {
		req := Request{Scheme: "https", Host: host, Port: port, Method: method, Path: path}
		if a, err := netip.ParseAddr(dst); err == nil {
			req.DstIP = a
		}
		d := p.Decide(req)
		c := p.DecideConnect(host, port)
		n := p.DecideName(host)
		if d.Explain() == "" || c.Explain() == "" || n.Explain() == "" || d.Rule == "" {
			t.Fatalf("decision without rule or reason: %+v %+v %+v", d, c, n)
		}
		// Every decision says why, and says "allowed" exactly when it lets
		// traffic through without a would-deny.
		for _, x := range []Decision{d, c, n} {
			if x.Cause == CauseUnknown || (x.Cause == CauseAllowed) == x.Denied() {
				t.Fatalf("decision with cause %s: %+v", x.Cause, x)
			}
		}
		name, err := NormalizeName(host)
		if err != nil {
			return
		}
		if name == "gist.github.com" && (d.Allowed || c.Allowed || n.Allowed) {
			t.Fatalf("denied host allowed: %+v %+v %+v", d, c, n)
		}
		segs, pathErr := CleanPath(path)
		if d.Allowed && pathErr != nil {
			t.Fatalf("allowed an unparseable path %q: %v", path, pathErr)
		}
		if d.Allowed && d.Rule == "allow[3]" {
			clean := "/" + strings.Join(segs, "/")
			if !strings.HasPrefix(clean, "/acme/") {
				t.Fatalf("path %q (clean %q) escaped allow[3]", path, clean)
			}
		}
		// Judged the way a servlet server routes the path, independently of
		// CleanPath: no "..;" segment gets through, allow[3] stays under
		// /acme/, and deny[3] denies both.example.com's "/admin/**" (which
		// includes "/admin" itself) however the path is spelled.
		if d.Allowed {
			routed, ok := servletPath(path)
			switch {
			case !ok:
				t.Fatalf("path %q with a dot segment with ;parameters allowed: %+v", path, d)
			case d.Rule == "allow[3]" && !strings.HasPrefix(routed, "/acme/"):
				t.Fatalf("path %q (routed as %q) escaped allow[3]", path, routed)
			case name == "both.example.com" && (routed == "/admin" || strings.HasPrefix(routed, "/admin/")):
				t.Fatalf("denied path %q (routed as %q) allowed: %+v", path, routed, d)
			}
		}
		if d.Allowed && req.DstIP.IsValid() {
			// A name reaches a non-public address only through an allow cidr.
			dst := req.DstIP.Unmap().WithZone("")
			covered := false
			for _, r := range p.cidrRules(dst) {
				covered = covered || !r.Deny
			}
			if AddrClass(dst) != "" && !covered {
				t.Fatalf("name allowed to special address %v: %+v", dst, d)
			}
		}
	})
}

// servletPath is how a Tomcat-like server that decodes the path (as often
// as it takes) routes it: backslashes as slashes, ";parameters" dropped from
// each segment, dot segments resolved. ok is false when a segment is "." or
// ".." only once its parameters are gone, which such a server may resolve.
func servletPath(raw string) (routed string, ok bool) {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	for range 10 {
		dec, err := url.PathUnescape(raw)
		if err != nil || dec == raw {
			break
		}
		raw = dec
	}
	segs := strings.Split(strings.ReplaceAll(raw, "\\", "/"), "/")
	for i, seg := range segs {
		base, _, params := strings.Cut(seg, ";")
		if params && (base == "." || base == "..") {
			return "", false
		}
		segs[i] = base
	}
	return path.Clean("/" + strings.Join(segs, "/")), true
}

// FuzzEdit: adding then removing a rule leaves a valid file, removal finds
// the rule that was added, and the editor never fails with an internal
// error (an edit it made that does not parse), also in a file with aliases.
func FuzzEdit(f *testing.F) {
	var inputs [][]byte
	for _, name := range []string{"commented.yaml", "aliases.yaml", "credentials.yaml"} {
		in, err := os.ReadFile("testdata/edit/" + name)
		if err != nil {
			f.Fatal(err)
		}
		inputs = append(inputs, in)
	}
	f.Add("new.example.com", uint16(0), "", "")
	f.Add("*.example.org", uint16(8443), "post", "/a/**")
	f.Add("a.example.org", uint16(0), "GET", "/a;jsessionid=1/**")
	f.Add("a.example.com", uint16(0), "", "")
	f.Add("b.example.com", uint16(8443), "", "")
	f.Add("10.0.0.0/8", uint16(5432), "", "")
	f.Add("github.com", uint16(0), "", "")
	f.Fuzz(func(t *testing.T, host string, port uint16, method, path string) {
		spec := RuleSpec{Host: host}
		if port != 0 {
			spec.Ports = []uint16{port}
		}
		if method != "" {
			spec.Methods = []string{method}
		}
		if path != "" {
			spec.Paths = []string{path}
		}
		for _, in := range inputs {
			if _, err := Remove("c.yaml", in, spec, true); err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Remove: %v", err)
			}
			res, err := Add("c.yaml", in, spec)
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Add: %v", err)
			}
			if err != nil || res.Existing != "" {
				continue
			}
			if _, err := Parse("c.yaml", res.Data); err != nil {
				t.Fatalf("Add produced an invalid file: %v\n%s", err, res.Data)
			}
			back, err := Remove("c.yaml", res.Data, spec, false)
			if err != nil {
				t.Fatalf("Remove after Add: %v\n%s", err, res.Data)
			}
			if string(back.Data) != string(in) {
				t.Fatalf("add then remove did not restore the file:\n%s", back.Data)
			}
		}
	})
}

// FuzzCredentialEdit: adding a credential either fails with a user error or
// gives a valid file holding it, which removing it edits back to a valid
// file without it; the editor never fails with an internal error.
func FuzzCredentialEdit(f *testing.F) {
	var inputs [][]byte
	for _, name := range []string{"credentials.yaml", "credentials-flow.yaml", "credentials-empty.yaml", "commented.yaml"} {
		in, err := os.ReadFile("testdata/edit/" + name)
		if err != nil {
			f.Fatal(err)
		}
		inputs = append(inputs, in)
	}
	f.Add("anthropic", "api.anthropic.com", uint8(1), "x-api-key", "env:K", "K")
	f.Add("new", "*.example.org", uint8(3), "x-access-token", "command:a 'b c'", "")
	f.Add("github", "github.com", uint8(4), "key", "file:/x", "")
	f.Add("aws", "s3.example.com", uint8(5), "", "keychain:a/b", "")
	f.Fuzz(func(t *testing.T, name, host string, kind uint8, arg, source, env string) {
		src, err := ParseSource(source)
		if err != nil {
			return
		}
		spec := CredentialSpec{Name: name, Hosts: []string{host}, Kind: CredentialKind(kind % 6), Header: arg, BasicUser: arg, Query: arg, Source: src, AgentEnv: env}
		if spec.Kind == CredAWS {
			spec.AccessKeyID, spec.SecretAccessKey, spec.AgentEnv = src, src, ""
		}
		for _, in := range inputs {
			res, err := AddCredential("c.yaml", in, spec)
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("AddCredential: %v", err)
				}
				continue
			}
			if res.Existing != "" {
				continue
			}
			p, err := Parse("c.yaml", res.Data)
			if err != nil {
				t.Fatalf("AddCredential produced an invalid file: %v\n%s", err, res.Data)
			}
			found := false
			for _, c := range p.Credentials() {
				found = found || c.Name == name
			}
			if !found {
				t.Fatalf("credential %q not in\n%s", name, res.Data)
			}
			back, err := RemoveCredential("c.yaml", res.Data, name)
			if err != nil {
				t.Fatalf("RemoveCredential: %v\n%s", err, res.Data)
			}
			if _, err := Parse("c.yaml", back.Data); err != nil {
				t.Fatalf("RemoveCredential produced an invalid file: %v\n%s", err, back.Data)
			}
		}
	})
}

// checkGitEntry: an entry's own smart-HTTP endpoints are recognised as its
// (or an earlier entry's on the same host) and admitted, unless a deny rule
// says otherwise; its ref decisions never panic.
func checkGitEntry(t *testing.T, p *Policy, g *GitRepo) {
	t.Helper()
	if g.Host == "" || g.Path == "" || strings.HasSuffix(g.Path, ".git") || strings.Trim(g.Path, "/") != g.Path {
		t.Fatalf("entry %s not canonical: %q %q", g.ID, g.Host, g.Path)
	}
	base := strings.NewReplacer("**", "x", "*", "y").Replace(g.Path)
	for _, suffix := range []string{"/info/refs", ".git/git-upload-pack", "/git-receive-pack"} {
		path := "/" + base + suffix
		e, svc := p.GitRepoFor(g.Host, path)
		if e == nil || svc == GitNone || e.Host != g.Host {
			t.Fatalf("GitRepoFor(%s, %s) = %v %v; want an entry of the host", g.Host, path, e, svc)
		}
		d := p.Decide(Request{Scheme: "https", Host: g.Host, Method: "POST", Path: path})
		if d.Denied() && d.Cause != CauseDenyRule {
			t.Fatalf("%s: POST %s denied (%v: %s); only a deny rule may", g.ID, path, d.Cause, d.Explain())
		}
	}
	if d := p.DecideConnect(g.Host, 443); d.Action == ActionTunnel {
		t.Fatalf("%s: CONNECT %s:443 tunnels (%s)", g.ID, g.Host, d.Explain())
	}
	g.Decide("0", "1", "refs/heads/x")
	g.Decide("1", "0", "refs/heads/../x")
	_ = g.String()
}
