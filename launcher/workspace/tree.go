package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/termsafe"
)

// Tree is an agent's /workspace as copied out to the host and checked:
// plain files, directories and symlinks, no .git anywhere among them, within
// a Limit. It lives in a directory of its own (a copy), laid out as
// FilesDir, the agent's .git beside it, and what Check found.
type Tree struct {
	dir string
	// Files is the agent's files: /workspace without any .git.
	Files string `json:"-"`
	// GitDir is the agent's .git, taken out of Files and reduced to its
	// HEAD, refs and objects; "" when /workspace had none.
	GitDir string `json:"-"`
	// Nested are the directories (slash-separated, relative to Files)
	// that held a .git of their own — submodules, clones: they are not
	// compared, and what the baseline had there stays.
	Nested []string `json:"nested"`
	Bytes  int64    `json:"bytes"`
	Count  int      `json:"files"`
}

// The layout of a copy.
const (
	filesName = "files"     // what the engine copied out of /workspace
	gitName   = "git"       // the agent's .git, moved out of files
	treeName  = "tree.json" // what Check found
)

// FilesDir is where the engine copies /workspace to in the copy dir: it
// must not exist before.
func FilesDir(dir string) string { return filepath.Join(dir, filesName) }

// Dir is the copy's directory.
func (t *Tree) Dir() string { return t.dir }

// Check makes the copy in dir, whose FilesDir the engine wrote, a Tree: it
// refuses special files (fifos, devices, sockets), hard links and more
// than limit, and
// takes every .git out of the files — the top one is moved beside them
// (and reduced to what Branch reads), the others are removed and their
// directories noted as Nested — so that nothing the agent wrote there is
// ever seen by git as a repository.
func Check(dir string, limit Limit) (*Tree, error) {
	t := &Tree{dir: dir, Files: FilesDir(dir)}
	st, err := os.Lstat(t.Files)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("/workspace in the bottle is a %s, not a directory; bottle takes only a directory", modeKind(st.Mode()))
	}
	var gits []string // every .git found, relative to Files
	walk := func(base string, note bool) error {
		return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			rel := filepath.ToSlash(mustRel(t.Files, p))
			shown := "/workspace/" + rel
			if err != nil {
				return pathError(shown, err)
			}
			if note && p != base && strings.EqualFold(d.Name(), ".git") {
				gits = append(gits, rel)
			}
			if t.Count++; t.Count > limit.Files {
				return fmt.Errorf("/workspace holds more than %d files and directories; bottle takes at most that many: remove what is not needed in the bottle", limit.Files)
			}
			switch typ := d.Type(); {
			case typ == 0:
				info, err := d.Info()
				if err != nil {
					return pathError(shown, err)
				}
				if t.Bytes += info.Size(); t.Bytes > limit.Bytes {
					return tooBig("workspace", limit)
				}
				if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
					// Only an engine that writes the copy itself (Apple's
					// cp) could make one, and it may be linked to any file
					// of the host's: never change or read it.
					return fmt.Errorf("%s is a hard link in the copy (to a file bottle cannot tell is the copy's); bottle takes only files it copied: remove the hard link in the bottle", termsafe.Line(shown))
				}
				if info.Mode().Perm()&0o600 != 0o600 {
					if err := os.Chmod(p, info.Mode().Perm()|0o600); err != nil {
						return pathError(shown, err)
					}
				}
			case typ == fs.ModeDir:
				if info, err := d.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
					if err := os.Chmod(p, info.Mode().Perm()|0o700); err != nil {
						return pathError(shown, err)
					}
				}
				if note && p != base && strings.EqualFold(d.Name(), ".git") {
					return fs.SkipDir // walked on its own below
				}
			case typ == fs.ModeSymlink:
				target, err := os.Readlink(p)
				if err != nil {
					return pathError(shown, err)
				}
				if len(target) > maxLink {
					return fmt.Errorf("%s is a symlink with a target of %d bytes; bottle takes targets of up to %d", termsafe.Line(shown), len(target), maxLink)
				}
			default:
				return special(shown, modeKind(typ))
			}
			return nil
		})
	}
	if err := walk(t.Files, true); err != nil {
		return nil, err
	}
	for _, g := range gits {
		if st, err := os.Lstat(filepath.Join(t.Files, g)); err == nil && st.IsDir() {
			if err := walk(filepath.Join(t.Files, g), false); err != nil {
				return nil, err
			}
		}
	}
	for _, g := range gits {
		p := filepath.Join(t.Files, filepath.FromSlash(g))
		shown := "/workspace/" + g
		st, err := os.Lstat(p)
		if err != nil {
			return nil, pathError(shown, err)
		}
		if g == ".git" && st.IsDir() {
			t.GitDir = filepath.Join(dir, gitName)
			if err := os.Rename(p, t.GitDir); err != nil {
				return nil, pathError(shown, err)
			}
			if err := reduceGitDir(t.GitDir); err != nil {
				return nil, pathError(shown, err)
			}
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return nil, pathError(shown, err)
		}
		if parent := pathDir(g); parent != "." {
			t.Nested = append(t.Nested, parent)
		}
	}
	slices.Sort(t.Nested)
	t.Nested = slices.Compact(t.Nested)
	data, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, treeName), data); err != nil {
		return nil, err
	}
	return t, nil
}

// Measure refuses files, as Check would, when they hold more than limit:
// for a copy an engine is still writing itself, which limit cannot bound as
// it arrives. What cannot be read (not written yet, or gone) counts as
// nothing.
func Measure(files string, limit Limit) error {
	var bytes int64
	count := 0
	return filepath.WalkDir(files, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if count++; count > limit.Files {
			return fmt.Errorf("/workspace holds more than %d files and directories; bottle takes at most that many: remove what is not needed in the bottle", limit.Files)
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				if bytes += info.Size(); bytes > limit.Bytes {
					return tooBig("workspace", limit)
				}
			}
		}
		return nil
	})
}

// Open reads back a Tree that Check made in dir (a copy saved earlier).
func Open(dir string) (*Tree, error) {
	data, err := os.ReadFile(filepath.Join(dir, treeName))
	if err != nil {
		return nil, err
	}
	t := &Tree{}
	if err := json.Unmarshal(data, t); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, treeName), err)
	}
	t.dir, t.Files = dir, FilesDir(dir)
	if st, err := os.Lstat(filepath.Join(dir, gitName)); err == nil && st.IsDir() {
		t.GitDir = filepath.Join(dir, gitName)
	}
	if st, err := os.Lstat(t.Files); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%s is not a saved copy of /workspace (no %s)", dir, filesName)
	}
	return t, nil
}

// Remove deletes the copy.
func (t *Tree) Remove() error { return os.RemoveAll(t.dir) }

func mustRel(base, p string) string {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return p
	}
	return rel
}

func pathDir(slashPath string) string {
	i := strings.LastIndexByte(slashPath, '/')
	if i < 0 {
		return "."
	}
	return slashPath[:i]
}

func modeKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	}
	return "special file (" + m.String() + ")"
}

var (
	looseObjectRE = regexp.MustCompile(`^objects/[0-9a-f]{2}/([0-9a-f]{38}|[0-9a-f]{62})$`)
	looseDirRE    = regexp.MustCompile(`^objects/[0-9a-f]{2}$`)
	packRE        = regexp.MustCompile(`^objects/pack/pack-([0-9a-f]{40}|[0-9a-f]{64})\.(pack|idx)$`)
	refNameRE     = regexp.MustCompile(`^refs/[A-Za-z0-9._/+@-]+$`)
)

// reduceGitDir removes from the agent's .git everything but HEAD, refs,
// packed-refs, loose objects and packs with their indexes. Gone are its
// config (fsmonitor, hooksPath, filters, sshCommand), its hooks, its
// alternates (which could point git at any directory of the host), commit
// graphs, bitmaps, promisor and keep files, every symlink: what is left is
// data that bottle reads itself (HEAD and refs) or gives to git only as
// objects to verify.
func reduceGitDir(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel := filepath.ToSlash(mustRel(dir, p))
		keep := false
		switch {
		case d.Type() == fs.ModeDir:
			keep = rel == "refs" || strings.HasPrefix(rel, "refs/") || rel == "objects" || rel == "objects/pack" || looseDirRE.MatchString(rel)
		case d.Type() == 0:
			keep = rel == "HEAD" || rel == "packed-refs" || strings.HasPrefix(rel, "refs/") || looseObjectRE.MatchString(rel) || packRE.MatchString(rel)
		}
		if keep {
			return nil
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	})
}

// maxRefFile bounds HEAD, a loose ref and packed-refs as bottle reads them.
const (
	maxRefFile    = 1 << 10
	maxPackedRefs = 64 << 20
)

// Head reads the commit the agent's HEAD names, following symbolic refs
// in its .git itself (never through git): "" when there is none (no .git,
// an unborn branch, a HEAD bottle cannot read).
func (t *Tree) Head() string {
	if t.GitDir == "" {
		return ""
	}
	name := "HEAD"
	for range 5 {
		v, ok := t.readRef(name)
		if !ok {
			return ""
		}
		if target, sym := strings.CutPrefix(v, "ref: "); sym {
			if !refNameRE.MatchString(target) || strings.Contains(target, "..") {
				return ""
			}
			name = target
			continue
		}
		if isObjectID(v) {
			return v
		}
		return ""
	}
	return ""
}

// readRef reads one ref: the loose file, else its line in packed-refs.
func (t *Tree) readRef(name string) (string, bool) {
	if v, err := readSmall(filepath.Join(t.GitDir, filepath.FromSlash(name)), maxRefFile); err == nil {
		return strings.TrimSpace(v), true
	}
	if name == "HEAD" {
		return "", false
	}
	packed, err := readSmall(filepath.Join(t.GitDir, "packed-refs"), maxPackedRefs)
	if err != nil {
		return "", false
	}
	for _, line := range strings.Split(packed, "\n") {
		if id, ref, ok := strings.Cut(line, " "); ok && ref == name && isObjectID(id) {
			return id, true
		}
	}
	return "", false
}

// readSmall reads a regular file (never through a symlink) of at most max
// bytes.
func readSmall(p string, max int64) (string, error) {
	st, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() || st.Size() > max {
		return "", errors.New(p + ": not a small regular file")
	}
	data, err := os.ReadFile(p)
	return string(data), err
}

func isObjectID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// FormatSize writes n bytes the way --max-size takes them.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		n int64
	}{{"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

var sizeRE = regexp.MustCompile(`^([1-9][0-9]*)([kmg]?)$`)

// ParseSize reads a size such as 500m or 8g (k, m or g; bytes without a
// unit).
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size; write a whole number with k, m or g, e.g. 500m or 8g", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30}[m[2]]
	if err != nil || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return n << shift, nil
}
