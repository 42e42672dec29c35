package dlp

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect/codec"
)

// segmentsOf is where gitleaks' decoder, in its first pass over s, finds
// something that decodes (the encoded range of each segment).
func segmentsOf(s []byte) []string {
	_, segs := codec.NewDecoder().Decode(string(s), nil)
	re := regexp.MustCompile(`encoded:\{start:(\d+) end:(\d+)\}`)
	var out []string
	for _, seg := range segs {
		m := re.FindStringSubmatch(fmt.Sprintf("%+v", *seg))
		out = append(out, m[1]+"-"+m[2])
	}
	return out
}

// ourSegments is the same as encodedMatches finds it.
func ourSegments(s []byte) []string {
	ms := encodedMatches(s)
	var out []string
	for _, m := range touching(ms) {
		if m.decodes {
			out = append(out, fmt.Sprintf("%d-%d", m.start, m.end))
		}
	}
	return out
}

// decoderSamples are texts for the decoder: slices of the benign corpora,
// every fixture in every encoding in a JSON body, and the edge cases of
// the decoder's patterns.
func decoderSamples(t *testing.T) [][]byte {
	var out [][]byte
	for _, b := range benign(t) {
		frag, _ := textRuns(b, 10)
		for i := 0; i < len(frag); i += 3 << 10 {
			out = append(out, frag[i:min(len(frag), i+4<<10)])
		}
	}
	for _, f := range fixtures(t) {
		for _, enc := range encodings {
			e, _ := enc(f.secret)
			out = append(out, []byte(`{"k": "`+e+`", "n": 1}`))
		}
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("token=" + strings.Repeat("x1", 12)))
	for _, s := range []string{
		"a=%41%42 b=%1e c=%43\nd=%44",
		"%41" + b64 + " and %zz %4",
		`\u0041\U0042\\u0043\\\u0044 \x \u12 \\\\u0041`,
		`\u0041` + b64,
		hex.EncodeToString([]byte("printable text of 20+")) + b64[3:],
		hex.EncodeToString([]byte("odd")) + "a",
		b64 + "==" + b64,
		url.PathEscape("key: " + b64 + "\x01"),
		strings.Repeat("ab", 40) + "%2F" + strings.Repeat("0123456789abcdef", 3),
		"U+0041 U+0042\tU+0043 x abcU+0044 y U+0045U+0046 " + b64 + "U+0047 z U+0048",
		"short U+0041\nU+004",
		b64[:10] + "U+0041 " + b64,
		strings.Repeat("f", 40) + "U+0041 " + b64,
	} {
		out = append(out, []byte(s))
	}
	// Random text over the characters the patterns turn on.
	pieces := []string{"%", "4", "1", "e", "A", "z", "\\", "u", "0", "=", " ", "\n", "+", "/", "-", "_", "%41", "\\u0041", "\x01", "dG9r", "ZW4=", "U+", "U+004A ", "U+0041\n", "\t"}
	for range 3000 {
		var b strings.Builder
		for range 60 {
			b.WriteString(pieces[randFrom(t, alnum[:len(pieces)], 1)[0]%byte(len(pieces))])
		}
		out = append(out, []byte(b.String()))
	}
	return out
}

// TestEncodedMatchesAreTheDecoders: encodedMatches finds what gitleaks'
// decoder finds to decode, at the same places.
func TestEncodedMatchesAreTheDecoders(t *testing.T) {
	n := 0
	for _, s := range decoderSamples(t) {
		want, got := segmentsOf(s), ourSegments(s)
		n++
		if !slices.Equal(got, want) {
			t.Errorf("in %q:\nencodedMatches: %v\nthe decoder:    %v", s[:min(len(s), 200)], got, want)
		}
		if decodable(s) != (len(want) > 0) {
			t.Errorf("decodable(%q) = %v, the decoder found %v", s[:min(len(s), 200)], decodable(s), want)
		}
	}
	if n < 50 {
		t.Errorf("only %d samples compared", n)
	}
}
