package dlp

import (
	"bytes"
	"encoding/base64"
)

// decodable says whether gitleaks' decoder could find anything in b that
// decodes: where it cannot, its first pass ends the scan with nothing to
// decode, and a scan without it (the raw Detector) finds exactly what one
// with it finds. That pass is one regular expression with four
// alternatives over all of b (detect/codec/encodings.go), about half the
// cost of a scan of code, JSON or binary data; this check is a loop over
// the bytes.
//
// It answers true where b has a percent escape, a unicode escape or "U+"
// (candidates for the first two of the decoder's patterns, loosened). Where
// it has none, the decoder's matches are fixed by the runs of base64
// characters ([\w/+-]) alone: in each run of 16 or more, a hex match of the
// run's first 32 or more hex digits and a base64 match of the rest (if 16
// or more), or else one base64 match of the whole run, each with up to two
// '=' after it. decodable then decodes each match as gitleaks does
// (decodeHex, decodeBase64 in detect/codec) and answers true if any
// decodes to printable text.
func decodable(b []byte) bool {
	for i, c := range b {
		switch {
		case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			return true
		case c == '\\' && i+1 < len(b) && (b[i+1] == 'u' || b[i+1] == 'U'):
			return true
		}
	}
	if bytes.Contains(b, []byte("U+")) {
		return true
	}
	var buf []byte
	for i := 0; i < len(b); {
		if !isB64(b[i]) {
			i++
			continue
		}
		r := i
		for i < len(b) && isB64(b[i]) {
			i++
		}
		if i-r < 16 {
			continue
		}
		hp := 0
		for r+hp < i && isHex(b[r+hp]) {
			hp++
		}
		if hp >= 32 {
			if hexDecodes(b[r : r+hp]) {
				return true
			}
			r += hp
			if i-r < 16 {
				continue
			}
		}
		end := i
		for k := 0; k < 2 && end < len(b) && b[end] == '='; k++ {
			end++
		}
		var ok bool
		if buf, ok = base64Decodes(b[r:end], buf); ok {
			return true
		}
	}
	return false
}

func isB64(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '/' || c == '+' || c == '-'
}

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
	if len(s)%2 != 0 || bytes.IndexAny(s, "0123456789") < 0 {
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
	if bytes.IndexAny(s, "0123456789+/-_") < 0 {
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
