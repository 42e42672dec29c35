package workspace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// branchFixture is a host repository, a bottle's baseline of it, and the
// agent's copy as play left it, compared.
func branchFixture(t *testing.T, play func(files string)) (string, *Changes, Baseline) {
	t.Helper()
	dir := hostRepoFixture(t)
	c, b := compareFixture(t, dir, play)
	return dir, c, b
}

// hostState sums the host repository as a pull may not change it: its
// .git but for objects/ and the new branch's ref, and its work tree.
func hostState(t *testing.T, dir, branch string) string {
	t.Helper()
	return checksum(t, filepath.Join(dir, ".git"), "objects", "refs/heads/"+branch) + checksum(t, dir, ".git")
}

func pull(t *testing.T, c *Changes, b Baseline, branch string) (Branched, error) {
	t.Helper()
	return c.Branch(context.Background(), BranchSpec{Baseline: b, Branch: branch, Bottle: "demo", Limit: DefaultLimit})
}

// TestBranchKeepsCommits: the agent's commits on top of the launch's HEAD
// are kept as commits, what it left uncommitted is one more on top, and the
// host repository gets nothing but objects and the new ref — its HEAD,
// index, config, hooks, other refs, reflogs and work tree are as they were.
func TestBranchKeepsCommits(t *testing.T) {
	dir, c, b := branchFixture(t, func(files string) {
		write(t, filepath.Join(files, "src", "a.go"), "package main // a\n")
		gitIn(t, files, "add", "src/a.go")
		gitIn(t, files, "commit", "-qm", "agent: add a")
		write(t, filepath.Join(files, "src", "b.go"), "package main // b\n")
		gitIn(t, files, "add", "src/b.go")
		gitIn(t, files, "commit", "-qm", "agent: add b")
		write(t, filepath.Join(files, "README"), "uncommitted\n")
	})
	before := hostState(t, dir, "bottle/demo")
	head := gitIn(t, dir, "rev-parse", "HEAD")
	res, err := pull(t, c, b, "bottle/demo")
	if err != nil {
		t.Fatal(err)
	}
	if res.Commits != 2 || !res.Uncommitted || res.Dropped != "" || res.Tip == "" {
		t.Errorf("result %+v", res)
	}
	if got := gitIn(t, dir, "log", "--format=%s", head+"..bottle/demo"); got != "What the agent left uncommitted in bottle demo\nagent: add b\nagent: add a" {
		t.Errorf("the branch's commits:\n%s", got)
	}
	if got := gitIn(t, dir, "show", "bottle/demo:README"); got != "uncommitted" {
		t.Errorf("README on the branch: %q", got)
	}
	if got := gitIn(t, dir, "rev-parse", "bottle/demo"); got != res.Tip {
		t.Errorf("branch at %s, want %s", got, res.Tip)
	}
	if after := hostState(t, dir, "bottle/demo"); after != before {
		t.Error("the pull changed the host's .git (but for objects and the new ref) or its work tree")
	}
	if gitIn(t, dir, "rev-parse", "HEAD") != head {
		t.Error("HEAD moved")
	}
	gitIn(t, dir, "fsck", "--strict", "--no-dangling")
}

// TestBranchOfUncommitted: without commits of the agent's, the branch is
// one commit on the launch's HEAD with its files.
func TestBranchOfUncommitted(t *testing.T) {
	dir, c, b := branchFixture(t, func(files string) {
		write(t, filepath.Join(files, "new.txt"), "new\n")
		os.Remove(filepath.Join(files, "notes.txt"))
	})
	res, err := pull(t, c, b, "bottle/demo")
	if err != nil {
		t.Fatal(err)
	}
	if res.Commits != 0 || !res.Uncommitted {
		t.Errorf("result %+v", res)
	}
	if got := gitIn(t, dir, "diff", "--name-status", b.Commit, "bottle/demo"); got != "A\tnew.txt" {
		// notes.txt was untracked on the host: it never was in HEAD.
		t.Errorf("the branch against HEAD:\n%s", got)
	}
	if got := gitIn(t, dir, "rev-parse", "bottle/demo^"); got != b.Commit {
		t.Errorf("parent %s, want %s", got, b.Commit)
	}
}

// TestBranchDropsUnrelatedHistory: commits that do not descend from the
// launch's HEAD (the agent rewrote its history) are not kept; its files
// still are, as one commit.
func TestBranchDropsUnrelatedHistory(t *testing.T) {
	dir, c, b := branchFixture(t, func(files string) {
		gitIn(t, files, "checkout", "-q", "--orphan", "rewritten")
		gitIn(t, files, "commit", "-qm", "from scratch")
		write(t, filepath.Join(files, "README"), "rewritten\n")
	})
	res, err := pull(t, c, b, "bottle/demo")
	if err != nil {
		t.Fatal(err)
	}
	if res.Commits != 0 || !strings.Contains(res.Dropped, "does not descend from the commit the bottle was launched from") {
		t.Errorf("result %+v", res)
	}
	if got := gitIn(t, dir, "log", "--format=%s", "bottle/demo"); !strings.HasPrefix(got, "What the agent left uncommitted in bottle demo\nsecond\nfirst") {
		t.Errorf("history:\n%s", got)
	}
}

// TestBranchRefusals: an existing branch, a workspace that was no
// repository's top level, a symlink out in one of the agent's commits (gone
// again from its files), and a forged object in its .git are refused, and
// each leaves the host repository exactly as it was, objects included.
func TestBranchRefusals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		play   func(files string)
		host   func(dir string)
		spec   func(b *Baseline)
		branch string
		want   string
	}{
		{name: "existing branch", host: func(dir string) { gitIn(t, dir, "branch", "bottle/demo") },
			play: func(files string) { write(t, filepath.Join(files, "x"), "x\n") }, want: "branch bottle/demo already exists in "},
		{name: "a ref in the way", host: func(dir string) { gitIn(t, dir, "branch", "bottle") },
			play: func(files string) { write(t, filepath.Join(files, "x"), "x\n") }, want: "making branch bottle/demo"},
		{name: "bad name", branch: "a..b", play: func(files string) { write(t, filepath.Join(files, "x"), "x\n") }, want: `"a..b" is not a valid branch name`},
		{name: "no repository", spec: func(b *Baseline) { b.Repo = "" }, play: func(files string) { write(t, filepath.Join(files, "x"), "x\n") },
			want: "not the top level of a git repository"},
		{name: "symlink out in a commit", play: func(files string) {
			os.Symlink("/etc/passwd", filepath.Join(files, "passwd"))
			gitIn(t, files, "add", "passwd")
			gitIn(t, files, "commit", "-qm", "sneaky")
			gitIn(t, files, "rm", "-q", "passwd")
			gitIn(t, files, "commit", "-qm", "gone again")
		}, want: `: /workspace/passwd is a symlink to "/etc/passwd", outside the workspace; bottle pull refuses it: pull the files as they are now, without the agent's commits, with --patch FILE or --into DIR`},
		{name: "forged object", play: func(files string) {
			write(t, filepath.Join(files, "forged.txt"), "the real content\n")
			gitIn(t, files, "add", "forged.txt")
			gitIn(t, files, "commit", "-qm", "forged")
			id := gitIn(t, files, "rev-parse", "HEAD:forged.txt")
			// Another object's bytes under this one's name.
			other := gitIn(t, files, "rev-parse", "HEAD^{tree}")
			data, err := os.ReadFile(filepath.Join(files, ".git", "objects", other[:2], other[2:]))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(files, ".git", "objects", id[:2], id[2:])
			os.Chmod(p, 0o644)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			// Gone from the files: only the agent's .git has the blob.
			os.Remove(filepath.Join(files, "forged.txt"))
		}, want: "(nothing was written to "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, c, b := branchFixture(t, tc.play)
			if tc.host != nil {
				tc.host(dir)
			}
			if tc.spec != nil {
				tc.spec(&b)
			}
			branch := tc.branch
			if branch == "" {
				branch = "bottle/demo"
			}
			before := checksum(t, dir)
			_, err := pull(t, c, b, branch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if after := checksum(t, dir); after != before {
				t.Error("a refused pull changed the host repository")
			}
		})
	}
}

// TestBranchEmptyRepository: a repository without a commit at launch gets
// a branch that starts with the agent's history.
func TestBranchEmptyRepository(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "empty")
	os.Mkdir(dir, 0o755)
	gitIn(t, dir, "init", "-q")
	write(t, filepath.Join(dir, "draft.txt"), "untracked at launch\n")
	c, b := compareFixture(t, dir, func(files string) {
		gitIn(t, files, "add", "draft.txt")
		gitIn(t, files, "commit", "-qm", "agent: first")
		write(t, filepath.Join(files, "more.txt"), "more\n")
	})
	if b.Repo == "" || b.Commit != "" {
		t.Fatalf("baseline %+v", b)
	}
	res, err := pull(t, c, b, "bottle/demo")
	if err != nil {
		t.Fatal(err)
	}
	if res.Commits != 1 || !res.Uncommitted {
		t.Errorf("result %+v", res)
	}
	if got := gitIn(t, dir, "log", "--format=%s", "bottle/demo"); got != "What the agent left uncommitted in bottle demo\nagent: first" {
		t.Errorf("history:\n%s", got)
	}
}

// TestBranchIdent: the commit of the uncommitted changes is by the host
// repository's user.
func TestBranchIdent(t *testing.T) {
	dir, c, b := branchFixture(t, func(files string) { write(t, filepath.Join(files, "x"), "x\n") })
	gitIn(t, dir, "config", "user.name", "Grace Hopper")
	gitIn(t, dir, "config", "user.email", "grace@example.com")
	if _, err := pull(t, c, b, "bottle/demo"); err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, dir, "log", "-1", "--format=%an <%ae>", "bottle/demo"); got != "Grace Hopper <grace@example.com>" {
		t.Errorf("author %q", got)
	}
}

// TestBranchReplace: with Replace an existing branch is moved to the
// pull's commit (and says where it was), but never one a work tree has
// checked out.
func TestBranchReplace(t *testing.T) {
	dir, c, b := branchFixture(t, func(files string) { write(t, filepath.Join(files, "x"), "x\n") })
	gitIn(t, dir, "branch", "bottle/demo")
	old := gitIn(t, dir, "rev-parse", "bottle/demo")
	res, err := c.Branch(context.Background(), BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: DefaultLimit, Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Replaced != old || gitIn(t, dir, "rev-parse", "bottle/demo") != res.Tip || res.Tip == old {
		t.Errorf("result %+v, branch at %s, was %s", res, gitIn(t, dir, "rev-parse", "bottle/demo"), old)
	}
	current := gitIn(t, dir, "symbolic-ref", "--short", "HEAD")
	before := checksum(t, dir)
	_, err = c.Branch(context.Background(), BranchSpec{Baseline: b, Branch: current, Bottle: "demo", Limit: DefaultLimit, Replace: true})
	if err == nil || !strings.Contains(err.Error(), "branch "+current+" is checked out in "+dir+", so bottle pull will not move it") {
		t.Fatalf("replacing the checked-out branch: %v", err)
	}
	if checksum(t, dir) != before {
		t.Error("the refused replace changed the host repository")
	}
}

// TestBranchRefusesObjectsOverLimit: an object of the agent's .git that
// expands to more than the limit (a few kilobytes on disk: zeros, as a
// delta bomb's would be) is refused before git reads any object of the
// agent's; objects each under the limit but over it in all are refused
// before anything is packed. Nothing is written to the host.
func TestBranchRefusesObjectsOverLimit(t *testing.T) {
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("no git on PATH")
	}
	zeros := func(n int) string { return strings.Repeat("\x00", n) }
	for _, tc := range []struct {
		name  string
		blobs []int
		want  string
		never []string // what git must not have been asked
	}{
		{"one object", []int{4 << 20}, "the agent's .git holds object ", []string{"pack-objects", "rev-list", "merge-base", "read-tree"}},
		{"in all", []int{600 << 10, 600 << 10}, "it is more than 1m unpacked; bottle pull takes at most that much (--max-size)", []string{"pack-objects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, c, b := branchFixture(t, func(files string) {
				for i, n := range tc.blobs {
					write(t, filepath.Join(files, fmt.Sprintf("big%d.bin", i)), zeros(n)+fmt.Sprint(i))
				}
				gitIn(t, files, "add", "-A")
				gitIn(t, files, "commit", "-qm", "agent: big")
				gitIn(t, files, "rm", "-q", "big*.bin")
				gitIn(t, files, "commit", "-qm", "agent: gone")
			})
			log := filepath.Join(t.TempDir(), "log")
			wrapper := filepath.Join(t.TempDir(), "git")
			write(t, wrapper, "#!/bin/sh\nprintf '%s\\n' \"$*\" >> "+log+"\nexec "+real+" \"$@\"\n")
			os.Chmod(wrapper, 0o755)
			c.g.Path = wrapper
			before := hostState(t, dir, "bottle/demo")
			_, err := c.Branch(context.Background(), BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: Limit{Bytes: 1 << 20, Files: 1000}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Branch: %v, want %s", err, tc.want)
			}
			ran, _ := os.ReadFile(log)
			if !strings.Contains(string(ran), " cat-file ") {
				t.Fatalf("no git was logged: %q", ran)
			}
			for _, cmd := range tc.never {
				if strings.Contains(string(ran), " "+cmd+" ") {
					t.Errorf("git %s ran:\n%s", cmd, ran)
				}
			}
			if hostState(t, dir, "bottle/demo") != before || gitIn(t, dir, "branch", "--list", "bottle/demo") != "" {
				t.Error("the host repository changed")
			}
		})
	}
}

// TestBranchKeepsConvertedFiles: a file the user's git converts as it
// checks it out (eol=crlf: LF in the commit, CRLF in the workspace), which
// the agent left alone, is not a change of the branch: it stays as the
// commit has it. Its bytes are still what the diff compares.
func TestBranchKeepsConvertedFiles(t *testing.T) {
	dir := hostRepoFixture(t)
	write(t, filepath.Join(dir, ".gitattributes"), "*.bat text eol=crlf\n")
	write(t, filepath.Join(dir, "run.bat"), "echo one\r\necho two\r\n")
	gitIn(t, dir, "add", ".gitattributes", "run.bat")
	gitIn(t, dir, "commit", "-qm", "a bat file")
	c, b := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, "README"), "changed\n")
	})
	if got := diffText(t, c, NameOnly); got != "README\n" {
		t.Errorf("diff: %q", got)
	}
	res, err := pull(t, c, b, "bottle/demo")
	if err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, dir, "diff", "--name-only", b.Commit, res.Tip); got != "README" {
		t.Errorf("the branch changes %q", got)
	}
}
