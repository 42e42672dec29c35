package guard

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
)

// An encoding is one way a value may be written in a request or a
// response. Each is a pure function of the value, so that the pattern of a
// real value and its replacement (the placeholder, written the same way)
// come from the same function.
type encoding struct {
	name string
	enc  func(string) string
}

// encodings are the forms of a real value the guard looks for: raw, base64
// and base64url at each of the three alignments, hex in both cases, and
// URL-encoding (query, path, and every byte as %XX in both cases).
//
// A base64 pattern is the stable inner part of the encoding: the
// characters that depend on the value's bytes alone, for the value at
// offset 0, 1 or 2 from the start of a 3-byte group. It is a substring of
// every encoding of any text that holds the value at that alignment,
// padded or not, wherever the value sits (the end of "user:value" in a
// Basic header, the middle of a JSON document), so the three patterns
// catch them all.
var encodings = []encoding{
	{"raw", func(s string) string { return s }},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"HEX", func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }},
	{"query-escape", url.QueryEscape},
	{"path-escape", url.PathEscape},
	{"percent", func(s string) string { return percentAll(s, upperHex) }},
	{"percent-lower", func(s string) string { return percentAll(s, lowerHex) }},
	{"base64-0", func(s string) string { return base64Inner(base64.StdEncoding, s, 0) }},
	{"base64-1", func(s string) string { return base64Inner(base64.StdEncoding, s, 1) }},
	{"base64-2", func(s string) string { return base64Inner(base64.StdEncoding, s, 2) }},
	{"base64url-0", func(s string) string { return base64Inner(base64.URLEncoding, s, 0) }},
	{"base64url-1", func(s string) string { return base64Inner(base64.URLEncoding, s, 1) }},
	{"base64url-2", func(s string) string { return base64Inner(base64.URLEncoding, s, 2) }},
}

const (
	upperHex = "0123456789ABCDEF"
	lowerHex = "0123456789abcdef"
)

// percentAll writes every byte of s as %XX.
func percentAll(s, digits string) string {
	var b strings.Builder
	b.Grow(3 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteByte('%')
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&15])
	}
	return b.String()
}

// base64Inner is the part of the base64 encoding of s, preceded by off
// bytes, made of characters whose 6 bits all come from s.
func base64Inner(enc *base64.Encoding, s string, off int) string {
	full := enc.EncodeToString(append(make([]byte, off), s...))
	first := (8*off + 5) / 6       // the first character that starts inside s
	last := (8*(off+len(s)))/6 - 1 // the last that ends inside s
	if last < first {
		return ""
	}
	return full[first : last+1]
}
