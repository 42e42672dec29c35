package guard

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/secret"
)

// testValue makes a secret value at test time (no committed file holds
// one). It has bytes every URL-encoding writes differently ("/", "+", " ",
// "=", "&"), so that each encoding is a pattern of its own.
func testValue(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	rand.Read(b)
	return "tv_" + hex.EncodeToString(b[:12]) + "/+ =&" + base64.RawURLEncoding.EncodeToString(b[12:])
}

// testCred is a credential bound to exactly the names in hosts.
func testCred(name string, kind allowlist.CredentialKind, value string, hosts ...string) *cred {
	c := &cred{name: name, kind: kind, hosts: hosts, value: value, placeholder: secret.NewPlaceholder(name),
		matches: func(h string) bool { return slices.Contains(hosts, h) }}
	switch kind {
	case allowlist.CredHeader:
		c.header = "X-Api-Key"
	case allowlist.CredBasic:
		c.basicUser = "x-access-token"
	case allowlist.CredQuery:
		c.query = "key"
	}
	return c
}

func mustCompile(t testing.TB, creds []*cred) *Set {
	t.Helper()
	s, err := compile(creds)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newReq(t testing.TB, method, u string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// encodedForms is every way the tests write v into a request: each
// encoding the guard knows, base64 padded and not, after 0 to 5 bytes of
// prefix (every alignment, twice), in both alphabets.
func encodedForms(v string) map[string]string {
	forms := map[string]string{
		"raw":           v,
		"hex":           hex.EncodeToString([]byte(v)),
		"HEX":           strings.ToUpper(hex.EncodeToString([]byte(v))),
		"query-escape":  url.QueryEscape(v),
		"path-escape":   url.PathEscape(v),
		"percent":       percentAll(v, upperHex),
		"percent-lower": percentAll(v, lowerHex),
	}
	for pre := range 6 {
		p := strings.Repeat("u", pre) + ":"
		for name, enc := range map[string]*base64.Encoding{"std": base64.StdEncoding, "raw-std": base64.RawStdEncoding,
			"url": base64.URLEncoding, "raw-url": base64.RawURLEncoding} {
			forms[name+"-after-"+p] = enc.EncodeToString([]byte(p + v))
			forms[name+"-middle-"+p] = enc.EncodeToString([]byte(p + v + `","more":"json"}`))
		}
	}
	return forms
}

// TestRealValueRefusedInEveryEncoding: the value of a credential, in each
// encoding, anywhere in a URL, a header or a body read in 1-byte and odd
// reads, is a secret-leak, to its own host as to any other; and no byte
// of the body from the match on leaves.
func TestRealValueRefusedInEveryEncoding(t *testing.T) {
	v := testValue(t)
	s := mustCompile(t, []*cred{testCred("api", allowlist.CredHeader, v, "api.example.com")})
	for name, form := range encodedForms(v) {
		for _, host := range []string{"api.example.com", "other.example.com"} {
			// The body: the form in the middle of a document.
			doc := []byte(`{"note":"` + strings.Repeat("x", 37) + form + `","end":true}`)
			for _, sizes := range [][]int{{1}, {3}, {7, 1, 13}, {4096}} {
				rb := s.RequestBody(io.NopCloser(chunked(doc, sizes...)), host)
				got, err := io.ReadAll(rb)
				var viol *Violation
				if !errors.As(err, &viol) || viol.Cause != allowlist.CauseSecretLeak || viol.Credential != "api" {
					t.Fatalf("%s to %s in reads of %v: err %v", name, host, sizes, err)
				}
				if bytes.Contains(doc[:len(got)+1], []byte(form)) || len(got) > len(doc)-len(`","end":true}`)-minPattern {
					t.Fatalf("%s: %d bytes of the body left, with the form", name, len(got))
				}
				if rb.(*Body).Violation() != viol {
					t.Fatalf("%s: Violation() differs from the error", name)
				}
			}
			// A header.
			r := newReq(t, "GET", "https://"+host+"/", nil)
			r.Header.Set("X-Note", "a "+form+" b")
			if viol := s.Check(r, host); viol == nil || viol.Cause != allowlist.CauseSecretLeak || viol.Where != "header X-Note" {
				t.Fatalf("%s in a header to %s: %v", name, host, viol)
			}
			// The URL: the form as a query value, escaped again as a
			// client would (raw and once-decoded forms are both looked at).
			r = newReq(t, "GET", "https://"+host+"/p?q="+url.QueryEscape(form), nil)
			if viol := s.Check(r, host); viol == nil || viol.Cause != allowlist.CauseSecretLeak || viol.Where != "the URL" {
				t.Fatalf("%s in the URL to %s: %v", name, host, viol)
			}
		}
	}
	// Scrub takes every form out.
	for name, form := range encodedForms(v) {
		if got := s.Scrub("/p/" + form + "/q"); strings.Contains(got, form) || !strings.Contains(got, "[credential api value]") {
			t.Errorf("Scrub of the %s form: %q", name, got)
		}
	}
	// And the Violation never holds the value.
	r := newReq(t, "GET", "https://x.example.com/"+v, nil)
	if viol := s.Check(r, "x.example.com"); viol == nil || strings.Contains(viol.Error(), v) || viol.Finding() != "value:api" {
		t.Fatalf("%v", viol)
	}
}

// TestPlaceholderAstray: a placeholder sent to a host its credential is not
// bound to is a credential-misuse, in the URL, any header (a Basic
// authorization decoded) or the body; to its own host it is no violation.
func TestPlaceholderAstray(t *testing.T) {
	c := testCred("gh", allowlist.CredBasic, testValue(t), "git.example.com", "api.git.example.com")
	s := mustCompile(t, []*cred{c})
	ph := c.placeholder
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("me:"+ph))
	for _, tt := range []struct {
		name  string
		req   func(host string) *http.Request
		where string
	}{
		{"query", func(h string) *http.Request { return newReq(t, "GET", "https://"+h+"/x?token="+ph, nil) }, "the URL"},
		{"path", func(h string) *http.Request { return newReq(t, "GET", "https://"+h+"/u/"+ph+"/x", nil) }, "the URL"},
		{"escaped path", func(h string) *http.Request {
			return newReq(t, "GET", "https://"+h+"/u/"+percentAll(ph, upperHex), nil)
		}, "the URL"},
		{"header", func(h string) *http.Request {
			r := newReq(t, "GET", "https://"+h+"/", nil)
			r.Header.Set("X-Token", "token "+ph)
			return r
		}, "header X-Token"},
		{"basic", func(h string) *http.Request {
			r := newReq(t, "GET", "https://"+h+"/", nil)
			r.Header.Set("Authorization", basic)
			return r
		}, "header Authorization"},
	} {
		if v := s.Check(tt.req("evil.example.com"), "evil.example.com"); v == nil || v.Cause != allowlist.CauseCredentialMisuse || v.Where != tt.where {
			t.Errorf("%s to another host: %v", tt.name, v)
		} else if msg := v.Error(); !strings.Contains(msg, "gh") || !strings.Contains(msg, "git.example.com, api.git.example.com") || strings.Contains(msg, ph) {
			t.Errorf("%s: %q should name the credential and its hosts, never the placeholder", tt.name, msg)
		}
		if v := s.Check(tt.req("git.example.com"), "git.example.com"); v != nil {
			t.Errorf("%s to a bound host: %v", tt.name, v)
		}
	}
	body := "commit message with " + ph + " in it"
	_, err := io.ReadAll(s.RequestBody(io.NopCloser(chunked([]byte(body), 1)), "evil.example.com"))
	var v *Violation
	if !errors.As(err, &v) || v.Cause != allowlist.CauseCredentialMisuse || v.Where != "the body" {
		t.Errorf("body to another host: %v", err)
	}
	got, err := io.ReadAll(s.RequestBody(io.NopCloser(chunked([]byte(body), 1)), "git.example.com"))
	if err != nil || string(got) != body {
		t.Errorf("body to a bound host: %q, %v", got, err)
	}
}

// TestInject: on a bound host each kind sets its header or parameter,
// replacing what the agent sent; the placeholder anywhere in a header,
// Basic included, becomes the value; Accept-Encoding goes.
func TestInject(t *testing.T) {
	v := testValue(t)
	for _, tt := range []struct {
		kind  allowlist.CredentialKind
		check func(*http.Request) bool
	}{
		{allowlist.CredHeader, func(r *http.Request) bool { return slices.Equal(r.Header.Values("X-Api-Key"), []string{v}) }},
		{allowlist.CredBearer, func(r *http.Request) bool {
			return slices.Equal(r.Header.Values("Authorization"), []string{"Bearer " + v})
		}},
		{allowlist.CredBasic, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "x-access-token" && p == v && len(r.Header.Values("Authorization")) == 1
		}},
		{allowlist.CredQuery, func(r *http.Request) bool {
			q := r.URL.Query()
			return slices.Equal(q["key"], []string{v}) && q.Get("a") == "1" && q.Get("b") == "2" &&
				strings.HasPrefix(r.URL.RawQuery, "a=1&key=")
		}},
	} {
		c := testCred("k", tt.kind, v, "api.example.com")
		s := mustCompile(t, []*cred{c})
		r := newReq(t, "GET", "https://api.example.com/x?a=1&key=agents&b=2&key=again", nil)
		r.Header.Add("X-Api-Key", c.placeholder)
		r.Header.Add("X-Api-Key", "agent's own")
		r.Header.Set("Authorization", "Bearer agent's own")
		r.Header.Set("Accept-Encoding", "gzip")
		if viol := s.Check(r, "api.example.com"); viol != nil {
			t.Fatalf("%s: %v", tt.kind, viol)
		}
		name, viol := s.Inject(r, "api.example.com", nil)
		if name != "k" || viol != nil || !tt.check(r) || r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("%s: injected %q, %v: %v ?%s", tt.kind, name, viol, r.Header, r.URL.RawQuery)
		}
		// Not bound: nothing changes.
		r = newReq(t, "GET", "https://other.example.com/x", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		if name, viol := s.Inject(r, "other.example.com", nil); name != "" || viol != nil || len(r.Header) != 1 {
			t.Errorf("%s to another host: %q %v %v", tt.kind, name, viol, r.Header)
		}
	}
}

// TestInjectSwapsPlaceholders: git with a placeholder password (Basic,
// decoded, swapped, re-encoded), a placeholder inside a longer header
// value; the credential whose placeholder the request carries wins.
func TestInjectSwapsPlaceholders(t *testing.T) {
	first := testCred("first", allowlist.CredBearer, testValue(t), "api.example.com")
	second := testCred("second", allowlist.CredBasic, testValue(t), "api.example.com")
	second.basicUser = "git"
	s := mustCompile(t, []*cred{first, second})

	r := newReq(t, "GET", "https://api.example.com/repo.git/info/refs", nil)
	r.SetBasicAuth("git", second.placeholder)
	r.Header.Set("X-Trace", "token="+second.placeholder+";x")
	name, viol := s.Inject(r, "api.example.com", nil)
	if u, p, _ := r.BasicAuth(); name != "second" || viol != nil || u != "git" || p != second.value {
		t.Errorf("basic placeholder: injected %q %v, basic %q:%q", name, viol, u, p)
	}
	if got := r.Header.Get("X-Trace"); got != "token="+second.value+";x" {
		t.Errorf("X-Trace %q", got)
	}
	// No placeholder: the first in file order.
	r = newReq(t, "GET", "https://api.example.com/", nil)
	if name, _ := s.Inject(r, "api.example.com", nil); name != "first" || r.Header.Get("Authorization") != "Bearer "+first.value {
		t.Errorf("no placeholder: %q %v", name, r.Header)
	}
	// A custom Basic user name the agent chose is swapped too, for a
	// header credential (the declared header is another one).
	h := testCred("hdr", allowlist.CredHeader, testValue(t), "h.example.com")
	s = mustCompile(t, []*cred{h})
	r = newReq(t, "GET", "https://h.example.com/", nil)
	r.SetBasicAuth("me", h.placeholder)
	s.Inject(r, "h.example.com", nil)
	if u, p, _ := r.BasicAuth(); u != "me" || p != h.value || r.Header.Get("X-Api-Key") != h.value {
		t.Errorf("basic swap beside a header credential: %q:%q %v", u, p, r.Header)
	}
}

// TestAWS: until re-signing is wired, a request to a bound AWS host is
// refused, never sent with the placeholder signature; with a Resigner, it
// gets the placeholder keys and the real ones. The placeholder key id and
// token are placeholders elsewhere; the secret key and token are values.
func TestAWS(t *testing.T) {
	aws := &secret.AWS{AccessKeyID: "AKIA" + strings.ToUpper(hex.EncodeToString([]byte("testkey1"))), SecretAccessKey: testValue(t),
		SessionToken: testValue(t), PlaceholderKeyID: secret.NewAWSKeyID(), PlaceholderToken: secret.NewPlaceholder("aws")}
	c := &cred{name: "aws", kind: allowlist.CredAWS, hosts: []string{"s3.example.com"}, placeholder: secret.NewPlaceholder("aws"), aws: aws,
		matches: func(h string) bool { return h == "s3.example.com" }}
	s := mustCompile(t, []*cred{c})
	sign := func(r *http.Request, keyID string) {
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyID+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
		r.Header.Set("X-Amz-Security-Token", aws.PlaceholderToken)
	}
	r := newReq(t, "GET", "https://s3.example.com/b/k", nil)
	sign(r, aws.PlaceholderKeyID)
	if v := s.Check(r, "s3.example.com"); v != nil {
		t.Fatalf("placeholder keys to the bound host: %v", v)
	}
	if name, v := s.Inject(r, "s3.example.com", nil); name != "" || v == nil || !strings.Contains(v.Error(), "AWS re-signing is not available in this build") {
		t.Errorf("no resigner: %q %v", name, v)
	}
	var from, to AWSKeys
	r.Header.Set("Accept-Encoding", "identity") // not signed: dropped
	name, v := s.Inject(r, "s3.example.com", func(_ *http.Request, f, tk AWSKeys, _ time.Time) error { from, to = f, tk; return nil })
	if r.Header.Get("Accept-Encoding") != "" {
		t.Error("an unsigned Accept-Encoding was kept")
	}
	if name != "aws" || v != nil || from != (AWSKeys{aws.PlaceholderKeyID, c.placeholder, aws.PlaceholderToken}) ||
		to != (AWSKeys{aws.AccessKeyID, aws.SecretAccessKey, aws.SessionToken}) {
		t.Errorf("resigner: %q %v, from %v to %v", name, v, from, to)
	}
	// A signed Accept-Encoding stays, or the signature would break.
	r = newReq(t, "GET", "https://s3.example.com/b/k", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+aws.PlaceholderKeyID+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=accept-encoding;host, Signature=00")
	r.Header.Set("Accept-Encoding", "identity")
	s.Inject(r, "s3.example.com", func(*http.Request, AWSKeys, AWSKeys, time.Time) error { return nil })
	if r.Header.Get("Accept-Encoding") != "identity" {
		t.Error("a signed Accept-Encoding was dropped")
	}
	r = newReq(t, "GET", "https://s3.example.com/b/k", nil)
	sign(r, aws.PlaceholderKeyID)
	if v := s.Check(r, "elsewhere.example.com"); v == nil || v.Cause != allowlist.CauseCredentialMisuse {
		t.Errorf("placeholder keys elsewhere: %v", v)
	}
	for _, val := range []string{aws.SecretAccessKey, aws.SessionToken} {
		r = newReq(t, "POST", "https://s3.example.com/", nil)
		r.Header.Set("X-Leak", base64.StdEncoding.EncodeToString([]byte("k="+val)))
		if v := s.Check(r, "s3.example.com"); v == nil || v.Cause != allowlist.CauseSecretLeak {
			t.Errorf("aws value: %v", v)
		}
	}
}

// TestResponseRedacted: a bound host's answer that echoes the value (in a
// header, in the body, raw or encoded, split across reads) reaches the
// agent with the placeholder instead; another host's answer is untouched.
func TestResponseRedacted(t *testing.T) {
	c := testCred("api", allowlist.CredHeader, testValue(t), "api.example.com")
	s := mustCompile(t, []*cred{c})
	v, ph := c.value, c.placeholder
	body := `{"key":"` + v + `","b64":"` + base64.StdEncoding.EncodeToString([]byte(v)) + `","hex":"` + hex.EncodeToString([]byte(v)) + `"}`
	mk := func() *http.Response {
		return &http.Response{StatusCode: 200, ContentLength: int64(len(body)),
			Header: http.Header{"Content-Length": {"123"}, "X-Echo": {"key " + v}},
			Body:   io.NopCloser(chunked([]byte(body), 1, 5, 2))}
	}
	resp := mk()
	if !s.Response(resp, "api.example.com") {
		t.Fatal("body not rewritten")
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil || strings.Contains(string(got), v) || resp.Header.Get("X-Echo") != "key "+ph || resp.Header.Get("Content-Length") != "" || resp.ContentLength != -1 {
		t.Fatalf("%q %v %v", got, err, resp.Header)
	}
	// Base64 is replaced by its stable part: the few characters that mix
	// the value's last bits with what follows are left (at most 4 bits of it).
	want := `{"key":"` + ph + `","b64":"` + base64Inner(base64.StdEncoding, ph, 0)
	if !strings.HasPrefix(string(got), want) || !strings.Contains(string(got), hex.EncodeToString([]byte(ph))) {
		t.Errorf("got %q; want the placeholder in each encoding", got)
	}
	for name, form := range encodedForms(v) {
		if strings.Contains(string(got), form) {
			t.Errorf("%s form left", name)
		}
	}
	resp = mk()
	if s.Response(resp, "other.example.com") || resp.Header.Get("X-Echo") != "key "+v {
		t.Error("another host's answer was rewritten")
	}
	var empty *Set
	if empty.Response(mk(), "api.example.com") || empty.Check(newReq(t, "GET", "https://x.example.com/"+v, nil), "x") != nil {
		t.Error("the nil set acts")
	}
}

// TestWeakAndLongValues: a value too short to look for is injected and
// named by Weak; a long one is caught raw whole and encoded by its start;
// a set too large to look for is refused.
func TestWeakAndLongValues(t *testing.T) {
	short := testCred("short", allowlist.CredBearer, "abcdefg", "a.example.com")
	long := testCred("long", allowlist.CredBearer, strings.Repeat(testValue(t), 20), "b.example.com")
	s := mustCompile(t, []*cred{short, long})
	if !slices.Equal(s.Weak(), []string{"short"}) {
		t.Errorf("Weak() = %q", s.Weak())
	}
	var many []*cred
	for range 60 {
		many = append(many, testCred("c", allowlist.CredBearer, strings.Repeat(testValue(t), 4), "x.example.com"))
	}
	if _, err := compile(many); err == nil || !strings.Contains(err.Error(), "too many or too long") {
		t.Errorf("60 long credentials: %v", err)
	}
	r := newReq(t, "GET", "https://x.example.com/abcdefg/"+hex.EncodeToString([]byte("abcdefg")), nil)
	if v := s.Check(r, "x.example.com"); v != nil {
		t.Errorf("a short value matched ordinary bytes: %v", v)
	}
	for _, form := range []string{long.value, base64.StdEncoding.EncodeToString([]byte(long.value))} {
		r = newReq(t, "POST", "https://x.example.com/", nil)
		r.Header.Set("X", form)
		if v := s.Check(r, "x.example.com"); v == nil || v.Credential != "long" {
			t.Errorf("long value: %v", v)
		}
	}
	resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<" + long.value + ">"))}
	s.Response(resp, "b.example.com")
	if got, _ := io.ReadAll(resp.Body); string(got) != "<"+long.placeholder+">" {
		t.Errorf("long value redacted as %q", got)
	}
}

// FuzzRequestBodyNeverReleasesAValue: whatever surrounds the value, in
// whatever encoding and read sizes, a body that holds it fails, and what it
// released before failing does not hold it.
func FuzzRequestBodyNeverReleasesAValue(f *testing.F) {
	f.Add([]byte("prefix "), []byte(" suffix"), uint8(0), uint8(1))
	f.Add([]byte{}, []byte{}, uint8(7), uint8(3))
	f.Add([]byte("u:"), []byte("\n\n"), uint8(9), uint8(200))
	v := "fz_" + strings.Repeat("k3y/+=", 4)
	s, err := compile([]*cred{testCred("f", allowlist.CredHeader, v, "f.example.com")})
	if err != nil {
		f.Fatal(err)
	}
	names := make([]string, 0, len(encodings))
	forms := encodedForms(v)
	for name := range forms {
		names = append(names, name)
	}
	slices.Sort(names)
	f.Fuzz(func(t *testing.T, pre, post []byte, enc, size uint8) {
		form := forms[names[int(enc)%len(names)]]
		body := append(append(append([]byte{}, pre...), form...), post...)
		got, err := io.ReadAll(s.RequestBody(io.NopCloser(chunked(body, 1+int(size))), "other.example.com"))
		var viol *Violation
		if !errors.As(err, &viol) || viol.Cause != allowlist.CauseSecretLeak {
			t.Fatalf("%q: %v", body, err)
		}
		if bytes.Contains(got, []byte(form)) {
			t.Fatalf("%q: released %q", body, got)
		}
	})
}

// TestNew joins a real policy's credentials with the file's values: a
// credential without a value of its kind is missing, a value the policy
// does not declare is ignored, and hosts match as the policy's patterns do
// (wildcards, any case).
func TestNew(t *testing.T) {
	pol, err := allowlist.Parse("t.yaml", []byte(`version: 1
allow:
  - host: "*.example.com"
  - host: git.example.org
credentials:
  - name: api
    hosts: ["*.example.com"]
    bearer: true
    source: env:API
  - name: git
    hosts: [git.example.org]
    basic_user: x-access-token
    source: env:GIT
  - name: none
    hosts: [git.example.org]
    header: x-other
    source: env:NONE
`))
	if err != nil {
		t.Fatal(err)
	}
	api, git := testValue(t), testValue(t)
	f := &secret.File{Version: secret.Version, Credentials: []secret.Value{
		{Name: "api", Placeholder: secret.NewPlaceholder("api"), Value: api},
		// Of another kind than the policy says: not used.
		{Name: "git", Placeholder: secret.NewPlaceholder("git"), AWS: &secret.AWS{AccessKeyID: "K", SecretAccessKey: git, PlaceholderKeyID: "P"}},
		{Name: "undeclared", Placeholder: secret.NewPlaceholder("undeclared"), Value: testValue(t)},
	}}
	s, err := New(pol.Credentials(), f)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 || !slices.Equal(s.Missing(), []string{"git", "none"}) {
		t.Errorf("Len %d, Missing %q", s.Len(), s.Missing())
	}
	if !s.Bound("a.example.com") || !s.Bound("b.example.com") || s.Bound("example.com") || s.Bound("git.example.org") {
		t.Error("Bound does not follow the policy's patterns")
	}
	r := newReq(t, "GET", "https://A.Example.com/", nil)
	if name, v := s.Inject(r, "a.example.com", nil); name != "api" || v != nil || r.Header.Get("Authorization") != "Bearer "+api {
		t.Errorf("%q %v %v", name, v, r.Header)
	}
	// The undeclared value is no credential: not refused, not injected.
	r = newReq(t, "GET", "https://x.example.net/"+f.Credentials[2].Value, nil)
	if v := s.Check(r, "x.example.net"); v != nil {
		t.Errorf("an undeclared value: %v", v)
	}
	if s, err := New(pol.Credentials(), nil); err != nil || s.Len() != 0 || len(s.Missing()) != 3 {
		t.Errorf("no file: %v %v", s, err)
	}
}

// TestInjectEveryTarget: credentials bound to one host that set different
// headers (or a header and a query parameter) are all put on the request;
// the audit names them all.
func TestInjectEveryTarget(t *testing.T) {
	key := testCred("key", allowlist.CredHeader, testValue(t), "api.example.com")
	org := testCred("org", allowlist.CredHeader, testValue(t), "api.example.com")
	org.header = "X-Org-Token"
	q := testCred("q", allowlist.CredQuery, testValue(t), "api.example.com")
	q.query = "k"
	s := mustCompile(t, []*cred{key, org, q})
	r := newReq(t, "GET", "https://api.example.com/v1?a=1", nil)
	r.Header.Set("X-Api-Key", "the agent's own")
	name, viol := s.Inject(r, "api.example.com", nil)
	if name != "key,org,q" || viol != nil {
		t.Fatalf("injected %q %v", name, viol)
	}
	if r.Header.Get("X-Api-Key") != key.value || len(r.Header.Values("X-Api-Key")) != 1 || r.Header.Get("X-Org-Token") != org.value || r.URL.Query().Get("k") != q.value || r.URL.Query().Get("a") != "1" {
		t.Errorf("not every credential was put on: %v %s", r.Header, r.URL.RawQuery)
	}
}
