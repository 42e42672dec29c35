package allowlist

import (
	"strconv"
	"strings"
)

// service says which endpoint of the repository segs (a cleaned request
// path) addresses: …/info/refs, …/git-upload-pack or …/git-receive-pack
// under the repository's path, with or without ".git"; GitNone otherwise.
func (g *GitRepo) service(segs []string) GitService {
	repo, svc := gitEndpoint(segs)
	if svc != GitNone && g.matchRepo(repo) {
		return svc
	}
	return GitNone
}

// gitEndpoint splits a cleaned request path into the repository's part and
// the smart-HTTP endpoint after it; GitNone when it names none.
func gitEndpoint(segs []string) ([]string, GitService) {
	n := len(segs)
	switch {
	case n >= 2 && segs[n-2] == "info" && segs[n-1] == "refs":
		return segs[:n-2], GitInfoRefs
	case n >= 1 && segs[n-1] == "git-upload-pack":
		return segs[:n-1], GitUploadPack
	case n >= 1 && segs[n-1] == "git-receive-pack":
		return segs[:n-1], GitReceivePack
	}
	return nil, GitNone
}

// GitEndpoint reports whether an escaped request path is a smart-HTTP
// endpoint of some repository, declared or not, and returns that
// repository's path as `git:` writes it ("acme/widget": no ".git", no
// slashes at the ends) and the endpoint. It is GitNone for any other path,
// and for one whose repository part is empty or has characters a
// repository path cannot.
func GitEndpoint(path string) (repo string, svc GitService) {
	segs, err := CleanPath(path)
	if err != nil {
		return "", GitNone
	}
	parts, svc := gitEndpoint(segs)
	if svc == GitNone || len(parts) == 0 {
		return "", GitNone
	}
	p, err := gitPath("", strings.Join(parts, "/"))
	if err != nil || p == "" || strings.Contains(p, "*") {
		return "", GitNone
	}
	return p, svc
}

// matchRepo reports whether the path segments (lower-cased) name the
// repository, the last one with or without ".git".
func (g *GitRepo) matchRepo(repo []string) bool {
	if matchSegs(g.fold, repo) {
		return true
	}
	if len(repo) == 0 {
		return false
	}
	last := repo[len(repo)-1]
	base, ok := strings.CutSuffix(last, ".git")
	if !ok || base == "" {
		return false
	}
	trimmed := append(repo[:len(repo)-1:len(repo)-1], base)
	return matchSegs(g.fold, trimmed)
}

// RefAllowed reports whether push: lets the agent create or update ref, a
// full ref name ("refs/heads/agent/x"). A name git itself refuses
// ("refs/heads/a/../main") is never allowed.
func (g *GitRepo) RefAllowed(ref string) bool {
	if !validRef(ref) {
		return false
	}
	segs := strings.Split(ref, "/")
	for _, glob := range g.Push {
		if matchSegs(strings.Split(glob, "/"), segs) {
			return true
		}
	}
	return false
}

// validRef reports whether ref is a ref name under refs/ as git accepts
// it (git check-ref-format), so that globs match what the server would
// store.
func validRef(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") {
		return false
	}
	for _, seg := range strings.Split(ref, "/") {
		if seg == "" || refSegment(seg) != nil {
			return false
		}
	}
	return true
}

// Decide judges one ref-update command of a push: old and new are object
// ids in hex (all zeros for none), ref the ref's full name. Creating or
// updating a ref needs a push: glob that matches it; deleting one needs
// delete: true as well. The reason is what the agent reads after
// "! [remote rejected] REF (bottle: ", so it is short and names the entry.
func (g *GitRepo) Decide(old, new, ref string) (ok bool, reason string) {
	if !validRef(ref) {
		return false, strconv.Quote(ref) + " is not a valid ref name under refs/"
	}
	del := isZeroID(new)
	switch {
	case del && isZeroID(old):
		return false, "the command names neither an old nor a new object"
	case del && !g.Delete:
		return false, "deleting refs is not allowed (" + g.ID + " has no delete: true)"
	case g.Push == nil:
		return false, g.Repo() + " is read-only (" + g.ID + " has no push:)"
	case !g.RefAllowed(ref):
		return false, ref + " is not in push: " + strings.Join(g.Push, ", ") + " of " + g.ID
	case del:
		return true, "deleting " + ref + " is allowed by " + g.ID
	case isZeroID(old):
		return true, "creating " + ref + " is allowed by " + g.ID
	}
	return true, "updating " + ref + " is allowed by " + g.ID
}

// isZeroID reports whether an object id in hex is git's "no object": all
// zeros (40 for SHA-1, 64 for SHA-256). An empty id counts as none.
func isZeroID(id string) bool {
	return strings.Trim(id, "0") == ""
}

// String describes the entry in one line, as `bottle git list` and
// messages show it:
// "git[0]: git.example.com/acme/widget push refs/heads/agent/** scan block".
func (g *GitRepo) String() string {
	var b strings.Builder
	b.WriteString(g.ID + ": " + g.Repo())
	if g.Push == nil {
		b.WriteString(" read-only")
	} else {
		b.WriteString(" push " + strings.Join(g.Push, ","))
	}
	if g.Delete {
		b.WriteString(" delete")
	}
	if g.Credential != "" {
		b.WriteString(" credential " + g.Credential)
	}
	b.WriteString(" scan " + g.Scan.String())
	if g.GitleaksAllow {
		b.WriteString(" gitleaks_allow")
	}
	return b.String()
}
