package guard

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"

	"bottle.dev/bottle/allowlist"
)

// benchSet is five credentials, each looked for in every encoding: the
// size of a busy bottle's set.
func benchSet(b *testing.B) *Set {
	var creds []*cred
	for _, n := range []string{"anthropic", "openai", "github", "gitlab", "npm"} {
		creds = append(creds, testCred(n, allowlist.CredBearer, testValue(b), n+".example.com"))
	}
	return mustCompile(b, creds)
}

// benchBody is text like an API request or a source file: printable
// ASCII, with base64-ish runs that walk the automaton deep.
func benchBody(n int) []byte {
	r := rand.New(rand.NewPCG(7, 8))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=_-%\"{}:, \n"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return b
}

// BenchmarkRequestBody is the cost of scanning what the agent sends (the
// find mode), per byte.
func BenchmarkRequestBody(b *testing.B) {
	s := benchSet(b)
	body := benchBody(1 << 20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rb := s.RequestBody(io.NopCloser(bytes.NewReader(body)), "other.example.com")
		if _, err := io.Copy(io.Discard, rb); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResponseBody is the cost of redacting what a bound host
// answers (the replace mode), per byte.
func BenchmarkResponseBody(b *testing.B) {
	s := benchSet(b)
	body := benchBody(1 << 20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp := &http.Response{Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body))}
		s.Response(resp, "github.example.com")
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompile is the cost of building a set (each reload).
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSet(b)
	}
}
