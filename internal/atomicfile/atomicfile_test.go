package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "allowlist.yaml")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, []byte("new")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	lst, _ := os.Lstat(link)
	if string(got) != "new" || st.Mode().Perm() != 0o600 || lst.Mode()&os.ModeSymlink == 0 {
		t.Errorf("after write: %q mode %v, link kept %v", got, st.Mode(), lst.Mode()&os.ModeSymlink != 0)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	// A directory that cannot be written leaves the original untouched.
	if os.Geteuid() != 0 {
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if err := Write(p, []byte("newer")); err == nil {
			t.Error("write into read-only dir succeeded")
		}
		if got, _ := os.ReadFile(p); string(got) != "new" {
			t.Errorf("original changed to %q", got)
		}
	}
}
