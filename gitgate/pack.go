package gitgate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"bottle.dev/bottle/internal/contract"
	billy "github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// How the pack is read. The parser (go-git's packfile.Parser over the
// seekable spool file, no storage) inflates one object at a time to hash
// it and keeps only delta bases with children in its own cache; objects
// are then read back through packfile.Packfile, which streams any object
// larger than largeObject from the file instead of holding it whole.
const (
	// objectCache bounds go-git's object cache of the read phase (its
	// default is 96 MiB): it keeps small objects and delta bases that
	// several deltas share.
	objectCache = 8 * cache.MiByte
	// largeObject is the size above which an object is streamed from the
	// spool file rather than read into memory.
	largeObject = 1 << 20
	// maxMeta bounds a commit, tree or tag object, which is read whole to
	// be parsed. Real ones are far smaller (a tree of 10,000 entries is
	// about 400 KB).
	maxMeta = 32 << 20
	// trailerLen is the pack's SHA-1 checksum, after the last object.
	trailerLen = 20
	// headerLen is "PACK", the version and the object count.
	headerLen = 12
	// maxInflate bounds what a pack inflates to, all its objects
	// together, as a multiple of Limits.MaxPack: zlib packs zeros a
	// thousand to one and a delta of a few bytes copies 64 KiB, so the
	// pack's own size says nothing of the memory and time its objects
	// take. Each object alone is bounded by MaxPack.
	maxInflate = 8
	// maxObjects bounds the objects of one pack (the parser keeps a few
	// hundred bytes for each); a push of a whole large repository has a
	// few million.
	maxObjects = 1 << 22
)

// Inspect decodes the push's pack and scans what it adds: every blob
// (under the path and the oldest commit of the push that hold it), every
// commit message and every annotated tag message. It fails closed: a
// thin pack is ErrThin, a pack that does not decode whole (a corrupt
// object, a bad checksum, bytes after the checksum) is ErrMalformed.
//
// The ref names of its commands, its capabilities and its push options
// are scanned too (a finding names the command or option by its
// position, never the text): they reach the upstream like the pack, and
// the guard, which reads the body as it arrives, does not see them in a
// gzip-encoded one.
//
// With s nil the pack is decoded and walked but not scanned. With
// honourAllow, a finding on a line that holds "gitleaks:allow" is
// dropped. A push without a pack (only deletes) has only its commands
// scanned.
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
		hits, err := scanContent(s, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(text)), nil })
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
		if err := scan(c.Ref, "the ref name of command "+itoa(i+1)); err != nil {
			return nil, err
		}
	}
	if len(p.Caps.All) > 0 {
		if err := scan(strings.Join(p.Caps.All, " "), "capabilities"); err != nil {
			return nil, err
		}
	}
	for i, o := range p.PushOptions {
		if err := scan(o, "push option "+itoa(i+1)); err != nil {
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
	// The pack's reads cancel ctx when its deltas have taken more work
	// than they may (packFS.Seek); every error is then that one.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	res, err := p.inspect(ctx, cancel, s, honourAllow, max)
	if err != nil && errors.Is(context.Cause(ctx), ErrTooLarge) {
		err = context.Cause(ctx)
	}
	return res, err
}

func (p *Push) inspect(ctx context.Context, cancel context.CancelCauseFunc, s Scanner, honourAllow bool, max int64) (*Result, error) {
	pk, err := openPack(ctx, cancel, p.file, p.packOff, p.size-p.packOff, max)
	if err != nil {
		return nil, err
	}
	defer pk.close()
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
	res.Findings, err = pk.scan(ctx, s, w, honourAllow)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// object is one object of the pack, as the parser resolved it: its type
// and size are those of the content, not of the delta that carries it.
type object struct {
	off  int64
	typ  plumbing.ObjectType
	size int64
	id   plumbing.Hash
}

// pack is a decoded pack: its objects in pack order, and a reader of any
// of them by offset.
type pack struct {
	objs []object
	byID map[plumbing.Hash]int // index in objs
	pf   *packfile.Packfile
}

// openPack parses the pack that is the n bytes of f from off: it checks
// the size of what it inflates to (checkSizes, max: Limits.MaxPack), the
// pack's structure and checksum, resolves every delta (a delta on an
// object outside the pack is ErrThin), and indexes the objects.
func openPack(ctx context.Context, cancel context.CancelCauseFunc, f *os.File, off, n, max int64) (*pack, error) {
	fs := &packFS{ctx: ctx, cancel: cancel, r: f, off: off, n: n, name: "push.pack"}
	if n < headerLen+trailerLen {
		return nil, fmt.Errorf("%w: the pack is %d bytes, shorter than a pack's header and checksum (32)", ErrMalformed, n)
	}
	sizes, err := checkSizes(fs, max)
	if err != nil {
		return nil, err
	}
	fs.sizes = sizes
	fs.work.Store(readWork(sizes))
	rec := &recorder{ctx: ctx}
	idx := new(idxfile.Writer)
	parser, err := packfile.NewParser(packfile.NewScanner(fs.file()), rec, idx)
	if err != nil {
		return nil, fmt.Errorf("decoding the pack: %w", err)
	}
	if _, err := parser.Parse(); err != nil {
		return nil, parseError(ctx, fs, err)
	}
	if err := checkEnd(fs, rec.objs); err != nil {
		return nil, err
	}
	index, err := idx.Index()
	if err != nil {
		return nil, fmt.Errorf("%w: indexing the pack: %v", ErrMalformed, err)
	}
	pk := &pack{objs: rec.objs, byID: make(map[plumbing.Hash]int, len(rec.objs))}
	for i, o := range pk.objs {
		switch o.typ {
		case plumbing.CommitObject, plumbing.TreeObject, plumbing.BlobObject, plumbing.TagObject:
		default:
			return nil, fmt.Errorf("%w: the object at pack offset %d has type %v", ErrMalformed, o.off, o.typ)
		}
		pk.byID[o.id] = i
	}
	pk.pf = packfile.NewPackfileWithCache(index, fs, fs.file(), cache.NewObjectLRU(objectCache), largeObject)
	return pk, nil
}

func (pk *pack) close() { _ = pk.pf.Close() }

// parseError is what a failed parse means for the push: the context's
// error when it was cancelled, ErrThin for a delta on a missing base,
// ErrMalformed otherwise.
func parseError(ctx context.Context, fs *packFS, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, packfile.ErrReferenceDeltaNotFound) {
		return thinError(fs)
	}
	return fmt.Errorf("%w: the pack does not decode: %v", ErrMalformed, err)
}

// checkSizes reads the pack's object headers, and the first bytes of each
// delta (where it says the size of its result), and refuses a pack of
// more than maxObjects objects, an object whose content is larger than
// max, and a pack whose objects inflate to more than maxInflate × max all
// together: the parser would hold each object whole in memory, and hash
// every byte. A declared size is checked before the object is inflated,
// and the inflating stops at it (the scanner refuses an object longer
// than its header says), so this pass takes no more than the limits
// allow either. It returns the size of each object's content (a delta's
// result), by the object's offset in the pack.
func checkSizes(fs *packFS, max int64) (map[int64]int64, error) {
	sc := packfile.NewScanner(fs.file())
	_, count, err := sc.Header()
	if err != nil {
		return nil, sizeError(fs, err)
	}
	if count > maxObjects {
		return nil, fmt.Errorf("%w: the pack holds %d objects; the bottle's git gate takes at most %d in one push", ErrTooLarge, count, maxObjects)
	}
	budget := maxInflate * max
	sizes := make(map[int64]int64)
	for range count {
		if err := fs.ctx.Err(); err != nil {
			return nil, err
		}
		h, err := sc.NextObjectHeader()
		if err != nil {
			return nil, sizeError(fs, err)
		}
		if err := checkSize(h.Offset, "", h.Length, max, &budget); err != nil {
			return nil, err
		}
		if !h.Type.IsDelta() {
			sizes[h.Offset] = h.Length
			if _, _, err := sc.NextObject(io.Discard); err != nil {
				return nil, sizeError(fs, err)
			}
			continue
		}
		var head deltaHead
		if _, _, err := sc.NextObject(&head); err != nil {
			return nil, sizeError(fs, err)
		}
		target, ok := head.target()
		if !ok {
			return nil, fmt.Errorf("%w: the delta at pack offset %d has no valid header", ErrMalformed, h.Offset)
		}
		if err := checkSize(h.Offset, "the result of ", target, max, &budget); err != nil {
			return nil, err
		}
		sizes[h.Offset] = target
	}
	return sizes, nil
}

// sizeError is a failure to read the pack in checkSizes: the context's
// error when it was cancelled, else ErrMalformed.
func sizeError(fs *packFS, err error) error {
	if err := fs.ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: the pack does not decode: %v", ErrMalformed, err)
}

// checkSize takes n bytes from budget, and refuses an object of more than
// max bytes or a budget overdrawn.
func checkSize(off int64, what string, n, max int64, budget *int64) error {
	if n > max {
		return fmt.Errorf("%w: %sthe object at pack offset %d is %s; the bottle's git gate takes objects of at most %s (bottle-sidecar --git-max-pack)", ErrTooLarge, what, off, sizeString(n), sizeString(max))
	}
	if *budget -= n; *budget < 0 {
		return fmt.Errorf("%w: the pack's objects inflate to more than %s; the bottle's git gate takes at most %d times --git-max-pack (%s)", ErrTooLarge, sizeString(maxInflate*max), maxInflate, sizeString(max))
	}
	return nil
}

// deltaHead keeps the first bytes of a delta: two sizes, the base's and
// the result's, each at most 10 bytes of LEB128.
type deltaHead struct {
	b []byte
}

func (d *deltaHead) Write(p []byte) (int, error) {
	if room := 20 - len(d.b); room > 0 {
		d.b = append(d.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// target is the size of the delta's result.
func (d *deltaHead) target() (int64, bool) {
	b := d.b
	var n int64
	for i := 0; i < 2; i++ {
		n = 0
		var shift uint
		for {
			if len(b) == 0 || shift > 56 {
				return 0, false
			}
			c := b[0]
			b = b[1:]
			n |= int64(c&0x7f) << shift
			shift += 7
			if c&0x80 == 0 {
				break
			}
		}
	}
	return n, n >= 0
}

// thinError names a delta of the pack whose base the pack does not hold.
// The parser does not say which one, so the pack's headers are read again
// (each object inflated once, streamed, to hash the whole ones).
func thinError(fs *packFS) error {
	const hint = "which the push does not carry; bottle asks git for self-contained packs (no-thin): push with a git that honours it"
	sc := packfile.NewScanner(fs.file())
	_, count, err := sc.Header()
	if err == nil {
		have := make(map[plumbing.Hash]bool)
		type ref struct {
			off  int64
			base plumbing.Hash
		}
		var refs []ref
		for range count {
			h, err := sc.NextObjectHeader()
			if err != nil {
				break
			}
			if h.Type == plumbing.REFDeltaObject {
				refs = append(refs, ref{h.Offset, h.Reference})
				continue
			}
			if h.Type == plumbing.OFSDeltaObject {
				continue
			}
			hasher := plumbing.NewHasher(h.Type, h.Length)
			if _, _, err := sc.NextObject(hasher); err != nil {
				break
			}
			have[hasher.Sum()] = true
		}
		for _, r := range refs {
			if !have[r.base] {
				return fmt.Errorf("%w: the pack is thin: the object at pack offset %d is a delta on %s, %s", ErrThin, r.off, r.base, hint)
			}
		}
	}
	return fmt.Errorf("%w: the pack is thin: a delta's base is an object %s", ErrThin, hint)
}

// checkEnd refuses bytes after the pack's checksum: the parser stops at
// the checksum and would not see them, and git would not send them.
func checkEnd(fs *packFS, objs []object) error {
	end := int64(headerLen)
	if len(objs) > 0 {
		last := slices.MaxFunc(objs, func(a, b object) int { return cmpInt64(a.off, b.off) })
		sc := packfile.NewScanner(fs.file())
		if _, err := sc.SeekObjectHeader(last.off); err != nil {
			return fmt.Errorf("%w: rereading the pack's last object: %v", ErrMalformed, err)
		}
		if _, _, err := sc.NextObject(io.Discard); err != nil {
			return fmt.Errorf("%w: rereading the pack's last object: %v", ErrMalformed, err)
		}
		var err error
		if end, err = sc.SeekFromStart(0); err != nil {
			return fmt.Errorf("%w: rereading the pack's last object: %v", ErrMalformed, err)
		}
	}
	if extra := fs.n - end - trailerLen; extra != 0 {
		return fmt.Errorf("%w: the pack has %d bytes after its checksum", ErrMalformed, extra)
	}
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// read opens the content of object i, streamed for a large one.
func (pk *pack) read(i int) (io.ReadCloser, error) {
	o, err := pk.pf.GetByOffset(pk.objs[i].off)
	if err != nil {
		return nil, fmt.Errorf("%w: reading object %s: %v", ErrMalformed, pk.objs[i].id, err)
	}
	r, err := o.Reader()
	if err != nil {
		return nil, fmt.Errorf("%w: reading object %s: %v", ErrMalformed, pk.objs[i].id, err)
	}
	return r, nil
}

// readAll reads a commit, tree or tag object whole (at most maxMeta).
func (pk *pack) readAll(i int) ([]byte, error) {
	o := pk.objs[i]
	if o.size > maxMeta {
		return nil, fmt.Errorf("%w: %v %s is %d bytes; the gate reads commits, trees and tags of up to %d", ErrMalformed, o.typ, o.id, o.size, maxMeta)
	}
	r, err := pk.read(i)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, o.size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%w: reading %v %s: %v", ErrMalformed, o.typ, o.id, err)
	}
	return b, nil
}

// recorder is a parser observer that keeps each object's offset, type,
// size and id, in pack order, and stops the parse when ctx is done.
type recorder struct {
	ctx  context.Context
	objs []object
	cur  object
}

func (r *recorder) OnHeader(count uint32) error {
	r.objs = make([]object, 0, min(count, 1<<16))
	return nil
}

func (r *recorder) OnInflatedObjectHeader(t plumbing.ObjectType, size, pos int64) error {
	if err := r.ctx.Err(); err != nil {
		return err
	}
	r.cur = object{off: pos, typ: t, size: size}
	return nil
}

func (r *recorder) OnInflatedObjectContent(h plumbing.Hash, pos int64, _ uint32, _ []byte) error {
	if pos != r.cur.off {
		return fmt.Errorf("object at %d reported at %d", pos, r.cur.off)
	}
	r.cur.id = h
	r.objs = append(r.objs, r.cur)
	return nil
}

func (r *recorder) OnFooter(plumbing.Hash) error { return nil }

// errReadOnly is what packFS answers to anything but reading the pack.
var errReadOnly = errors.New("gitgate: the pack is read-only")

// packFS is the pack, n bytes of the spool file from off, as the one
// file of a read-only billy.Filesystem: go-git's Packfile reopens its
// file by name to stream a large object. Every read checks ctx, so a
// cancelled push stops within the object being read.
type packFS struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	r      io.ReaderAt
	off    int64
	n      int64
	name   string

	// sizes is the size of each object's content (a delta's result) by
	// its offset (nil until checkSizes has run), and work how much more
	// content reading the pack may produce: each time go-git seeks to an
	// object to read it, its size is taken from work, and when work runs
	// out ctx is cancelled with ErrTooLarge. go-git reads an object again
	// whenever its caches lost it: a delta's base, inflated anew for each
	// delta on it, or a whole chain resolved anew for each of its links,
	// so that a pack of a few KiB could keep the sidecar busy for hours.
	sizes map[int64]int64
	work  atomic.Int64
}

// readWorkFactor and readWorkSlack make the work reading the pack may
// take: readWorkFactor times its objects' sizes together, and
// readWorkSlack besides. The parse, the walk and the scan seek to each
// object about three times in all (3.3 for a pack of this repository's
// whole history): more than twice that leaves room for the caches
// missing now and then, and still stops a pack whose objects are each
// read dozens of times.
const (
	readWorkFactor = 8
	readWorkSlack  = 256 << 20
)

// readWork is the work reading the pack may take (packFS.work).
func readWork(sizes map[int64]int64) int64 {
	var total int64
	for _, n := range sizes {
		total += n
	}
	return readWorkFactor*total + readWorkSlack
}

// charge takes the size of the object at pack offset off, if one starts
// there, from the work left, and cancels the inspection when none is
// left.
func (fs *packFS) charge(off int64) error {
	n, ok := fs.sizes[off]
	if !ok {
		return nil
	}
	if fs.work.Add(-n) < 0 {
		err := fmt.Errorf("%w: reading the pack's objects takes more work than %s of them may (deltas on a large base, or delta chains that interleave, have each object read again and again); push fewer commits at a time", ErrTooLarge, sizeString(readWork(fs.sizes)))
		if fs.cancel != nil {
			fs.cancel(err)
		}
		return err
	}
	return nil
}

func (fs *packFS) file() *packFile {
	return &packFile{SectionReader: io.NewSectionReader(fs.r, fs.off, fs.n), fs: fs}
}

func (fs *packFS) Open(name string) (billy.File, error) {
	if name != fs.name {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
	}
	return fs.file(), nil
}

var (
	_ billy.Filesystem = (*packFS)(nil)
	_ billy.File       = (*packFile)(nil)
)

// The rest of billy.Filesystem: the pack is the only file, and read-only.
func (fs *packFS) Create(string) (billy.File, error)                     { return nil, errReadOnly }
func (fs *packFS) OpenFile(string, int, os.FileMode) (billy.File, error) { return nil, errReadOnly }
func (fs *packFS) Stat(string) (os.FileInfo, error)                      { return nil, errReadOnly }
func (fs *packFS) Rename(string, string) error                           { return errReadOnly }
func (fs *packFS) Remove(string) error                                   { return errReadOnly }
func (fs *packFS) Join(elem ...string) string                            { return path.Join(elem...) }
func (fs *packFS) TempFile(string, string) (billy.File, error)           { return nil, errReadOnly }
func (fs *packFS) ReadDir(string) ([]os.FileInfo, error)                 { return nil, errReadOnly }
func (fs *packFS) MkdirAll(string, os.FileMode) error                    { return errReadOnly }
func (fs *packFS) Lstat(string) (os.FileInfo, error)                     { return nil, errReadOnly }
func (fs *packFS) Symlink(string, string) error                          { return errReadOnly }
func (fs *packFS) Readlink(string) (string, error)                       { return "", errReadOnly }
func (fs *packFS) Chroot(string) (billy.Filesystem, error)               { return nil, errReadOnly }
func (fs *packFS) Root() string                                          { return "/" }

// packFile is one open reader of the pack.
type packFile struct {
	*io.SectionReader
	fs *packFS
}

func (f *packFile) Name() string { return f.fs.name }

func (f *packFile) Read(b []byte) (int, error) {
	if err := f.fs.ctx.Err(); err != nil {
		return 0, err
	}
	return f.SectionReader.Read(b)
}

func (f *packFile) ReadAt(b []byte, off int64) (int, error) {
	if err := f.fs.ctx.Err(); err != nil {
		return 0, err
	}
	return f.SectionReader.ReadAt(b, off)
}

// Seek is where go-git's scanner goes to read an object: its size is
// charged to the pack's work (packFS.charge).
func (f *packFile) Seek(offset int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		if err := f.fs.charge(offset); err != nil {
			return 0, err
		}
	}
	return f.SectionReader.Seek(offset, whence)
}

func (f *packFile) Write([]byte) (int, error) { return 0, errReadOnly }
func (f *packFile) Close() error              { return nil } // the spool file is the Push's
func (f *packFile) Lock() error               { return nil }
func (f *packFile) Unlock() error             { return nil }
func (f *packFile) Truncate(int64) error      { return errReadOnly }
