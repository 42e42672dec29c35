package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Getting the agent's work out: bottle diff and bottle pull on a real
// bottle whose workspace is a git repository, then a hostile agent that
// tries to reach the host through what it leaves in /workspace, then stop,
// which keeps the changes for a pull afterwards.

// hostGit runs the host's git in dir, as the user, without the machine's
// configuration.
func hostGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	c := exec.Command("git", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// gitState sums a repository's .git as a pull may not change it: every
// file and symlink but the object store and the refs named in allowed.
func gitState(t *testing.T, repo string, allowed ...string) string {
	t.Helper()
	gitDir := filepath.Join(repo, ".git")
	h := sha256.New()
	err := filepath.WalkDir(gitDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(gitDir, p)
		rel = filepath.ToSlash(rel)
		if rel == "objects" {
			return fs.SkipDir
		}
		if slices.Contains(allowed, rel) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.Write([]byte(rel + "\x00" + info.Mode().String() + "\x00"))
		switch {
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			h.Write([]byte(target))
		}
		h.Write([]byte{0})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listTree lists every path under dir, slash-separated.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// TestWorkOut: diff and pull on a running bottle and a stopped one, and a
// hostile workspace that gets nothing onto the host but plain files.
func TestWorkOut(t *testing.T) { workOut(t, "docker") }

// TestWorkOutMacOSContainer is TestWorkOut through the macos-container
// backend (Apple's cp writes the copy itself; bottle checks it after).
func TestWorkOutMacOSContainer(t *testing.T) { workOut(t, "macos-container") }

func workOut(t *testing.T, backend string) {
	w := newWorld(t, backend)
	// The user's repository, with a hook of its own that must never run.
	repo := filepath.Join(t.TempDir(), "project")
	os.MkdirAll(repo, 0o755)
	hostGit(t, repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "README"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "main.go"), []byte("package main\n"), 0o644)
	hostGit(t, repo, "add", ".")
	hostGit(t, repo, "commit", "-qm", "first")
	base := hostGit(t, repo, "rev-parse", "HEAD")
	hooksBefore := listTree(t, filepath.Join(repo, ".git", "hooks")) // git's samples
	marker := filepath.Join(t.TempDir(), "ran")
	launch := func(name string) {
		t.Helper()
		_, errs, code := w.bottle("launch", name, "--workspace", repo, "--egress-network", w.net,
			"--upstream-dns", w.simA+":53", "--upstream-ca", w.rootPEM)
		t.Cleanup(func() { w.bottle("stop", "--force", name) })
		if code != 0 {
			t.Fatalf("launch %s: exit %d\n%s", name, code, errs)
		}
		if !strings.Contains(errs, "baseline of the workspace recorded (git tree ") {
			t.Errorf("launch does not say it recorded the baseline:\n%s", errs)
		}
	}
	launch("wo1")
	before := gitState(t, repo)
	refs := hostGit(t, repo, "for-each-ref")

	// The agent commits one change and leaves another uncommitted.
	if out, code := w.sh("wo1", `set -e
printf 'package main\n\nfunc main() {}\n' > main.go
git -c user.email=agent@example.com -c user.name=agent commit -qam "agent: a main"
printf 'hello\nfrom the agent\n' > README
mkdir -p docs && echo '# notes' > docs/notes.md`); code != 0 {
		t.Fatalf("the agent's work: exit %d\n%s", code, out)
	}

	t.Run("diff", func(t *testing.T) {
		out, errs, code := w.bottle("diff", "wo1")
		for _, want := range []string{"diff --git a/README b/README", "+from the agent", "diff --git a/main.go b/main.go", "+func main() {}", "+++ b/docs/notes.md"} {
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("diff lacks %q: exit %d\n%s%s", want, code, out, errs)
			}
		}
		if out, _, code = w.bottle("diff", "wo1", "--name-only"); code != 0 || out != "README\ndocs/notes.md\nmain.go\n" {
			t.Errorf("--name-only: exit %d %q", code, out)
		}
		if out, _, code = w.bottle("diff", "wo1", "--stat"); code != 0 || !strings.Contains(out, "3 files changed") {
			t.Errorf("--stat: exit %d\n%s", code, out)
		}
	})

	t.Run("pull_branch", func(t *testing.T) {
		out, errs, code := w.bottle("pull", "wo1")
		if code != 0 || !strings.Contains(out, "made branch bottle/wo1 in "+repo+" from bottle wo1: 1 commit of the agent's, and 1 commit of what it left uncommitted") ||
			!strings.Contains(out, "log --stat -p "+base[:12]+"..bottle/wo1") || !strings.Contains(out, "merge bottle/wo1") {
			t.Fatalf("pull: exit %d\n%s%s", code, out, errs)
		}
		if got := hostGit(t, repo, "log", "--format=%s", base+"..bottle/wo1"); got != "What the agent left uncommitted in bottle wo1\nagent: a main" {
			t.Errorf("the branch's commits:\n%s", got)
		}
		if got := hostGit(t, repo, "show", "bottle/wo1:docs/notes.md"); got != "# notes" {
			t.Errorf("docs/notes.md on the branch: %q", got)
		}
		if got := gitState(t, repo, "refs/heads/bottle", "refs/heads/bottle/wo1"); got != before {
			t.Error("the pull changed the host's .git beyond objects and the new ref (hooks, config, HEAD, index, other refs, logs)")
		}
		if got := hostGit(t, repo, "for-each-ref", "--format=%(refname)"); got != "refs/heads/bottle/wo1\nrefs/heads/main" {
			t.Errorf("refs: %s (were %s)", got, refs)
		}
		if hostGit(t, repo, "status", "--porcelain") != "" || hostGit(t, repo, "rev-parse", "HEAD") != base {
			t.Error("the pull changed the work tree or HEAD")
		}
		hostGit(t, repo, "fsck", "--strict")
		if _, errs, code := w.bottle("pull", "wo1"); code != 1 || !strings.Contains(errs, "branch bottle/wo1 already exists in "+repo+": pull into another with --branch NAME, or replace it with --force") {
			t.Errorf("a second pull: exit %d %s", code, errs)
		}
	})

	t.Run("pull_patch", func(t *testing.T) {
		patch := filepath.Join(t.TempDir(), "agent.patch")
		if out, errs, code := w.bottle("pull", "wo1", "--patch", patch); code != 0 || !strings.Contains(out, "wrote "+patch+": 3 paths changed") {
			t.Fatalf("--patch: exit %d\n%s%s", code, out, errs)
		}
		clone := filepath.Join(t.TempDir(), "clone")
		hostGit(t, repo, "clone", "-q", "--no-checkout", repo, clone)
		hostGit(t, clone, "checkout", "-q", base)
		hostGit(t, clone, "apply", "--index", patch)
		if got := hostGit(t, clone, "diff", "--cached", "--name-only"); got != "README\ndocs/notes.md\nmain.go" {
			t.Errorf("the patch applied: %s", got)
		}
		if got := hostGit(t, clone, "diff", "--cached", "origin/bottle/wo1"); got != "" {
			t.Errorf("the patch is not the branch:\n%s", got)
		}
	})

	t.Run("hostile", func(t *testing.T) {
		launch("wo2")
		before := gitState(t, repo)
		// Symlinks out, a hook and config in its .git (and in a .GIT, the
		// same directory on a case-insensitive disk), names that look like
		// paths, and a fifo.
		out, code := w.sh("wo2", `set -e
ln -s /etc/passwd passwd
ln -s ../../x up
ln -s README inside
printf '#!/bin/sh\ntouch `+marker+`\n' > .git/hooks/post-checkout
chmod +x .git/hooks/post-checkout
git config core.hooksPath .git/hooks
git config core.fsmonitor 'touch `+marker+`'
mkdir -p .GIT/hooks && cp .git/hooks/post-checkout .GIT/hooks/post-checkout
echo sneaky > '..%2Fx'
echo newline > "$(printf 'a\nb')"
echo dash > ./--help
mkfifo pipe`)
		if code != 0 {
			t.Fatalf("the hostile agent: exit %d\n%s", code, out)
		}
		target := t.TempDir()
		into := filepath.Join(target, "files")
		patch := filepath.Join(target, "p.patch")
		// refused reports whether errs is one of the refusals, by name.
		refused := func(errs string, wants ...string) bool {
			if backend == "macos-container" {
				// Apple's cp writes the copy itself; the double's (docker
				// cp into a directory) refuses a symlink out of it first,
				// naming it.
				wants = append(wants, `Error: invalid symlink "`)
			}
			for _, want := range wants {
				if strings.Contains(errs, want) {
					return true
				}
			}
			return false
		}
		// The fifo is refused by name first, in every mode; nothing written.
		for _, args := range [][]string{{"diff", "wo2"}, {"pull", "wo2"}, {"pull", "wo2", "--into", into}, {"pull", "wo2", "--patch", patch}} {
			if _, errs, code := w.bottle(args...); code != 1 || !refused(errs, "/workspace/pipe is a fifo: bottle takes only files, directories and symlinks; remove it in the bottle and try again") {
				t.Errorf("%v with a fifo: exit %d %s", args, code, errs)
			}
		}
		w.sh("wo2", "rm pipe")
		// The symlink to /etc/passwd (or ../../x) is refused, by name.
		for _, args := range [][]string{{"pull", "wo2", "--branch", "hostile"}, {"pull", "wo2", "--into", into}, {"pull", "wo2", "--patch", patch}} {
			_, errs, code := w.bottle(args...)
			if code != 1 || !refused(errs, `/workspace/passwd is a symlink to "/etc/passwd", outside the workspace; bottle pull refuses it`,
				`/workspace/up is a symlink to "../../x", outside the workspace; bottle pull refuses it`) {
				t.Errorf("%v with symlinks out: exit %d %s", args, code, errs)
			}
		}
		if got := listTree(t, target); len(got) != 0 {
			t.Errorf("a refused pull wrote %v", got)
		}
		if _, err := os.Lstat(filepath.Join(repo, "..", "..", "x")); !os.IsNotExist(err) {
			t.Errorf("something was written where the symlink up points: %v", err)
		}
		if gitState(t, repo) != before || hostGit(t, repo, "for-each-ref", "--format=%(refname)") != "refs/heads/bottle/wo1\nrefs/heads/main" {
			t.Error("a refused pull changed the host repository")
		}
		w.sh("wo2", "rm passwd up")

		// A symlink that climbs out of a name the workspace does not have
		// (an ignored symlink of the user's could be there), and plain
		// files that make a directory git would take for a repository
		// whose config runs a command: each refused, by name.
		for _, step := range []struct{ make, want, remove string }{
			{`mkdir -p ex/objects ex/refs && echo 'ref: refs/heads/main' > ex/HEAD && touch ex/objects/k ex/refs/k && printf '[core]\n\tfsmonitor = touch ` + marker + `\n' > ex/config`,
				"/workspace/ex is a directory git would take for a repository (it holds HEAD and ", "rm -r ex"},
			{"ln -s nowhere/../../x sneaky", `/workspace/sneaky is a symlink to "nowhere/../../x", outside the workspace; bottle pull refuses it`, "rm sneaky"},
		} {
			if out, code := w.sh("wo2", step.make); code != 0 {
				t.Fatalf("the hostile agent: exit %d\n%s", code, out)
			}
			for _, args := range [][]string{{"pull", "wo2", "--branch", "hostile"}, {"pull", "wo2", "--into", into}, {"pull", "wo2", "--patch", patch}} {
				if _, errs, code := w.bottle(args...); code != 1 || !refused(errs, step.want) {
					t.Errorf("%v: exit %d %s, want %s", args, code, errs, step.want)
				}
			}
			_, errs, code := w.bottle("diff", "wo2", "--name-only")
			if !(code == 0 && strings.Contains(errs, "warning: "+step.want) || backend == "macos-container" && refused(errs)) {
				t.Errorf("diff: exit %d %s, want the warning %s", code, errs, step.want)
			}
			w.sh("wo2", step.remove)
		}
		if got := listTree(t, target); len(got) != 0 {
			t.Errorf("a refused pull wrote %v", got)
		}

		// Now the rest comes out, neutralised: the names as plain files in
		// the workspace, no .git or .GIT of the agent's, no hook run.
		if out, errs, code := w.bottle("pull", "wo2", "--branch", "hostile"); code != 0 {
			t.Fatalf("pull: exit %d\n%s%s", code, out, errs)
		}
		if got := hostGit(t, repo, "ls-tree", "-r", "--name-only", "hostile"); got != "--help\n..%2Fx\nREADME\n\"a\\nb\"\ninside\nmain.go" {
			t.Errorf("the branch's files:\n%s", got)
		}
		if mode := hostGit(t, repo, "ls-tree", "hostile", "inside"); !strings.HasPrefix(mode, "120000 ") {
			t.Errorf("the symlink inside: %s", mode)
		}
		if gitState(t, repo, "refs/heads/hostile") != before {
			t.Error("the pull changed the host's .git beyond objects and the new ref")
		}
		if out, errs, code := w.bottle("pull", "wo2", "--into", into); code != 0 {
			t.Fatalf("--into: exit %d\n%s%s", code, out, errs)
		}
		got := listTree(t, target)
		want := []string{"files", "files/--help", "files/..%2Fx", "files/a\nb", "files/inside"}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("--into wrote %q, want %q", got, want)
		}
		if link, err := os.Readlink(filepath.Join(into, "inside")); err != nil || link != "README" {
			t.Errorf("the symlink inside: %q %v", link, err)
		}
		// A checkout of the branch on the host runs no hook of the agent's.
		hostGit(t, repo, "checkout", "-q", "hostile")
		hostGit(t, repo, "checkout", "-q", "main")
		if _, err := os.Stat(marker); !os.IsNotExist(err) {
			t.Errorf("the agent's hook or fsmonitor ran on the host: %v", err)
		}
		if hooks := listTree(t, filepath.Join(repo, ".git", "hooks")); !slices.Equal(hooks, hooksBefore) {
			t.Errorf("hooks in the host repository: %v, were %v", hooks, hooksBefore)
		}
		if cfg := hostGit(t, repo, "config", "--local", "--list"); strings.Contains(cfg, "hookspath") || strings.Contains(cfg, "fsmonitor") {
			t.Errorf("the host's config: %s", cfg)
		}
	})

	t.Run("stop_keeps_changes", func(t *testing.T) {
		if out, code := w.sh("wo1", "echo after >> README"); code != 0 {
			t.Fatalf("exit %d %s", code, out)
		}
		out, errs, code := w.bottle("stop", "wo1")
		if code != 0 || !strings.HasPrefix(out, "stopped wo1") ||
			!strings.Contains(errs, "wo1: /workspace has 3 changed paths that were not pulled; they are kept: see them with bottle diff wo1, get them with bottle pull wo1") {
			t.Fatalf("stop: exit %d\n%s%s", code, out, errs)
		}
		if left := docker(t, "ps", "-aq", "--filter", "name=bottle-wo1-"); left != "" {
			t.Errorf("containers left after stop: %s", left)
		}
		if data, err := os.ReadFile(filepath.Join(w.state, "bottle", "wo1", "workspace", "saved", "files", "README")); err != nil || string(data) != "hello\nfrom the agent\nafter\n" {
			t.Errorf("the saved copy in the state dir: %q %v", data, err)
		}
		out, errs, code = w.bottle("diff", "wo1")
		if code != 0 || !strings.Contains(out, "+after") || !strings.Contains(errs, "bottle wo1 is stopped: its /workspace as bottle stop saved it") {
			t.Errorf("diff after stop: exit %d\n%s%s", code, out, errs)
		}
		if out, errs, code = w.bottle("pull", "wo1", "--branch", "after-stop"); code != 0 {
			t.Fatalf("pull after stop: exit %d\n%s%s", code, out, errs)
		}
		if got := hostGit(t, repo, "show", "after-stop:README"); got != "hello\nfrom the agent\nafter" {
			t.Errorf("README on after-stop: %q", got)
		}
		if _, errs, code = w.bottle("stop", "wo1"); code != 0 || strings.Contains(errs, "not pulled") {
			t.Errorf("stop after the pull still warns: %s", errs)
		}
		// bottle rm takes the saved changes with the state directory.
		if out, errs, code := w.bottle("rm", "wo1"); code != 0 {
			t.Fatalf("rm: exit %d\n%s%s", code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(w.state, "bottle", "wo1", "workspace")); !os.IsNotExist(err) {
			t.Errorf("the saved changes outlived bottle rm: %v", err)
		}
	})
}
