package guard

import (
	"errors"
	"io"
)

// ScanValues reads r to its end and calls found for every real value of
// a credential in it, in any encoding the guard knows (as a request body
// is scanned), with the credential's name and the offset in r where the
// match starts; never with the match. Placeholders are not findings: the
// agent holds them, and one in pushed content is no secret. It is for the
// content of a git push (the gate scans each object with it), which is
// read whole rather than passed on; a nil Set finds nothing but still
// reads r.
//
// A value found is reported once per place it occurs; overlapping
// encodings of one occurrence (its hex and its raw bytes never overlap,
// but two base64 alignments may) may each be reported. The error is r's
// own, other than io.EOF.
func (s *Set) ScanValues(r io.Reader, found func(name string, offset int64)) error {
	if s == nil || len(s.creds) == 0 {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	buf := make([]byte, streamBuf)
	var st state
	var base int64 // offset in r of buf[0]
	for {
		n, err := r.Read(buf)
		for pos := 0; pos < n; {
			var k, id int
			st, k, id = s.req.scan(st, buf[pos:n])
			pos += k
			if id >= 0 && !s.reqHit[id].placeholder {
				found(s.creds[s.reqHit[id].cred].name, base+int64(pos-s.req.lens[id]))
			}
		}
		base += int64(n)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
