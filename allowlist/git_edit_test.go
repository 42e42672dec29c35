package allowlist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/golden"
)

// TestGitEditGolden adds and removes git entries in the files in
// testdata/edit and compares the result byte for byte with NAME.golden.
func TestGitEditGolden(t *testing.T) {
	projectKeys := []string{"name", "image", "env", "workspace", "command", "memory"}
	full := GitSpec{Repo: "git.example.com/acme/tools.git/", Push: []string{"refs/heads/agent/**", "refs/tags/agent/*"}, Delete: true, Credential: "forge", Scan: GitScanReport, GitleaksAllow: true}
	tests := []struct {
		name      string
		in        string
		add       *GitSpec
		rm        string
		rewritten bool
		replaced  string
		extra     []string
	}{
		{name: "git-add-append", in: "git.yaml", add: &full},
		{name: "git-add-replace", in: "git.yaml", add: &GitSpec{Repo: "git.example.com/acme/widget.git", Push: []string{"refs/heads/bot/*"}, Scan: GitScanOff}, replaced: "git[0]"},
		{name: "git-add-new-section", in: "commented.yaml", add: &GitSpec{Repo: "git.example.com/acme/widget"}},
		{name: "git-add-empty-section", in: "git-empty.yaml", add: &GitSpec{Repo: "git.example.com/acme/widget", Push: []string{"refs/heads/agent/**"}}},
		{name: "git-add-flow", in: "git-flow.yaml", add: &GitSpec{Repo: "git.example.com/acme/docs", Push: []string{"refs/heads/agent/**"}}, rewritten: true, replaced: "git[1]"},
		{name: "git-add-crlf-zero-indent", in: "git-crlf.yaml", add: &GitSpec{Repo: "git.example.com/a/c"}},
		{name: "git-add-embedded", in: "git-project.yaml", add: &GitSpec{Repo: "git.example.com/acme/docs"}, extra: projectKeys},
		{name: "git-rm-first", in: "git.yaml", rm: "git.example.com/acme/widget.git"},
		{name: "git-rm-last", in: "git.yaml", rm: "git.example.com/acme/docs"},
		{name: "git-rm-flow", in: "git-flow.yaml", rm: "git.example.com/acme/widget", rewritten: true},
		{name: "git-rm-embedded", in: "git-project.yaml", rm: "git.example.com/acme/widget", extra: projectKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata/edit", tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var res EditResult
			switch {
			case tt.add != nil && tt.extra != nil:
				res, err = AddGitEmbedded(tt.in, in, *tt.add, tt.extra)
			case tt.add != nil:
				res, err = AddGit(tt.in, in, *tt.add)
			case tt.extra != nil:
				res, err = RemoveGitEmbedded(tt.in, in, tt.rm, tt.extra)
			default:
				res, err = RemoveGit(tt.in, in, tt.rm)
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Rewritten != tt.rewritten || res.Replaced != tt.replaced {
				t.Errorf("Rewritten, Replaced = %v, %q; want %v, %q", res.Rewritten, res.Replaced, tt.rewritten, tt.replaced)
			}
			golden.Check(t, filepath.Join("testdata/edit", tt.name+".golden"), res.Data)
			pol, err := ParseEmbedded(tt.in, res.Data, tt.extra)
			if err != nil {
				t.Fatalf("result does not parse: %v", err)
			}
			if tt.add != nil {
				h, p, _ := ParseRepo(tt.add.Repo)
				found := false
				for _, g := range pol.Git() {
					found = found || g.Repo() == h+"/"+p
				}
				if !found {
					t.Errorf("%s/%s not in the result", h, p)
				}
			}
			if !tt.rewritten && strings.Contains(string(in), "# ") && !strings.Contains(string(res.Data), "# ") {
				t.Errorf("comments lost:\n%s", res.Data)
			}
		})
	}
}

func TestGitEditErrors(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/git.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		spec GitSpec
		want string
	}{
		{GitSpec{Repo: "git.example.com"}, `repository "git.example.com" names no repository path`},
		{GitSpec{Repo: "git.example.com/a", Push: []string{"main"}}, `--push "main" must start with "refs/"`},
		{GitSpec{Repo: "git.example.com/a", Delete: true}, "--delete lets the agent delete only the refs --push names; add --push GLOB"},
		{GitSpec{Repo: "git.example.com/a", Credential: "Forge"}, `--credential "Forge" is not a credential name`},
		{GitSpec{Repo: "git.example.com/a", Credential: "gh"}, "--credential gh is not a credential of git.yaml; declare it first (bottle git add git.example.com/a without --credential lets the host in, then bottle secret add gh --host git.example.com --basic-user x-access-token --from SOURCE)"},
		{GitSpec{Repo: "other.example.com/a", Credential: "forge"}, "--credential forge is bound to git.example.com, not to other.example.com"},
	}
	for _, tt := range tests {
		_, err := AddGit("git.yaml", in, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddGit(%+v) = %v; want %q", tt.spec, err, tt.want)
		}
	}
	res, err := AddGit("git.yaml", in, GitSpec{Repo: "git.example.com/acme/docs.git/"})
	if err != nil || res.Existing != "git[1]" || res.Data != nil {
		t.Errorf("adding an entry already there = %+v %v; want Existing git[1], no data", res, err)
	}
	_, err = RemoveGit("git.yaml", in, "git.example.com/acme/other")
	if !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "no git entry for git.example.com/acme/other; its repositories are git.example.com/acme/widget, git.example.com/acme/docs") {
		t.Errorf("RemoveGit of an absent repo = %v", err)
	}
	// The git entry's implied rule is all that lets forge's host in: taking
	// it out would strand the credential.
	lone := []byte("version: 1\ngit:\n  - repo: git.example.com/acme/widget\ncredentials:\n  - {name: forge, hosts: [git.example.com], basic_user: x, source: env:T}\n")
	if _, err := RemoveGit("g.yaml", lone, "git.example.com/acme/widget"); err == nil || !strings.Contains(err.Error(), "credential forge is bound to git.example.com") {
		t.Errorf("RemoveGit stranding a credential = %v", err)
	}
}

// FuzzGitEdit: adding an entry either fails with a user error or gives a
// valid file declaring it, which removing it edits back to a valid file
// without it; the editor never fails with an internal error.
func FuzzGitEdit(f *testing.F) {
	var inputs [][]byte
	for _, name := range []string{"git.yaml", "git-flow.yaml", "git-empty.yaml", "git-crlf.yaml", "commented.yaml"} {
		in, err := os.ReadFile("testdata/edit/" + name)
		if err != nil {
			f.Fatal(err)
		}
		inputs = append(inputs, in)
	}
	f.Add("git.example.com/acme/widget", "refs/heads/agent/**", false, "forge", uint8(0))
	f.Add("git.example.com/acme/new.git", "refs/tags/*", true, "", uint8(1))
	f.Add("GIT.example.com/acme/**", "", false, "", uint8(2))
	f.Add("git.example.com/a/c", "refs/heads/x", false, "", uint8(0))
	f.Fuzz(func(t *testing.T, repo, push string, del bool, cred string, scan uint8) {
		spec := GitSpec{Repo: repo, Delete: del, Credential: cred, Scan: GitScan(scan % 3), GitleaksAllow: scan > 128}
		if push != "" {
			spec.Push = []string{push}
		}
		for _, in := range inputs {
			res, err := AddGit("g.yaml", in, spec)
			if err != nil {
				if strings.Contains(err.Error(), "internal error") {
					t.Fatalf("AddGit: %v", err)
				}
				continue
			}
			if res.Existing != "" {
				continue
			}
			p, err := Parse("g.yaml", res.Data)
			if err != nil {
				t.Fatalf("AddGit produced an invalid file: %v\n%s", err, res.Data)
			}
			h, path, _ := ParseRepo(repo)
			found := false
			for _, g := range p.Git() {
				found = found || g.Repo() == h+"/"+path
			}
			if !found {
				t.Fatalf("%s/%s not in\n%s", h, path, res.Data)
			}
			back, err := RemoveGit("g.yaml", res.Data, repo)
			if err != nil {
				if strings.Contains(err.Error(), "credential") && strings.Contains(err.Error(), "without the allow rule") {
					continue // the entry's implied rule was what let a credential's host in
				}
				t.Fatalf("RemoveGit: %v\n%s", err, res.Data)
			}
			q, err := Parse("g.yaml", back.Data)
			if err != nil {
				t.Fatalf("RemoveGit produced an invalid file: %v\n%s", err, back.Data)
			}
			for _, g := range q.Git() {
				if g.Repo() == h+"/"+path {
					t.Fatalf("%s/%s still in\n%s", h, path, back.Data)
				}
			}
		}
	})
}
