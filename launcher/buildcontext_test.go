package launcher

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDockerignore: patterns as the engines read them — a directory's
// pattern excludes what is in it, ** spans directories, ! makes an
// exception, the last match decides, comments and blank lines are
// nothing.
func TestDockerignore(t *testing.T) {
	d, err := parseDockerignore([]byte(`# build output
node_modules
/dist/
*.log
!keep.log
**/secret.txt
docs/*.md
!docs/README.md
te?t
[ab].c

`))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"node_modules": true, "node_modules/x/y.js": true, "src/node_modules": false,
		"dist": true, "dist/app": true, "distx": false,
		"a.log": true, "keep.log": false, "sub/a.log": false,
		"secret.txt": true, "a/b/secret.txt": true, "secret.txt.bak": false,
		"docs/a.md": true, "docs/README.md": false, "docs/sub/a.md": false,
		"test": true, "text": true, "teest": false,
		"a.c": true, "b.c": true, "c.c": false,
		"Dockerfile": false, "main.go": false,
	} {
		if got := d.excludes(path); got != want {
			t.Errorf("%s: excluded %v, want %v", path, got, want)
		}
	}
	if _, err := parseDockerignore([]byte("[abc\n")); err == nil {
		t.Error("an unterminated class was accepted")
	}
	if defaultIgnore.excludes("src/.git") || !defaultIgnore.excludes(".git/HEAD") || defaultIgnore.excludes(".github/x") {
		t.Error("the default leaves out .git, and only .git at the top")
	}
}

// TestHashContext: the hash follows every file a build would send — its
// content, its executable bit, a new file, a symlink's target — and none
// it would not (.git without a .dockerignore; what .dockerignore says).
func TestHashContext(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("Dockerfile", "FROM x\nCOPY app.sh /\n", 0o644)
	write("app.sh", "echo 1\n", 0o644)
	write(".git/HEAD", "ref: main\n", 0o644)
	h := func() string {
		t.Helper()
		s, err := hashContext(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	base := h()
	write(".git/HEAD", "ref: other\n", 0o644)
	if h() != base {
		t.Error(".git changed the hash")
	}
	seen := map[string]string{base: "base"}
	change := func(what string, f func()) {
		t.Helper()
		f()
		got := h()
		if prev, ok := seen[got]; ok {
			t.Errorf("%s: the hash is the same as after %s", what, prev)
		}
		seen[got] = what
	}
	change("content", func() { write("app.sh", "echo 2\n", 0o644) })
	change("executable bit", func() { write("app.sh", "echo 2\n", 0o755) })
	change("new file", func() { write("lib/util.sh", "x\n", 0o644) })
	change("symlink", func() { os.Symlink("app.sh", filepath.Join(dir, "link")) })
	change("symlink target", func() { os.Remove(filepath.Join(dir, "link")); os.Symlink("lib/util.sh", filepath.Join(dir, "link")) })
	change(".dockerignore", func() { write(".dockerignore", "*.tmp\n", 0o644) })
	change(".git once .dockerignore does not leave it out", func() { write(".git/HEAD", "ref: third\n", 0o644) })
	before := h()
	write("scratch.tmp", "ignored\n", 0o644)
	if h() != before {
		t.Error("a file .dockerignore leaves out changed the hash")
	}
}
