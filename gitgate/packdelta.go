package gitgate

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// applyDelta writes to w the result of delta (git's delta format,
// gitformat-pack "Deltified representation") applied to base, checking
// that the delta's sizes are base's and want. Copies read base with
// ReadAt, so base need not be in memory; buf is the buffer they go
// through. An error of w comes back as a *writeError.
func applyDelta(w io.Writer, base *region, delta io.ByteReader, want int64, buf []byte) error {
	src, err := readVarint(delta)
	if err != nil {
		return err
	}
	if int64(src) != base.n {
		return fmt.Errorf("the delta is on %d bytes, its base has %d", src, base.n)
	}
	dst, err := readVarint(delta)
	if err != nil {
		return err
	}
	if int64(dst) != want {
		return fmt.Errorf("the delta makes %d bytes, not %d", dst, want)
	}
	r, _ := delta.(io.Reader)
	var done uint64
	for done < dst {
		cmd, err := delta.ReadByte()
		if err != nil {
			return unexpected(err)
		}
		switch {
		case cmd&0x80 != 0: // copy from the base
			var off, n uint64
			for b := range 4 {
				if cmd&(1<<b) != 0 {
					c, err := delta.ReadByte()
					if err != nil {
						return unexpected(err)
					}
					off |= uint64(c) << (8 * b)
				}
			}
			for b := range 3 {
				if cmd&(0x10<<b) != 0 {
					c, err := delta.ReadByte()
					if err != nil {
						return unexpected(err)
					}
					n |= uint64(c) << (8 * b)
				}
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > src || done+n > dst {
				return errors.New("a copy runs past the base or the result")
			}
			for left := n; left > 0; {
				chunk := buf[:min(left, uint64(len(buf)))]
				if _, err := base.ReadAt(chunk, int64(off+n-left)); err != nil {
					return err
				}
				if _, err := w.Write(chunk); err != nil {
					return &writeError{err}
				}
				left -= uint64(len(chunk))
			}
			done += n
		case cmd != 0: // insert the next cmd bytes of the delta
			n := uint64(cmd)
			if done+n > dst {
				return errors.New("an insert runs past the result")
			}
			if r == nil {
				return errors.New("gitgate: the delta reader cannot read inserts")
			}
			if _, err := io.ReadFull(r, buf[:n]); err != nil {
				return unexpected(err)
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return &writeError{err}
			}
			done += n
		default:
			return errors.New("the delta has the reserved instruction 0")
		}
	}
	if _, err := delta.ReadByte(); err != io.EOF {
		if err == nil {
			err = errors.New("the delta has bytes after its result")
		}
		return err
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readVarint reads a delta header size: 7 bits a byte, least significant
// first, the high bit set on all but the last.
func readVarint(r io.ByteReader) (uint64, error) {
	var v uint64
	for shift := 0; ; shift += 7 {
		if shift > 63 {
			return 0, errors.New("a delta size overflows")
		}
		c, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// writeError is an error of the writer a content was produced to (a
// scratch file, the Scanner), not of the pack.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// markWriter marks its writer's errors as writeErrors.
type markWriter struct{ w io.Writer }

func (m markWriter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// scratch is the delta bases in use, a stack: small ones in memory (at
// most memBases in all), the others in regions of a file that grows and
// shrinks with the stack.
type scratch struct {
	f   *os.File
	top int64 // the end of the file's last region
	mem int64 // bytes of the regions in memory
}

// region is one base on the scratch stack: n bytes, in mem or at off in f.
type region struct {
	mem     []byte
	f       *os.File
	off, n  int64
	written int64
}

func (s *scratch) push(n int64) *region {
	if n <= smallBase && s.mem+n <= memBases {
		s.mem += n
		return &region{mem: make([]byte, n), n: n}
	}
	r := &region{f: s.f, off: s.top, n: n}
	s.top += n
	return r
}

// pop frees r, the last region pushed that is not freed yet.
func (s *scratch) pop(r *region) {
	if r.f == nil {
		s.mem -= r.n
		return
	}
	s.top = r.off
	_ = s.f.Truncate(s.top) // give the disk back as the stack shrinks
}

func (r *region) writer() io.Writer { return (*regionWriter)(r) }

type regionWriter region

func (w *regionWriter) Write(p []byte) (int, error) {
	r := (*region)(w)
	if r.written+int64(len(p)) > r.n {
		return 0, fmt.Errorf("gitgate: %d bytes written to a base of %d", r.written+int64(len(p)), r.n)
	}
	var n int
	var err error
	if r.f == nil {
		n = copy(r.mem[r.written:], p)
	} else {
		n, err = r.f.WriteAt(p, r.off+r.written)
	}
	r.written += int64(n)
	return n, err
}

// ReadAt reads the region's content.
func (r *region) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.written {
		return 0, fmt.Errorf("gitgate: reading %d bytes at %d of a base of %d", len(p), off, r.written)
	}
	if r.f == nil {
		return copy(p, r.mem[off:]), nil
	}
	return r.f.ReadAt(p, r.off+off)
}
