package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"bottle.dev/bottle/secret"
)

// signedAt is when the agent signs; the sidecar's clock is a minute later.
var (
	signedAt = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	now      = signedAt.Add(time.Minute)
)

// placeholderKeys are what bottle gives the agent.
func placeholderKeys(token bool) Credentials {
	c := Credentials{AccessKeyID: secret.NewAWSKeyID(), SecretAccessKey: secret.NewPlaceholder("aws")}
	if token {
		c.SessionToken = secret.NewPlaceholder("aws")
	}
	return c
}

// realKeys are random keys of the real shape, made here so that no file
// holds anything that looks like a key.
func realKeys(t testing.TB, token bool) Credentials {
	t.Helper()
	b := make([]byte, 30+120)
	rand.Read(b)
	enc := base64.StdEncoding.EncodeToString(b)
	id := "AKIA" + strings.ToUpper(hex.EncodeToString(b[:8]))
	c := Credentials{AccessKeyID: id, SecretAccessKey: enc[:40]}
	if token {
		c.SessionToken = enc[40:]
	}
	return c
}

func sdk(c Credentials) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.SessionToken}
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// signCase is one request the agent signs with the SDK. build must make the
// same request every time; every header it sets is one the SDK signs.
type signCase struct {
	name            string
	service, region string
	build           func() *http.Request
	payload         string // the payload hash the SDK is given; "" for the body's
	s3              bool   // DisableURIPathEscaping, as the S3 client sets it
}

func newRequest(method, rawURL, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r, _ = http.NewRequest(method, rawURL, nil)
	} else {
		r, _ = http.NewRequest(method, rawURL, strings.NewReader(body))
	}
	if r == nil {
		panic("bad test URL " + rawURL)
	}
	return r
}

const form = "Action=GetCallerIdentity&Version=2011-06-15"

func signCases() []signCase {
	putBody := "hello, bucket\n"
	chunked := "e\r\nhello, bucket\n\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
	return []signCase{
		{name: "sts GET", service: "sts", region: "us-east-1", build: func() *http.Request {
			return newRequest("GET", "https://sts.sim.test/?Version=2011-06-15&Action=GetCallerIdentity", "")
		}},
		{name: "sts POST form", service: "sts", region: "eu-west-1", build: func() *http.Request {
			r := newRequest("POST", "https://sts.eu-west-1.sim.test/", form)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			return r
		}},
		{name: "s3 PUT", service: "s3", region: "us-west-2", s3: true, payload: sha([]byte(putBody)), build: func() *http.Request {
			r := newRequest("PUT", "https://bucket.s3.us-west-2.sim.test/dir/a%20b/%C3%BCber%2Bx.txt", putBody)
			r.Header.Set("X-Amz-Content-Sha256", sha([]byte(putBody)))
			r.Header.Set("Content-Type", "text/plain")
			r.Header.Set("X-Amz-Meta-Note", "  two   spaces  inside ")
			r.Header.Add("X-Amz-Meta-Multi", "one")
			r.Header.Add("X-Amz-Meta-Multi", "two")
			return r
		}},
		{name: "s3 GET unsigned payload, path with spaces and unicode", service: "s3", region: "us-east-1", s3: true, payload: "UNSIGNED-PAYLOAD", build: func() *http.Request {
			r := newRequest("GET", "https://s3.sim.test/bucket/r%C3%A9sum%C3%A9%20final/%E2%9C%93%20done%21.pdf?versionId=3%2F4", "")
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			r.Header.Set("Range", "bytes=0-99")
			return r
		}},
		{name: "s3 PUT with an unsigned trailer", service: "s3", region: "us-east-1", s3: true, payload: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", build: func() *http.Request {
			r := newRequest("PUT", "https://bucket.s3.sim.test/key", chunked)
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			r.Header.Set("Content-Encoding", "aws-chunked")
			r.Header.Set("X-Amz-Trailer", "x-amz-checksum-crc32")
			r.Header.Set("X-Amz-Decoded-Content-Length", "14")
			return r
		}},
		{name: "lambda path escaped twice", service: "lambda", region: "us-east-1", build: func() *http.Request {
			r := newRequest("POST", "https://lambda.sim.test/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af%20%C3%BC/invocations", `{"a":1}`)
			r.Header.Set("Content-Type", "application/json")
			return r
		}},
		{name: "query repeated, unsorted, special characters", service: "ec2", region: "ap-south-1", build: func() *http.Request {
			return newRequest("GET", "https://ec2.sim.test/?z=1&Filter.1.Value=b&Filter.1.Value=a&empty=&sp=a+b%20c&slash=%2F&tilde=~&bang=%21%2A%27%28%29&check=%E2%9C%93&eq=%3D%26", "")
		}},
		{name: "dynamodb JSON", service: "dynamodb", region: "us-east-1", build: func() *http.Request {
			r := newRequest("POST", "https://dynamodb.sim.test/", `{"TableName":"t"}`)
			r.Header.Set("Content-Type", "application/x-amz-json-1.0")
			r.Header.Set("X-Amz-Target", "DynamoDB_20120810.DescribeTable")
			return r
		}},
		{name: "port", service: "sts", region: "us-east-1", build: func() *http.Request {
			return newRequest("GET", "https://sts.sim.test:8443/?Action=GetCallerIdentity", "")
		}},
		{name: "default port", service: "sts", region: "us-east-1", build: func() *http.Request {
			return newRequest("GET", "https://sts.sim.test:443/?Action=GetCallerIdentity", "")
		}},
	}
}

// sign signs r with c as the SDK does, at signedAt.
func (c signCase) sign(t testing.TB, r *http.Request, keys Credentials) {
	t.Helper()
	payload := c.payload
	if payload == "" {
		payload = sha(readAll(t, r))
	}
	err := v4.NewSigner().SignHTTP(context.Background(), sdk(keys), r, payload, c.service, c.region, signedAt,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = c.s3 })
	if err != nil {
		t.Fatal(err)
	}
}

// readAll reads r's body and puts it back.
func readAll(t testing.TB, r *http.Request) []byte {
	t.Helper()
	if r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

// sameRequest fails unless got is the request want is, byte for byte on
// what goes on the wire.
func sameRequest(t *testing.T, got, want *http.Request) {
	t.Helper()
	if got.Method != want.Method || got.URL.String() != want.URL.String() || got.Host != want.Host {
		t.Errorf("request line: got %s %s (Host %q), want %s %s (Host %q)", got.Method, got.URL, got.Host, want.Method, want.URL, want.Host)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		for _, k := range slicesSorted(got.Header, want.Header) {
			if !reflect.DeepEqual(got.Header[k], want.Header[k]) {
				t.Errorf("header %s: got %q, want %q", k, got.Header[k], want.Header[k])
			}
		}
	}
	if g, w := readAll(t, got), readAll(t, want); !bytes.Equal(g, w) {
		t.Errorf("body: got %q, want %q", g, w)
	}
	if got.ContentLength != want.ContentLength {
		t.Errorf("ContentLength: got %d, want %d", got.ContentLength, want.ContentLength)
	}
}

func slicesSorted(hs ...http.Header) []string {
	keys := map[string]bool{}
	for _, h := range hs {
		for k := range h {
			keys[k] = true
		}
	}
	var out []string
	for k := range maps.Keys(keys) {
		out = append(out, k)
	}
	return out
}

// TestResignMatchesSDK: a request the agent signed with the placeholder
// keys, re-signed, is exactly the request the SDK makes when it signs with
// the real keys at the same time, for every combination of session tokens.
func TestResignMatchesSDK(t *testing.T) {
	tokens := []struct {
		name     string
		from, to bool
	}{{"no tokens", false, false}, {"tokens on both sides", true, true}, {"token only on the placeholder", true, false}, {"token only on the real keys", false, true}}
	for _, c := range signCases() {
		for _, tok := range tokens {
			t.Run(c.name+"/"+tok.name, func(t *testing.T) {
				from, to := placeholderKeys(tok.from), realKeys(t, tok.to)
				agent := c.build()
				c.sign(t, agent, from)
				if id, ok := KeyID(agent); !ok || id != from.AccessKeyID {
					t.Fatalf("KeyID = %q, %v; want the placeholder's", id, ok)
				}
				if err := Resign(agent, from, to, now); err != nil {
					t.Fatalf("Resign: %v", err)
				}
				want := c.build()
				c.sign(t, want, to)
				sameRequest(t, agent, want)
				if strings.Contains(agent.Header.Get("Authorization"), from.AccessKeyID) {
					t.Error("the placeholder key id is still in Authorization")
				}
			})
		}
	}
}

// TestResignWireRequest: the request as the proxy reads it from the
// connection (Content-Length a header, Host apart from the URL) verifies
// and is re-signed as the SDK signs it with the real keys.
func TestResignWireRequest(t *testing.T) {
	for _, c := range signCases() {
		t.Run(c.name, func(t *testing.T) {
			from, to := placeholderKeys(true), realKeys(t, true)
			agent := c.build()
			c.sign(t, agent, from)
			var wire bytes.Buffer
			if err := agent.Write(&wire); err != nil {
				t.Fatal(err)
			}
			r, err := http.ReadRequest(bufio.NewReader(&wire))
			if err != nil {
				t.Fatal(err)
			}
			// As the MITM proxy completes it.
			r.URL.Scheme, r.URL.Host = "https", r.Host
			if err := Resign(r, from, to, now); err != nil {
				t.Fatalf("Resign: %v", err)
			}
			want := c.build()
			c.sign(t, want, to)
			for _, h := range []string{"Authorization", "X-Amz-Security-Token", "X-Amz-Date"} {
				if r.Header.Get(h) != want.Header.Get(h) {
					t.Errorf("%s differs from the SDK's", h)
				}
			}
			if g, w := readAll(t, r), readAll(t, want); !bytes.Equal(g, w) {
				t.Errorf("body: got %q, want %q", g, w)
			}
		})
	}
}

// TestResignQueryAsSent: a client that does not sort its query (the SDK
// does) still verifies; its query is forwarded as it was sent.
func TestResignQueryAsSent(t *testing.T) {
	const raw = "z=1&a=%7E+x&a=%21&b="
	c := signCase{service: "sts", region: "us-east-1", build: func() *http.Request {
		return newRequest("GET", "https://sts.sim.test/?"+raw, "")
	}}
	from, to := placeholderKeys(false), realKeys(t, false)
	agent := c.build()
	c.sign(t, agent, from)
	if agent.URL.RawQuery == raw {
		t.Fatal("the SDK no longer rewrites the query; this test needs another client")
	}
	agent.URL.RawQuery = raw
	if err := Resign(agent, from, to, now); err != nil {
		t.Fatal(err)
	}
	if agent.URL.RawQuery != raw {
		t.Errorf("query %q, want it as sent %q", agent.URL.RawQuery, raw)
	}
	want := c.build()
	c.sign(t, want, to)
	if agent.Header.Get("Authorization") != want.Header.Get("Authorization") {
		t.Error("Authorization differs from the SDK's")
	}
}

// TestResignUppercaseSignature: a signature in uppercase hex verifies.
func TestResignUppercaseSignature(t *testing.T) {
	from, to := placeholderKeys(false), realKeys(t, false)
	r := signed(t, 0, from, nil)
	a := r.Header.Get("Authorization")
	i := strings.LastIndex(a, "=") + 1
	r.Header.Set("Authorization", a[:i]+strings.ToUpper(a[i:]))
	if err := Resign(r, from, to, now); err != nil {
		t.Fatal(err)
	}
}

// TestResignSignedTransferEncoding: a client that signs Transfer-Encoding
// (older botocore did) verifies once a server has moved it out of the
// header into TransferEncoding.
func TestResignSignedTransferEncoding(t *testing.T) {
	from, to := placeholderKeys(false), realKeys(t, false)
	c := signCases()[4] // s3 PUT with an unsigned trailer
	build := func() *http.Request {
		r := c.build()
		r.ContentLength = -1
		// The SDK leaves out "Transfer-Encoding", but not this spelling.
		r.Header["transfer-encoding"] = []string{"chunked"}
		return r
	}
	agent := build()
	c.sign(t, agent, from)
	if !strings.Contains(agent.Header.Get("Authorization"), ";transfer-encoding;") {
		t.Fatal("the SDK did not sign transfer-encoding; this test needs another way")
	}
	delete(agent.Header, "transfer-encoding")
	agent.TransferEncoding = []string{"chunked"}
	if err := Resign(agent, from, to, now); err != nil {
		t.Fatal(err)
	}
	want := build()
	c.sign(t, want, to)
	if agent.Header.Get("Authorization") != want.Header.Get("Authorization") {
		t.Error("Authorization differs from the SDK's")
	}
}

// TestResignOnlySignedHeaders: headers the client did not sign are not in
// the canonical request: a client that signs fewer headers than it sends
// (as the CLI leaves User-Agent out) verifies, and keeps its set.
func TestResignOnlySignedHeaders(t *testing.T) {
	from, to := placeholderKeys(true), realKeys(t, false)
	c := signCases()[1] // sts POST form
	agent := c.build()
	c.sign(t, agent, from)
	agent.Header.Set("User-Agent", "aws-cli/2")
	agent.Header.Set("X-Unsigned-Later", "added after signing")
	if err := Resign(agent, from, to, now); err != nil {
		t.Fatal(err)
	}
	want := c.build()
	c.sign(t, want, to)
	if agent.Header.Get("Authorization") != want.Header.Get("Authorization") {
		t.Errorf("Authorization %q, want %q", agent.Header.Get("Authorization"), want.Header.Get("Authorization"))
	}
	if agent.Header.Get("X-Unsigned-Later") == "" || agent.Header.Get("User-Agent") == "" {
		t.Error("unsigned headers were dropped")
	}
}

// TestResignUnsignedToken: a client that sends its session token without
// signing it (some do, for services that want it so) keeps it unsigned.
func TestResignUnsignedToken(t *testing.T) {
	from, to := placeholderKeys(true), realKeys(t, true)
	c := signCases()[0]
	agent := c.build()
	c.sign(t, agent, Credentials{AccessKeyID: from.AccessKeyID, SecretAccessKey: from.SecretAccessKey})
	agent.Header.Set("X-Amz-Security-Token", from.SessionToken)
	if err := Resign(agent, from, to, now); err != nil {
		t.Fatal(err)
	}
	if agent.Header.Get("X-Amz-Security-Token") != to.SessionToken {
		t.Error("the token is not the real one")
	}
	want := c.build()
	c.sign(t, want, Credentials{AccessKeyID: to.AccessKeyID, SecretAccessKey: to.SecretAccessKey})
	if agent.Header.Get("Authorization") != want.Header.Get("Authorization") {
		t.Error("Authorization differs from the SDK's without the token")
	}
}

// presignCase is one URL the agent presigns with the SDK.
type presignCase struct {
	name            string
	service, region string
	build           func() *http.Request
	payload         string
	s3              bool
	expires         string // X-Amz-Expires, set in the query before presigning as the S3 presigner does
	noHoist         bool   // DisableHeaderHoisting: X-Amz-* headers stay headers
}

func presignCases() []presignCase {
	return []presignCase{
		{name: "s3 GET", service: "s3", region: "us-east-1", s3: true, payload: "UNSIGNED-PAYLOAD", expires: "900", build: func() *http.Request {
			return newRequest("GET", "https://bucket.s3.sim.test/dir/a%20b/%C3%BCber.txt?response-content-type=text%2Fplain&x-id=GetObject", "")
		}},
		{name: "s3 PUT with a signed header", service: "s3", region: "eu-central-1", s3: true, payload: "UNSIGNED-PAYLOAD", expires: "3600", build: func() *http.Request {
			r := newRequest("PUT", "https://s3.sim.test/bucket/key%20one", "")
			r.Header.Set("Content-Type", "application/octet-stream")
			r.Header.Set("X-Amz-Meta-Owner", "agent")
			return r
		}},
		{name: "sts GetCallerIdentity as a cluster token", service: "sts", region: "us-east-1", payload: sha(nil), expires: "60", build: func() *http.Request {
			r := newRequest("GET", "https://sts.sim.test/?Action=GetCallerIdentity&Version=2011-06-15", "")
			r.Header.Set("X-K8s-Aws-Id", "cluster-1")
			return r
		}},
		{name: "no X-Amz-Expires", service: "rds-db", region: "us-east-1", payload: sha(nil), build: func() *http.Request {
			return newRequest("GET", "https://db.sim.test:5432/?Action=connect&DBUser=agent", "")
		}},
		{name: "payload hash in the query", service: "s3", region: "us-east-1", s3: true, payload: sha([]byte("x")), expires: "300", build: func() *http.Request {
			return newRequest("PUT", "https://s3.sim.test/bucket/key?X-Amz-Content-Sha256="+sha([]byte("x")), "")
		}},
	}
}

func (c presignCase) presign(t testing.TB, keys Credentials) (string, http.Header) {
	t.Helper()
	r := c.build()
	if c.expires != "" {
		q := r.URL.Query()
		q.Set("X-Amz-Expires", c.expires)
		r.URL.RawQuery = q.Encode()
	}
	u, h, err := v4.NewSigner().PresignHTTP(context.Background(), sdk(keys), r, c.payload, c.service, c.region, signedAt,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping, o.DisableHeaderHoisting = c.s3, c.noHoist })
	if err != nil {
		t.Fatal(err)
	}
	return u, h
}

// request is what a client makes of a presigned URL and its headers.
func (c presignCase) request(u string, h http.Header) *http.Request {
	r := newRequest(c.build().Method, u, "")
	for k, v := range h {
		if k != "Host" {
			r.Header[k] = v
		}
	}
	return r
}

// TestResignPresignedMatchesSDK: a URL the agent presigned with the
// placeholder keys, re-signed, is exactly the URL the SDK presigns with the
// real keys at the same time.
func TestResignPresignedMatchesSDK(t *testing.T) {
	for _, c := range presignCases() {
		for _, tok := range []struct {
			name     string
			from, to bool
		}{{"no tokens", false, false}, {"tokens on both sides", true, true}, {"token only on the placeholder", true, false}, {"token only on the real keys", false, true}} {
			t.Run(c.name+"/"+tok.name, func(t *testing.T) {
				from, to := placeholderKeys(tok.from), realKeys(t, tok.to)
				r := c.request(c.presign(t, from))
				if id, ok := KeyID(r); !ok || id != from.AccessKeyID {
					t.Fatalf("KeyID = %q, %v; want the placeholder's", id, ok)
				}
				if err := Resign(r, from, to, now); err != nil {
					t.Fatalf("Resign: %v", err)
				}
				wantURL, wantHeader := c.presign(t, to)
				if r.URL.String() != wantURL {
					t.Errorf("URL\n got %s\nwant %s", r.URL, wantURL)
				}
				for k, v := range wantHeader {
					if k != "Host" && !reflect.DeepEqual(r.Header[k], v) {
						t.Errorf("header %s: got %q, want %q", k, r.Header[k], v)
					}
				}
			})
		}
	}
}

// TestResignPresignedTokenHeader: a presigned request whose client sent
// the session token as a header keeps it there, signed, and none in the
// query.
func TestResignPresignedTokenHeader(t *testing.T) {
	from, to := placeholderKeys(true), realKeys(t, true)
	c := presignCases()[2] // sts, a signed header of its own
	build := func(k Credentials) presignCase {
		c := c
		c.noHoist = true
		c.build = func() *http.Request {
			r := presignCases()[2].build()
			r.Header.Set("X-Amz-Security-Token", k.SessionToken)
			return r
		}
		return c
	}
	noToken := func(k Credentials) Credentials { k.SessionToken = ""; return k }
	u, h := build(from).presign(t, noToken(from))
	r := c.request(u, h)
	r.Header.Set("X-Amz-Security-Token", from.SessionToken)
	if err := Resign(r, from, to, now); err != nil {
		t.Fatal(err)
	}
	wantURL, wantHeader := build(to).presign(t, noToken(to))
	if r.URL.String() != wantURL {
		t.Errorf("URL\n got %s\nwant %s", r.URL, wantURL)
	}
	if !strings.Contains(wantURL, "x-amz-security-token") {
		t.Error("the SDK did not sign the token header; this test needs another way")
	}
	for k, v := range wantHeader {
		if k != "Host" && !reflect.DeepEqual(r.Header[k], v) {
			t.Errorf("header %s differs from the SDK's", k)
		}
	}
	if r.Header.Get("X-Amz-Security-Token") != to.SessionToken || r.URL.Query().Has("X-Amz-Security-Token") {
		t.Error("the token is not the real one, in the header only")
	}
}

// errorCase makes a request that Resign must refuse with want.
type errorCase struct {
	name string
	want error
	// make returns the request, the keys it should be signed with, and
	// the sidecar's clock.
	make func(t *testing.T) (*http.Request, Credentials, time.Time)
}

// signed is signCases()[i] signed with keys, then changed by edit.
func signed(t testing.TB, i int, keys Credentials, edit func(*http.Request)) *http.Request {
	c := signCases()[i]
	r := c.build()
	c.sign(t, r, keys)
	if edit != nil {
		edit(r)
	}
	return r
}

func errorCases() []errorCase {
	ph := func(t *testing.T, edit func(*http.Request)) (*http.Request, Credentials, time.Time) {
		from := placeholderKeys(true)
		return signed(t, 1, from, edit), from, now
	}
	withPayload := func(p string) func(t *testing.T) (*http.Request, Credentials, time.Time) {
		return func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", p) })
		}
	}
	return []errorCase{
		{"no signature", ErrNotSigned, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return newRequest("GET", "https://sts.sim.test/", ""), placeholderKeys(false), now
		}},
		{"a bearer token", ErrNotSigned, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") })
		}},
		{"another key id", ErrWrongKey, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			other := placeholderKeys(true)
			r, _, _ := ph(t, nil)
			return r, other, now
		}},
		{"another session token", ErrWrongKey, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			r, from, _ := ph(t, nil)
			from.SessionToken = secret.NewPlaceholder("aws")
			return r, from, now
		}},
		{"a session token the placeholder has not", ErrWrongKey, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			r, from, _ := ph(t, nil)
			from.SessionToken = ""
			return r, from, now
		}},
		{"another secret", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			r, from, _ := ph(t, nil)
			from.SecretAccessKey = secret.NewPlaceholder("aws")
			return r, from, now
		}},
		{"a signed header changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
		}},
		{"the body changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(strings.Replace(form, "GetCallerIdentity", "AssumeRoleXXXXXX", 1)))
			})
		}},
		{"the query changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from := placeholderKeys(false)
			return signed(t, 0, from, func(r *http.Request) { r.URL.RawQuery += "&Extra=1" }), from, now
		}},
		{"the path changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from := placeholderKeys(false)
			return signed(t, 2, from, func(r *http.Request) { r.URL.Path += "x"; r.URL.RawPath = "" }), from, now
		}},
		{"the method changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Method = "PUT" })
		}},
		{"the host changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Host = "sts.other.sim.test" })
		}},
		{"the signature changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				a := r.Header.Get("Authorization")
				last := a[len(a)-1]
				r.Header.Set("Authorization", a[:len(a)-1]+map[bool]string{true: "1", false: "0"}[last == '0'])
			})
		}},
		{"X-Amz-Date 16 minutes ahead", ErrSkew, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			r, from, _ := ph(t, nil)
			return r, from, signedAt.Add(-16 * time.Minute)
		}},
		{"X-Amz-Date 16 minutes behind", ErrSkew, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			r, from, _ := ph(t, nil)
			return r, from, signedAt.Add(16 * time.Minute)
		}},
		{"presigned, expired", ErrExpired, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[2] // 60 s
			return c.request(c.presign(t, from)), from, signedAt.Add(61 * time.Second)
		}},
		{"presigned without X-Amz-Expires, after 15 minutes", ErrExpired, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[3]
			return c.request(c.presign(t, from)), from, signedAt.Add(16 * time.Minute)
		}},
		{"presigned in the future", ErrSkew, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[0]
			return c.request(c.presign(t, from)), from, signedAt.Add(-16 * time.Minute)
		}},
		{"presigned, signature changed", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[0]
			r := c.request(c.presign(t, from))
			q := r.URL.Query()
			q.Set("X-Amz-Signature", strings.Repeat("0", 64))
			r.URL.RawQuery = q.Encode()
			return r, from, now
		}},
		{"presigned, a parameter added", ErrBadSignature, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[0]
			r := c.request(c.presign(t, from))
			r.URL.RawQuery = "versionId=2&" + r.URL.RawQuery
			return r, from, now
		}},
		{"SigV4a", ErrUnsupported, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), algorithm, algorithmV4a, 1))
			})
		}},
		{"presigned SigV4a", ErrUnsupported, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[0]
			r := c.request(c.presign(t, from))
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, algorithm, algorithmV4a, 1)
			return r, from, now
		}},
		{"signed chunks", ErrUnsupported, withPayload("STREAMING-AWS4-HMAC-SHA256-PAYLOAD")},
		{"signed chunks with a trailer", ErrUnsupported, withPayload("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")},
		{"SigV4a chunks", ErrUnsupported, withPayload("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")},
		{"signed event stream", ErrUnsupported, withPayload("STREAMING-AWS4-HMAC-SHA256-EVENTS")},
		{"Signature Version 2 header", ErrUnsupported, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Set("Authorization", "AWS BOTTLEKEY:c2lnbmF0dXJl") })
		}},
		{"Signature Version 2 query", ErrUnsupported, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return newRequest("GET", "https://s3.sim.test/b/k?AWSAccessKeyId=BOTTLEKEY&Expires=1&Signature=c2ln", ""), placeholderKeys(false), now
		}},
		{"no X-Amz-Date", ErrUnsupported, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				r.Header.Del("X-Amz-Date")
				r.Header.Set("Date", "Wed, 04 Mar 2026 05:06:07 GMT")
			})
		}},
		{"body over the limit", ErrBodyTooLarge, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				r.Body = io.NopCloser(bytes.NewReader(make([]byte, MaxBody+1)))
				r.ContentLength = MaxBody + 1
			})
		}},
		{"two Authorization headers", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) })
		}},
		{"header and query signature", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.URL.RawQuery = "X-Amz-Signature=00" })
		}},
		{"no Signature", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				a, _, _ := strings.Cut(r.Header.Get("Authorization"), ", Signature=")
				r.Header.Set("Authorization", a)
			})
		}},
		{"a short credential", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=BOTTLEKEY/20260304/us-east-1, SignedHeaders=host, Signature=00")
			})
		}},
		{"unsorted SignedHeaders", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", strings.Replace(a, "SignedHeaders=", "SignedHeaders=zzz;", 1))
			})
		}},
		{"host not signed", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", strings.Replace(a, "SignedHeaders=content-length;content-type;host;", "SignedHeaders=content-length;content-type;", 1))
			})
		}},
		{"presigned, host not signed", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[0]
			r := c.request(c.presign(t, from))
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date", 1)
			return r, from, now
		}},
		{"two X-Amz-Date headers", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Add("X-Amz-Date", r.Header.Get("X-Amz-Date")) })
		}},
		{"scope day is not X-Amz-Date's", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Set("X-Amz-Date", "20260305T050607Z") })
		}},
		{"X-Amz-Date malformed", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			return ph(t, func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-03-04") })
		}},
		{"query does not parse", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from := placeholderKeys(false)
			return signed(t, 0, from, func(r *http.Request) { r.URL.RawQuery += "&bad=%zz" }), from, now
		}},
		{"presigned X-Amz-Expires over 7 days", ErrMalformed, func(t *testing.T) (*http.Request, Credentials, time.Time) {
			from, c := placeholderKeys(false), presignCases()[0]
			c.expires = "604801"
			return c.request(c.presign(t, from)), from, now
		}},
	}
}

// TestResignRefuses: each way a request is not signed with the placeholder,
// or is signed in a way bottle cannot re-sign, is refused with its error;
// the refused request is left as it was, and no error names a key.
func TestResignRefuses(t *testing.T) {
	for _, c := range errorCases() {
		t.Run(c.name, func(t *testing.T) {
			r, from, clock := c.make(t)
			before := r.Clone(context.Background())
			body := readAll(t, r)
			to := realKeys(t, true)
			err := Resign(r, from, to, clock)
			if !errors.Is(err, c.want) {
				t.Fatalf("Resign = %v, want %v", err, c.want)
			}
			if !reflect.DeepEqual(r.Header, before.Header) || r.URL.String() != before.URL.String() || r.Host != before.Host {
				t.Error("the refused request was changed")
			}
			if got := readAll(t, r); !bytes.Equal(got, body) {
				t.Errorf("the body was not put back: %d bytes, want %d", len(got), len(body))
			}
			for _, s := range []string{from.AccessKeyID, from.SecretAccessKey, to.AccessKeyID, to.SecretAccessKey, to.SessionToken} {
				if s != "" && strings.Contains(err.Error(), s) {
					t.Errorf("the error %q holds a key", err)
				}
			}
			if from.SessionToken != "" && strings.Contains(err.Error(), from.SessionToken) {
				t.Errorf("the error %q holds the token", err)
			}
		})
	}
}

// TestChunkedAdvice: the refusal of signed chunks says what to do.
func TestChunkedAdvice(t *testing.T) {
	from := placeholderKeys(false)
	r := signed(t, 1, from, func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") })
	err := Resign(r, from, realKeys(t, false), now)
	for _, want := range []string{"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "https://", "payload signing", "UNSIGNED-PAYLOAD"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// TestResignReadsBody: a request without X-Amz-Content-Sha256 is verified
// over its body, which is put back whole, and the result can be re-read
// (GetBody) for a retry.
func TestResignReadsBody(t *testing.T) {
	from, to := placeholderKeys(false), realKeys(t, false)
	r := signed(t, 1, from, nil)
	if err := Resign(r, from, to, now); err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, r)); got != form {
		t.Errorf("body %q, want %q", got, form)
	}
	rc, err := r.GetBody()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(rc); string(got) != form {
		t.Errorf("GetBody %q, want %q", got, form)
	}
}

// TestResignIsIdempotentOnTheRealKeys: what Resign produced verifies
// against the real keys (Resign from the real keys to themselves leaves it
// as it is).
func TestResignIsIdempotentOnTheRealKeys(t *testing.T) {
	from, to := placeholderKeys(true), realKeys(t, true)
	r := signed(t, 2, from, nil)
	if err := Resign(r, from, to, now); err != nil {
		t.Fatal(err)
	}
	auth := r.Header.Get("Authorization")
	if err := Resign(r, to, to, now); err != nil {
		t.Fatal(err)
	}
	if r.Header.Get("Authorization") != auth {
		t.Error("re-signing with the same keys changed the signature")
	}
}

func TestKeyID(t *testing.T) {
	for _, c := range []struct {
		auth, query string
		id          string
		ok          bool
	}{
		{auth: "AWS4-HMAC-SHA256 Credential=BOTTLEA/20260304/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00", id: "BOTTLEA", ok: true},
		{auth: "AWS4-HMAC-SHA256 SignedHeaders=host,Credential=BOTTLEB/20260304/us-east-1/sts/aws4_request,Signature=00", id: "BOTTLEB", ok: true},
		{auth: "AWS4-ECDSA-P256-SHA256 Credential=BOTTLEC/20260304/s3/aws4_request, SignedHeaders=host, Signature=00", id: "BOTTLEC", ok: true},
		{auth: "AWS4-HMAC-SHA256 SignedHeaders=host", id: "", ok: true},
		{auth: "AWS BOTTLED:sig"},
		{auth: "Bearer x"},
		{query: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=BOTTLEE%2F20260304%2Fus-east-1%2Fs3%2Faws4_request", id: "BOTTLEE", ok: true},
		{query: "X-Amz-Credential=BOTTLEF%2F20260304"},
		{query: "a=1"},
		{},
	} {
		r := newRequest("GET", "https://s3.sim.test/?"+c.query, "")
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		if id, ok := KeyID(r); id != c.id || ok != c.ok {
			t.Errorf("KeyID(%q, %q) = %q, %v; want %q, %v", c.auth, c.query, id, ok, c.id, c.ok)
		}
	}
}

// FuzzResign: Resign never panics on any Authorization header, query,
// payload hash or date set on a request the SDK signed, and whatever it
// accepts it has re-signed so that it verifies against the real keys.
// Empty arguments leave the signed request (header-signed or presigned) as
// it is ("-" deletes the Authorization header), so the seeds reach the
// re-signing too.
func FuzzResign(f *testing.F) {
	from := Credentials{AccessKeyID: "BOTTLEFUZZKEY0000000", SecretAccessKey: "placeholder-secret", SessionToken: "placeholder-token"}
	to := Credentials{AccessKeyID: "REALFUZZKEY000000000", SecretAccessKey: "real-secret"}
	headerSigned := signed(f, 1, from, nil)
	body := readAll(f, headerSigned)
	presigned := presignCases()[0].request(presignCases()[0].presign(f, from))
	f.Add(false, "", "", "", "")
	f.Add(true, "", "", "", "")
	f.Add(true, "", strings.Replace(presigned.URL.RawQuery, "X-Amz-Expires=900", "X-Amz-Expires=9e9", 1), "", "")
	f.Add(false, "-", presigned.URL.RawQuery, "", "")
	f.Add(false, "", "", "UNSIGNED-PAYLOAD", "")
	f.Add(false, "", "a=1", "", "20260304T050000Z")
	f.Add(false, "AWS4-HMAC-SHA256 Credential=BOTTLEFUZZKEY0000000/20260304/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=0", "", "UNSIGNED-PAYLOAD", "20260304T050607Z")
	f.Add(false, "AWS4-HMAC-SHA256 ,,,=,Credential=/,", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=-1", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x")
	f.Fuzz(func(t *testing.T, isPresigned bool, auth, rawQuery, payload, date string) {
		r := headerSigned.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		if isPresigned {
			r = presigned.Clone(context.Background())
		}
		switch auth {
		case "":
		case "-":
			r.Header.Del("Authorization")
		default:
			r.Header.Set("Authorization", auth)
		}
		if rawQuery != "" {
			r.URL.RawQuery = rawQuery
		}
		if payload != "" {
			r.Header.Set("X-Amz-Content-Sha256", payload)
		}
		if date != "" {
			r.Header.Set("X-Amz-Date", date)
		}
		KeyID(r)
		if err := Resign(r, from, to, now); err != nil {
			return
		}
		if err := Resign(r, to, to, now); err != nil {
			t.Fatalf("accepted, but the result does not verify against the real keys: %v", err)
		}
	})
}

func BenchmarkResign(b *testing.B) {
	from, to := placeholderKeys(true), realKeys(b, true)
	c := signCases()[1]
	template := c.build()
	c.sign(b, template, from)
	body := readAll(b, template)
	b.ReportAllocs()
	for b.Loop() {
		r := template.Clone(context.Background())
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := Resign(r, from, to, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestResignDefaultPort: a request that names the default port in its Host
// (as a proxy may see it) while the client signed the host without it, as
// the SDK does, is forwarded with the Host it was signed with.
func TestResignDefaultPort(t *testing.T) {
	from, to := placeholderKeys(false), realKeys(t, false)
	c := signCases()[9] // default port
	agent := c.build()
	c.sign(t, agent, from)
	agent.Host = "sts.sim.test:443"
	if err := Resign(agent, from, to, now); err != nil {
		t.Fatal(err)
	}
	want := c.build()
	c.sign(t, want, to)
	if agent.Host != "sts.sim.test" || agent.Header.Get("Authorization") != want.Header.Get("Authorization") {
		t.Errorf("Host %q, Authorization %q; want %q, %q", agent.Host, agent.Header.Get("Authorization"), "sts.sim.test", want.Header.Get("Authorization"))
	}
}

// TestResignNeedsKeys: keys missing on either side are the caller's
// mistake, never a signature that verifies against an empty secret.
func TestResignNeedsKeys(t *testing.T) {
	from, to := placeholderKeys(false), realKeys(t, false)
	for _, k := range [][2]Credentials{
		{{AccessKeyID: from.AccessKeyID}, to},
		{from, {AccessKeyID: to.AccessKeyID}},
		{{SecretAccessKey: from.SecretAccessKey}, to},
	} {
		r := signed(t, 0, from, nil)
		if err := Resign(r, k[0], k[1], now); err == nil || errors.Is(err, ErrBadSignature) {
			t.Errorf("Resign with incomplete keys = %v", err)
		}
	}
}

// TestResignChunkedBody: a body of unknown length (chunked on the wire) is
// read whole to hash it, and forwarded with the length it turned out to have.
func TestResignChunkedBody(t *testing.T) {
	from, to := placeholderKeys(false), realKeys(t, false)
	c := signCases()[5] // lambda, JSON body, no X-Amz-Content-Sha256
	build := func() *http.Request {
		r := c.build()
		r.ContentLength = -1 // as for a body from a pipe
		return r
	}
	agent := build()
	c.sign(t, agent, from)
	var wire bytes.Buffer
	if err := agent.Write(&wire); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wire.String(), "Transfer-Encoding: chunked") {
		t.Fatal("the request was not sent chunked")
	}
	r, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	r.URL.Scheme, r.URL.Host = "https", r.Host
	if err := Resign(r, from, to, now); err != nil {
		t.Fatal(err)
	}
	want := build()
	c.sign(t, want, to)
	if r.Header.Get("Authorization") != want.Header.Get("Authorization") {
		t.Error("Authorization differs from the SDK's")
	}
	if body := readAll(t, r); string(body) != `{"a":1}` || r.ContentLength != int64(len(body)) {
		t.Errorf("body %q, ContentLength %d", body, r.ContentLength)
	}
}
