package dlp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"

	"github.com/zricethezav/gitleaks/v8/detect"
)

// noise is n random bytes: binary data, as compressed data looks.
func noise(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSecretInBinaryData: a window with bytes that are not text is scanned
// as its runs of text (textRuns); a secret in a run is found, at its
// offset, with binary bytes right before and after it, in a gzip stream's
// stored block, and in an uncompressed tar member.
func TestSecretInBinaryData(t *testing.T) {
	d := detector(t)
	for _, f := range fixtures(t) {
		t.Run(f.name+"/between random bytes", func(t *testing.T) {
			// A secret right after a binary byte, and a line break after
			// it (gitleaks' Stripe rule wants a space, a quote or ";"
			// after the key, and finds none followed by a binary byte).
			pre := append(noise(t, 5000), 0xff)
			body := slices.Concat(pre, []byte(f.secret+"\n"), noise(t, 5000))
			only(t, d.Scan(body), f.rule, int64(len(pre)))
			if got := gitleaksFinds(d, body); !slices.Equal(got, []string{f.rule}) {
				t.Errorf("gitleaks itself finds %v in the whole body", got)
			}
			_, fs, err := stream(t, bytes.NewReader(body), false)
			if want := []Finding{{f.rule, int64(len(pre))}}; err != nil || !slices.Equal(fs, want) {
				t.Errorf("streamed: %v, findings %v, want %v", err, fs, want)
			}
		})
		t.Run(f.name+"/gzip stored block", func(t *testing.T) {
			var b bytes.Buffer
			gz, _ := gzip.NewWriterLevel(&b, gzip.NoCompression)
			gz.Write([]byte("token: " + f.secret + "\n"))
			gz.Close()
			body := slices.Concat(noise(t, 3000), b.Bytes(), noise(t, 3000))
			if fs := d.Scan(body); len(fs) != 1 || fs[0].RuleID != f.rule {
				t.Errorf("findings %v, want one of %s", fs, f.rule)
			}
		})
		t.Run(f.name+"/tar member", func(t *testing.T) {
			var b bytes.Buffer
			tw := tar.NewWriter(&b)
			data := []byte("export TOKEN=" + f.secret + "\n")
			tw.WriteHeader(&tar.Header{Name: "env.sh", Mode: 0o644, Size: int64(len(data))})
			tw.Write(data)
			tw.Close()
			at := bytes.Index(b.Bytes(), []byte(f.secret))
			only(t, d.Scan(b.Bytes()), f.rule, int64(at))
		})
	}
}

// gitleaksFinds is the rule ids gitleaks finds in b, scanned whole with
// its decoder.
func gitleaksFinds(d *Detector, b []byte) []string {
	var ids []string
	//lint:ignore SA1019 DetectContext takes a detect.Fragment in gitleaks v8; sources.Fragment replaces it only in v9
	for _, x := range d.deep.DetectContext(context.Background(), detect.Fragment{Raw: string(b)}) {
		ids = append(ids, x.RuleID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// TestTextRuns: what a window with binary bytes in it is scanned as, and
// the offsets mapped back.
func TestTextRuns(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"all text, ünïcödé too\n", "all text, ünïcödé too\n"},
		{"\x01short\x02a long enough run\x03", "\x00a long enough run\x00"},
		{"first long run\xffsecond long run", "first long run\x00second long run"},
		{"\x00\x01\x02", ""},
		{"invalid utf-8 \xc3\x28 here and more", "invalid utf-8 \x00( here and more"},
	} {
		frag, runs := textRuns([]byte(c.in), 10)
		if string(frag) != c.want {
			t.Errorf("textRuns(%q) = %q, want %q", c.in, frag, c.want)
		}
		for _, r := range runs {
			if got := windowOffset(runs, r.at); got != r.from || c.in[got] != frag[r.at] {
				t.Errorf("textRuns(%q): offset %d maps to %d, want %d", c.in, r.at, got, r.from)
			}
		}
	}
}

// TestDecodableIsExact: where decodable says gitleaks' decoder has nothing
// to decode, a scan with the decoder finds what one without it finds; and
// it says there is something for every encoding of every secret.
func TestDecodableIsExact(t *testing.T) {
	d := detector(t)
	for _, f := range fixtures(t) {
		for name, enc := range encodings {
			e, ok := enc(f.secret)
			if ok && e != f.secret && !decodable([]byte(`{"data": "`+e+`"}`)) {
				t.Errorf("%s in %s: decodable says no", f.name, name)
			}
		}
	}
	deep := func(b []byte) []string {
		var ids []string
		//lint:ignore SA1019 DetectContext takes a detect.Fragment in gitleaks v8; sources.Fragment replaces it only in v9
		for _, x := range d.deep.DetectContext(context.Background(), detect.Fragment{Raw: string(b)}) {
			ids = append(ids, fmt.Sprintf("%s@%d:%d", x.RuleID, x.StartLine, x.StartColumn))
		}
		slices.Sort(ids)
		return ids
	}
	raw := func(b []byte) []string {
		var ids []string
		//lint:ignore SA1019 DetectContext takes a detect.Fragment in gitleaks v8; sources.Fragment replaces it only in v9
		for _, x := range d.raw.DetectContext(context.Background(), detect.Fragment{Raw: string(b)}) {
			ids = append(ids, fmt.Sprintf("%s@%d:%d", x.RuleID, x.StartLine, x.StartColumn))
		}
		slices.Sort(ids)
		return ids
	}
	var samples [][]byte
	for _, b := range benign(t) {
		for i := 0; i < len(b); i += 4 << 10 {
			samples = append(samples, b[i:min(len(b), i+4<<10)])
		}
	}
	for _, f := range fixtures(t) {
		for _, e := range []string{f.secret, "ab/" + f.secret, "0123456789abcdef0123456789abcdef" + f.secret} {
			samples = append(samples, []byte(`{"k": "`+e+`", "n": 1}`))
		}
	}
	checked := 0
	for _, s := range samples {
		if decodable(s) {
			continue
		}
		checked++
		if a, b := deep(s), raw(s); !slices.Equal(a, b) {
			t.Errorf("decodable says nothing to decode in %q, but the decoder finds %v (without it %v)", s[:min(len(s), 80)], a, b)
		}
	}
	if checked < 20 {
		t.Errorf("only %d samples with nothing to decode", checked)
	}
}
