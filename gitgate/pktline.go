package gitgate

import (
	"errors"
	"fmt"
	"io"
)

// pkt-line framing (Documentation/gitprotocol-common.adoc): four hex
// digits give the length of the line including themselves, then the
// payload. "0000" is a flush-pkt, "0001" a delim-pkt and "0002" a
// response-end-pkt (protocol v2 only); "0003" is never valid, nor is a
// length above maxPkt. The package's own few lines of code rather than
// go-git's pktline: the advertisement is edited byte for byte and the
// request is parsed off a spool whose offsets matter.
const (
	maxPkt     = 65520      // LARGE_PACKET_MAX: a whole pkt-line, length included
	maxPayload = maxPkt - 4 // the most a pkt-line carries
	flushPkt   = "0000"
)

// Kinds of pkt-line readPkt returns.
const (
	pktData = iota
	pktFlush
	pktDelim
	pktEnd
)

// errPktLength is a length header that is not four hex digits, or a
// length git never sends.
var errPktLength = errors.New("bad pkt-line length")

// parsePktLen reads a four-hex-digit pkt-line length (git accepts either
// case). It returns the length and whether hdr is one.
func parsePktLen(hdr []byte) (int, bool) {
	if len(hdr) != 4 {
		return 0, false
	}
	n := 0
	for _, c := range hdr {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int(v)
	}
	return n, true
}

// readPkt reads one pkt-line from r, exactly (it never reads past the
// line), and returns its kind, its raw bytes (header included, for callers
// that pass lines on unchanged) and its payload (a slice of raw). At the
// end of r before any byte it returns io.EOF; a line cut short is
// io.ErrUnexpectedEOF, and raw holds what was read.
func readPkt(r io.Reader) (kind int, raw, payload []byte, err error) {
	var hdr [4]byte
	n, err := io.ReadFull(r, hdr[:])
	if err != nil {
		return 0, hdr[:n], nil, err
	}
	size, ok := parsePktLen(hdr[:])
	switch {
	case !ok:
		return 0, hdr[:], nil, fmt.Errorf("%w %q", errPktLength, hdr[:])
	case size == 0:
		return pktFlush, hdr[:], nil, nil
	case size == 1:
		return pktDelim, hdr[:], nil, nil
	case size == 2:
		return pktEnd, hdr[:], nil, nil
	case size < 4 || size > maxPkt:
		return 0, hdr[:], nil, fmt.Errorf("%w %q", errPktLength, hdr[:])
	}
	raw = make([]byte, size)
	copy(raw, hdr[:])
	n, err = io.ReadFull(r, raw[4:])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return pktData, raw[:4+n], raw[4 : 4+n], err
}

// appendPkt appends payload to b as one pkt-line. payload must be at most
// maxPayload bytes.
func appendPkt(b []byte, payload ...string) []byte {
	n := 4
	for _, p := range payload {
		n += len(p)
	}
	const hex = "0123456789abcdef"
	b = append(b, hex[n>>12&0xf], hex[n>>8&0xf], hex[n>>4&0xf], hex[n&0xf])
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}
