package allowlist

import (
	"slices"
	"strings"
)

// The `git:` section: repositories the agent reaches over git's smart
// HTTP, whose pushes the sidecar's git gate (package gitgate) scopes and
// scans.
//
//	git:
//	  - repo: git.example.com/acme/widget   # host/path; ".git" optional; * and ** in the path
//	    push: ["refs/heads/agent/**"]       # refs the agent may create or update (none: read-only)
//	    delete: false                       # ref deletion
//	    credential: forge                   # a credentials: entry (Basic auth) bound to the host
//	    scan: block                         # block (default) | report | off
//	    gitleaks_allow: false               # honour "gitleaks:allow" comments in pushed content
//
// Each entry implies the allow rule its smart-HTTP endpoints need (GET
// …/info/refs, POST …/git-upload-pack and …/git-receive-pack, under the
// repository's path only, port 443, intercepted): ImpliedRules.

// GitScan says what the gate does with a secret in pushed content.
type GitScan uint8

const (
	GitScanBlock  GitScan = iota // the default: a finding rejects the push
	GitScanReport                // a finding is audited, the push goes on
	GitScanOff                   // no scan
)

func (s GitScan) String() string {
	switch s {
	case GitScanReport:
		return "report"
	case GitScanOff:
		return "off"
	}
	return "block"
}

// GitService is the smart-HTTP endpoint a request addresses.
type GitService uint8

const (
	GitNone        GitService = iota // not a smart-HTTP endpoint
	GitInfoRefs                      // GET …/info/refs (?service= says which)
	GitUploadPack                    // POST …/git-upload-pack (fetch, clone)
	GitReceivePack                   // POST …/git-receive-pack (push)
)

// GitRepo is one validated entry of `git:`.
type GitRepo struct {
	ID   string // "git[0]"
	Host string // canonical host name, exact ("git.example.com")
	// Path is the repository's path as written, without ".git" and
	// without leading or trailing "/" ("acme/widget", "acme/*").
	Path          string
	Push          []string // ref globs as written ("refs/heads/agent/**"); nil: read-only
	Delete        bool
	Credential    string // a credentials: entry's name, or ""
	Scan          GitScan
	GitleaksAllow bool // honour inline "gitleaks:allow" in pushed content

	Line, Col int // position of the entry in its file

	segs []string // Path split at "/"
	// fold is segs lower-cased: a request path is matched against it
	// lower-cased too, because forges route repository paths without
	// regard to case ("/ACME/Widget" is acme/widget on GitHub and GitLab),
	// and the gate must apply to every spelling that reaches the entry's
	// repository.
	fold []string
}

// Repo is the entry's repository as written in messages:
// "git.example.com/acme/widget".
func (g *GitRepo) Repo() string { return g.Host + "/" + g.Path }

// Git returns the entries in file order. The slice must not be modified.
func (p *Policy) Git() []*GitRepo { return p.git }

// ImpliedRules returns the allow rules the entries imply (ID "git[N]"),
// which Decide, DecideConnect and `bottle allow check` use like the
// file's own. Allow() does not return them: they are not the file's
// rules, and `bottle allow rm` cannot remove them (`bottle git rm` can).
func (p *Policy) ImpliedRules() []*Rule { return p.gitRules }

// GitRepoFor returns the entry whose repository path (escaped, as the
// proxy judges it) addresses on host, and which endpoint; nil, GitNone
// when none does. The first entry in file order wins. The path is
// matched without regard to case, its endpoint's name and ".git"
// included: a forge reads "/ACME/Widget.GIT/git-receive-pack" as a push
// to acme/widget, so the gate must take it as one (a path that a broad
// rule admits would otherwise reach the repository ungated). Erring this
// way only makes the gate judge a request that no forge would serve.
func (p *Policy) GitRepoFor(host, path string) (*GitRepo, GitService) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !slices.ContainsFunc(p.git, func(g *GitRepo) bool { return g.Host == host }) {
		return nil, GitNone // most requests: the path is not cleaned for them
	}
	segs, err := CleanPath(path)
	if err != nil {
		return nil, GitNone
	}
	for i, seg := range segs {
		segs[i] = strings.ToLower(seg)
	}
	for _, g := range p.git {
		if g.Host != host {
			continue
		}
		if svc := g.service(segs); svc != GitNone {
			return g, svc
		}
	}
	return nil, GitNone
}

// The rest of the entry's API (git_parse.go, git_ref.go):
//
//	func (g *GitRepo) service(segs []string) GitService
//	    which endpoint of the repository segs (a cleaned request path)
//	    addresses, GitNone when it is not one of its endpoints.
//	func (g *GitRepo) RefAllowed(ref string) bool
//	    whether push: lets the agent create or update ref.
//	func (g *GitRepo) Decide(old, new, ref string) (ok bool, reason string)
//	    judges one ref-update command (ids in hex; all zeros: none).
//	func (g *GitRepo) String() string
//	    "git[0]: git.example.com/acme/widget push refs/heads/agent/** scan block".
