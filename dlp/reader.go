package dlp

import (
	"errors"
	"io"
	"slices"
)

// ErrBlocked is what a blocking reader returns once it has found a
// secret: the bytes of the match were never released.
var ErrBlocked = errors.New("dlp: secret pattern found in the request body")

const (
	// Overlap is how much of the stream before a window is scanned again
	// with it, so a secret split across two windows is found whole: it is
	// longer than the longest secret the rules match (a PEM private key
	// block: about 3.2 KiB for RSA-4096, 6.4 KiB for RSA-8192). A secret
	// longer than that, such as a hex-encoded RSA-4096 key, is found
	// only if it happens to fall inside one window.
	Overlap = 8 << 10
	// Chunk is how much new data a window holds at most.
	Chunk = 64 << 10
	// align is how far before the overlap a window may start, so that it
	// starts after a space or a line break rather than inside a token
	// (where \b and ^ in the rules would see a boundary that is not there).
	align = 256
)

// NewReader returns a reader of what r holds that scans it as it passes,
// in windows of up to Chunk new bytes plus Overlap bytes already scanned,
// and calls found once for each secret (a secret that two windows see is
// reported once). It never holds more than Overlap+Chunk+align bytes.
//
// In report mode (block false) every byte is handed on as soon as it is
// read; scanning follows, a window at a time (found is called for the last
// one when r returns an error or io.EOF, so a consumer that stops reading
// early leaves up to Chunk bytes unscanned).
//
// In block mode a byte is handed on only once it is scanned and can no
// longer be the start of a secret: after each read from r, everything but
// the last Overlap bytes (or so, see align) is released, and those are
// held back until more data comes or r ends. An interactive request body
// in block mode thus waits for its last window until the client sends
// more or ends it. On a finding the reader calls found and returns
// ErrBlocked from then on, before any byte of the match is released. Each
// read from r is scanned with the window before it, so a body that
// trickles in a few bytes a read costs a scan of up to Overlap bytes for
// each.
//
// found is called from Read, on the reading goroutine.
func (d *Detector) NewReader(r io.Reader, block bool, found func(Finding)) io.Reader {
	return &reader{d: d, r: r, block: block, found: found}
}

// reader holds buf, the stream from offset base on:
//
//	buf[:out]           handed on (block mode; report mode hands on everything at once)
//	buf[out:release]    scanned and released, not yet handed on (block mode)
//	buf[start:scanned]  the overlap: scanned, and scanned again with the next window
//	buf[scanned:]       not yet scanned
//
// with out <= release <= start <= scanned <= len(buf).
type reader struct {
	d     *Detector
	r     io.Reader
	block bool
	found func(Finding)

	buf      []byte
	base     int64
	out      int
	release  int
	start    int
	scanned  int
	seen     []span // findings that may overlap a later window's
	deferred bool   // the last scan left a finding to the next window
	blocked  bool
	err      error // from r, once it has returned one
}

func (r *reader) Read(p []byte) (int, error) {
	if r.block {
		return r.readBlock(p)
	}
	n, err := r.r.Read(p)
	for q := p[:n]; len(q) > 0; {
		k := min(len(q), Chunk-(len(r.buf)-r.scanned))
		r.buf = append(r.buf, q[:k]...)
		q = q[k:]
		if len(r.buf)-r.scanned == Chunk {
			r.scanWindow(false)
		}
	}
	if err != nil && r.err == nil {
		r.err = err
		r.scanWindow(true)
	}
	return n, err
}

func (r *reader) readBlock(p []byte) (int, error) {
	for {
		switch {
		case r.blocked:
			return 0, ErrBlocked
		case r.out < r.release:
			n := copy(p, r.buf[r.out:r.release])
			r.out += n
			return n, nil
		case r.err != nil:
			return 0, r.err
		}
		r.compact()
		// Read about as much as the caller asked for, so that a small
		// body never costs a whole Chunk of buffer.
		k := min(Chunk, max(len(p), 4<<10))
		r.buf = slices.Grow(r.buf, k)
		n, err := r.r.Read(r.buf[len(r.buf) : len(r.buf)+k])
		r.buf = r.buf[:len(r.buf)+n]
		if err != nil {
			r.err = err
		}
		if n == 0 && err == nil {
			return 0, nil
		}
		if r.scanWindow(err != nil) {
			r.blocked = true
			continue
		}
		r.release = r.start
		if err != nil {
			r.release = len(r.buf)
		}
	}
}

// scanWindow scans buf[start:], reports what is new, and moves start on
// to the next window's. It says whether it found anything new. In a window
// that is not the last, a match that runs to the window's end may be cut
// short (and \b, $ see an end that is not there): it is deferred to the
// next window, which starts before it and sees it whole (or, at the end of
// the stream, to a last scan of the same window).
func (r *reader) scanWindow(last bool) bool {
	if r.scanned == len(r.buf) && !(last && r.deferred) {
		return false
	}
	next := r.nextStart()
	end, nextAt := r.base+int64(len(r.buf)), r.base+int64(next)
	r.deferred = false
	newFound := false
	for _, s := range r.d.scan(r.buf[r.start:], r.base+int64(r.start)) {
		if overlapsAny(r.seen, s) {
			continue
		}
		if !last && s.end >= end && s.Offset >= nextAt {
			r.deferred = true
			continue
		}
		r.seen = append(r.seen, s)
		newFound = true
		if r.found != nil {
			r.found(s.Finding)
		}
	}
	r.scanned = len(r.buf)
	r.start = next
	r.forget()
	if !r.block {
		r.compact()
	}
	return newFound
}

// nextStart is where the next window starts: Overlap bytes before the end,
// moved back to just after a space or line break if there is one within
// align bytes, and never before the current start.
func (r *reader) nextStart() int {
	x := len(r.buf) - Overlap
	if x <= r.start {
		return r.start
	}
	for i := x; i > max(x-align, r.start); i-- {
		switch r.buf[i-1] {
		case ' ', '\n', '\r', '\t':
			return i
		}
	}
	return x
}

// forget drops the findings that end before the next window starts: no
// later finding can overlap them.
func (r *reader) forget() {
	from := r.base + int64(r.start)
	kept := r.seen[:0]
	for _, s := range r.seen {
		if s.end > from {
			kept = append(kept, s)
		}
	}
	r.seen = kept
}

// compact moves what is still needed to the front of buf.
func (r *reader) compact() {
	drop := r.start
	if r.block {
		drop = min(r.out, r.start)
	}
	if drop == 0 {
		return
	}
	n := copy(r.buf, r.buf[drop:])
	r.buf = r.buf[:n]
	r.base += int64(drop)
	r.out -= drop
	r.release -= drop
	r.start -= drop
	r.scanned -= drop
}
