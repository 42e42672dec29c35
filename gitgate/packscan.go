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
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// allowMarker is gitleaks' inline suppression.
const allowMarker = "gitleaks:allow"

// maxHits bounds the Scanner's findings kept for one push: enough to
// refuse it and to audit why, and a pack of a million key-shaped lines
// cannot make the gate hold a million findings.
const maxHits = 1000

// hit is one finding of the Scanner in one object's content.
type hit struct {
	rule  string
	off   int64
	line  int  // 1-based, in the content
	allow bool // the line holds allowMarker
}

// findings turns the Scanner's hits in the blobs (found during the
// second pass) into Findings, scans the commit and tag messages and the
// trees' file names, and returns them sorted by commit (oldest first),
// path and line, without duplicates.
//
// A blob is given to s once. Only a blob with hits is produced a
// second time, to turn the offsets into line numbers and to see whether
// those lines carry "gitleaks:allow", so the memory is bounded by the
// hits, whatever the blob's size.
func (pk *pack) findings(ctx context.Context, s Scanner, w *walk, honourAllow bool) ([]Finding, error) {
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
			hits := pk.hits[i]
			if len(hits) == 0 {
				continue
			}
			if err := pk.locateIn(i, hits); err != nil {
				return nil, err
			}
			f := Finding{Path: "(object " + o.id.String() + ")", Object: o.id.String()}
			if p, ok := w.blobs[o.id]; ok {
				f.Path, f.Commit = w.path(p), w.commitID(p.commit).String()
			}
			add(hits, f, func(h hit) int { return h.line })
		case plumbing.TreeObject:
			fs, err := pk.scanNames(s, i, w, honourAllow)
			if err != nil {
				return nil, err
			}
			out = append(out, fs...)
		case plumbing.CommitObject, plumbing.TagObject:
			raw, err := pk.readAll(i)
			if err != nil {
				return nil, err
			}
			hits, err := scanBytes(s, raw, pk.hitsLeft())
			if err != nil {
				return nil, fmt.Errorf("scanning the %v %s: %w", o.typ, o.id, err)
			}
			pk.keep(i, hits)
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
		}
	}
	sortFindings(out, w)
	return slices.Compact(out), nil
}

// scanNames scans the names of tree i's entries, one a line: a file
// name is pushed content too, and a secret can be one. A finding names
// the directory, never the file (whose name holds the secret): Path
// "config/ (a file name)", "(a file name)" for a commit's top directory.
func (pk *pack) scanNames(s Scanner, i int, w *walk, honourAllow bool) ([]Finding, error) {
	raw, err := pk.readAll(i)
	if err != nil {
		return nil, err
	}
	var names []byte
	_ = eachEntry(raw, func(_ uint32, name []byte, _ plumbing.Hash) { // the walk has checked the trees it reached
		names = append(append(names, name...), '\n')
	})
	hits, err := scanBytes(s, names, pk.hitsLeft())
	if err != nil {
		return nil, fmt.Errorf("scanning the names in tree %s: %w", pk.objs[i].id, err)
	}
	pk.keep(i, hits)
	id := pk.objs[i].id.String()
	f := Finding{Path: "(a file name in object " + id + ")", Object: id}
	if p, ok := w.trees[i]; ok {
		f.Path, f.Commit = strings.TrimPrefix(w.path(p)+" (a file name)", " "), w.commitID(p.commit).String()
	}
	var out []Finding
	for _, h := range hits {
		if honourAllow && h.allow {
			continue
		}
		f.Rule = h.rule
		out = append(out, f)
	}
	return out, nil
}

// locateIn produces blob i again and gives its hits their lines.
func (pk *pack) locateIn(i int, hits []hit) error {
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(a.off, b.off) })
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := pk.derive(i, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	err := locate(pr, hits)
	pr.CloseWithError(errLocated) // stops derive if locate is done early
	derr := <-done
	if err == nil && derr != nil && !errors.Is(derr, errLocated) {
		err = derr
	}
	return err
}

var errLocated = errors.New("gitgate: the lines are found")

// collector keeps the Scanner's hits in one object, at most max.
type collector struct {
	mu   sync.Mutex // s may call found from its own goroutines
	max  int
	hits []hit
}

func (c *collector) found(rule string, off int64) {
	c.mu.Lock()
	if len(c.hits) < c.max {
		c.hits = append(c.hits, hit{rule: rule, off: off})
	}
	c.mu.Unlock()
}

func (c *collector) result() []hit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits
}

// scanSync scans b, in memory, and returns its hits (at most max).
func scanSync(s Scanner, b []byte, max int) ([]hit, error) {
	c := &collector{max: max}
	err := s.Scan(bytes.NewReader(b), c.found)
	return c.result(), err
}

// scanSink streams one large blob to the Scanner, which reads it in its
// own goroutine as the second pass writes it.
type scanSink struct {
	pw   *io.PipeWriter
	done chan error
	c    collector
}

func startScan(s Scanner, max int) *scanSink {
	pr, pw := io.Pipe()
	k := &scanSink{pw: pw, done: make(chan error, 1), c: collector{max: max}}
	go func() {
		err := s.Scan(pr, k.c.found)
		// A Scanner that stops early must not stall the writer.
		_, _ = io.Copy(io.Discard, pr)
		k.done <- err
	}()
	return k
}

func (k *scanSink) Write(p []byte) (int, error) { return k.pw.Write(p) }

// finish ends the blob (with err when it could not be produced whole)
// and returns the Scanner's hits and error.
func (k *scanSink) finish(err error) ([]hit, error) {
	k.pw.CloseWithError(err)
	serr := <-k.done
	return k.c.result(), serr
}

// scanBytes scans b, a commit or tag, and locates its hits (at most
// max).
func scanBytes(s Scanner, b []byte, max int) ([]hit, error) {
	hits, err := scanSync(s, b, max)
	if err != nil || len(hits) == 0 {
		return nil, err
	}
	slices.SortFunc(hits, func(a, b hit) int { return cmp.Compare(a.off, b.off) })
	return hits, locate(bytes.NewReader(b), hits)
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
