package workspace

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"bottle.dev/bottle/internal/termsafe"
)

// Changes are an agent's files (a Tree) compared with the baseline, in a
// scratch repository of bottle's own whose objects come from the private
// repository and its own. Close removes it.
type Changes struct {
	// Base is the baseline tree; Tree is the agent's files as a tree made
	// the same way.
	Base, Tree string

	g       *Git
	t       *Tree
	private string
	work    string // the scratch directory
	s       repo   // the scratch repository
	format  string
	allowed map[string]string // the baseline's own symlinks out of it: path → target
}

// Compare makes the agent's files t a tree the way the baseline was made
// — the same rules of what git tracks, starting from the baseline's
// entries so that what was tracked stays tracked, leaving t.Nested as the
// baseline had them — and returns it with the baseline tree base of the
// private repository. work is a directory it makes for its scratch
// repository (it must not exist).
func Compare(ctx context.Context, g *Git, private, base string, t *Tree, work string) (*Changes, error) {
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, err
	}
	c := &Changes{Base: base, g: g, t: t, private: private, work: work}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	p := repo{g: g, dir: private}
	var err error
	if c.format, err = p.git(ctx, "rev-parse", "--show-object-format"); err != nil {
		return nil, err
	}
	if c.s, err = g.initBare(ctx, filepath.Join(work, "scratch.git"), c.format); err != nil {
		return nil, err
	}
	if err := c.s.setAlternates(filepath.Join(private, "objects")); err != nil {
		return nil, err
	}
	if c.Tree, err = c.addAll(ctx, "compare", base); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// Dir is the directory of the copy of the agent's files compared.
func (c *Changes) Dir() string { return c.t.Dir() }

// Close removes the scratch repository.
func (c *Changes) Close() error { return os.RemoveAll(c.work) }

// Empty reports whether the agent changed nothing.
func (c *Changes) Empty() bool { return c.Base == c.Tree }

// setAlternates sets where r reads objects from, in order, after its own.
func (r repo) setAlternates(dirs ...string) error {
	p := filepath.Join(r.dir, "objects", "info", "alternates")
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	for _, d := range dirs {
		if !filepath.IsAbs(d) || strings.ContainsAny(d, "\n\"") {
			return fmt.Errorf("%q cannot be an alternate object directory", d)
		}
		b.WriteString(d + "\n")
	}
	return os.WriteFile(p, []byte(b.String()), 0o600)
}

// addAll makes the agent's files a tree: a scratch index (named name)
// starts as start's entries ("" for none), git add takes the files as they
// are, leaving the nested repositories' directories alone.
func (c *Changes) addAll(ctx context.Context, name, start string) (string, error) {
	index := filepath.Join(c.work, name+".index")
	env := []string{"GIT_INDEX_FILE=" + index}
	if start != "" {
		if _, err := c.s.run(ctx, cmd{args: []string{"read-tree", start}, env: env}); err != nil {
			return "", err
		}
	}
	spec := []byte(".\x00")
	for _, n := range c.t.Nested {
		spec = append(spec, ":(exclude,literal)"+n+"\x00"...)
	}
	work := append([]string{"GIT_WORK_TREE=" + c.t.Files}, env...)
	if _, err := c.s.run(ctx, cmd{args: []string{"add", "--all", "--pathspec-from-file=-", "--pathspec-file-nul"}, dir: c.t.Files, env: work,
		stdin: bytes.NewReader(spec)}); err != nil {
		return "", fmt.Errorf("reading the agent's files: %w", err)
	}
	// Entries it left alone (nested repositories) may name objects only
	// the host has: allow them missing here, Branch verifies them all.
	return c.s.run(ctx, cmd{args: []string{"write-tree", "--missing-ok"}, env: env})
}

// Format is how Diff shows the changes.
type Format int

const (
	Patch    Format = iota // a unified diff
	Stat                   // a diffstat
	NameOnly               // the changed paths
	Binary                 // a unified diff git apply can apply, binary files included
)

// Diff writes the changes to w as format says. The agent's file names are
// quoted by git; their contents are as they are (escape them for a
// terminal).
func (c *Changes) Diff(ctx context.Context, w io.Writer, f Format) error {
	args := []string{"diff", "--no-ext-diff", "--no-textconv", "--no-color"}
	switch f {
	case Stat:
		args = append(args, "--stat")
	case NameOnly:
		args = append(args, "--name-only")
	case Binary:
		args = append(args, "--binary", "--full-index")
	}
	_, err := c.s.run(ctx, cmd{args: append(args, c.Base, c.Tree, "--"), stdout: w})
	return err
}

// Entry is one changed path.
type Entry struct {
	Status           byte // A, D, M or T
	OldMode, NewMode string
	OldID, NewID     string
	Path             string // slash-separated, relative to /workspace
}

// Entries lists the changes, one path each (no renames).
func (c *Changes) Entries(ctx context.Context) ([]Entry, error) {
	return diffTree(ctx, c.s, c.Base, c.Tree)
}

func diffTree(ctx context.Context, r repo, a, b string) ([]Entry, error) {
	var out bytes.Buffer
	if _, err := r.run(ctx, cmd{args: []string{"diff-tree", "-r", "-z", "--no-renames", "--raw", a, b}, stdout: &out}); err != nil {
		return nil, err
	}
	fields := strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00")
	var entries []Entry
	for i := 0; i+1 < len(fields); i += 2 {
		f := strings.Fields(strings.TrimPrefix(fields[i], ":"))
		if len(f) != 5 || len(f[4]) == 0 {
			return nil, fmt.Errorf("git diff-tree: unexpected line %q", fields[i])
		}
		entries = append(entries, Entry{Status: f[4][0], OldMode: f[0], NewMode: f[1], OldID: f[2], NewID: f[3], Path: fields[i+1]})
	}
	return entries, nil
}

// treeEntry is one entry of ls-tree -r.
type treeEntry struct {
	mode, id string
}

// lsTree lists every file, symlink and gitlink of tree.
func lsTree(ctx context.Context, r repo, tree string) (map[string]treeEntry, error) {
	var out bytes.Buffer
	if _, err := r.run(ctx, cmd{args: []string{"ls-tree", "-r", "-z", "--full-tree", tree}, stdout: &out}); err != nil {
		return nil, err
	}
	entries := map[string]treeEntry{}
	for _, rec := range strings.Split(strings.TrimSuffix(out.String(), "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		meta, p, ok := strings.Cut(rec, "\t")
		f := strings.Fields(meta)
		if !ok || len(f) != 3 {
			return nil, fmt.Errorf("git ls-tree: unexpected entry %q", rec)
		}
		entries[p] = treeEntry{mode: f[0], id: f[2]}
	}
	return entries, nil
}

// blobs reads the contents of the blobs ids (each at most max bytes).
func blobs(ctx context.Context, r repo, ids []string, max int64) (map[string]string, error) {
	out := map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var in bytes.Buffer
	for _, id := range ids {
		in.WriteString(id + "\n")
	}
	var raw bytes.Buffer
	if _, err := r.run(ctx, cmd{args: []string{"cat-file", "--batch"}, stdin: &in, stdout: &raw}); err != nil {
		return nil, err
	}
	br := bufio.NewReader(&raw)
	for range ids {
		head, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("git cat-file: %w", err)
		}
		f := strings.Fields(head)
		if len(f) != 3 || f[1] != "blob" {
			return nil, fmt.Errorf("git cat-file: %q is not a blob", strings.TrimSpace(head))
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || n > max {
			return nil, fmt.Errorf("git cat-file: blob %s is %s bytes, more than %d", f[0], f[2], max)
		}
		data := make([]byte, n+1)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, fmt.Errorf("git cat-file: %w", err)
		}
		out[f[0]] = string(data[:n])
	}
	return out, nil
}

// RefusedError is a change bottle pull will not bring to the host.
type RefusedError struct {
	Path   string // slash-separated, relative to /workspace
	Reason string
	// Commit is the agent's commit that holds it ("" for its files as
	// they are).
	Commit string
}

func (e *RefusedError) Error() string {
	if e.Commit != "" {
		return fmt.Sprintf("the agent's commit %s: /workspace/%s %s; bottle pull refuses it: pull the files as they are now, without the agent's commits, with --patch FILE or --into DIR", e.Commit[:12], termsafe.Line(e.Path), e.Reason)
	}
	return fmt.Sprintf("/workspace/%s %s; bottle pull refuses it: change it in the bottle and pull again (bottle diff shows it)", termsafe.Line(e.Path), e.Reason)
}

// Check refuses what bottle pull must never bring to the host: a symlink
// that points outside the workspace, or may (see shape.escapes), and a
// path that is not a plain relative name. The baseline's own symlinks out
// of it, unchanged, are the user's and pass.
func (c *Changes) Check(ctx context.Context) error {
	if err := c.loadAllowed(ctx); err != nil {
		return err
	}
	return checkTree(ctx, c.s, c.Tree, c.allowed)
}

func (c *Changes) loadAllowed(ctx context.Context) error {
	if c.allowed != nil {
		return nil
	}
	entries, err := lsTree(ctx, c.s, c.Base)
	if err != nil {
		return err
	}
	links, err := linkTargets(ctx, c.s, entries)
	if err != nil {
		return err
	}
	c.allowed = map[string]string{}
	s := newShape(entries, links)
	for p, target := range links {
		if s.escapes(p) {
			c.allowed[p] = target
		}
	}
	return nil
}

// linkTargets reads the target of every symlink among entries.
func linkTargets(ctx context.Context, r repo, entries map[string]treeEntry) (map[string]string, error) {
	var ids []string
	for _, e := range entries {
		if e.mode == "120000" {
			ids = append(ids, e.id)
		}
	}
	contents, err := blobs(ctx, r, ids, maxLink)
	if err != nil {
		return nil, err
	}
	links := map[string]string{}
	for p, e := range entries {
		if e.mode == "120000" {
			links[p] = contents[e.id]
		}
	}
	return links, nil
}

// checkTree applies Check's rules to tree in r.
func checkTree(ctx context.Context, r repo, tree string, allowed map[string]string) error {
	entries, err := lsTree(ctx, r, tree)
	if err != nil {
		return err
	}
	for p, e := range entries {
		if err := checkName(p); err != nil {
			return err
		}
		switch e.mode {
		case "100644", "100755", "120000", "160000":
		default:
			return &RefusedError{Path: p, Reason: "has git mode " + e.mode + ", which is neither a file, a symlink nor a submodule"}
		}
	}
	if err := checkRepos(entries); err != nil {
		return err
	}
	links, err := linkTargets(ctx, r, entries)
	if err != nil {
		return err
	}
	s := newShape(entries, links)
	for p, target := range links {
		if s.escapes(p) {
			if was, ok := allowed[p]; ok && was == target {
				continue
			}
			return &RefusedError{Path: p, Reason: "is a symlink to " + strconv.Quote(target) + ", outside the workspace"}
		}
	}
	return nil
}

// checkRepos refuses a directory of the tree (its top included) that git
// would take for a repository: once it is on the host, any git command run
// in it would read the agent's config there and run what it says
// (core.fsmonitor, a pager, an alias).
func checkRepos(entries map[string]treeEntry) error {
	children := map[string][]string{} // directory → the names directly in it
	seen := map[string]bool{}         // directory NUL name, once each
	for p := range entries {
		for d, name := pathDir(p), path.Base(p); !seen[d+"\x00"+name]; d, name = pathDir(d), path.Base(d) {
			seen[d+"\x00"+name] = true
			children[d] = append(children[d], name)
			if d == "." {
				break
			}
		}
	}
	dirs := slices.Sorted(maps.Keys(children))
	for _, d := range dirs {
		if what := repoNames(children[d]); what != "" {
			p := d
			if d == "." {
				p = ""
			}
			return &RefusedError{Path: p, Reason: "is a directory git would take for a repository (it holds " + what + "): git run there would read its config and run what that says"}
		}
	}
	return nil
}

// repoNames says which of names (what one directory holds) make git take
// the directory for a repository or a work tree's git directory — HEAD
// with objects, refs, config, commondir or gitdir, or a commondir — as a
// file system that ignores case and Unicode form would find them; "" when
// none do.
func repoNames(names []string) string {
	has := map[string]string{}
	for _, n := range names {
		has[strings.TrimRight(fold(n), ". ")] = n
	}
	if c, ok := has["commondir"]; ok {
		return termsafe.Line(c)
	}
	head, ok := has["head"]
	if !ok {
		return ""
	}
	for _, k := range []string{"objects", "refs", "config", "gitdir"} {
		if n, ok := has[k]; ok {
			return termsafe.Line(head) + " and " + termsafe.Line(n)
		}
	}
	return ""
}

// checkName refuses a path that is not a plain relative name: absolute,
// empty, with . or .. or a .git in it (as a file system that ignores case,
// Unicode form or the code points HFS+ ignores would find it).
func checkName(p string) error {
	if p == "" || strings.HasPrefix(p, "/") {
		return &RefusedError{Path: p, Reason: "is not a relative path"}
	}
	for _, part := range strings.Split(p, "/") {
		switch {
		case part == "", part == ".", part == "..":
			return &RefusedError{Path: p, Reason: "names a path outside the workspace"}
		case strings.TrimRight(fold(part), ". ") == ".git":
			return &RefusedError{Path: p, Reason: "is inside a .git directory"}
		}
	}
	return nil
}

// maxHops bounds the symlinks followed to resolve one path (the kernel's
// is 40).
const maxHops = 40

// shape is what a tree's symlinks are resolved against: its symlinks, its
// directories, and its symlinks as a file system that does not tell names
// apart by case or Unicode form (macOS's, by default) would find them.
type shape struct {
	links  map[string]string // path → target
	dirs   map[string]bool   // every directory above an entry
	folded map[string]bool   // fold(path) of every symlink
}

// newShape is the shape of a tree of entries whose symlinks are links.
func newShape(entries map[string]treeEntry, links map[string]string) *shape {
	s := &shape{links: links, dirs: map[string]bool{}, folded: map[string]bool{}}
	for p := range entries {
		for d := pathDir(p); d != "." && !s.dirs[d]; d = pathDir(d) {
			s.dirs[d] = true
		}
	}
	for p := range links {
		s.folded[fold(p)] = true
	}
	return s
}

// fold is a path as a file system that ignores case and Unicode form
// compares it: decomposed, lower case, without the code points HFS+
// ignores.
func fold(p string) string {
	return norm.NFD.String(strings.Map(func(r rune) rune {
		if hfsIgnored(r) {
			return -1
		}
		return unicode.ToLower(unicode.ToUpper(r))
	}, norm.NFD.String(p)))
}

// hfsIgnored reports whether HFS+ leaves r out of names it compares (as git
// lists them for .git).
func hfsIgnored(r rune) bool {
	switch {
	case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
		return true
	}
	return false
}

// escapes reports whether the symlink at path may lead outside the tree's
// root. Its target is resolved lexically, component by component, through
// the tree's other symlinks as the kernel would, and it may lead out when:
// it is absolute, or a symlink on the way is; a .. climbs above the root;
// a .. comes after a name that is not a directory of the tree (a name the
// tree does not have may be, where the files land, a symlink of the host's
// — an ignored one the user has — so what it leads up from is unknown); a
// name is a symlink of the tree only under case or Unicode folding; the
// symlinks loop (nothing says where they go).
func (s *shape) escapes(path string) bool {
	var stack []string // the directories walked so far, from the root
	if dir := pathDir(path); dir != "." {
		stack = strings.Split(dir, "/")
	}
	target := s.links[path]
	if strings.HasPrefix(target, "/") {
		return true
	}
	parts := strings.Split(target, "/")
	for hops := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 || !s.dirs[strings.Join(stack, "/")] {
				return true
			}
			stack = stack[:len(stack)-1]
			continue
		}
		next := strings.Join(append(stack[:len(stack):len(stack)], part), "/")
		target, ok := s.links[next]
		if !ok {
			if s.folded[fold(next)] {
				return true
			}
			stack = append(stack, part)
			continue
		}
		// A symlink on the way: its target replaces it, relative to the
		// directory it is in, and what was left of the path comes after.
		if hops++; hops > maxHops || strings.HasPrefix(target, "/") {
			return true
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return false
}
