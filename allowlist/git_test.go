package allowlist

import (
	"strconv"
	"strings"
	"testing"
)

const gitPolicy = `version: 1
allow:
  - host: api.example.com
  - host: ssh.example.com
    ports: [22]
    tls: passthrough
git:
  - repo: git.example.com/acme/widget.git
    push: ["refs/heads/agent/**", "refs/tags/*", "refs/heads/agent/**"]
    delete: true
    credential: forge
    scan: report
  - repo: git.example.com/acme/readonly
  - repo: ssh.example.com/team/*
    scan: off
    gitleaks_allow: true
credentials:
  - name: forge
    hosts: [git.example.com]
    basic_user: x-access-token
    source: env:FORGE_TOKEN
`

const zeros = "0000000000000000000000000000000000000000"

func TestParseGit(t *testing.T) {
	p := mustParse(t, gitPolicy)
	if got := len(p.Allow()); got != 2 {
		t.Errorf("Allow() = %d rules; want the file's 2 (implied rules are apart)", got)
	}
	g := p.Git()
	if len(g) != 3 {
		t.Fatalf("Git() = %d entries; want 3", len(g))
	}
	want := []string{
		"git[0]: git.example.com/acme/widget push refs/heads/agent/**,refs/tags/* delete credential forge scan report",
		"git[1]: git.example.com/acme/readonly read-only scan block",
		"git[2]: ssh.example.com/team/* read-only scan off gitleaks_allow",
	}
	for i, w := range want {
		if got := g[i].String(); got != w {
			t.Errorf("git[%d].String() = %q; want %q", i, got, w)
		}
	}
	if g[0].Line != 8 || g[0].Col != 5 {
		t.Errorf("git[0] at %d:%d; want 8:5", g[0].Line, g[0].Col)
	}
	rules := p.ImpliedRules()
	if len(rules) != 3 {
		t.Fatalf("ImpliedRules() = %d; want 3", len(rules))
	}
	wantRules := []string{
		"git[0]: git.example.com ports 443 methods GET,POST paths /acme/widget/info/refs,/acme/widget/git-upload-pack,/acme/widget/git-receive-pack,/acme/widget.git/info/refs,/acme/widget.git/git-upload-pack,/acme/widget.git/git-receive-pack",
		"git[1]: git.example.com ports 443 methods GET,POST paths /acme/readonly/info/refs,/acme/readonly/git-upload-pack,/acme/readonly/git-receive-pack,/acme/readonly.git/info/refs,/acme/readonly.git/git-upload-pack,/acme/readonly.git/git-receive-pack",
		"git[2]: ssh.example.com ports 443 methods GET,POST paths /team/*/info/refs,/team/*/git-upload-pack,/team/*/git-receive-pack",
	}
	for i, w := range wantRules {
		if got := rules[i].String(); got != w {
			t.Errorf("implied rule %d = %q; want %q", i, got, w)
		}
	}
}

// TestGitCredentialCoverage: a credential bound to a declared repository's
// host needs no allow rule of its own: the implied rule admits and
// intercepts the host.
func TestGitCredentialCoverage(t *testing.T) {
	mustParse(t, `version: 1
git:
  - repo: git.example.com/acme/widget
    credential: forge
credentials:
  - {name: forge, hosts: [git.example.com], basic_user: x-access-token, source: env:T}
`)
}

func TestGitInline(t *testing.T) {
	p, err := ParseEmbedded("bottle.yaml", []byte("version: 1\nname: demo\ngit:\n  - repo: git.example.com/acme/widget\n"), []string{"name"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Git()) != 1 {
		t.Fatalf("Git() = %v", p.Git())
	}
}

func TestDecideGit(t *testing.T) {
	p := mustParse(t, gitPolicy)
	tests := []struct {
		name  string
		req   Request
		allow bool
		rule  string
		cause Cause
	}{
		{"clone info/refs", Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/widget.git/info/refs?service=git-upload-pack"}, true, "git[0]", CauseAllowed},
		{"clone without .git", Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/widget/info/refs"}, true, "git[0]", CauseAllowed},
		{"fetch upload-pack", Request{Scheme: "https", Host: "git.example.com", Method: "POST", Path: "/acme/widget.git/git-upload-pack"}, true, "git[0]", CauseAllowed},
		{"push receive-pack", Request{Scheme: "https", Host: "git.example.com", Method: "POST", Path: "/acme/widget/git-receive-pack"}, true, "git[0]", CauseAllowed},
		{"read-only repo may still post receive-pack (the gate refuses the refs)", Request{Scheme: "https", Host: "git.example.com", Method: "POST", Path: "/acme/readonly/git-receive-pack"}, true, "git[1]", CauseAllowed},
		{"another repo on the host", Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/other.git/info/refs"}, false, "default", CausePath},
		{"the repo's web page", Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/widget"}, false, "default", CausePath},
		{"dumb protocol objects", Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/widget.git/objects/info/packs"}, false, "default", CausePath},
		{"escape from the repo", Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/widget.git/%2e%2e/other.git/info/refs"}, false, "default", CausePath},
		{"DELETE", Request{Scheme: "https", Host: "git.example.com", Method: "DELETE", Path: "/acme/widget.git/info/refs"}, false, "default", CauseMethod},
		{"port 80", Request{Scheme: "http", Host: "git.example.com", Method: "GET", Path: "/acme/widget.git/info/refs"}, false, "default", CausePort},
		{"glob repo", Request{Scheme: "https", Host: "ssh.example.com", Method: "GET", Path: "/team/tool.git/info/refs"}, true, "git[2]", CauseAllowed},
		{"file rule first", Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/"}, true, "allow[0]", CauseAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.req)
			if d.Allowed != tt.allow || d.Rule != tt.rule || d.Cause != tt.cause {
				t.Errorf("Decide = allowed %v rule %s cause %v (%s); want %v %s %v", d.Allowed, d.Rule, d.Cause, d.Explain(), tt.allow, tt.rule, tt.cause)
			}
		})
	}
	d := p.Decide(Request{Scheme: "https", Host: "git.example.com", Method: "GET", Path: "/acme/other.git/info/refs"})
	if want := "git[0] covers git.example.com but not this path (it allows /acme/widget/info/refs,"; !strings.HasPrefix(d.Explain(), want) {
		t.Errorf("reason = %q; want it to start %q", d.Explain(), want)
	}
	if d := p.DecideName("git.example.com"); d.Denied() || d.Rule != "git[0]" {
		t.Errorf("DecideName(git.example.com) = %+v; want allowed by git[0]", d)
	}
}

// TestDecideConnectGit: the implied rule intercepts; a passthrough tunnel
// to a declared repository's host is refused, naming the https URL.
func TestDecideConnectGit(t *testing.T) {
	p := mustParse(t, gitPolicy)
	if d := p.DecideConnect("git.example.com", 443); d.Denied() || d.Action != ActionIntercept || d.Rule != "git[0]" {
		t.Errorf("CONNECT git.example.com:443 = %+v; want intercepted by git[0]", d)
	}
	if d := p.DecideConnect("git.example.com", 22); !d.Denied() || d.Cause != CausePort {
		t.Errorf("CONNECT git.example.com:22 = %+v; want denied (port)", d)
	}
	d := p.DecideConnect("ssh.example.com", 22)
	if !d.Denied() || d.Cause != CauseGitSSH || d.Rule != "allow[1]" {
		t.Fatalf("CONNECT ssh.example.com:22 = %+v; want denied with git-ssh by allow[1]", d)
	}
	want := "ssh.example.com:22 matches allow[1] (tls: passthrough), but git over SSH would bypass the git gate; use https://ssh.example.com/team/* — bottle rewrites the agent's git@ssh.example.com: remotes to HTTPS"
	if d.Explain() != want {
		t.Errorf("reason = %q\nwant     %q", d.Explain(), want)
	}
	// The passthrough rule is there already: no command is offered.
	if cmd := p.AllowCommand(Request{Host: "ssh.example.com", Port: 22}, d, HintScope{}); cmd != "" {
		t.Errorf("AllowCommand offers %q for a refused git-over-SSH tunnel", cmd)
	}
	if d := p.DecideConnect("ssh.example.com", 443); d.Denied() || d.Action != ActionIntercept || d.Rule != "git[2]" {
		t.Errorf("CONNECT ssh.example.com:443 = %+v; want intercepted by git[2]", d)
	}
	rep := mustParse(t, "mode: report\n"+gitPolicy)
	if d := rep.DecideConnect("ssh.example.com", 22); !d.Allowed || !d.WouldDeny || d.Cause != CauseGitSSH {
		t.Errorf("report mode CONNECT = %+v; want a would-deny with git-ssh", d)
	}
}

func TestGitRepoFor(t *testing.T) {
	p := mustParse(t, gitPolicy)
	tests := []struct {
		host, path string
		id         string
		svc        GitService
	}{
		{"git.example.com", "/acme/widget.git/info/refs", "git[0]", GitInfoRefs},
		{"GIT.example.com.", "/acme/widget/git-upload-pack", "git[0]", GitUploadPack},
		{"git.example.com", "/acme/widget.git/git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/acme/%77idget.git/git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/acme//widget/./git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/acme/readonly/git-receive-pack", "git[1]", GitReceivePack},
		{"git.example.com", "/acme/widget.git.git/git-receive-pack", "", GitNone},
		{"git.example.com", "/acme/.git/git-receive-pack", "", GitNone},
		{"git.example.com", "/acme/widget.git/HEAD", "", GitNone},
		{"git.example.com", "/acme/other/git-receive-pack", "", GitNone},
		{"git.example.com", "/acme/widget/x/git-receive-pack", "", GitNone},
		{"other.example.com", "/acme/widget/git-receive-pack", "", GitNone},
		{"ssh.example.com", "/team/tool.git/git-receive-pack", "git[2]", GitReceivePack},
		{"ssh.example.com", "/team/git-receive-pack", "", GitNone},
		// Forges route paths without regard to case: every spelling of a
		// declared repository is gated.
		{"git.example.com", "/ACME/Widget/git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/acme/WIDGET.GIT/git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/Acme/Widget.git/GIT-RECEIVE-PACK", "git[0]", GitReceivePack},
		{"git.example.com", "/acme/%57idget/Info/Refs", "git[0]", GitInfoRefs},
		{"git.example.com", "/acme/ReadOnly/git-receive-pack", "git[1]", GitReceivePack},
		{"ssh.example.com", "/TEAM/Tool/git-receive-pack", "git[2]", GitReceivePack},
		{"git.example.com", "/acme/widget/git-receive-pack/", "git[0]", GitReceivePack},
		{"git.example.com", "/acme/widget;x=1/git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/acme%2Fwidget/git-receive-pack", "git[0]", GitReceivePack},
		{"git.example.com", "/acme/%252e/widget/git-receive-pack", "git[0]", GitReceivePack},
	}
	for _, tt := range tests {
		g, svc := p.GitRepoFor(tt.host, tt.path)
		id := ""
		if g != nil {
			id = g.ID
		}
		if id != tt.id || svc != tt.svc {
			t.Errorf("GitRepoFor(%s, %s) = %q %v; want %q %v", tt.host, tt.path, id, svc, tt.id, tt.svc)
		}
	}
}

func TestGitDecideRefs(t *testing.T) {
	p := mustParse(t, gitPolicy)
	widget, readonly := p.Git()[0], p.Git()[1]
	const a, b = "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222"
	tests := []struct {
		g             *GitRepo
		old, new, ref string
		ok            bool
		reason        string
	}{
		{widget, zeros, a, "refs/heads/agent/fix", true, "creating refs/heads/agent/fix is allowed by git[0]"},
		{widget, a, b, "refs/heads/agent/a/b/c", true, "updating refs/heads/agent/a/b/c is allowed by git[0]"},
		{widget, a, zeros, "refs/heads/agent/fix", true, "deleting refs/heads/agent/fix is allowed by git[0]"},
		{widget, a, b, "refs/heads/main", false, "refs/heads/main is not in push: refs/heads/agent/**, refs/tags/* of git[0]"},
		{widget, a, zeros, "refs/heads/main", false, "refs/heads/main is not in push: refs/heads/agent/**, refs/tags/* of git[0]"},
		{widget, a, b, "refs/heads/agent/../main", false, `"refs/heads/agent/../main" is not a valid ref name under refs/`},
		{widget, a, b, "HEAD", false, `"HEAD" is not a valid ref name under refs/`},
		{widget, zeros, zeros, "refs/heads/agent/x", false, "the command names neither an old nor a new object"},
		{readonly, zeros, a, "refs/heads/agent/x", false, "git.example.com/acme/readonly is read-only (git[1] has no push:)"},
		{readonly, a, zeros, "refs/heads/agent/x", false, "deleting refs is not allowed (git[1] has no delete: true)"},
	}
	for _, tt := range tests {
		ok, reason := tt.g.Decide(tt.old, tt.new, tt.ref)
		if ok != tt.ok || reason != tt.reason {
			t.Errorf("%s.Decide(%s) = %v %q; want %v %q", tt.g.ID, tt.ref, ok, reason, tt.ok, tt.reason)
		}
	}
	noDelete := mustParse(t, "version: 1\ngit: [{repo: git.example.com/acme/widget, push: [\"refs/heads/agent/**\"]}]\n").Git()[0]
	if ok, reason := noDelete.Decide(a, zeros, "refs/heads/agent/x"); ok || reason != "deleting refs is not allowed (git[0] has no delete: true)" {
		t.Errorf("delete without delete: = %v %q", ok, reason)
	}
	for ref, want := range map[string]bool{
		"refs/heads/agent":        true, // ** matches no segment too
		"refs/heads/agent/x":      true,
		"refs/heads/agentx":       false,
		"refs/heads/agent/x.lock": false,
		"refs/heads/agent//x":     false,
		"refs/tags/v1":            false,
	} {
		if got := noDelete.RefAllowed(ref); got != want {
			t.Errorf("RefAllowed(%q) = %v; want %v", ref, got, want)
		}
	}
}

func TestParseRepo(t *testing.T) {
	for in, want := range map[string]string{
		"git.example.com/acme/widget":       "git.example.com acme/widget",
		"Git.Example.com./acme/widget.git/": "git.example.com acme/widget",
		"git.example.com//acme/widget//":    "git.example.com acme/widget",
		"git.example.com/acme/**":           "git.example.com acme/**",
		"git.example.com/a/b/c.d":           "git.example.com a/b/c.d",
	} {
		h, p, err := ParseRepo(in)
		if err != nil || h+" "+p != want {
			t.Errorf("ParseRepo(%q) = %q %q %v; want %q", in, h, p, err, want)
		}
	}
	for _, in := range []string{"", "git.example.com/", "git.example.com/.git", "/acme/widget", "*/a", "a.b/c*", "a.b:443/c", "https://a.b/c", "git@a.b:c"} {
		if h, p, err := ParseRepo(in); err == nil {
			t.Errorf("ParseRepo(%q) = %q %q; want an error", in, h, p)
		}
	}
}

func TestGitEndpoint(t *testing.T) {
	for path, want := range map[string]string{
		"/acme/widget.git/info/refs":          "acme/widget 1",
		"/acme/widget/git-upload-pack":        "acme/widget 2",
		"/a/b/c.git/git-receive-pack?x=1":     "a/b/c 3",
		"/acme/%77idget.git/git-receive-pack": "acme/widget 3",
		"/acme/widget":                        " 0",
		"/info/refs":                          " 0",
		"/.git/info/refs":                     " 0",
		"/acme/wid%20get/info/refs":           " 0",
		"/acme/*/info/refs":                   " 0",
		"/a/../../info/refs":                  " 0",
	} {
		repo, svc := GitEndpoint(path)
		if got := repo + " " + strconv.Itoa(int(svc)); got != want {
			t.Errorf("GitEndpoint(%q) = %q; want %q", path, got, want)
		}
	}
}
