// Package shared holds what the `bottle git` verbs share: the edits of a
// `git:` entry in the allowlist `bottle allow` would edit (its --file and
// --bottle), and how an entry and the rule it implies are shown.
package shared

import (
	"strings"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/project"
)

// AddGit is allowlist.AddGit on the source's content.
func AddGit(src allowshared.Source, data []byte, spec allowlist.GitSpec) (allowlist.EditResult, error) {
	if src.Project {
		return allowlist.AddGitEmbedded(src.Path, data, spec, project.Keys())
	}
	return allowlist.AddGit(src.Path, data, spec)
}

// RemoveGit is allowlist.RemoveGit on the source's content.
func RemoveGit(src allowshared.Source, data []byte, repo string) (allowlist.EditResult, error) {
	if src.Project {
		return allowlist.RemoveGitEmbedded(src.Path, data, repo, project.Keys())
	}
	return allowlist.RemoveGit(src.Path, data, repo)
}

// Find returns the entry for the repository repo (as `bottle git add`
// takes it), or nil.
func Find(pol *allowlist.Policy, repo string) *allowlist.GitRepo {
	host, path, err := allowlist.ParseRepo(repo)
	if err != nil {
		return nil
	}
	for _, g := range pol.Git() {
		if g.Host == host && g.Path == path {
			return g
		}
	}
	return nil
}

// Implied returns the allow rule the entry implies.
func Implied(pol *allowlist.Policy, g *allowlist.GitRepo) *allowlist.Rule {
	for _, r := range pol.ImpliedRules() {
		if r.ID == g.ID {
			return r
		}
	}
	return nil
}

// ImpliedLine is the implied rule in one line, its paths cut after the
// first (all six are the repository's smart-HTTP endpoints, with and
// without ".git"): "git[0]: git.example.com ports 443 methods GET,POST
// paths /acme/widget/info/refs,…".
func ImpliedLine(r *allowlist.Rule) string {
	s := r.ID + ": " + r.HostPattern() + " ports " + allowlist.JoinPorts(r.Ports) + " methods " + strings.Join(r.Methods, ",")
	paths := r.PathGlobs()
	if len(paths) > 0 {
		s += " paths " + paths[0]
		if len(paths) > 1 {
			s += ",…"
		}
	}
	return s
}

// ImpliedJSON is the implied rule as `bottle allow list --json` and `bottle
// git list --json` print it: a rule, from "git".
func ImpliedJSON(r *allowlist.Rule) allowshared.RuleJSON {
	j := allowshared.ToJSON(r)
	j.From = "git"
	return j
}

// Push says what the agent may push: the globs, or "read-only".
func Push(g *allowlist.GitRepo) string {
	if g.Push == nil {
		return "read-only"
	}
	return strings.Join(g.Push, ",")
}

// Scan is the entry's scan setting, with gitleaks_allow when it is set.
func Scan(g *allowlist.GitRepo) string {
	if g.GitleaksAllow {
		return g.Scan.String() + " (honours gitleaks:allow)"
	}
	return g.Scan.String()
}
