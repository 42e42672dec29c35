package fstree

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCopy: files keep their bytes and modes, directories their shape,
// symlinks their targets (not followed); a fifo is refused by name.
func TestCopy(t *testing.T) {
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "out")
	os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(src, "a", "b", "f"), []byte("data"), 0o750)
	os.Symlink("/nowhere", filepath.Join(src, "link"))
	if err := Copy(src, dst); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dst, "a", "b", "f")); err != nil || string(data) != "data" {
		t.Errorf("file: %q %v", data, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "a", "b", "f")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("mode: %v %v", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(dst, "link")); err != nil || target != "/nowhere" {
		t.Errorf("symlink: %q %v", target, err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Copy(src, t.TempDir()); err == nil || !strings.Contains(err.Error(), "cannot copy "+filepath.Join(src, "pipe")) {
		t.Errorf("a fifo: %v", err)
	}
}
