package workspace

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"

	"bottle.dev/bottle/internal/termsafe"
)

// Copied is what Into did.
type Copied struct {
	Written, Removed int
	Skipped          []string // submodule changes, which are not files
}

// ChangedError is a path that Into would overwrite or remove although it
// is in dir as neither the launch nor the agent left it: someone changed
// it there since.
type ChangedError struct {
	Dir   string
	Paths []string // slash-separated, relative to Dir
}

func (e *ChangedError) Error() string {
	shown := make([]string, 0, 5)
	for i, p := range e.Paths {
		if i == 4 {
			shown = append(shown, fmt.Sprintf("and %d more", len(e.Paths)-i))
			break
		}
		shown = append(shown, termsafe.Line(p))
	}
	return fmt.Sprintf("%s has changes of its own where the agent changed files too (%s); nothing was written: pull into another directory, or overwrite them with --force", termsafe.Line(e.Dir), strings.Join(shown, ", "))
}

// Into brings the changes into dir (made when missing): every file and
// symlink the agent added or changed is written there as the agent left
// it, every one it deleted is removed. Nothing is ever written or removed
// outside dir, or through a symlink that leads out of it. A path that is
// in dir as neither the baseline nor the agent has it (changed there since
// the launch) is a ChangedError, unless overwrite. Everything is checked
// and staged beside its place before anything is replaced, so a failure
// before that leaves dir as it was.
func (c *Changes) Into(ctx context.Context, dir string, overwrite bool) (Copied, error) {
	var done Copied
	if err := c.Check(ctx); err != nil {
		return done, err
	}
	entries, err := c.Entries(ctx)
	if err != nil {
		return done, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return done, err
	}
	dst, err := os.OpenRoot(dir)
	if err != nil {
		return done, err
	}
	defer dst.Close()
	src, err := os.OpenRoot(c.t.Files)
	if err != nil {
		return done, err
	}
	defer src.Close()

	type step struct {
		path, staged string // staged "" removes path
	}
	var steps []step
	var changed []string // paths changed in dir since the launch
	var made []string    // directories made for staged files, outermost first
	cleanup := func() {
		for _, s := range steps {
			if s.staged != "" {
				dst.Remove(s.staged)
			}
		}
		for i := len(made) - 1; i >= 0; i-- {
			dst.Remove(made[i]) // only when empty
		}
	}
	var linkIDs []string
	for _, e := range entries {
		if e.NewMode == "120000" {
			linkIDs = append(linkIDs, e.NewID)
		}
	}
	targets, err := blobs(ctx, c.s, linkIDs, maxLink)
	if err != nil {
		return done, err
	}
	fail := func(err error) (Copied, error) {
		cleanup()
		return Copied{}, err
	}
	for _, e := range entries {
		if e.OldMode == "160000" || e.NewMode == "160000" {
			done.Skipped = append(done.Skipped, e.Path)
			continue
		}
		shown := path.Join(dir, e.Path)
		if err := checkName(e.Path); err != nil {
			return fail(err)
		}
		if err := dirsAbove(dst, e.Path); err != nil {
			return fail(pathError(shown, err))
		}
		st, err := dst.Lstat(e.Path)
		if err == nil && st.IsDir() {
			return fail(fmt.Errorf("%s is a directory, where the agent left a file or deleted one: move it away and pull again", termsafe.Line(shown)))
		}
		if err == nil && !overwrite {
			id, herr := c.idAt(dst, e.Path, st)
			if herr != nil {
				return fail(pathError(shown, herr))
			}
			if id != e.OldID && id != e.NewID {
				changed = append(changed, e.Path)
			}
		}
		if e.Status == 'D' {
			if err == nil {
				steps = append(steps, step{path: e.Path})
			}
			continue
		}
		if dir := pathDir(e.Path); dir != "." {
			missing, err := missingDirs(dst, dir)
			if err == nil {
				err = dst.MkdirAll(dir, 0o755)
			}
			made = append(made, missing...)
			if err != nil {
				return fail(pathError(shown, err))
			}
		}
		staged := stagedName(e.Path)
		if e.NewMode == "120000" {
			err = dst.Symlink(targets[e.NewID], staged)
		} else {
			err = c.copyFrom(src, dst, e.Path, staged, e.NewMode == "100755", e.NewID)
		}
		if err != nil {
			dst.Remove(staged)
			return fail(pathError("/workspace/"+e.Path, err))
		}
		steps = append(steps, step{path: e.Path, staged: staged})
	}
	if len(changed) > 0 {
		return fail(&ChangedError{Dir: dir, Paths: changed})
	}
	if err := reposMade(dst, entries); err != nil {
		return fail(err)
	}
	// Everything is in place beside its target: now replace.
	for i, s := range steps {
		if s.staged == "" {
			if err := dst.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fail(pathError(path.Join(dir, s.path), err))
			}
			done.Removed++
			continue
		}
		if err := dst.Rename(s.staged, s.path); err != nil {
			return fail(pathError(path.Join(dir, s.path), err))
		}
		steps[i].staged = ""
		done.Written++
	}
	return done, nil
}

// reposMade refuses the changes when a directory they write into would,
// with what dir has there already, be one git takes for a repository (see
// checkRepos: the tree alone was checked).
func reposMade(dst *os.Root, entries []Entry) error {
	added := map[string][]string{} // directory → the names written in it
	for _, e := range entries {
		if e.Status != 'D' && e.NewMode != "160000" {
			added[pathDir(e.Path)] = append(added[pathDir(e.Path)], path.Base(e.Path))
		}
	}
	for d, names := range added {
		if f, err := dst.Open(d); err == nil {
			have, _ := f.Readdirnames(-1)
			f.Close()
			names = append(names, have...)
		}
		if what := repoNames(names); what != "" {
			if d == "." {
				d = ""
			}
			return &RefusedError{Path: d, Reason: "would be, with what is there already, a directory git takes for a repository (it would hold " + what + "): git run there would read its config and run what that says"}
		}
	}
	return nil
}

// missingDirs lists the directories from dir up that root does not have
// yet, outermost first.
func missingDirs(root *os.Root, dir string) ([]string, error) {
	var missing []string
	for d := dir; d != "."; d = pathDir(d) {
		_, err := root.Lstat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append([]string{d}, missing...)
	}
	return missing, nil
}

// dirsAbove checks that every existing parent of p in root is a directory
// (not a file, and not a symlink: nothing is written through one).
func dirsAbove(root *os.Root, p string) error {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		st, err := root.Lstat(strings.Join(parts[:i], "/"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s is a %s, not a directory", termsafe.Line(strings.Join(parts[:i], "/")), modeKind(st.Mode()))
		}
	}
	return nil
}

// stagedName is a fresh name beside p for its new content.
func stagedName(p string) string {
	var b [6]byte
	rand.Read(b[:])
	return path.Join(pathDir(p), ".bottle-pull-"+hex.EncodeToString(b[:]))
}

// copyFrom copies the regular file p of src to staged in dst, and fails
// unless what it wrote is the blob id: what was compared (and shown by
// bottle diff) is what is written.
func (c *Changes) copyFrom(src, dst *os.Root, p, staged string, exec bool, id string) error {
	st, err := src.Lstat(p)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("is a %s in the copy, not a file", modeKind(st.Mode()))
	}
	in, err := src.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	perm := fs.FileMode(0o644)
	if exec {
		perm = 0o755
	}
	out, err := dst.OpenFile(staged, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	h := c.blobHash(st.Size())
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, st.Size()))
	if err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if n != st.Size() || hex.EncodeToString(h.Sum(nil)) != id {
		return errors.New("is not in the copy as it was compared (it changed since)")
	}
	return nil
}

// blobHash starts the git object id of a blob of n bytes, as the changes'
// object format names it.
func (c *Changes) blobHash(n int64) hash.Hash {
	h := sha1.New()
	if c.format == "sha256" {
		h = sha256.New()
	}
	fmt.Fprintf(h, "blob %d\x00", n)
	return h
}

// idAt is the git object id of what is at p in root (a file or a symlink,
// st its Lstat), as the changes' object format names it.
func (c *Changes) idAt(root *os.Root, p string, st fs.FileInfo) (string, error) {
	var data []byte
	var err error
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		var target string
		target, err = root.Readlink(p)
		data = []byte(target)
	case st.Mode().IsRegular():
		data, err = root.ReadFile(p)
	default:
		return "", fmt.Errorf("is a %s", modeKind(st.Mode()))
	}
	if err != nil {
		return "", err
	}
	h := c.blobHash(int64(len(data)))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}
