package gitgate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"bottle.dev/bottle/internal/contract"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// How a pack is decoded, in memory that does not grow with the objects.
//
// go-git's packfile.Scanner reads the pack's structure: object headers,
// zlib streams (bounded by their declared sizes), the checksum. Its Parser
// and Packfile are not used: the Parser holds every object whole while it
// hashes it and keeps delta bases in a 96 MiB cache, and Packfile holds a
// delta's base whole to apply the delta (a 100 MB blob cost 100 MB of
// heap, a 25 MB file edited four times 234 MB). Instead:
//
//   - a first pass reads the headers in pack order and hashes each whole
//     object as it inflates (streamed);
//   - a second pass resolves the deltas depth first from each whole
//     object, each object produced once: a base with deltas on it is
//     written to a scratch file used as a stack (its region freed when
//     its last delta is done), and a delta is applied from that file
//     (io.ReaderAt) while its result streams to the hasher;
//   - every blob goes to the Scanner as it is produced (streamed through
//     a pipe, or, up to smallScan, collected and scanned from memory by
//     a few workers while the decoding goes on: packpool.go);
//     commits, trees and tags (small; read again by the walk) go to a
//     second scratch file.
//
// The scratch files are made in the spool file's directory and removed
// at once; maxInflate bounds them too. Only a blob the Scanner found
// something in is produced again, to give the findings their lines.
const (
	// maxMeta bounds a commit, tree or tag object, which the walk reads
	// whole. Real ones are far smaller (a tree of 10,000 entries is about
	// 400 KB).
	maxMeta = 32 << 20
	// smallBase is the largest delta base kept in memory rather than in
	// the scratch file, within memBases in all.
	smallBase = 64 << 10
	memBases  = 16 << 20
	// smallScan is the largest blob scanned from memory; a larger one
	// streams to the Scanner through a pipe.
	smallScan = 256 << 10
	// maxDepth is git's limit on a delta chain (pack-objects'
	// OE_DEPTH_BITS): the scratch stack holds at most that many bases.
	maxDepth = 4095
	// maxObjects and maxInflate bound what a pack may make the gate
	// hold and scan (a pack of tiny objects costs about 150 bytes of
	// memory an object; zlib and deltas let a small pack expand a
	// thousandfold).
	maxObjects = 1_000_000
	// maxInflate bounds the content of all the objects together, as a
	// multiple of the push's limit (Limits.MaxPack, which also bounds
	// each object alone): 4 GiB at the default limit.
	maxInflate = 8
	// trailerLen is the pack's SHA-1 checksum, after the last object.
	trailerLen = 20
	// headerLen is "PACK", the version and the object count.
	headerLen = 12
)

// Inspect decodes the push's pack and scans what it adds: every blob
// (under the path and the oldest commit of the push that hold it), every
// commit message and every annotated tag message, and the file names in
// every tree (a finding there names the directory, "config/ (a file
// name)", never the file). A blob no new tree
// reaches is scanned still, its Path "(object ID)"; a finding in a
// commit's or tag's headers (an author, a signature) is on line 0 of its
// message. Lines are found for blobs of any size. It fails closed: a
// thin pack is ErrThin, a pack that does not decode whole (a corrupt
// object, a bad checksum, bytes after the checksum) is ErrMalformed.
//
// With s nil the pack is decoded and walked but not scanned (Blobs
// counts the pack's blobs all the same). With honourAllow, a finding on
// a line that holds "gitleaks:allow" is dropped. A push without a pack
// (only deletes) is an empty Result. At most maxHits (1000) findings
// are kept, the first found (blobs are scanned several at once, so past
// 1000 which ones is not fixed).
//
// The ref names of its commands, its capabilities and its push options
// are scanned too (a finding names the command or option by its
// position, never the text): they reach the upstream like the pack, and
// the guard, which reads the body as it arrives, does not see them in a
// gzip-encoded one.
func (p *Push) Inspect(ctx context.Context, s Scanner, honourAllow bool) (*Result, error) {
	var head []Finding
	if s != nil {
		var err error
		if head, err = p.scanHead(s, honourAllow); err != nil {
			return nil, err
		}
	}
	if p.packOff >= p.size {
		return &Result{Findings: head}, nil
	}
	res, err := p.inspectPack(ctx, s, honourAllow)
	if err != nil {
		return nil, err
	}
	res.Findings = append(head, res.Findings...)
	return res, nil
}

// scanHead scans the ref name of each command, the capabilities (whose
// agent= is free text) and each push option.
func (p *Push) scanHead(s Scanner, honourAllow bool) ([]Finding, error) {
	var out []Finding
	scan := func(text, where string) error {
		hits, err := scanBytes(s, []byte(text), maxHits)
		if err != nil {
			return fmt.Errorf("scanning the push's %s: %w", where, err)
		}
		for _, h := range hits {
			if !honourAllow || !h.allow {
				out = append(out, Finding{Rule: h.rule, Path: where})
			}
		}
		return nil
	}
	for i, c := range p.Commands {
		if err := scan(c.Ref, "the ref name of command "+strconv.Itoa(i+1)); err != nil {
			return nil, err
		}
	}
	if len(p.Caps.All) > 0 {
		if err := scan(strings.Join(p.Caps.All, " "), "capabilities"); err != nil {
			return nil, err
		}
	}
	for i, o := range p.PushOptions {
		if err := scan(o, "push option "+strconv.Itoa(i+1)); err != nil {
			return nil, err
		}
	}
	return slices.Compact(out), nil
}

// inspectPack decodes, walks and scans the pack.
func (p *Push) inspectPack(ctx context.Context, s Scanner, honourAllow bool) (*Result, error) {
	max := p.maxPack
	if max <= 0 {
		max = contract.DefaultGitMaxPack
	}
	pk, err := openPack(ctx, p.file, p.packOff, p.size-p.packOff, max)
	if err != nil {
		return nil, err
	}
	defer pk.close()
	if err := pk.resolve(ctx, s); err != nil {
		return nil, err
	}
	w, err := pk.walk(ctx)
	if err != nil {
		return nil, err
	}
	res := &Result{Objects: len(pk.objs), Commits: w.packCommits()}
	for _, o := range pk.objs {
		if o.typ == plumbing.BlobObject {
			res.Blobs++
		}
	}
	if s == nil {
		return res, nil
	}
	res.Findings, err = pk.findings(ctx, s, w, honourAllow)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// object is one object of the pack. For a delta, typ, size and id are
// those of the content it resolves to (typ is 0 until it is resolved).
type object struct {
	off  int64
	disk plumbing.ObjectType // as stored: typ, or an OFS or REF delta
	typ  plumbing.ObjectType
	size int64
	id   plumbing.Hash
	base int           // a delta's base, by index; -1 for a whole object (and a REF_DELTA's until its base is found)
	ref  plumbing.Hash // a REF_DELTA's base id
	meta int64         // a commit, tree or tag's place in pack.meta; -1: none
	done bool          // resolved, and its content seen
}

// pack is a pack being decoded: the section of the spool file that holds
// it, its objects in pack order, two scratch files, and the Scanner's
// hits in each blob.
type pack struct {
	src   *section
	objs  []object
	byID  map[plumbing.Hash]int // index in objs, once resolved
	meta  *os.File              // commits, trees and tags, appended
	metaN int64
	stack scratch       // delta bases being used
	hits  map[int][]hit // by blob index: the Scanner's findings, by offset
	nhits int           // in hits and in the messages, at most maxHits
	mu    sync.Mutex    // hits and nhits, which the scan pool fills
	small bytes.Buffer  // a small blob being produced, to scan
	max   int64         // the largest object; maxInflate times it all of them

	// What produce reuses from one object to the next (produce is never
	// run twice at once).
	sc    *packfile.Scanner
	delta *bufio.Reader
	buf   []byte
}

// openPack reads the pack that is the n bytes of f from off, first pass:
// the headers, the object count, the checksum, and the ids of the whole
// objects.
//
// max (Limits.MaxPack) bounds each object's content, a delta's result
// included, and maxInflate times max all of them: checked from the
// headers, before anything is inflated.
func openPack(ctx context.Context, f *os.File, off, n, max int64) (*pack, error) {
	if n < headerLen+trailerLen {
		return nil, fmt.Errorf("%w: the pack is %d bytes, shorter than a pack's header and checksum (32)", ErrMalformed, n)
	}
	pk := &pack{src: &section{ctx: ctx, r: f, off: off, n: n}, byID: make(map[plumbing.Hash]int), hits: make(map[int][]hit), max: max}
	if err := pk.index(ctx); err != nil {
		return nil, err
	}
	dir := filepath.Dir(f.Name())
	var err error
	if pk.meta, err = scratchFile(dir, "meta"); err != nil {
		return nil, err
	}
	if pk.stack.f, err = scratchFile(dir, "bases"); err != nil {
		pk.close()
		return nil, err
	}
	return pk, nil
}

// scratchFile is a new file in dir, removed at once: it lives as long as
// it is open, and no crash leaves it behind.
func scratchFile(dir, name string) (*os.File, error) {
	f, err := os.CreateTemp(dir, spoolPrefix+name+"-*")
	if err != nil {
		return nil, fmt.Errorf("making the git gate's scratch file: %w", err)
	}
	_ = os.Remove(f.Name())
	return f, nil
}

func (pk *pack) close() {
	if pk.meta != nil {
		_ = pk.meta.Close()
	}
	if pk.stack.f != nil {
		_ = pk.stack.f.Close()
	}
}

// malformed wraps a decoding error as ErrMalformed, or returns the
// context's error when the decoding stopped because it was cancelled.
func (pk *pack) malformed(err error, format string, args ...any) error {
	if ctx := pk.src.ctx; ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformed, fmt.Sprintf(format, args...), err)
}

// index is the first pass.
func (pk *pack) index(ctx context.Context) error {
	sc := packfile.NewScanner(pk.src.reader())
	_, count, err := sc.Header()
	if err != nil {
		return pk.malformed(err, "reading the pack's header")
	}
	if count > maxObjects {
		return fmt.Errorf("%w: the pack has %d objects; the git gate takes at most %d in one push", ErrTooLarge, count, maxObjects)
	}
	pk.objs = make([]object, 0, min(count, 1<<16))
	var content int64
	byOff := make(map[int64]int, min(count, 1<<16))
	for i := range int(count) {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := sc.NextObjectHeader()
		if err != nil {
			return pk.malformed(err, "reading object %d of %d", i+1, count)
		}
		o := object{off: h.Offset, disk: h.Type, size: h.Length, base: -1, meta: -1}
		switch h.Type {
		case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
			hasher := plumbing.NewHasher(h.Type, h.Length)
			n, _, err := sc.NextObject(hasher)
			if err == nil && n != h.Length {
				err = fmt.Errorf("inflated %d bytes of %d", n, h.Length)
			}
			if err != nil {
				return pk.malformed(err, "the object at pack offset %d", h.Offset)
			}
			o.typ, o.id = h.Type, hasher.Sum()
			pk.byID[o.id] = i
		case plumbing.OFSDeltaObject, plumbing.REFDeltaObject:
			if h.Type == plumbing.OFSDeltaObject {
				b, ok := byOff[h.OffsetReference]
				if !ok {
					return pk.malformed(errors.New("no object starts there"), "the delta at pack offset %d is on offset %d", h.Offset, h.OffsetReference)
				}
				o.base = b
			} else {
				o.ref = h.Reference
			}
			var head deltaHead
			if _, _, err := sc.NextObject(&head); err != nil {
				return pk.malformed(err, "the delta at pack offset %d", h.Offset)
			}
			if o.size, err = head.target(); err != nil {
				return pk.malformed(err, "the delta at pack offset %d", h.Offset)
			}
		default:
			return pk.malformed(fmt.Errorf("type %d", h.Type), "the object at pack offset %d", h.Offset)
		}
		if o.size > pk.max {
			return fmt.Errorf("%w: the object at pack offset %d is %s; the bottle's git gate takes objects of at most %s (bottle-sidecar --git-max-pack)", ErrTooLarge, o.off, sizeString(o.size), sizeString(pk.max))
		}
		if content += o.size; content > maxInflate*pk.max {
			return fmt.Errorf("%w: the pack's objects inflate to more than %s; the bottle's git gate takes at most %d times --git-max-pack (%s)", ErrTooLarge, sizeString(maxInflate*pk.max), maxInflate, sizeString(pk.max))
		}
		byOff[o.off] = i
		pk.objs = append(pk.objs, o)
	}
	if _, err := sc.Checksum(); err != nil {
		return pk.malformed(err, "the pack's checksum")
	}
	end, err := sc.SeekFromStart(0) // where the checksum ended
	if err != nil {
		return pk.malformed(err, "the pack's end")
	}
	if extra := pk.src.n - end; extra != 0 {
		return fmt.Errorf("%w: the pack has %d bytes after its checksum", ErrMalformed, extra)
	}
	return nil
}

// deltaHead keeps the first bytes of a delta: its base's size and its
// result's, two varints.
type deltaHead struct {
	b [20]byte
	n int
}

func (d *deltaHead) Write(p []byte) (int, error) {
	d.n += copy(d.b[d.n:], p)
	return len(p), nil
}

func (d *deltaHead) target() (int64, error) {
	r := bytes.NewReader(d.b[:d.n])
	if _, err := readVarint(r); err != nil {
		return 0, err
	}
	n, err := readVarint(r)
	return int64(n), err
}

// resolve is the second pass: every object produced once, depth first
// from each whole object through the deltas on it, each blob scanned by
// s (nil: none) and each commit, tree and tag copied to pk.meta.
func (pk *pack) resolve(ctx context.Context, s Scanner) error {
	var pool *scanPool
	if s != nil {
		pool = newScanPool(ctx, s, pk)
	}
	err := pk.resolveAll(ctx, pool)
	if pool != nil {
		if perr := pool.wait(); err == nil {
			err = perr
		}
	}
	return err
}

func (pk *pack) resolveAll(ctx context.Context, pool *scanPool) error {
	kids := make([][]int, len(pk.objs))
	wait := make(map[plumbing.Hash][]int) // REF_DELTAs on an object not resolved yet
	for i, o := range pk.objs {
		switch {
		case o.base >= 0:
			kids[o.base] = append(kids[o.base], i)
		case o.disk == plumbing.REFDeltaObject:
			if b, ok := pk.byID[o.ref]; ok {
				pk.objs[i].base = b
				kids[b] = append(kids[b], i)
			} else {
				wait[o.ref] = append(wait[o.ref], i)
			}
		}
	}
	type frame struct {
		i    int
		base *region
		next int
	}
	for root := range pk.objs {
		if pk.objs[root].disk.IsDelta() {
			continue
		}
		reg, err := pk.step(ctx, pool, root, nil, kids, wait)
		if err != nil {
			return err
		}
		if reg == nil {
			continue
		}
		stack := []frame{{i: root, base: reg}}
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next == len(kids[f.i]) {
				pk.stack.pop(f.base)
				stack = stack[:len(stack)-1]
				continue
			}
			c := kids[f.i][f.next]
			f.next++
			reg, err := pk.step(ctx, pool, c, f.base, kids, wait)
			if err != nil {
				return err
			}
			if reg != nil {
				if len(stack) >= maxDepth {
					return fmt.Errorf("%w: a delta chain is deeper than git's limit (%d)", ErrMalformed, maxDepth)
				}
				stack = append(stack, frame{i: c, base: reg})
			}
		}
	}
	for _, o := range pk.objs {
		if _, ok := pk.byID[o.ref]; !o.done && o.disk == plumbing.REFDeltaObject && !ok {
			return fmt.Errorf("%w: the object at pack offset %d is a delta on %s, which the push does not carry; "+
				"bottle asks git for self-contained packs (no-thin): push with a git that honours it", ErrThin, o.off, o.ref)
		}
	}
	for _, o := range pk.objs {
		if !o.done {
			return fmt.Errorf("%w: the delta at pack offset %d is on itself, through other deltas", ErrMalformed, o.off)
		}
	}
	return nil
}

// step produces object i (a delta on base, or whole when base is nil)
// once: to the hasher (a delta's id), the Scanner (a blob), pk.meta (a
// commit, tree or tag) and, when deltas are on it, a region of the
// scratch stack, which it returns.
func (pk *pack) step(ctx context.Context, pool *scanPool, i int, base *region, kids [][]int, wait map[plumbing.Hash][]int) (*region, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if pool != nil {
		if err := pool.failed(); err != nil {
			return nil, err
		}
	}
	o := &pk.objs[i]
	if o.disk.IsDelta() {
		o.typ = pk.objs[o.base].typ
	}
	var sinks []io.Writer
	var hasher plumbing.Hasher
	if o.disk.IsDelta() {
		hasher = plumbing.NewHasher(o.typ, o.size)
		sinks = append(sinks, hasher)
	}
	if o.typ != plumbing.BlobObject {
		if o.size > maxMeta {
			return nil, fmt.Errorf("%w: the %v at pack offset %d is %d bytes; the gate reads commits, trees and tags of up to %d", ErrMalformed, o.typ, o.off, o.size, maxMeta)
		}
		o.meta = pk.metaN
		pk.metaN += o.size
		sinks = append(sinks, io.NewOffsetWriter(pk.meta, o.meta))
	}
	var reg *region
	if len(kids[i]) > 0 {
		reg = pk.stack.push(o.size)
		sinks = append(sinks, reg.writer())
	}
	// A small blob goes to the scan pool once produced; a large one
	// streams to the Scanner (in its goroutine) as it is produced.
	scanning := pool != nil && o.typ == plumbing.BlobObject
	var stream *scanSink
	switch {
	case scanning && o.size <= smallScan:
		pk.small.Reset()
		sinks = append(sinks, &pk.small)
	case scanning:
		stream = startScan(pool.s, pk.hitsLeft())
		sinks = append(sinks, stream)
	}
	err := pk.produce(i, base, io.MultiWriter(sinks...))
	switch {
	case scanning && stream != nil:
		hits, serr := stream.finish(err)
		if err == nil && serr != nil {
			return nil, fmt.Errorf("scanning the blob at pack offset %d: %w", o.off, serr)
		}
		pk.keep(i, hits)
	case scanning && err == nil:
		pool.submit(i, pk.small.Bytes())
	}
	if err != nil {
		return nil, err
	}
	if o.disk.IsDelta() {
		o.id = hasher.Sum()
		pk.byID[o.id] = i
		if w := wait[o.id]; len(w) > 0 {
			// REF_DELTAs on this delta: it is a base after all, and is
			// produced once more, into the stack.
			delete(wait, o.id)
			for _, c := range w {
				pk.objs[c].base = i
			}
			kids[i] = append(kids[i], w...)
			if reg == nil {
				reg = pk.stack.push(o.size)
				if err := pk.produce(i, base, reg.writer()); err != nil {
					return nil, err
				}
			}
		}
	}
	o.done = true
	return reg, nil
}

// produce writes object i's content to w: inflated from the pack, or,
// for a delta, its delta applied to base.
func (pk *pack) produce(i int, base *region, w io.Writer) error {
	o := pk.objs[i]
	w = markWriter{w}
	if pk.sc == nil {
		pk.sc = packfile.NewScanner(pk.src.reader())
		pk.delta = bufio.NewReaderSize(nil, 32<<10)
		pk.buf = make([]byte, 32<<10)
	}
	sc := pk.sc
	if _, err := sc.SeekObjectHeader(o.off); err != nil {
		return pk.malformed(err, "rereading the object at pack offset %d", o.off)
	}
	if !o.disk.IsDelta() {
		n, _, err := sc.NextObject(w)
		if err == nil && n != o.size {
			err = fmt.Errorf("inflated %d bytes of %d", n, o.size)
		}
		var we *writeError
		if errors.As(err, &we) {
			return we.err
		}
		if err != nil {
			return pk.malformed(err, "the object at pack offset %d", o.off)
		}
		return nil
	}
	rc, err := sc.ReadObject()
	if err != nil {
		return pk.malformed(err, "the delta at pack offset %d", o.off)
	}
	defer rc.Close()
	pk.delta.Reset(rc)
	if err := applyDelta(w, base, pk.delta, o.size, pk.buf); err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return we.err
		}
		return pk.malformed(err, "the delta at pack offset %d", o.off)
	}
	return nil
}

// derive writes object i's content to w again, after the second pass:
// its chain of bases is produced into the stack, oldest first.
func (pk *pack) derive(i int, w io.Writer) error {
	var chain []int
	for j := i; ; j = pk.objs[j].base {
		chain = append(chain, j)
		if !pk.objs[j].disk.IsDelta() {
			break
		}
	}
	var base *region
	var regs []*region
	defer func() {
		for k := len(regs) - 1; k >= 0; k-- {
			pk.stack.pop(regs[k])
		}
	}()
	for k := len(chain) - 1; k > 0; k-- {
		reg := pk.stack.push(pk.objs[chain[k]].size)
		regs = append(regs, reg)
		if err := pk.produce(chain[k], base, reg.writer()); err != nil {
			return err
		}
		base = reg
	}
	return pk.produce(i, base, w)
}

// readAll is the content of a commit, tree or tag, from pk.meta.
func (pk *pack) readAll(i int) ([]byte, error) {
	o := pk.objs[i]
	if o.meta < 0 {
		return nil, fmt.Errorf("gitgate: the %v at pack offset %d was not kept", o.typ, o.off)
	}
	b := make([]byte, o.size)
	if _, err := pk.meta.ReadAt(b, o.meta); err != nil {
		return nil, fmt.Errorf("reading back the %v at pack offset %d: %w", o.typ, o.off, err)
	}
	return b, nil
}

// section is the pack: n bytes of the spool file from off. Each reader
// checks ctx on every read, so a cancelled push stops within the object
// being read.
type section struct {
	ctx context.Context
	r   io.ReaderAt
	off int64
	n   int64
}

// reader is a new seekable reader of the pack (go-git's Scanner seeks
// only when its reader is an io.ReadSeeker).
func (s *section) reader() io.ReadSeeker {
	return &sectionReader{SectionReader: io.NewSectionReader(s.r, s.off, s.n), ctx: s.ctx}
}

type sectionReader struct {
	*io.SectionReader
	ctx context.Context
}

func (r *sectionReader) Read(b []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.SectionReader.Read(b)
}
