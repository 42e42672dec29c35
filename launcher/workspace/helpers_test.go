package workspace

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The tests run the real git on temporary directories.

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on PATH")
	}
}

// userEnv is the environment the tests run git in when they play the user
// or the agent: no configuration of the machine's.
func userEnv(home string) []string {
	return append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
}

// sh runs git as the user (or the agent) in dir.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	c := exec.Command("git", args...)
	c.Dir = dir
	c.Env = userEnv(t.TempDir())
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newGit is bottle's git for a test.
func newGit(t *testing.T) *Git {
	needGit(t)
	return &Git{Home: t.TempDir()}
}

// hostRepoFixture makes the user's repository: two commits, an untracked
// file, an ignored one, an ignored one that is tracked anyway, a
// repository of its own inside it.
func hostRepoFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	write(t, filepath.Join(dir, "README"), "hello\n")
	write(t, filepath.Join(dir, ".gitignore"), "build/\n*.log\n")
	write(t, filepath.Join(dir, "src", "main.go"), "package main\n")
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", "-A")
	gitIn(t, dir, "commit", "-qm", "first")
	write(t, filepath.Join(dir, "keep.log"), "tracked though ignored\n")
	gitIn(t, dir, "add", "-f", "keep.log")
	gitIn(t, dir, "commit", "-qm", "second")
	write(t, filepath.Join(dir, "notes.txt"), "untracked\n")
	write(t, filepath.Join(dir, "build", "out.bin"), "ignored\n")
	write(t, filepath.Join(dir, "vendor", "lib", "lib.go"), "package lib\n")
	gitIn(t, filepath.Join(dir, "vendor", "lib"), "init", "-q")
	gitIn(t, filepath.Join(dir, "vendor", "lib"), "add", "-A")
	gitIn(t, filepath.Join(dir, "vendor", "lib"), "commit", "-qm", "lib")
	return dir
}

// checksum sums every file under dir but those under the paths skip
// (slash-separated, relative): their names, modes, link targets and
// contents.
func checksum(t *testing.T, dir string, skip ...string) string {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(mustRel(dir, p))
		for _, s := range skip {
			if rel == s || strings.HasPrefix(rel, s+"/") {
				if d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		io.WriteString(h, rel+"\x00"+info.Mode().String()+"\x00")
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			io.WriteString(h, target)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(data)
		}
		io.WriteString(h, "\x00")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listFiles lists the paths under dir, with a / after directories.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel := filepath.ToSlash(mustRel(dir, p))
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	slices.Sort(out)
	return out
}

// agentCopy copies dir into a new copy directory as the engine would (a
// tar stream of /workspace, extracted), lets play change the agent's
// files (in FilesDir) and returns the copy directory, unchecked.
func agentCopy(t *testing.T, dir string, play func(files string)) string {
	t.Helper()
	seed := filepath.Join(t.TempDir(), "workspace")
	if dir == "" {
		os.Mkdir(seed, 0o755)
	} else {
		var buf bytes.Buffer
		if err := Archive(&buf, dir, "workspace"); err != nil {
			t.Fatal(err)
		}
		if err := Extract(&buf, seed, "workspace", DefaultLimit); err != nil {
			t.Fatal(err)
		}
	}
	if play != nil {
		play(seed)
	}
	// Out of the bottle: the agent's tree as the engine streams it. The
	// playing may have made what Extract refuses (a fifo), so copy it the
	// way Apple's engine would, file by file.
	copyDir := filepath.Join(t.TempDir(), "copy")
	os.Mkdir(copyDir, 0o700)
	if err := copyTree(seed, FilesDir(copyDir)); err != nil {
		t.Fatal(err)
	}
	return copyDir
}

// copyTree copies src to dst (which must not exist) as it is: files,
// directories, symlinks, fifos.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		to := filepath.Join(dst, mustRel(src, p))
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch m := info.Mode(); {
		case m.IsDir():
			return os.Mkdir(to, m.Perm()|0o700)
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case m&fs.ModeNamedPipe != 0:
			return syscall.Mkfifo(to, 0o644)
		case m.IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, m.Perm())
		}
		return nil
	})
}

// compareFixture records dir as the baseline, copies it into a pretend
// bottle, lets play change it there, and compares.
func compareFixture(t *testing.T, dir string, play func(files string)) (*Changes, Baseline) {
	t.Helper()
	g := newGit(t)
	ctx := context.Background()
	state := t.TempDir()
	private := filepath.Join(state, "baseline.git")
	b, err := Record(ctx, g, dir, private)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	tree, err := Check(agentCopy(t, dir, play), DefaultLimit)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	c, err := Compare(ctx, g, private, b.Tree, tree, filepath.Join(state, "work"))
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, b
}

func diffText(t *testing.T, c *Changes, f Format) string {
	t.Helper()
	var out bytes.Buffer
	if err := c.Diff(context.Background(), &out, f); err != nil {
		t.Fatal(err)
	}
	return out.String()
}
