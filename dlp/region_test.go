package dlp

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestEncodedSecretInALargeBody: in a body much larger than a region,
// with a few other escapes in it, each fixture in each encoding is found
// at its offset (scanned with the decoder only around the encoded text:
// regions), as a field and streamed, and gitleaks scanning the whole body
// finds the same rules.
func TestEncodedSecretInALargeBody(t *testing.T) {
	d := detector(t)
	code := strings.Repeat(`func (r *reader) Read(p []byte) (int, error) { return r.r.Read(p) }\n`, 100)
	for _, f := range fixtures(t) {
		for name, enc := range encodings {
			e, ok := enc(f.secret)
			if !ok || e == f.secret {
				continue
			}
			t.Run(f.name+"/"+name, func(t *testing.T) {
				prefix := `{"messages": [{"role": "user", "content": "` + code + `x \u003c y"}, {"role": "user", "content": "` + code + `"}, {"attachment": {"data": "`
				body := []byte(prefix + e + `"}}, {"content": "a \u0026 b ` + code + `"}]}`)
				if regions(body, encodedMatches(body)) == nil {
					t.Fatalf("the body is scanned whole with the decoder; the test wants regions")
				}
				only(t, d.Scan(body), f.rule, int64(len(prefix)))
				_, fs, err := stream(t, bytes.NewReader(body), false)
				if want := []Finding{{f.rule, int64(len(prefix))}}; err != nil || !slices.Equal(fs, want) {
					t.Errorf("streamed: %v, findings %v, want %v", err, fs, want)
				}
				if got := gitleaksFinds(d, body); !slices.Equal(got, []string{f.rule}) {
					t.Errorf("gitleaks itself finds %v in the whole body", got)
				}
			})
		}
	}
}

// TestSecretAcrossAnEscape: a secret with a unicode escape in the middle
// of it, in a large body, is found (by the decoding pass, in a region).
func TestSecretAcrossAnEscape(t *testing.T) {
	d := detector(t)
	filler := strings.Repeat("lorem ipsum dolor sit amet, ", 400)
	for _, f := range fixtures(t)[:5] {
		esc := f.secret[:8] + fmt.Sprintf(`\u%04x`, f.secret[8]) + f.secret[9:]
		prefix := `{"text": "` + filler + ` `
		body := []byte(prefix + esc + ` ` + filler + `"}`)
		if regions(body, encodedMatches(body)) == nil {
			t.Fatalf("%s: scanned whole with the decoder; the test wants regions", f.name)
		}
		only(t, d.Scan(body), f.rule, int64(len(prefix)))
	}
}

// TestRegionsCutBetweenMatches: a region never starts or ends inside or
// at the edge of one of the decoder's matches, and covers its segment
// with decodeContext bytes either side.
func TestRegionsCutBetweenMatches(t *testing.T) {
	word := strings.Repeat("abcdefghij0123456789", 3)
	body := []byte(strings.Repeat(word+" ", 200) + `\u0041` + strings.Repeat(" "+word, 200))
	all := encodedMatches(body)
	rs := regions(body, all)
	if len(rs) != 1 {
		t.Fatalf("regions %v, want one", rs)
	}
	esc := bytes.Index(body, []byte(`\u0041`))
	if r := rs[0]; r[0] > esc-decodeContext || r[1] < esc+6+decodeContext {
		t.Errorf("region %v does not hold %d bytes either side of the escape at %d", r, decodeContext, esc)
	}
	for _, p := range rs[0] {
		if !between(all, p) {
			t.Errorf("region edge %d is inside or at the edge of a match", p)
		}
	}
}
