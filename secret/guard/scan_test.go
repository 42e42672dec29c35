package guard

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
)

type scanHit struct {
	name string
	off  int64
}

func scanAll(t *testing.T, s *Set, r io.Reader) []scanHit {
	t.Helper()
	var hits []scanHit
	if err := s.ScanValues(r, func(name string, off int64) { hits = append(hits, scanHit{name, off}) }); err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestScanValuesFindsEveryEncoding: the value of a credential in each
// encoding the guard knows, deep in content read in odd-sized reads, is
// found at the offset where its form starts (or, for a base64 form,
// where its value-only characters start), and named by its credential.
func TestScanValuesFindsEveryEncoding(t *testing.T) {
	v := testValue(t)
	s := mustCompile(t, []*cred{testCred("forge", allowlist.CredBasic, v, "git.example.com")})
	for name, form := range encodedForms(v) {
		pre := strings.Repeat("line of ordinary text\n", 2000) // past one read buffer
		doc := []byte(pre + "key = " + form + "\nmore\n")
		for _, sizes := range [][]int{{1}, {7, 1, 13}, {64 << 10}} {
			hits := scanAll(t, s, chunked(doc, sizes...))
			if len(hits) == 0 {
				t.Fatalf("%s in reads of %v: not found", name, sizes)
			}
			start := int64(len(pre) + len("key = "))
			for _, h := range hits {
				if h.name != "forge" || h.off < start || h.off > start+int64(len(form)) {
					t.Fatalf("%s in reads of %v: hit %+v; want forge at %d..%d", name, sizes, h, start, start+int64(len(form)))
				}
			}
		}
	}
}

// TestScanValuesIgnoresPlaceholders: a placeholder in pushed content is no
// secret (the agent holds it), and neither are ordinary bytes; a value
// that follows is still found, and each occurrence once.
func TestScanValuesIgnoresPlaceholders(t *testing.T) {
	v := testValue(t)
	c := testCred("forge", allowlist.CredBasic, v, "git.example.com")
	s := mustCompile(t, []*cred{c, testCred("other", allowlist.CredHeader, testValue(t), "api.example.com")})
	doc := "ph " + c.placeholder + "\nnothing\n" + v + "\n" + v + "\n"
	hits := scanAll(t, s, strings.NewReader(doc))
	want := []scanHit{{"forge", int64(strings.Index(doc, v))}, {"forge", int64(strings.LastIndex(doc, v))}}
	if len(hits) != 2 || hits[0] != want[0] || hits[1] != want[1] {
		t.Fatalf("hits %+v; want %+v", hits, want)
	}
	if hits := scanAll(t, s, strings.NewReader(c.placeholder+strings.Repeat("x", 100))); len(hits) != 0 {
		t.Fatalf("a placeholder alone: %+v", hits)
	}
}

// TestScanValuesNilAndErrors: a nil Set reads everything and finds nothing;
// a read error other than EOF is returned.
func TestScanValuesNilAndErrors(t *testing.T) {
	var s *Set
	r := bytes.NewReader(make([]byte, 100<<10))
	if err := s.ScanValues(r, func(string, int64) { t.Fatal("found in a nil set") }); err != nil || r.Len() != 0 {
		t.Fatalf("nil set: err %v, %d bytes unread", err, r.Len())
	}
	boom := errors.New("boom")
	s = mustCompile(t, []*cred{testCred("forge", allowlist.CredBasic, testValue(t), "git.example.com")})
	if err := s.ScanValues(io.MultiReader(strings.NewReader("abc"), errReader{boom}), func(string, int64) {}); !errors.Is(err, boom) {
		t.Fatalf("err %v; want boom", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
