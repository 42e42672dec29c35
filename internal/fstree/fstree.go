// Package fstree copies a directory tree as an engine's cp does, for the
// fake engines the tests run (fakert, launcher's fakebackend).
package fstree

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Copy copies the directory src into dst (made when missing): files,
// directories and symlinks as they are (a symlink is not followed);
// anything else is an error naming it.
func Copy(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch m := info.Mode(); {
		case m.IsDir():
			return os.MkdirAll(to, m.Perm()|0o700)
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case m.IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, m.Perm())
		}
		return fmt.Errorf("cannot copy %s (%v)", p, info.Mode())
	})
}
