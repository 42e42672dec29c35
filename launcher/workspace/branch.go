package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"bottle.dev/bottle/internal/termsafe"
)

// BranchSpec is a pull into a branch.
type BranchSpec struct {
	Baseline Baseline
	Branch   string // the new branch's name, without refs/heads/
	Bottle   string // the bottle's name, for the commit message
	// Ident is who the commit of the uncommitted changes is by: "Name
	// <email>". "" asks the host repository (git var), else bottle.
	Ident string
	// Limit bounds the objects brought to the host.
	Limit Limit
	// Replace lets an existing branch be moved to the pull's commit,
	// unless a work tree of the repository has it checked out.
	Replace bool
}

// Branched is what Branch made.
type Branched struct {
	Repo, Branch, Tip string
	// Commits are the agent's own commits kept on the branch.
	Commits int
	// Uncommitted says one more commit holds what the agent had not
	// committed.
	Uncommitted bool
	// Dropped says why the agent's commits were not kept ("" when they
	// were, or there were none).
	Dropped string
	// Replaced is the commit an existing branch was on before the pull
	// moved it (BranchSpec.Replace); "" for a new branch.
	Replaced string
}

// ErrExists is a branch that is already there.
var ErrExists = errors.New("already exists")

// maxCommits bounds the agent's commits a pull keeps.
const maxCommits = 1000

// Branch brings the changes into the host repository the workspace came
// from, as a new branch: the agent's commits on top of the commit the
// bottle was launched from are kept as they are, and what it left
// uncommitted becomes one more commit. An existing branch is never
// touched, unless spec.Replace says it may be moved.
//
// The host repository gets objects and the one new ref, nothing else: no
// hook runs, no config, index, reflog or other ref is written. The
// agent's .git was reduced by Check to HEAD, refs and objects, and is read
// by bottle (HEAD, refs) or given to git as an object store only. Whatever
// comes from it is verified before the host sees it: the objects of the
// branch are packed in a scratch repository, and that pack is indexed by
// git index-pack --strict in a second one that sees only the host's
// objects, which computes every object's name from its content (a forged
// object of the agent's can neither pose as the host's nor go unnoticed),
// runs fsck on each (no .. or .git in a tree, no bad modes, no hostile
// .gitmodules), and fails unless every object the branch needs is in the
// pack or already the host's. Then every commit's tree is checked as
// Check does (no symlink out). Only then are the pack and its index
// copied into the host's objects and the ref made, refusing to replace
// anything; if making the ref fails, the pack is removed again.
func (c *Changes) Branch(ctx context.Context, spec BranchSpec) (Branched, error) {
	b := spec.Baseline
	res := Branched{Repo: b.Repo, Branch: spec.Branch}
	if b.Repo == "" {
		return res, errors.New("the workspace was not the top level of a git repository at launch")
	}
	// The host's repository, as it is now.
	top, _, format, err := hostRepo(ctx, c.g, b.Repo)
	if err != nil {
		return res, err
	}
	if top != b.Repo {
		return res, fmt.Errorf("%s is no longer the top level of a git repository", b.Repo)
	}
	if format != c.format {
		return res, fmt.Errorf("%s now uses %s object names, not %s as at launch", b.Repo, format, c.format)
	}
	host := func(args ...string) (string, error) { return c.g.run(ctx, cmd{args: args, dir: b.Repo}) }
	objects, err := host("rev-parse", "--path-format=absolute", "--git-path", "objects")
	if err != nil {
		return res, err
	}
	ref := "refs/heads/" + spec.Branch
	if strings.HasPrefix(spec.Branch, "-") {
		return res, fmt.Errorf("%q is not a valid branch name", spec.Branch)
	}
	if _, err := c.g.run(ctx, cmd{args: []string{"check-ref-format", ref}}); err != nil {
		return res, fmt.Errorf("%q is not a valid branch name", spec.Branch)
	}
	var ge *Error
	switch old, err := host("rev-parse", "--verify", "--quiet", ref); {
	case err == nil && !spec.Replace:
		return res, fmt.Errorf("branch %s %w in %s", spec.Branch, ErrExists, b.Repo)
	case err == nil:
		if err := checkedOut(ctx, host, ref); err != nil {
			return res, err
		}
		res.Replaced = old
	case !errors.As(err, &ge) || ge.Code != 1:
		return res, err
	}

	// The scratch repository now also reads the host's objects, then the
	// agent's (last: only for what neither bottle nor the host has).
	alt := []string{filepath.Join(c.private, "objects"), objects}
	if c.t.GitDir != "" {
		alt = append(alt, filepath.Join(c.t.GitDir, "objects"))
	}
	if err := c.s.setAlternates(alt...); err != nil {
		return res, err
	}
	if err := c.checkAgentObjects(ctx, spec.Limit); err != nil {
		return res, fmt.Errorf("reading what the agent made (nothing was written to %s): %w", b.Repo, err)
	}
	parent := b.Commit
	if head := c.t.Head(); head != "" && head != b.Commit {
		kept, why := c.descends(ctx, head, b.Commit)
		if kept {
			parent = head
		} else {
			res.Dropped = why
		}
	}
	tip := parent
	tree, parentTree, err := c.branchTree(ctx, parent, b.Commit)
	if err != nil {
		return res, err
	}
	if tree != parentTree {
		if tip, err = c.commit(ctx, spec, tree, parent); err != nil {
			return res, err
		}
		res.Uncommitted = true
	}
	if tip == b.Commit {
		return res, errors.New("no changes to pull")
	}

	// Pack what the host lacks, and verify it where only the host's
	// objects are seen.
	pack := filepath.Join(c.work, "branch.pack")
	revs := tip + "\n"
	if b.Commit != "" {
		revs += "^" + b.Commit + "\n"
	}
	if err := c.checkSizes(ctx, tip, b.Commit, res.Uncommitted, spec.Limit); err != nil {
		return res, fmt.Errorf("collecting what the agent made (nothing was written to %s): %w", b.Repo, err)
	}
	if err := c.packTo(ctx, pack, revs, spec.Limit); err != nil {
		return res, fmt.Errorf("collecting what the agent made (nothing was written to %s): %w", b.Repo, err)
	}
	v, err := c.g.initBare(ctx, filepath.Join(c.work, "verify.git"), c.format)
	if err != nil {
		return res, err
	}
	if err := v.setAlternates(objects); err != nil {
		return res, err
	}
	f, err := os.Open(pack)
	if err != nil {
		return res, err
	}
	out, err := v.run(ctx, cmd{args: []string{"index-pack", "--strict", "--stdin"}, stdin: f})
	f.Close()
	if err != nil {
		return res, fmt.Errorf("verifying what the agent made (nothing was written to %s): %w", b.Repo, err)
	}
	fields := strings.Fields(out)
	if len(fields) == 0 || !isObjectID(fields[len(fields)-1]) {
		return res, fmt.Errorf("git index-pack: unexpected answer %q", out)
	}
	name := "pack-" + fields[len(fields)-1]
	if res.Commits, err = c.verifyCommits(ctx, v, tip, b.Commit, res.Uncommitted); err != nil {
		return res, err
	}

	// Into the host: the pack, its index, the ref.
	placed, err := placePack(filepath.Join(v.dir, "objects", "pack"), filepath.Join(objects, "pack"), name)
	if err != nil {
		return res, err
	}
	// The ref must still be what it was (none, or the branch replaced):
	// update-ref checks that under the ref's lock.
	was := res.Replaced
	if was == "" {
		was = strings.Repeat("0", len(tip))
	}
	if _, err := c.g.run(ctx, cmd{args: []string{"-c", "core.logAllRefUpdates=false", "update-ref", "--no-deref", "-m", "bottle pull " + spec.Bottle, ref, tip, was}, dir: b.Repo}); err != nil {
		for _, p := range placed {
			os.Remove(p)
		}
		return res, fmt.Errorf("making branch %s in %s (nothing was left there): %w", spec.Branch, b.Repo, err)
	}
	res.Tip = tip
	return res, nil
}

// checkedOut refuses ref when a work tree of the repository (host runs
// git there) has it checked out: moving it would leave that work tree's
// files and index behind its HEAD.
func checkedOut(ctx context.Context, host func(...string) (string, error), ref string) error {
	out, err := host("worktree", "list", "--porcelain")
	if err != nil {
		return err
	}
	tree := ""
	for _, line := range splitLines(out) {
		if p, ok := strings.CutPrefix(line, "worktree "); ok {
			tree = p
		}
		if line == "branch "+ref {
			return fmt.Errorf("branch %s is checked out in %s, so bottle pull will not move it: pull into another branch (--branch NAME), or check out another branch there first", strings.TrimPrefix(ref, "refs/heads/"), termsafe.Line(tree))
		}
	}
	return nil
}

// branchTree makes the tree of the branch's last commit: parent's tree
// (the agent's last commit, or the launch's) with the agent's files as
// they are now — but for files that were untracked at launch (in the
// baseline, not in the launch commit base) and that the agent left as they
// were: they are the user's, not the agent's work, and stay out of the
// branch; and files the agent left as they were copied in, and its commits
// as base has them: they stay as base has them, whatever their bytes. It
// returns that tree and parent's.
func (c *Changes) branchTree(ctx context.Context, parent, base string) (string, string, error) {
	parentTree, err := c.s.emptyTree(ctx)
	if err != nil {
		return "", "", err
	}
	if parent != "" {
		if parentTree, err = c.s.git(ctx, "rev-parse", parent+"^{tree}"); err != nil {
			return "", "", err
		}
	}
	tree, err := c.addAll(ctx, "branch", parent)
	if err != nil {
		return "", "", err
	}
	added, err := diffTree(ctx, c.s, parentTree, tree)
	if err != nil {
		return "", "", err
	}
	baseline, err := lsTree(ctx, c.s, c.Base)
	if err != nil {
		return "", "", err
	}
	launched := map[string]treeEntry{}
	if base != "" {
		if launched, err = lsTree(ctx, c.s, base); err != nil {
			return "", "", err
		}
	}
	var drop, keep []byte
	for _, e := range added {
		was, inBaseline := baseline[e.Path]
		l, tracked := launched[e.Path]
		asCopied := inBaseline && was.id == e.NewID && was.mode == e.NewMode
		switch {
		case e.Status == 'A' && asCopied && !tracked:
			drop = append(drop, e.Path+"\x00"...)
		case (e.Status == 'M' || e.Status == 'T') && asCopied && tracked && l.id == e.OldID && l.mode == e.OldMode:
			// A file the agent left as it was copied in, which its
			// commits left as the launch's commit has it, but whose
			// bytes are not that commit's (the user's git converts it,
			// eol=crlf say, as it checks it out): it stays the commit's.
			keep = append(keep, e.OldMode+" "+e.OldID+"\t"+e.Path+"\x00"...)
		}
	}
	if len(drop) == 0 && len(keep) == 0 {
		return tree, parentTree, nil
	}
	env := []string{"GIT_INDEX_FILE=" + filepath.Join(c.work, "branch.index")}
	work := append([]string{"GIT_WORK_TREE=" + c.t.Files}, env...)
	if _, err := c.s.run(ctx, cmd{args: []string{"update-index", "--force-remove", "-z", "--stdin"}, dir: c.t.Files, stdin: strings.NewReader(string(drop)), env: work}); err != nil {
		return "", "", err
	}
	if _, err := c.s.run(ctx, cmd{args: []string{"update-index", "-z", "--index-info"}, stdin: strings.NewReader(string(keep)), env: env}); err != nil {
		return "", "", err
	}
	tree, err = c.s.run(ctx, cmd{args: []string{"write-tree", "--missing-ok"}, env: env})
	return tree, parentTree, err
}

// descends reports whether the agent's head commit is the launch commit
// base's descendant (or base is "": any history), and if not, why its
// commits are not kept.
func (c *Changes) descends(ctx context.Context, head, base string) (bool, string) {
	if _, err := c.s.git(ctx, "cat-file", "-e", head+"^{commit}"); err != nil {
		return false, "the agent's HEAD " + head[:12] + " is not a commit its .git holds"
	}
	if base == "" {
		return true, ""
	}
	_, err := c.s.git(ctx, "merge-base", "--is-ancestor", base, head)
	var ge *Error
	switch {
	case err == nil:
		return true, ""
	case errors.As(err, &ge) && ge.Code == 1:
		return false, "the agent's HEAD " + head[:12] + " does not descend from the commit the bottle was launched from (" + base[:12] + ")"
	}
	return false, "the agent's history cannot be read: " + err.Error()
}

// commit makes the commit of the uncommitted changes.
func (c *Changes) commit(ctx context.Context, spec BranchSpec, tree, parent string) (string, error) {
	name, email := c.ident(ctx, spec)
	args := []string{"commit-tree", tree, "-F", "-"}
	if parent != "" {
		args = append(args, "-p", parent)
	}
	msg := "What the agent left uncommitted in bottle " + spec.Bottle + "\n\nThe files of /workspace that it had not committed, brought back by\nbottle pull " + spec.Bottle + ".\n"
	now := strconv.FormatInt(time.Now().Unix(), 10) + " +0000"
	return c.s.run(ctx, cmd{args: args, stdin: strings.NewReader(msg), env: []string{
		"GIT_AUTHOR_NAME=" + name, "GIT_AUTHOR_EMAIL=" + email, "GIT_AUTHOR_DATE=" + now,
		"GIT_COMMITTER_NAME=" + name, "GIT_COMMITTER_EMAIL=" + email, "GIT_COMMITTER_DATE=" + now}})
}

// ident is who the commit is by: spec's, the host repository's user (its
// config and the user's own, which are trusted: they are not the agent's),
// or bottle.
func (c *Changes) ident(ctx context.Context, spec BranchSpec) (string, string) {
	id := spec.Ident
	if id == "" {
		if out, err := c.g.run(ctx, cmd{args: []string{"var", "GIT_COMMITTER_IDENT"}, dir: spec.Baseline.Repo, userConfig: true}); err == nil {
			if i := strings.LastIndexByte(out, '>'); i > 0 {
				id = out[:i+1]
			}
		}
	}
	if name, email, ok := strings.Cut(id, " <"); ok && strings.HasSuffix(email, ">") && !strings.ContainsAny(id, "\n\x00") {
		return strings.TrimSpace(name), strings.TrimSuffix(email, ">")
	}
	return "bottle", "bottle@localhost"
}

// checkSizes refuses, before anything of the branch is packed, more than
// maxCommits of the agent's commits (ours is the one more of its
// uncommitted files) and objects of more than limit in all, unpacked (tip,
// without what base has): only their sizes are asked, which git reads from
// each object's header. Each of the agent's objects was at most limit
// already (checkAgentObjects).
func (c *Changes) checkSizes(ctx context.Context, tip, base string, ours bool, limit Limit) error {
	args := []string{"rev-list", "--count", tip}
	if base != "" {
		args = append(args, "^"+base)
	}
	out, err := c.s.git(ctx, args...)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(out)
	if err != nil {
		return fmt.Errorf("git rev-list --count: unexpected answer %q", out)
	}
	if ours {
		n--
	}
	if n > maxCommits {
		return fmt.Errorf("the agent made %d commits; bottle pull keeps at most %d: pull with --patch FILE instead (one patch of all the changes)", n, maxCommits)
	}
	args = []string{"rev-list", "--objects", "--no-object-names", tip}
	if base != "" {
		args = append(args, "^"+base)
	}
	var ids bytes.Buffer
	if _, err := c.s.run(ctx, cmd{args: args, stdout: &ids}); err != nil {
		return err
	}
	var sizes bytes.Buffer
	if _, err := c.s.run(ctx, cmd{args: []string{"cat-file", "--batch-check=%(objectsize)"}, stdin: &ids, stdout: &sizes}); err != nil {
		return err
	}
	var total int64
	for _, size := range splitLines(strings.TrimSuffix(sizes.String(), "\n")) {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil {
			return fmt.Errorf("git cat-file: unexpected answer %q", size)
		}
		if total += n; total > limit.Bytes {
			return fmt.Errorf("it is more than %s unpacked; bottle pull takes at most that much (--max-size)", FormatSize(limit.Bytes))
		}
	}
	return nil
}

// checkAgentObjects refuses, before git reads any object of the agent's
// .git, one that is more than limit: git reads an object whole, and a pack
// of a few kilobytes may hold deltas that make a blob, a tree or a commit
// of gigabytes. Only the sizes are asked (git reads them from each
// object's header, without expanding it), in a repository that sees the
// agent's objects alone.
func (c *Changes) checkAgentObjects(ctx context.Context, limit Limit) error {
	if c.t.GitDir == "" {
		return nil
	}
	a, err := c.g.initBare(ctx, filepath.Join(c.work, "agent.git"), c.format)
	if err != nil {
		return err
	}
	if err := a.setAlternates(filepath.Join(c.t.GitDir, "objects")); err != nil {
		return err
	}
	var out bytes.Buffer
	if _, err := a.run(ctx, cmd{args: []string{"cat-file", "--batch-all-objects", "--unordered", "--batch-check=%(objectname) %(objectsize)"}, stdout: &out}); err != nil {
		return err
	}
	for _, line := range splitLines(strings.TrimSuffix(out.String(), "\n")) {
		id, size, _ := strings.Cut(line, " ")
		if n, err := strconv.ParseInt(size, 10, 64); err != nil || n > limit.Bytes {
			return fmt.Errorf("the agent's .git holds object %.12s of %s bytes, more than the %s bottle pull takes (--max-size)", id, size, FormatSize(limit.Bytes))
		}
	}
	return nil
}

// packTo writes the objects of revs (rev-list arguments, one a line) to
// file as one pack, refusing more than limit.
func (c *Changes) packTo(ctx context.Context, file, revs string, limit Limit) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := &cappedWriter{w: f, n: limit.Bytes}
	_, err = c.s.run(ctx, cmd{args: []string{"pack-objects", "--revs", "--stdout", "--quiet"}, stdin: strings.NewReader(revs), stdout: w})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if w.over {
		return fmt.Errorf("it is more than %s packed; bottle pull takes at most that much (--max-size)", FormatSize(limit.Bytes))
	}
	return err
}

type cappedWriter struct {
	w    io.Writer
	n    int64
	over bool
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.n {
		c.over = true
		return 0, errors.New("too large")
	}
	c.n -= int64(len(p))
	return c.w.Write(p)
}

// verifyCommits checks every commit the branch brings (in v, where they
// are verified): at most maxCommits of the agent's, messages and headers
// without terminal controls, trees by Check's rules. It returns how many
// are the agent's.
func (c *Changes) verifyCommits(ctx context.Context, v repo, tip, base string, ours bool) (int, error) {
	args := []string{"rev-list", tip}
	if base != "" {
		args = append(args, "^"+base)
	}
	out, err := v.git(ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("verifying what the agent made: %w", err)
	}
	commits := splitLines(out)
	agents := len(commits)
	if ours {
		agents--
	}
	if agents > maxCommits {
		return 0, fmt.Errorf("the agent made %d commits; bottle pull keeps at most %d: pull with --patch FILE instead (one patch of all the changes)", agents, maxCommits)
	}
	if err := c.loadAllowed(ctx); err != nil {
		return 0, err
	}
	for _, id := range commits {
		raw, err := v.git(ctx, "cat-file", "commit", id)
		if err != nil {
			return 0, err
		}
		if termsafe.Escape(raw) != raw {
			return 0, fmt.Errorf("the agent's commit %s holds terminal control characters (in its message or its author); bottle pull refuses it: pull with --patch FILE instead", id[:12])
		}
		if err := checkTree(ctx, v, id+"^{tree}", c.allowed); err != nil {
			var re *RefusedError
			if errors.As(err, &re) && (!ours || id != tip) {
				re.Commit = id
			}
			return 0, err
		}
	}
	return agents, nil
}

// placePack copies pack NAME (.pack, then .idx, as git does: the index
// makes it visible) from dir into the host's pack directory, never
// replacing a file. It returns the files it made; none when the host has
// that very pack already.
func placePack(from, to, name string) ([]string, error) {
	var placed []string
	undo := func() {
		for _, p := range placed {
			os.Remove(p)
		}
	}
	for _, ext := range []string{".pack", ".idx"} {
		dst := filepath.Join(to, name+ext)
		if _, err := os.Lstat(dst); err == nil {
			if ext == ".pack" {
				return nil, nil // the same content, by its name
			}
			undo()
			return nil, fmt.Errorf("%s exists without its pack; run git fsck in that repository", dst)
		}
		data, err := os.ReadFile(filepath.Join(from, name+ext))
		if err != nil {
			undo()
			return nil, err
		}
		tmp, err := os.CreateTemp(to, "tmp_bottle_")
		if err != nil {
			undo()
			return nil, err
		}
		_, werr := tmp.Write(data)
		if err := errors.Join(werr, tmp.Chmod(0o444), tmp.Sync(), tmp.Close()); err != nil {
			os.Remove(tmp.Name())
			undo()
			return nil, err
		}
		// A hard link, not a rename: it fails if dst appeared meanwhile.
		err = os.Link(tmp.Name(), dst)
		os.Remove(tmp.Name())
		if err != nil {
			undo()
			return nil, err
		}
		placed = append(placed, dst)
	}
	return placed, nil
}
