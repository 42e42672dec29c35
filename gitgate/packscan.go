package gitgate

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// allowMarker is gitleaks' inline suppression.
const allowMarker = "gitleaks:allow"

// hit is one finding of the Scanner in one object's content.
type hit struct {
	rule  string
	off   int64
	line  int  // 1-based, in the content
	allow bool // the line holds allowMarker
}

// scan scans every blob, commit and tag of the pack, and the entry names
// of every tree, with s, in pack order, and returns the findings sorted by commit (oldest first), path
// and line, without duplicates.
//
// A blob is streamed to s once. Only a blob with findings is read a
// second time, to turn the offsets into line numbers and to see whether
// those lines carry "gitleaks:allow", so the memory is bounded by the
// findings, whatever the blob's size.
func (pk *pack) scan(ctx context.Context, s Scanner, w *walk, honourAllow bool) ([]Finding, error) {
	var out []Finding
	add := func(hits []hit, f Finding, line func(hit) int) {
		for _, h := range hits {
			if honourAllow && h.allow {
				continue
			}
			f.Rule, f.Line = h.rule, line(h)
			out = append(out, f)
		}
	}
	commits := make(map[int]commit, len(w.commits))
	for _, c := range w.commits {
		commits[c.obj] = c
	}
	tags := make(map[int]tag, len(w.tags))
	for _, t := range w.tags {
		tags[t.obj] = t
	}
	for i, o := range pk.objs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		switch o.typ {
		case plumbing.BlobObject:
			hits, err := scanContent(s, func() (io.ReadCloser, error) { return pk.read(i) })
			if err != nil {
				return nil, pk.scanError(ctx, i, err)
			}
			f := Finding{Path: "(object " + o.id.String() + ")", Object: o.id.String()}
			if p, ok := w.blobs[o.id]; ok {
				f.Path, f.Commit = w.path(p), w.commitID(p.commit).String()
			}
			add(hits, f, func(h hit) int { return h.line })
		case plumbing.CommitObject, plumbing.TagObject:
			raw, err := pk.readAll(i)
			if err != nil {
				return nil, err
			}
			hits, err := scanContent(s, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
			if err != nil {
				return nil, pk.scanError(ctx, i, err)
			}
			f := Finding{Path: "commit message", Commit: o.id.String(), Object: o.id.String()}
			msg := commits[i].msg
			if o.typ == plumbing.TagObject {
				t := tags[i]
				f.Path, f.Commit, msg = "tag message", "", t.msg
				if t.typ == "commit" {
					f.Commit = t.target.String()
				}
			}
			add(hits, f, messageLine(raw, msg))
		case plumbing.TreeObject:
			// The names of a tree's entries are content the agent chose
			// as much as a file's: a credential's value pushed as a file
			// name would reach the upstream as surely as one in a file.
			raw, err := pk.readAll(i)
			if err != nil {
				return nil, err
			}
			names, err := treeNames(raw)
			if err != nil {
				return nil, fmt.Errorf("%w: tree %s: %v", ErrMalformed, o.id, err)
			}
			hits, err := scanContent(s, func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(names)), nil })
			if err != nil {
				return nil, pk.scanError(ctx, i, err)
			}
			// The finding names the tree, never the entry: its name holds
			// the match. Line is the entry's position in the tree.
			f := Finding{Path: "a file name of tree " + o.id.String()[:12], Object: o.id.String()}
			add(hits, f, func(h hit) int { return h.line })
		}
	}
	sortFindings(out, w)
	return slices.Compact(out), nil
}

// messageLine is the line of a hit in a commit or tag message (1: the
// message's first line); a hit in the headers (an author's name, a
// signature) is line 0.
func messageLine(raw []byte, msg int) func(hit) int {
	base := bytes.Count(raw[:msg], []byte{'\n'})
	return func(h hit) int {
		if h.off < int64(msg) {
			return 0
		}
		return h.line - base
	}
}

// scanError is the error of a scan: the context's, ErrMalformed when the
// object did not inflate, else the Scanner's.
func (pk *pack) scanError(ctx context.Context, i int, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *readError
	if errors.As(err, &re) || errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%w: reading %v %s: %v", ErrMalformed, pk.objs[i].typ, pk.objs[i].id, err)
	}
	return fmt.Errorf("scanning %v %s: %w", pk.objs[i].typ, pk.objs[i].id, err)
}

// readError is a failure to read an object's content, told apart from the
// Scanner's own errors.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// errorReader marks its reader's errors as readErrors and keeps the first,
// in case the Scanner does not return it.
type errorReader struct {
	r   io.Reader
	err error
}

func (r *errorReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	if err != nil && err != io.EOF {
		err = &readError{err}
		if r.err == nil {
			r.err = err
		}
	}
	return n, err
}

// scanContent streams one object's content to s and, when s found
// something, reads it again to give each hit its line.
func scanContent(s Scanner, open func() (io.ReadCloser, error)) ([]hit, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	var (
		mu   sync.Mutex // s is allowed to call found from its own goroutines
		hits []hit
	)
	er := &errorReader{r: rc}
	err = s.Scan(er, func(rule string, off int64) {
		mu.Lock()
		hits = append(hits, hit{rule: rule, off: off})
		mu.Unlock()
	})
	_ = rc.Close()
	if err == nil {
		err = er.err
	}
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(a.off, b.off) })
	rc, err = open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if err := locate(&errorReader{r: rc}, hits); err != nil {
		return nil, err
	}
	return hits, nil
}

// locate sets the line of each hit (sorted by offset) and whether that
// line holds allowMarker, reading r once with a fixed buffer: a line
// longer than the buffer is seen in pieces, and the marker is looked for
// across the pieces' seams.
func locate(r io.Reader, hits []hit) error {
	marker := []byte(allowMarker)
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		pos   int64 // offset of the next byte
		line  = 1
		allow bool
		tail  []byte // the current line's last bytes, for a marker across pieces
		next  int    // the first hit not located
	)
	settle := func(end int64) {
		for ; next < len(hits) && hits[next].off < end; next++ {
			hits[next].line, hits[next].allow = line, allow
		}
	}
	for next < len(hits) {
		piece, err := br.ReadSlice('\n')
		if len(piece) > 0 {
			if !allow {
				seam := append(tail, piece[:min(len(piece), len(marker)-1)]...)
				allow = bytes.Contains(piece, marker) || bytes.Contains(seam, marker)
			}
			tail = append(tail[:0], piece[max(0, len(piece)-len(marker)+1):]...)
			pos += int64(len(piece))
			if piece[len(piece)-1] == '\n' {
				settle(pos)
				line, allow, tail = line+1, false, tail[:0]
			}
		}
		switch {
		case err == io.EOF:
			settle(1<<63 - 1) // past the end: the last line
			return nil
		case err != nil && err != bufio.ErrBufferFull:
			return err
		}
	}
	return nil
}

// sortFindings orders findings by the commit that adds them (oldest
// first; a finding in no commit of the push last), then path, line, rule
// and object.
func sortFindings(fs []Finding, w *walk) {
	rank := func(id string) int {
		if id == "" {
			return len(w.order) + 1
		}
		h, err := parseID([]byte(id))
		if err != nil {
			return len(w.order)
		}
		if r, ok := w.rank[h]; ok {
			return r
		}
		return len(w.order)
	}
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(rank(a.Commit), rank(b.Commit)),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Object, b.Object),
			cmp.Compare(a.Commit, b.Commit),
		)
	})
}

// treeNames is the names of a raw tree's entries, one a line, as they are
// scanned.
func treeNames(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	err := eachEntry(raw, func(_ uint32, name []byte, _ plumbing.Hash) {
		b.Write(name)
		b.WriteByte('\n')
	})
	return b.Bytes(), err
}
