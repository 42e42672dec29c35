package fakert

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"bottle.dev/bottle/launcher/workspace"
)

// The fake's containers have file systems of their own, as directories
// under Config.Dir/fs: what `cp SRC NAME:DST` copies in lands there, `cp
// NAME:SRC -` (docker, a tar stream) and `cp NAME:SRC DST` (Apple's)
// copy it out, and a test changes it as an agent would (`fakert fs NAME`
// prints where it is). Removing the container removes it.

// root is container name's file system.
func (c *call) root(name string) string { return rootOf(c.cfg, name) }

func rootOf(cfg Config, name string) string { return filepath.Join(cfg.Dir, "fs", name) }

// place copies the host's src into container name at dst, as an engine's
// cp does: SRC/. copies a directory's contents, anything else the file.
func (c *call) place(name, src, dst string) error {
	to := filepath.Join(c.root(name), filepath.FromSlash(path.Clean("/"+dst)))
	if dir, ok := strings.CutSuffix(src, "/."); ok {
		return copyTree(dir, to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// copyOut is `cp NAME:SRC -` (docker: a tar stream of SRC on stdout) or
// `cp NAME:SRC DST` (Apple's: DST becomes the copy of SRC).
func (c *call) copyOut(args []string) int {
	name, src, _ := strings.Cut(args[0], ":")
	if code, failed := c.step("cp " + name); failed {
		return code
	}
	if _, ok := c.st.Containers[name]; !ok {
		if c.bin == "docker" {
			return c.fail("Error: No such container:path: %s", args[0])
		}
		return c.fail("Error: container not found: %s", name)
	}
	from := filepath.Join(c.root(name), filepath.FromSlash(path.Clean("/"+src)))
	if _, err := os.Lstat(from); err != nil {
		return c.fail("Error: Could not find the file %s in container %s", src, name)
	}
	switch {
	case c.bin == "docker" && args[1] == "-":
		if err := workspace.Archive(c.out, from, path.Base(src)); err != nil {
			return c.fail("Error: %v", err)
		}
	case c.bin == "container" && args[1] != "-":
		if _, err := os.Lstat(args[1]); err == nil {
			return c.unknown("the fake copies out only to a new DST (%s exists)", args[1])
		}
		if err := copyTree(from, args[1]); err != nil {
			return c.fail("Error: %v", err)
		}
	default:
		return c.unknown("want cp NAME:SRC - (docker) or cp NAME:SRC DST (container)")
	}
	return 0
}

// copyTree copies the directory src into dst (made when missing):
// files, directories and symlinks as they are; anything else is an error.
func copyTree(src, dst string) error {
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
		return fmt.Errorf("fakert: cannot copy %s (%v)", p, info.Mode())
	})
}

func exists(p string) bool {
	_, err := os.Stat(filepath.Clean(p))
	return err == nil
}
