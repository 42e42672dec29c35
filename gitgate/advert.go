package gitgate

import (
	"bytes"
	"errors"
	"io"
)

// noThinCap is what NoThin adds to the advertised capabilities. git never
// advertises it itself; a client that sees it must not send a thin pack
// (gitprotocol-capabilities.adoc, "thin-pack"; send-pack.c obeys it since
// git 1.9), so every delta base the gate needs to decode a blob is in the
// pack. The client does not echo it back in its request.
const noThinCap = "no-thin"

// NoThin returns r, a receive-pack advertisement (identity-encoded), with
// " no-thin" added to the capabilities of its first ref line (the one with
// a NUL, also an empty repository's "capabilities^{}" line), the length of
// that pkt-line recomputed. It reads past the "# service=" line, its flush
// and an optional "version 1" line to find it, holding at most those few
// pkt-lines (each at most 65520 bytes), then streams the rest unchanged.
// A body that is not an advertisement (an ERR line, a flush where the ref
// line should be, something not pkt-lines) passes unchanged; so does a
// first ref line that already says no-thin or has no room left for it.
func NoThin(r io.Reader) io.Reader {
	return &noThin{src: r}
}

type noThin struct {
	src     io.Reader
	started bool
	head    []byte // the edited head, not yet read
	err     error  // the error that ended reading the head, once head is drained
}

func (n *noThin) Read(p []byte) (int, error) {
	if !n.started {
		n.started = true
		n.head, n.err = editHead(n.src)
	}
	if len(n.head) > 0 {
		c := copy(p, n.head)
		n.head = n.head[c:]
		return c, nil
	}
	if n.err != nil {
		// The head was cut short: io.EOF and io.ErrUnexpectedEOF say the
		// body ended, which the reader sees as its end; anything else is
		// the source's own error.
		if n.err == io.EOF || n.err == io.ErrUnexpectedEOF {
			return 0, io.EOF
		}
		return 0, n.err
	}
	return n.src.Read(p)
}

// editHead reads the advertisement's pkt-lines up to and including the
// first ref line and returns them, that line edited. When the body turns
// out not to be an advertisement it returns what it read, unchanged, and
// the rest follows as it is. err is a read error that ended the head.
func editHead(src io.Reader) (head []byte, err error) {
	for i := 0; i < 3; i++ { // at most: service line (and flush), version line, ref line
		kind, raw, payload, err := readPkt(src)
		if err != nil {
			return stopHead(head, raw, err)
		}
		switch {
		case i == 0 && kind == pktData && bytes.HasPrefix(payload, []byte("# service=")):
			// The smart-HTTP header line; a flush follows it.
			head = append(head, raw...)
			kind, raw, _, err = readPkt(src)
			if err != nil || kind != pktFlush {
				return stopHead(head, raw, err)
			}
			head = append(head, raw...)
		case i <= 1 && kind == pktData && string(bytes.TrimSuffix(payload, []byte("\n"))) == "version 1":
			head = append(head, raw...)
		case kind == pktData && bytes.IndexByte(payload, 0) >= 0:
			return append(head, addNoThin(raw, payload)...), nil
		default:
			// ERR, a flush, a ref line with no capabilities: leave it be.
			return append(head, raw...), nil
		}
	}
	return head, nil
}

// stopHead ends the head with raw, the bytes of the pkt-line being read
// when err came. A bad length only says the body is not an advertisement:
// the rest follows unchanged. io.EOF and io.ErrUnexpectedEOF end the body;
// other errors are the source's.
func stopHead(head, raw []byte, err error) ([]byte, error) {
	head = append(head, raw...)
	if errors.Is(err, errPktLength) {
		return head, nil
	}
	return head, err
}

// addNoThin returns the ref line raw (whose payload is payload) with
// " no-thin" at the end of its capabilities, before the line's LF. A line
// that already has it, or has no room for it, is returned as it is.
func addNoThin(raw, payload []byte) []byte {
	nul := bytes.IndexByte(payload, 0)
	caps := payload[nul+1:]
	body, lf := caps, []byte(nil)
	if bytes.HasSuffix(caps, []byte("\n")) {
		body, lf = caps[:len(caps)-1], []byte("\n")
	}
	for _, c := range bytes.Fields(body) {
		if string(c) == noThinCap {
			return raw
		}
	}
	sep := " "
	if len(body) == 0 {
		sep = "" // "capabilities^{}\0" with nothing after the NUL
	}
	if len(payload)+len(sep)+len(noThinCap) > maxPayload {
		return raw
	}
	return appendPkt(nil, string(payload[:nul+1]), string(body), sep, noThinCap, string(lf))
}
