package fakert

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"bottle.dev/bottle/internal/fstree"
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

// copyTree is fstree.Copy, its errors said as fakert's.
func copyTree(src, dst string) error {
	if err := fstree.Copy(src, dst); err != nil {
		return fmt.Errorf("fakert: %w", err)
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(filepath.Clean(p))
	return err == nil
}
