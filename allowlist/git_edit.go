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

// GitSpec is a `git:` entry as `bottle git add` names it.
type GitSpec struct {
	Repo          string   // host/path, ".git" optional
	Push          []string // ref globs; none: read-only
	Delete        bool
	Credential    string // a credentials: entry's name, or ""
	Scan          GitScan
	GitleaksAllow bool
}

// gitSpec is a GitSpec validated and in canonical form.
type gitSpec struct {
	GitSpec
	host, path string
}

func (g gitSpec) repo() string { return g.host + "/" + g.path }

// normalize validates the spec, phrasing each problem in terms of the
// command's arguments and flags.
func (s GitSpec) normalize() (gitSpec, error) {
	n := gitSpec{GitSpec: s}
	host, path, err := ParseRepo(s.Repo)
	if err != nil {
		return n, fmt.Errorf("repository %q %v", s.Repo, err)
	}
	n.host, n.path = host, path
	n.Push = nil
	for _, g := range s.Push {
		if err := CheckRefGlob(g); err != nil {
			return n, fmt.Errorf("--push %q %v", g, err)
		}
		if !slices.Contains(n.Push, g) {
			n.Push = append(n.Push, g)
		}
	}
	if s.Delete && n.Push == nil {
		return n, errors.New("--delete lets the agent delete only the refs --push names; add --push GLOB")
	}
	if s.Credential != "" {
		if err := CheckCredentialName(s.Credential); err != nil {
			return n, fmt.Errorf("--credential %q %v", s.Credential, err)
		}
	}
	return n, nil
}

// equal reports whether the parsed entry g is what n describes.
func (n gitSpec) equal(g *GitRepo) bool {
	return g.Host == n.host && g.Path == n.path && slices.Equal(g.Push, n.Push) && g.Delete == n.Delete &&
		g.Credential == n.Credential && g.Scan == n.Scan && g.GitleaksAllow == n.GitleaksAllow
}

// fits checks the spec's credential against the file's credentials, in the
// words of the command's flags.
func (n gitSpec) fits(file string, pol *Policy) error {
	if n.Credential == "" {
		return nil
	}
	for _, c := range pol.creds {
		if c.Name != n.Credential {
			continue
		}
		switch {
		case c.Kind != CredBasic:
			return fmt.Errorf("--credential %s is a %s credential, but git signs in with Basic auth; declare one with --basic-user (bottle secret add %s --host %s --basic-user x-access-token --from SOURCE)", c.Name, c.Kind, c.Name, n.host)
		case !c.Matches(n.host):
			return fmt.Errorf("--credential %s is bound to %s, not to %s, so the proxy would never send it there; add the host to it (bottle secret add %s --host %s … with all its hosts)", c.Name, strings.Join(c.Hosts(), ", "), n.host, c.Name, n.host)
		}
		return nil
	}
	return fmt.Errorf("--credential %s is not a credential of %s; declare it first (bottle git add %s without --credential lets the host in, then bottle secret add %s --host %s --basic-user x-access-token --from SOURCE)",
		n.Credential, file, n.repo(), n.Credential, n.host)
}

// AddGit returns data with the repository declared: an entry for the same
// repository is replaced where it stands, else the entry is appended to
// `git:` (made when the file has none). Everything else in the file stays
// byte for byte; the result is validated. A spec that equals the entry
// already there changes nothing (EditResult.Existing is its id).
func AddGit(file string, data []byte, spec GitSpec) (EditResult, error) {
	return addGit(file, data, spec, nil)
}

// AddGitEmbedded is AddGit for allowlist keys that live in another file,
// such as a project's bottle.yaml, whose own top-level keys are extra (see
// AddEmbedded).
func AddGitEmbedded(file string, data []byte, spec GitSpec, extra []string) (EditResult, error) {
	return addGit(file, data, spec, extra)
}

func addGit(file string, data []byte, spec GitSpec, extra []string) (EditResult, error) {
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
	if err := n.fits(file, pol); err != nil {
		return EditResult{}, err
	}
	for _, g := range pol.git {
		if n.equal(g) {
			return EditResult{Existing: g.ID}, nil
		}
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return EditResult{}, err
	}
	_, val := lookup(root, "git")
	idx := gitIndex(val, n.repo())
	res := EditResult{}
	if idx >= 0 {
		res.Replaced = fmt.Sprintf("git[%d]", idx)
	}
	render := func(dash, keyIndent, nl string) string { return renderGit(n, dash, keyIndent, nl) }
	return putEntry(file, data, root, "git", "the git entry", idx, res.Replaced, render, res, extra)
}

// gitIndex returns the index in the git list of the entry for repo (host/
// path, canonical), or -1.
func gitIndex(list *yaml.Node, repo string) int {
	if list == nil || list.Kind != yaml.SequenceNode {
		return -1
	}
	for i, item := range list.Content {
		item = yamlnode.Deref(item)
		if item.Kind != yaml.MappingNode {
			continue
		}
		_, v := lookup(item, "repo")
		if v = yamlnode.Deref(v); v == nil || v.Kind != yaml.ScalarNode {
			continue
		}
		if h, p, err := ParseRepo(v.Value); err == nil && h+"/"+p == repo {
			return i
		}
	}
	return -1
}

// renderGit writes one list item, with only the keys that differ from
// their defaults. dash is the indentation of "-", keyIndent that of the
// item's keys.
func renderGit(n gitSpec, dash, keyIndent, nl string) string {
	kv := [][2]string{{"repo", yamlString(n.repo())}}
	if n.Push != nil {
		globs := make([]string, len(n.Push))
		for i, g := range n.Push {
			globs[i] = quoted(g)
		}
		kv = append(kv, [2]string{"push", "[" + strings.Join(globs, ", ") + "]"})
	}
	if n.Delete {
		kv = append(kv, [2]string{"delete", "true"})
	}
	if n.Credential != "" {
		kv = append(kv, [2]string{"credential", yamlString(n.Credential)})
	}
	if n.Scan != GitScanBlock {
		kv = append(kv, [2]string{"scan", n.Scan.String()})
	}
	if n.GitleaksAllow {
		kv = append(kv, [2]string{"gitleaks_allow", "true"})
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

// quoted writes a ref glob in double quotes, as the examples do: a glob
// such as "refs/heads/*" would read as YAML that is not a string were
// it to start with "*", and quoting them all keeps them alike.
func quoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// RemoveGit returns data without the entry for repo (host/path, as `bottle
// git add` takes it). The error wraps ErrNoMatch when the file has no such
// entry.
func RemoveGit(file string, data []byte, repo string) (EditResult, error) {
	return removeGit(file, data, repo, nil)
}

// RemoveGitEmbedded is RemoveGit for allowlist keys that live in another
// file, whose own top-level keys are extra (see AddEmbedded).
func RemoveGitEmbedded(file string, data []byte, repo string, extra []string) (EditResult, error) {
	return removeGit(file, data, repo, extra)
}

func removeGit(file string, data []byte, repo string, extra []string) (EditResult, error) {
	host, path, err := ParseRepo(repo)
	if err != nil {
		return EditResult{}, fmt.Errorf("repository %q %v", repo, err)
	}
	canon := host + "/" + path
	pol, err := parse(file, data, extra)
	if err != nil {
		return EditResult{}, fmt.Errorf("%w\nfix the file before editing it", err)
	}
	root, err := parseYAML(file, data)
	if err != nil {
		return EditResult{}, err
	}
	_, val := lookup(root, "git")
	idx := gitIndex(val, canon)
	if idx < 0 {
		msg := fmt.Sprintf("%s: no git entry for %s", file, canon)
		if len(pol.git) > 0 {
			repos := make([]string, len(pol.git))
			for i, g := range pol.git {
				repos[i] = g.Repo()
			}
			msg += "; its repositories are " + strings.Join(repos, ", ")
		} else {
			msg += "; it declares no repositories"
		}
		return EditResult{}, fmt.Errorf("%w: %s", ErrNoMatch, msg)
	}
	id := fmt.Sprintf("git[%d]", idx)
	return removeItem(file, data, root, val, idx, id, EditResult{Removed: []string{id}}, extra)
}
