package workspace

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestInto: into a new directory go the files the agent added or changed
// (with their modes, symlinks as symlinks); into the workspace itself the
// deletions too, so that it ends as the agent left it.
func TestInto(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, "README"), "changed\n")
		write(t, filepath.Join(files, "tools", "run.sh"), "#!/bin/sh\n")
		os.Chmod(filepath.Join(files, "tools", "run.sh"), 0o755)
		os.Symlink("../README", filepath.Join(files, "tools", "readme"))
		os.Remove(filepath.Join(files, "notes.txt"))
	})
	ctx := context.Background()
	fresh := filepath.Join(t.TempDir(), "out")
	got, err := c.Into(ctx, fresh, false)
	if err != nil {
		t.Fatal(err)
	}
	if got.Written != 3 || got.Removed != 0 {
		t.Errorf("into a new directory: %+v", got)
	}
	if files := listFiles(t, fresh); !reflect.DeepEqual(files, []string{"README", "tools/", "tools/readme", "tools/run.sh"}) {
		t.Errorf("files %q", files)
	}
	if st, _ := os.Stat(filepath.Join(fresh, "tools", "run.sh")); st == nil || st.Mode().Perm() != 0o755 {
		t.Errorf("run.sh mode %v", st)
	}
	if target, _ := os.Readlink(filepath.Join(fresh, "tools", "readme")); target != "../README" {
		t.Errorf("readme -> %q", target)
	}
	if got, err = c.Into(ctx, dir, false); err != nil || got.Written != 3 || got.Removed != 1 {
		t.Fatalf("into the workspace: %+v %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); !os.IsNotExist(err) {
		t.Errorf("notes.txt is still there: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "README")); string(data) != "changed\n" {
		t.Errorf("README = %q", data)
	}
	for _, f := range listFiles(t, dir) {
		if strings.Contains(f, ".bottle-pull-") {
			t.Errorf("a staged file was left: %s", f)
		}
	}
}

// TestIntoStaysInside: a symlink of the target directory's own, leading
// out of it, is not written through: the pull fails and writes nothing,
// neither there nor where the link points.
func TestIntoStaysInside(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, "README"), "changed\n")
		write(t, filepath.Join(files, "lib", "x.go"), "package lib\n")
	})
	into := t.TempDir()
	outside := t.TempDir()
	os.Symlink(outside, filepath.Join(into, "lib"))
	before := checksum(t, into)
	_, err := c.Into(context.Background(), into, false)
	if err == nil || !strings.Contains(err.Error(), "lib is a symlink, not a directory") {
		t.Fatalf("err = %v", err)
	}
	if after := checksum(t, into); after != before {
		t.Errorf("a failed pull changed %s: %q", into, listFiles(t, into))
	}
	if files := listFiles(t, outside); len(files) > 0 {
		t.Errorf("written outside: %q", files)
	}
}

// TestIntoKeepsOthersChanges: a file changed in the target since the
// launch, which the agent changed too (or deleted), is not overwritten:
// nothing is written, and the error names it; overwrite writes it anyway.
// A file already as the agent left it is no conflict.
func TestIntoKeepsOthersChanges(t *testing.T) {
	dir := hostRepoFixture(t)
	c, _ := compareFixture(t, dir, func(files string) {
		write(t, filepath.Join(files, "README"), "the agent's\n")
		write(t, filepath.Join(files, "same.txt"), "same\n")
		os.Remove(filepath.Join(files, "notes.txt"))
	})
	write(t, filepath.Join(dir, "README"), "the user's, since\n")
	write(t, filepath.Join(dir, "notes.txt"), "the user's notes, since\n")
	write(t, filepath.Join(dir, "same.txt"), "same\n")
	before := checksum(t, dir)
	_, err := c.Into(context.Background(), dir, false)
	var ce *ChangedError
	if !errors.As(err, &ce) || !reflect.DeepEqual(ce.Paths, []string{"README", "notes.txt"}) ||
		!strings.Contains(err.Error(), "has changes of its own where the agent changed files too (README, notes.txt); nothing was written: pull into another directory, or overwrite them with --force") {
		t.Fatalf("err = %v", err)
	}
	if checksum(t, dir) != before {
		t.Error("a refused pull changed the directory")
	}
	got, err := c.Into(context.Background(), dir, true)
	if err != nil || got.Written != 2 || got.Removed != 1 {
		t.Fatalf("overwrite: %+v %v", got, err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "README")); string(data) != "the agent's\n" {
		t.Errorf("README = %q", data)
	}
}
