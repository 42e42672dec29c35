package dlp

import (
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/zricethezav/gitleaks/v8/logging"

	"bottle.dev/bottle/secret"
)

var (
	detOnce sync.Once
	det     *Detector
	detErr  error
)

// detector returns the Detector the tests share (building one takes tens
// of milliseconds).
func detector(t testing.TB) *Detector {
	t.Helper()
	detOnce.Do(func() { det, detErr = New() })
	if detErr != nil {
		t.Fatal(detErr)
	}
	return det
}

// only checks that fs is exactly one finding, of rule at offset.
func only(t *testing.T, fs []Finding, rule string, offset int64) {
	t.Helper()
	want := []Finding{{RuleID: rule, Offset: offset}}
	if !slices.Equal(fs, want) {
		t.Errorf("findings %v, want %v", fs, want)
	}
}

func TestScanFindsEachFamilyInAField(t *testing.T) {
	d := detector(t)
	for _, f := range fixtures(t) {
		t.Run(f.name, func(t *testing.T) {
			// A header value.
			only(t, d.Scan([]byte(f.secret)), f.rule, 0)
			// A URL whose query holds the secret (a PEM block, with its
			// spaces, goes in the path: see TestScanFindsEncoded).
			prefix, payload := "https://api.example.com/v1/items?page=2&q=", url.QueryEscape(f.secret)
			suffix := "&sort=asc"
			switch f.rule {
			case "private-key":
				prefix, payload = "https://api.example.com/v1/items/", url.PathEscape(f.secret)
			case "stripe-access-token":
				// gitleaks' rule wants the key followed by a quote, a
				// space, ";" or the end, not "&": a Stripe key in a query
				// parameter other than the last is not found.
				suffix = ""
			}
			only(t, d.Scan([]byte(prefix+payload+suffix)), f.rule, int64(len(prefix)))
		})
	}
}

// encodings are the encodings a secret must be found in, as gitleaks
// decodes them (MaxDecodeDepth). Form encoding's "+" for a space is not
// among them: gitleaks does not decode it, so a form-encoded PEM block
// (whose header has spaces) is not found; percent-encoding with %20 is.
//
// Each returns the encoded secret and whether gitleaks decodes it: it
// skips a base64 string with none of 0-9 + / - _ in it (likelyBase64Chars
// in detect/codec/base64.go, "risks missing about 1% of base64 encoded
// data"; more for an AWS key id, all capitals), and a test of such a one
// checks that it is indeed not found, so the day gitleaks decodes it the
// test says so.
var encodings = map[string]func(string) (string, bool){
	"base64":    func(s string) (string, bool) { return b64(base64.StdEncoding, s) },
	"base64url": func(s string) (string, bool) { return b64(base64.RawURLEncoding, s) },
	"hex":       func(s string) (string, bool) { return hex.EncodeToString([]byte(s)), true },
	"percent":   func(s string) (string, bool) { return url.PathEscape(s), true },
	"base64 of base64": func(s string) (string, bool) {
		inner, ok1 := b64(base64.StdEncoding, s)
		outer, ok2 := b64(base64.StdEncoding, inner)
		return outer, ok1 && ok2
	},
}

func b64(enc *base64.Encoding, s string) (string, bool) {
	e := enc.EncodeToString([]byte(s))
	return e, strings.ContainsAny(e, "0123456789+/-_")
}

// findsEncoded checks the findings of a secret encoded at offset at.
func findsEncoded(t *testing.T, fs []Finding, f fixture, at int, decodable bool) {
	t.Helper()
	if !decodable {
		if len(fs) > 0 {
			t.Errorf("gitleaks now decodes base64 with no digit, + / - or _ in it (findings %v): drop the exception in encodings", fs)
		}
		return
	}
	only(t, fs, f.rule, int64(at))
}

func TestScanFindsEncoded(t *testing.T) {
	d := detector(t)
	for _, f := range fixtures(t) {
		for name, enc := range encodings {
			t.Run(f.name+"/"+name, func(t *testing.T) {
				prefix := `{"attachment": {"name": "notes.txt", "data": "`
				e, ok := enc(f.secret)
				findsEncoded(t, d.Scan([]byte(prefix+e+`"}}`)), f, len(prefix), ok)
			})
		}
	}
}

// TestScanIgnoresAllowComments: the agent cannot exempt a secret with
// gitleaks' own "gitleaks:allow" comment.
func TestScanIgnoresAllowComments(t *testing.T) {
	d := detector(t)
	f := fixtures(t)[0]
	only(t, d.Scan([]byte(f.secret+" # gitleaks:allow")), f.rule, 0)
}

// TestPlaceholdersAreNotFindings: what bottle gives the agent instead of
// a credential never reads as a secret, or every request carrying one
// would be reported.
func TestPlaceholdersAreNotFindings(t *testing.T) {
	d := detector(t)
	for _, v := range []string{
		secret.NewPlaceholder("anthropic"),
		"Bearer " + secret.NewPlaceholder("github"),
		"Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+secret.NewPlaceholder("github"))),
		"AWS4-HMAC-SHA256 Credential=" + secret.NewAWSKeyID() + "/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0f", 32),
		`{"api_key": "` + secret.NewPlaceholder("openai") + `"}`,
	} {
		if fs := d.Scan([]byte(v)); len(fs) > 0 {
			t.Errorf("placeholder value %q: findings %v", v, fs)
		}
	}
}

// TestNothingIsLogged: gitleaks logs through a global zerolog logger
// whose trace events carry the secret; New silences it, and a scan that
// finds (and skips) secrets writes nothing to stderr.
func TestNothingIsLogged(t *testing.T) {
	d := detector(t)
	if l := logging.Logger.GetLevel(); l != zerolog.Disabled {
		t.Errorf("gitleaks' logger level is %v, want disabled", l)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	var body strings.Builder
	for _, f := range fixtures(t) {
		body.WriteString(f.secret + "\n" + strings.Repeat("a", 30) + " AKIAIOSFODNN7EXAMPLE\n")
	}
	d.Scan([]byte(body.String()))
	os.Stderr = saved
	w.Close()
	out, _ := io.ReadAll(r)
	if len(out) > 0 {
		t.Errorf("a scan wrote %d bytes to stderr", len(out))
	}
}

// TestConcurrentUse: one Detector, many goroutines scanning fields and
// streams at once (run with -race), each getting its own findings.
func TestConcurrentUse(t *testing.T) {
	d := detector(t)
	fx := fixtures(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			f := fx[i%len(fx)]
			body := strings.Repeat("lorem ipsum dolor sit amet\n", 3000) + f.secret + "\n"
			for range 3 {
				if fs := d.Scan([]byte(f.secret)); len(fs) != 1 || fs[0].RuleID != f.rule {
					t.Errorf("goroutine %d: Scan: %v", i, fs)
				}
				var got []Finding
				n, err := io.Copy(io.Discard, d.NewReader(strings.NewReader(body), false, func(x Finding) { got = append(got, x) }))
				if err != nil || n != int64(len(body)) {
					t.Errorf("goroutine %d: copied %d, %v", i, n, err)
				}
				want := []Finding{{f.rule, int64(len(body) - len(f.secret) - 1)}}
				if !slices.Equal(got, want) {
					t.Errorf("goroutine %d: stream findings %v, want %v", i, got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestRulesLeftOut(t *testing.T) {
	rules := detector(t).Rules()
	for id := range offRules() {
		if slices.Contains(rules, id) {
			t.Errorf("rule %s is used, but offRules leaves it out", id)
		}
	}
	for _, id := range []string{"aws-access-token", "github-pat", "gitlab-pat", "slack-bot-token", "private-key", "stripe-access-token"} {
		if !slices.Contains(rules, id) {
			t.Errorf("rule %s is missing", id)
		}
	}
	if len(rules) < 200 {
		t.Errorf("only %d rules", len(rules))
	}
}
