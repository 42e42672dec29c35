package gitgate

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// The walk maps each blob of the pack to the path where it first appears
// and the oldest commit of the push that holds it. Commits, trees and tags
// are parsed here rather than with go-git's plumbing/object, which would
// bring OpenPGP, a diff library and git-config parsing into the sidecar
// for three formats of a few lines each (gitformat-object; commit and tag
// headers, tree entries "MODE NAME\0ID").

// commit is a commit of the pack.
type commit struct {
	obj     int // index in pack.objs
	tree    plumbing.Hash
	parents []plumbing.Hash
	msg     int // where the message starts in the raw object
}

// tag is an annotated tag of the pack.
type tag struct {
	obj    int
	target plumbing.Hash
	typ    string // the target's type: "commit", "tree", …
	msg    int
}

// dir is a directory of a walked tree: its name in its parent (-1: a
// commit's root). Paths are rebuilt from these only for findings, so the
// walk's memory is one entry per tree and per blob, never a path each.
type dir struct {
	parent int32
	name   string
}

// place is where a blob of the pack first appears: a name in a directory
// of the tree of the commit at position commit of walk.order.
type place struct {
	dir    int32
	name   string
	commit int32
}

// walk is what the pack's commits say about its blobs.
type walk struct {
	pk      *pack
	commits []commit              // in pack order
	order   []int                 // indexes in commits, parents before children
	rank    map[plumbing.Hash]int // a commit's position in order
	tags    []tag
	dirs    []dir
	blobs   map[plumbing.Hash]place // the blobs of the pack a new tree reaches
	visited []bool                  // by object index: a tree already walked
	trees   map[int]place           // by object index: a walked tree's directory (name "") and commit
}

// walk parses the pack's commits and tags, orders the commits oldest
// first, and walks each commit's tree through the trees the pack holds (a
// tree it does not hold is upstream already, and so is all below it).
func (pk *pack) walk(ctx context.Context) (*walk, error) {
	w := &walk{pk: pk, rank: make(map[plumbing.Hash]int), blobs: make(map[plumbing.Hash]place), visited: make([]bool, len(pk.objs)), trees: make(map[int]place)}
	for i, o := range pk.objs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch o.typ {
		case plumbing.CommitObject:
			raw, err := pk.readAll(i)
			if err != nil {
				return nil, err
			}
			c, err := parseCommit(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: commit %s: %v", ErrMalformed, o.id, err)
			}
			c.obj = i
			w.commits = append(w.commits, c)
		case plumbing.TagObject:
			raw, err := pk.readAll(i)
			if err != nil {
				return nil, err
			}
			t, err := parseTag(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: tag %s: %v", ErrMalformed, o.id, err)
			}
			t.obj = i
			w.tags = append(w.tags, t)
		}
	}
	w.topo()
	for pos, ci := range w.order {
		if err := w.walkTree(ctx, w.commits[ci].tree, int32(pos)); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// packCommits is the ids of the pack's commits, in pack order.
func (w *walk) packCommits() []string {
	ids := make([]string, len(w.commits))
	for i, c := range w.commits {
		ids[i] = w.pk.objs[c.obj].id.String()
	}
	return ids
}

// commitID is the id of the commit at position pos of the order.
func (w *walk) commitID(pos int32) plumbing.Hash {
	return w.pk.objs[w.commits[w.order[pos]].obj].id
}

// topo orders the commits parents first (a depth-first walk from each
// commit in pack order, a commit placed after its parents in the pack).
func (w *walk) topo() {
	idx := make(map[plumbing.Hash]int, len(w.commits))
	for i, c := range w.commits {
		idx[w.pk.objs[c.obj].id] = i
	}
	const (
		fresh = iota
		open
		done
	)
	state := make([]uint8, len(w.commits))
	type frame struct{ c, next int }
	for i := range w.commits {
		if state[i] != fresh {
			continue
		}
		state[i] = open
		stack := []frame{{i, 0}}
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if parents := w.commits[f.c].parents; f.next < len(parents) {
				p, ok := idx[parents[f.next]]
				f.next++
				if ok && state[p] == fresh {
					state[p] = open
					stack = append(stack, frame{p, 0})
				}
				continue
			}
			state[f.c] = done
			w.rank[w.pk.objs[w.commits[f.c].obj].id] = len(w.order)
			w.order = append(w.order, f.c)
			stack = stack[:len(stack)-1]
		}
	}
}

// enter says whether id is a tree of the pack not walked yet, and marks
// it walked.
func (w *walk) enter(id plumbing.Hash) bool {
	i, ok := w.pk.byID[id]
	if !ok || w.pk.objs[i].typ != plumbing.TreeObject || w.visited[i] {
		return false
	}
	w.visited[i] = true
	return true
}

// walkTree places the blobs under root that no older commit placed. The
// walk keeps its own stack (a tree may nest deeper than Go's recursion
// should go); a directory's own blobs are placed before its subtrees'.
func (w *walk) walkTree(ctx context.Context, root plumbing.Hash, pos int32) error {
	if !w.enter(root) {
		return nil
	}
	type pending struct {
		id  plumbing.Hash
		dir int32
	}
	w.dirs = append(w.dirs, dir{parent: -1})
	stack := []pending{{root, int32(len(w.dirs) - 1)}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		w.trees[w.pk.byID[t.id]] = place{dir: t.dir, commit: pos}
		raw, err := w.pk.readAll(w.pk.byID[t.id])
		if err != nil {
			return err
		}
		var subs []pending
		err = eachEntry(raw, func(mode uint32, name []byte, id plumbing.Hash) {
			switch mode & 0o170000 {
			case 0o040000:
				if w.enter(id) {
					w.dirs = append(w.dirs, dir{parent: t.dir, name: string(name)})
					subs = append(subs, pending{id, int32(len(w.dirs) - 1)})
				}
			case 0o160000: // a submodule's commit: not in this repository
			default:
				i, ok := w.pk.byID[id]
				if _, placed := w.blobs[id]; ok && !placed && w.pk.objs[i].typ == plumbing.BlobObject {
					w.blobs[id] = place{dir: t.dir, name: string(name), commit: pos}
				}
			}
		})
		if err != nil {
			return fmt.Errorf("%w: tree %s: %v", ErrMalformed, t.id, err)
		}
		for i := len(subs) - 1; i >= 0; i-- {
			stack = append(stack, subs[i])
		}
	}
	return nil
}

// path is the path of a placed blob ("a/b/c.txt"), or of a walked
// tree's directory ("a/b/"; "" for a commit's root).
func (w *walk) path(p place) string {
	names := []string{p.name}
	for d := p.dir; d >= 0 && w.dirs[d].parent >= 0; d = w.dirs[d].parent {
		names = append(names, w.dirs[d].name)
	}
	slices.Reverse(names)
	return strings.Join(names, "/")
}

// eachEntry calls f for each entry of a raw tree.
func eachEntry(raw []byte, f func(mode uint32, name []byte, id plumbing.Hash)) error {
	for len(raw) > 0 {
		sp := bytes.IndexByte(raw, ' ')
		if sp <= 0 {
			return fmt.Errorf("an entry has no mode")
		}
		mode, err := strconv.ParseUint(string(raw[:sp]), 8, 32)
		if err != nil {
			return fmt.Errorf("an entry's mode %q is not octal", raw[:sp])
		}
		raw = raw[sp+1:]
		nul := bytes.IndexByte(raw, 0)
		if nul <= 0 {
			return fmt.Errorf("an entry has no name")
		}
		name := raw[:nul]
		raw = raw[nul+1:]
		if len(raw) < len(plumbing.Hash{}) {
			return fmt.Errorf("entry %q is cut short", name)
		}
		var id plumbing.Hash
		copy(id[:], raw)
		raw = raw[len(id):]
		f(uint32(mode), name, id)
	}
	return nil
}

// headers calls f for each header line of a raw commit or tag (not the
// continuation lines of a multi-line header such as gpgsig) and returns
// where the message starts (len(raw) when there is none).
func headers(raw []byte, f func(key string, value []byte) error) (int, error) {
	pos := 0
	for pos < len(raw) {
		end := bytes.IndexByte(raw[pos:], '\n')
		if end < 0 {
			end = len(raw) - pos
		}
		line := raw[pos : pos+end]
		pos += end + 1
		if len(line) == 0 {
			return pos, nil
		}
		if line[0] == ' ' {
			continue
		}
		key, value, _ := bytes.Cut(line, []byte{' '})
		if err := f(string(key), value); err != nil {
			return 0, err
		}
	}
	return len(raw), nil
}

func parseID(v []byte) (plumbing.Hash, error) {
	var id plumbing.Hash
	if len(v) != hex.EncodedLen(len(id)) {
		return id, fmt.Errorf("%q is not an object id", v)
	}
	if _, err := hex.Decode(id[:], v); err != nil {
		return id, fmt.Errorf("%q is not an object id", v)
	}
	return id, nil
}

func parseCommit(raw []byte) (commit, error) {
	var c commit
	first := true
	msg, err := headers(raw, func(key string, value []byte) error {
		defer func() { first = false }()
		switch {
		case first && key != "tree":
			return fmt.Errorf("the first header is %q, not tree", key)
		case key == "tree" && first:
			id, err := parseID(value)
			c.tree = id
			return err
		case key == "parent":
			id, err := parseID(value)
			c.parents = append(c.parents, id)
			return err
		}
		return nil
	})
	if err == nil && first {
		err = fmt.Errorf("it has no tree")
	}
	c.msg = msg
	return c, err
}

func parseTag(raw []byte) (tag, error) {
	var t tag
	seen := false
	msg, err := headers(raw, func(key string, value []byte) error {
		switch key {
		case "object":
			id, err := parseID(value)
			t.target, seen = id, true
			return err
		case "type":
			t.typ = string(value)
		}
		return nil
	})
	if err == nil && !seen {
		err = fmt.Errorf("it names no object")
	}
	t.msg = msg
	return t, err
}
