package dlp

import (
	"bytes"
	"encoding/base64"
	"strings"
)

// decodable says whether gitleaks' decoder finds anything in b that
// decodes: where it does not, its first pass ends the scan with nothing to
// decode, and a scan without it (the raw Detector) finds exactly what one
// with it finds. That pass is one regular expression with four
// alternatives over all of b (detect/codec/encodings.go), about half the
// cost of a scan of code, JSON or binary data; encodedMatches finds the
// same matches with a loop over the bytes.
func decodable(b []byte) bool { return anyDecodes(encodedMatches(b)) }

// anyDecodes says whether any segment of the decoder's matches all
// decodes to something.
func anyDecodes(all []encoded) bool {
	for _, m := range touching(all) {
		if m.decodes {
			return true
		}
	}
	return false
}

// encoded is a match of gitleaks' decoder in a fragment, and whether it
// decodes to anything (a segment the decoder's next pass scans).
type encoded struct {
	start, end int
	decodes    bool
	// rank is the alternative's precedence in the decoder (percent 4,
	// unicode 3, hex 2, base64 1).
	rank int
}

// encodedMatches returns the matches of the decoder's regular expression
// in its first pass over b,
// in order, as its regular expression finds them (leftmost first, the
// alternatives in its order: percent, unicode, hex, base64):
//
//	%[0-9A-Fa-f]{2}(?:.*%[0-9A-Fa-f]{2})?       from a line's first escape to its last
//	(?:U\+[a-fA-F0-9]{4}(?:\s|$))+ | (?i)(?:\\{1,2}u[a-fA-F0-9]{4})+
//	[0-9A-Fa-f]{32,}
//	[\w\/+-]{16,}={0,2}
//
// and decodes each as decodePercent, decodeUnicode, decodeHex and
// decodeBase64 do (a unicode match always decodes to something).
func encodedMatches(b []byte) []encoded {
	var ms []encoded
	var buf []byte
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			end := lastPercent(b, i)
			ms = append(ms, encoded{i, end, percentDecodes(b[i:end]), 4})
			i = end
		case c == '\\':
			end := unicodeEnd(b, i)
			if end == i {
				i++
				continue
			}
			ms = append(ms, encoded{i, end, true, 3})
			i = end
		case c == 'U' && codePointsEnd(b, i) > i:
			end := codePointsEnd(b, i)
			ms = append(ms, encoded{i, end, true, 3})
			i = end
		case isB64(c):
			n, u := i, false
			for n < len(b) && isB64(b[n]) {
				u = u || b[n] == 'U'
				n++
			}
			if n-i < 16 {
				// Too short from here, and so from anywhere in it but
				// at a "U+" code point.
				next := n
				if u {
					if k := bytes.Index(b[i+1:n], []byte("U+")); k >= 0 {
						next = i + 1 + k
					}
				}
				i = next
				continue
			}
			h := i
			for h < len(b) && isHex(b[h]) {
				h++
			}
			if h-i >= 32 {
				ms = append(ms, encoded{i, h, hexDecodes(b[i:h]), 2})
				i = h
				continue
			}
			for k := 0; k < 2 && n < len(b) && b[n] == '='; k++ {
				n++
			}
			var ok bool
			buf, ok = base64Decodes(b[i:n], buf)
			ms = append(ms, encoded{i, n, ok, 1})
			i = n
		default:
			i++
		}
	}
	return ms
}

// codePointsEnd is the end of the "U+1234" code points, each followed by
// a space or the end of b, one after another from i; or i.
func codePointsEnd(b []byte, i int) int {
	for i+6 <= len(b) && b[i] == 'U' && b[i+1] == '+' && isHex(b[i+2]) && isHex(b[i+3]) && isHex(b[i+4]) && isHex(b[i+5]) {
		switch {
		case i+6 == len(b):
			return i + 6
		case strings.IndexByte("\t\n\f\r ", b[i+6]) >= 0:
			i += 7
		default:
			return i
		}
	}
	return i
}

// touching returns the segments of the decoder's first pass, of its
// matches ms: it drops, as findEncodingMatches does, a match that touches (ends
// where it starts, or starts where it ends) a neighbour of higher
// precedence: so a base64 run right after a percent escape is not decoded.
func touching(ms []encoded) []encoded {
	if len(ms) == 1 {
		return ms
	}
	var out []encoded
	for i, m := range ms {
		if i > 0 && ms[i-1].end >= m.start && ms[i-1].rank > m.rank {
			continue
		}
		if i+1 < len(ms) && m.end >= ms[i+1].start && ms[i+1].rank > m.rank {
			continue
		}
		out = append(out, m)
	}
	return out
}

// lastPercent is the end of the percent match that starts at i: just
// after the last escape on the line that starts at i+3 or later, or i+3.
func lastPercent(b []byte, i int) int {
	line := len(b)
	if k := bytes.IndexByte(b[i:], '\n'); k >= 0 {
		line = i + k
	}
	for j := line - 3; j >= i+3; j-- {
		if b[j] == '%' && isHex(b[j+1]) && isHex(b[j+2]) {
			return j + 3
		}
	}
	return i + 3
}

// unicodeEnd is the end of the unicode escapes (\\{1,2}u followed by four
// hex digits, u in either case, one after another) from i, or i.
func unicodeEnd(b []byte, i int) int {
	esc := func(k int) int {
		for _, slashes := range []int{2, 1} {
			u := k + slashes
			if u+4 < len(b) && b[k] == '\\' && (slashes == 1 || b[k+1] == '\\') && (b[u] == 'u' || b[u] == 'U') &&
				isHex(b[u+1]) && isHex(b[u+2]) && isHex(b[u+3]) && isHex(b[u+4]) {
				return u + 5
			}
		}
		return k
	}
	for {
		next := esc(i)
		if next == i {
			return i
		}
		i = next
	}
}

// percentDecodes is whether gitleaks' decodePercent returns anything for
// s: every escape it decodes, reading left to right, is printable.
func percentDecodes(s []byte) bool {
	for i := 0; i < len(s); {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			if !printable(unhex(s[i+1])<<4 | unhex(s[i+2])) {
				return false
			}
			i += 3
			continue
		}
		i++
	}
	return len(s) > 0
}

// b64Class is the decoder's base64 class, [\w/+-].
var b64Class = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '/' || c == '+' || c == '-'
	}
	return t
}()

func isB64(c byte) bool { return b64Class[c] }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// printable is gitleaks' printableASCII (detect/codec/ascii.go): a tab,
// a line break, a space or any visible ASCII character.
func printable(c byte) bool { return '\x08' < c && c < '\x7f' }

func allPrintable(b []byte) bool {
	for _, c := range b {
		if !printable(c) {
			return false
		}
	}
	return true
}

// hexDecodes is whether gitleaks' decodeHex returns anything for s: an
// even number of hex digits, with a decimal digit among them, each pair a
// printable character.
func hexDecodes(s []byte) bool {
	if len(s)%2 != 0 || !bytes.ContainsAny(s, "0123456789") {
		return false
	}
	for i := 0; i < len(s); i += 2 {
		if !printable(unhex(s[i])<<4 | unhex(s[i+1])) {
			return false
		}
	}
	return true
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// base64Decodes is whether gitleaks' decodeBase64 returns anything for s:
// s holds one of 0-9 + / - _ (its likelyBase64Chars), and decodes as
// padded standard or as unpadded URL base64 to printable text. buf is
// scratch space, returned for reuse.
func base64Decodes(s, buf []byte) ([]byte, bool) {
	if !bytes.ContainsAny(s, "0123456789+/-_") {
		return buf, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		if n := enc.DecodedLen(len(s)); cap(buf) < n {
			buf = make([]byte, n)
		}
		n, err := enc.Decode(buf[:cap(buf)], s)
		if err == nil && allPrintable(buf[:n]) {
			return buf, true
		}
	}
	return buf, false
}
