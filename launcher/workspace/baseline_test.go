package workspace

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// treeFiles lists the paths and modes of tree in the private repository.
func treeFiles(t *testing.T, g *Git, private, tree string) []string {
	t.Helper()
	entries, err := lsTree(context.Background(), repo{g: g, dir: private}, tree)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p, e := range entries {
		out = append(out, e.mode+" "+p)
	}
	slices.Sort(out)
	return out
}

// TestRecordGitWorkspace: the baseline of a repository's top level is its
// files as git would track them — untracked ones included, ignored ones
// left out unless HEAD tracks them, a repository inside kept as its commit
// — with HEAD as the commit; the host's repository is only read.
func TestRecordGitWorkspace(t *testing.T) {
	g := newGit(t)
	dir := hostRepoFixture(t)
	before := checksum(t, filepath.Join(dir, ".git"))
	private := filepath.Join(t.TempDir(), "baseline.git")
	b, err := Record(context.Background(), g, dir, private)
	if err != nil {
		t.Fatal(err)
	}
	real, _ := filepath.EvalSymlinks(dir)
	if b.Dir != real || b.Repo != real || b.Commit != gitIn(t, dir, "rev-parse", "HEAD") {
		t.Errorf("baseline %+v", b)
	}
	want := []string{"100644 .gitignore", "100644 README", "100644 keep.log", "100644 notes.txt", "100644 src/main.go", "160000 vendor/lib"}
	if got := treeFiles(t, g, private, b.Tree); !reflect.DeepEqual(got, want) {
		t.Errorf("baseline tree:\n%q\nwant\n%q", got, want)
	}
	if after := checksum(t, filepath.Join(dir, ".git")); after != before {
		t.Error("recording the baseline changed the host's .git")
	}
	// The private repository holds objects and the one ref.
	if got, _ := os.ReadFile(filepath.Join(private, filepath.FromSlash(BaselineRef))); strings.TrimSpace(string(got)) != b.Tree {
		t.Errorf("%s = %q, want %s", BaselineRef, got, b.Tree)
	}
	if _, err := os.Stat(filepath.Join(private, "hooks")); !os.IsNotExist(err) {
		t.Errorf("the private repository has hooks (a template): %v", err)
	}
	if _, err := Record(context.Background(), g, dir, private); err == nil {
		t.Error("a second baseline in the same place was made")
	}
}

// TestRecordPlainDirs: a directory in no repository, one inside a
// repository but not its top, and no workspace at all have no commit and
// no repository to make a branch in.
func TestRecordPlainDirs(t *testing.T) {
	g := newGit(t)
	plain := t.TempDir()
	write(t, filepath.Join(plain, "a.txt"), "a\n")
	write(t, filepath.Join(plain, "tmp.log"), "not ignored: no .gitignore\n")
	sub := filepath.Join(hostRepoFixture(t), "src")
	for _, tc := range []struct {
		name, dir string
		want      []string
	}{
		{"plain", plain, []string{"100644 a.txt", "100644 tmp.log"}},
		{"subdirectory", sub, []string{"100644 main.go"}},
		{"none", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			private := filepath.Join(t.TempDir(), "baseline.git")
			b, err := Record(context.Background(), g, tc.dir, private)
			if err != nil {
				t.Fatal(err)
			}
			if b.Repo != "" || b.Commit != "" || b.Tree == "" {
				t.Errorf("baseline %+v", b)
			}
			if got := treeFiles(t, g, private, b.Tree); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("tree %q, want %q", got, tc.want)
			}
		})
	}
}

// TestRecordIgnoresCallersGit: GIT_DIR, GIT_INDEX_FILE and the like in
// bottle's own environment point nowhere the baseline goes, and the
// user's global configuration (an excludes file, hooks) plays no part.
func TestRecordIgnoresCallersGit(t *testing.T) {
	g := newGit(t)
	dir := hostRepoFixture(t)
	elsewhere := t.TempDir()
	home := t.TempDir()
	write(t, filepath.Join(home, ".gitconfig"), "[core]\n\texcludesFile = "+filepath.Join(home, "ignore")+"\n")
	write(t, filepath.Join(home, "ignore"), "notes.txt\n")
	g.Env = append(os.Environ(), "GIT_DIR="+elsewhere, "GIT_INDEX_FILE="+filepath.Join(elsewhere, "index"), "GIT_WORK_TREE="+elsewhere,
		"HOME="+home, "GIT_CONFIG_GLOBAL="+filepath.Join(home, ".gitconfig"))
	private := filepath.Join(t.TempDir(), "baseline.git")
	b, err := Record(context.Background(), g, dir, private)
	if err != nil {
		t.Fatal(err)
	}
	if got := treeFiles(t, g, private, b.Tree); !slices.Contains(got, "100644 notes.txt") {
		t.Errorf("the user's global excludes file was read: %q", got)
	}
	if entries, _ := os.ReadDir(elsewhere); len(entries) > 0 {
		t.Errorf("git wrote where the caller's GIT_DIR pointed: %v", entries)
	}
}
