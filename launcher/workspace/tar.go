package workspace

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"bottle.dev/bottle/internal/termsafe"
)

// Limit bounds what bottle takes from an agent's /workspace: the agent may
// have made it huge to fill the host's disk.
type Limit struct {
	Bytes int64 // the sizes of its files, summed (hard links count each time)
	Files int   // its entries, of every kind
}

// DefaultLimit is the Limit unless the user gives another.
var DefaultLimit = Limit{Bytes: 4 << 30, Files: 500_000}

// maxLink is the longest symlink target taken (PATH_MAX).
const maxLink = 4096

// kind of an entry already extracted.
type kind int

const (
	kindDir      kind = iota + 1 // made for an entry of its own
	kindImplicit                 // made as the parent of an entry that came first
	kindFile
	kindLink
)

// Extract writes the tar stream r — an archive of the directory top, as
// `docker cp CONTAINER:/top -` writes it — into dst, a directory it makes,
// so that dst holds what top held. Every name must lie under top: one that
// is absolute or climbs out with .. is refused, and nothing is written
// through a symlink or outside dst. It takes regular files, directories,
// symlinks (their targets are judged later, see CheckSymlinks) and hard
// links to files it has taken (copied); anything else — a fifo, a device,
// a socket — is refused by name, and so is more than limit. File modes
// keep only the owner's execute bit (0644 or 0755): no setuid, no device
// numbers, no owners. On error, dst holds what was written so far; the
// caller removes it.
func Extract(r io.Reader, dst, top string, limit Limit) error {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(r)
	kinds := map[string]kind{}
	var total int64
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the copy of /%s: %w", top, err)
		}
		rel, err := entryName(h.Name, top)
		if err != nil {
			return err
		}
		shown := "/" + top + "/" + rel
		if files++; files > limit.Files {
			return fmt.Errorf("/%s holds more than %d files and directories; bottle takes at most that many: remove what is not needed in the bottle", top, limit.Files)
		}
		if rel == "." {
			if h.Typeflag != tar.TypeDir {
				return fmt.Errorf("/%s in the bottle is a %s, not a directory; bottle takes only a directory", top, tarKind(h))
			}
			if len(kinds) > 0 {
				return fmt.Errorf("the copy of /%s names it twice", top)
			}
			kinds["."] = kindDir
			continue
		}
		if kinds["."] == 0 {
			return fmt.Errorf("the copy of /%s does not start with the directory itself", top)
		}
		if err := parents(root, kinds, rel, top); err != nil {
			return err
		}
		if k, ok := kinds[rel]; ok && !(k == kindImplicit && h.Typeflag == tar.TypeDir) {
			return fmt.Errorf("%s appears twice in the copy", termsafe.Line(shown))
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if kinds[rel] != kindImplicit {
				if err := root.Mkdir(rel, 0o755); err != nil {
					return collision(shown, err)
				}
			}
			kinds[rel] = kindDir
		case tar.TypeReg:
			if total += h.Size; total > limit.Bytes {
				return tooBig(top, limit)
			}
			if err := writeFile(root, rel, h.FileInfo().Mode(), io.LimitReader(tr, h.Size), h.Size); err != nil {
				return collision(shown, err)
			}
			kinds[rel] = kindFile
		case tar.TypeSymlink:
			if len(h.Linkname) > maxLink || h.Linkname == "" {
				return fmt.Errorf("%s is a symlink with a target of %d bytes; bottle takes targets of 1 to %d", termsafe.Line(shown), len(h.Linkname), maxLink)
			}
			if err := root.Symlink(h.Linkname, rel); err != nil {
				return collision(shown, err)
			}
			kinds[rel] = kindLink
		case tar.TypeLink:
			target, err := entryName(h.Linkname, top)
			if err != nil {
				return err
			}
			if kinds[target] != kindFile {
				return fmt.Errorf("%s is a hard link to %s, which is not a file bottle took", termsafe.Line(shown), termsafe.Line("/"+top+"/"+target))
			}
			src, err := root.Open(target)
			if err != nil {
				return pathError("/"+top+"/"+target, err)
			}
			st, err := src.Stat()
			if err == nil {
				if total += st.Size(); total > limit.Bytes {
					src.Close()
					return tooBig(top, limit)
				}
				err = writeFile(root, rel, st.Mode(), src, st.Size())
			}
			src.Close()
			if err != nil {
				return collision(shown, err)
			}
			kinds[rel] = kindFile
		default:
			return special(shown, tarKind(h))
		}
	}
	if kinds["."] == 0 {
		return fmt.Errorf("the copy of /%s is empty: the engine sent no directory", top)
	}
	return nil
}

// entryName is the path of a tar entry relative to top ("." for top
// itself), slash-separated and clean. A name that is absolute, climbs out
// with .., or is not under top is refused.
func entryName(name, top string) (string, error) {
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("the copy of /%s holds %s, an absolute path; bottle takes only paths inside /%s", top, termsafe.Line(name), top)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("the copy of /%s holds %s, a path outside it; bottle takes only paths inside /%s", top, termsafe.Line(name), top)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 || parts[0] != top {
		return "", fmt.Errorf("the copy of /%s holds %s, which is not under it", top, termsafe.Line(name))
	}
	if len(parts) == 1 {
		return ".", nil
	}
	return strings.Join(parts[1:], "/"), nil
}

// parents makes sure every directory above rel is one bottle made, making
// those an archive leaves implicit: nothing is ever written through a
// symlink or under a file.
func parents(root *os.Root, kinds map[string]kind, rel, top string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		switch kinds[p] {
		case kindDir, kindImplicit:
			continue
		case 0:
			if err := root.Mkdir(p, 0o755); err != nil {
				return collision("/"+top+"/"+p, err)
			}
			kinds[p] = kindImplicit
		default:
			return fmt.Errorf("%s is under %s, which is not a directory", termsafe.Line("/"+top+"/"+rel), termsafe.Line("/"+top+"/"+p))
		}
	}
	return nil
}

// writeFile makes rel in root, a new regular file, with n bytes from r.
func writeFile(root *os.Root, rel string, mode fs.FileMode, r io.Reader, n int64) error {
	perm := fs.FileMode(0o644)
	if mode&0o100 != 0 {
		perm = 0o755
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, r, n); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func collision(shown string, err error) error {
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s collides with another name in the copy (this file system may not tell names apart by case or Unicode form): rename one of them in the bottle", termsafe.Line(shown))
	}
	return pathError(shown, err)
}

func tooBig(top string, limit Limit) error {
	return fmt.Errorf("/%s holds more than %s of files; bottle takes at most that much (--max-size), remove what is not needed in the bottle", top, FormatSize(limit.Bytes))
}

func special(shown, what string) error {
	return fmt.Errorf("%s is a %s: bottle takes only files, directories and symlinks; remove it in the bottle and try again", termsafe.Line(shown), what)
}

func tarKind(h *tar.Header) string {
	switch h.Typeflag {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "directory"
	case tar.TypeSymlink:
		return "symlink (to " + termsafe.Line(h.Linkname) + ")"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeFifo:
		return "fifo"
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	}
	return fmt.Sprintf("tar entry of type %q", h.Typeflag)
}

// Archive writes dir as a tar stream of the directory top, the way `docker
// cp CONTAINER:/top -` does: the inverse of Extract, for the fakes of the
// engine. Fifos and other special files are archived as what they are.
func Archive(w io.Writer, dir, top string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = path.Join(top, filepath.ToSlash(rel))
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
