package proxy

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/secret"
	"bottle.dev/bottle/secret/guard"
)

// secretPolicy binds a credential of each kind: hdr (a header) to o1.test,
// bear (bearer) and k3 (a header) both to o3.test, git (Basic) to h1.test
// and o1.test, and q (a query parameter) to plain.test. o2.test is bound
// to nothing.
const secretPolicy = `version: 1
allow:
  - host: o1.test
    ports: [{{ORIGIN}}]
  - host: o2.test
    ports: [{{ORIGIN}}]
  - host: o3.test
    ports: [{{ORIGIN}}]
  - host: h1.test
    ports: [{{ORIGIN1}}]
  - host: plain.test
    ports: [{{PLAIN}}]
  - host: report-only.test
    ports: [{{ORIGIN}}]
    dlp: off
  - cidr: 127.0.0.1/32
    ports: [{{ORIGIN}}, {{ORIGIN1}}, {{PLAIN}}]
credentials:
  - name: hdr
    hosts: [o1.test]
    header: x-api-key
    source: env:HDR
  - name: bear
    hosts: [o3.test]
    bearer: true
    source: env:BEAR
  - name: k3
    hosts: [o3.test]
    header: x-api-key
    source: env:K3
  - name: git
    hosts: [h1.test, o1.test]
    basic_user: x-access-token
    source: env:GIT
  - name: q
    hosts: [plain.test]
    query: key
    source: env:Q
`

// secrets are a test's credential values, made at test time.
type secrets map[string]secret.Value

func newSecretValue(t testing.TB) string {
	b := make([]byte, 24)
	rand.Read(b)
	// Bytes that URL-encodings write differently, so that each encoding
	// is its own pattern.
	return "sv_" + hex.EncodeToString(b[:12]) + "/+=" + base64.RawURLEncoding.EncodeToString(b[12:])
}

// newSecretEnv is an env whose proxy guards the credentials of policy,
// each with a fresh value and placeholder, and whose audit may hold none
// of them.
func newSecretEnv(t testing.TB, policy string, opt func(*Config)) (*env, secrets) {
	t.Helper()
	vals := secrets{}
	e := newEnv(t, policy, func(c *Config) {
		pol := c.Policy.(*allowlist.Policy)
		f := &secret.File{Version: secret.Version}
		for _, cr := range pol.Credentials() {
			v := secret.Value{Name: cr.Name, Placeholder: secret.NewPlaceholder(cr.Name)}
			if cr.Kind == allowlist.CredAWS {
				v.AWS = &secret.AWS{AccessKeyID: "AKIA" + strings.ToUpper(hex.EncodeToString([]byte("testkey1"))),
					SecretAccessKey: newSecretValue(t), PlaceholderKeyID: secret.NewAWSKeyID()}
			} else {
				v.Value = newSecretValue(t)
			}
			f.Credentials = append(f.Credentials, v)
			vals[cr.Name] = v
		}
		set, err := guard.New(pol.Credentials(), f)
		if err != nil {
			t.Fatal(err)
		}
		c.Secrets = set
		if opt != nil {
			opt(c)
		}
	})
	for _, v := range vals {
		e.secrets = append(e.secrets, v.Placeholder, v.Value)
		if v.AWS != nil {
			e.secrets = append(e.secrets, v.AWS.SecretAccessKey, v.AWS.PlaceholderKeyID)
		}
	}
	return e, vals
}

// checkNoSecrets fails t if the audit holds any of the values or
// placeholders, raw or in a common encoding.
func checkNoSecrets(t testing.TB, log string, values []string) {
	t.Helper()
	for _, v := range values {
		if v == "" {
			continue
		}
		for _, form := range []string{v, url.QueryEscape(v), hex.EncodeToString([]byte(v)), base64.StdEncoding.EncodeToString([]byte(v))[:len(v)]} {
			if strings.Contains(log, form) {
				t.Errorf("the audit holds a secret (or an encoding of one):\n%s", log)
				return
			}
		}
	}
}

func (e *env) do(c *http.Client, req *http.Request) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func mkReq(t testing.TB, method, u string, body io.Reader, hdr ...string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

// echoed is what /echo answers.
type echoed struct {
	Header http.Header
	Query  string
}

func decodeEcho(t testing.TB, body string) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("echo %q: %v", body, err)
	}
	return e
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestCredentialInjected: on its bound host each kind of credential is put
// on the request in place of what the agent sent (the upstream sees the
// value once, never the agent's own), the placeholder in another header
// or inside a Basic authorization becomes the value, and the answer that
// echoes the value reaches the agent with the placeholder instead. Over
// h1 and h2, and plain HTTP.
func TestCredentialInjected(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, vals := newSecretEnv(t, secretPolicy, nil)
			c := e.client(h2)
			hdr, bear, k3, git, q := vals["hdr"], vals["bear"], vals["k3"], vals["git"], vals["q"]

			// A header credential, with the agent's own value and the
			// placeholder in another header.
			resp, body := e.do(c, mkReq(t, "GET", fmt.Sprintf("https://o1.test:%d/echo", e.origin.port), nil,
				"X-Api-Key", "agents-own", "X-Api-Key", hdr.Placeholder, "X-Note", "key="+hdr.Placeholder, "Accept-Encoding", "gzip"))
			if h2 && resp.ProtoMajor != 2 {
				t.Fatalf("not h2: %s", resp.Proto)
			}
			got := decodeEcho(t, body)
			if resp.StatusCode != 200 || !slices.Equal(got.Header.Values("X-Api-Key"), []string{hdr.Placeholder}) {
				// The upstream saw the value; its echo came back redacted.
				t.Errorf("header: %d, upstream saw X-Api-Key %q; want the value, shown as the placeholder", resp.StatusCode, got.Header.Values("X-Api-Key"))
			}
			if got.Header.Get("X-Note") != "key="+hdr.Placeholder || got.Header.Get("Accept-Encoding") != "" {
				t.Errorf("swap: X-Note %q, Accept-Encoding %q", got.Header.Get("X-Note"), got.Header.Get("Accept-Encoding"))
			}
			if resp.Header.Get("X-Echo-Key") != hdr.Placeholder || strings.Contains(body, hdr.Value) {
				t.Errorf("the answer shows the value: %v %s", resp.Header, body)
			}
			rec := e.waitAudit(func(r audit.Record) bool { return r.Host == "o1.test" && r.Path == "/echo" })
			if rec.Credential != "hdr,git" || rec.Decision != "allow" || rec.Status != 200 {
				t.Errorf("audit %+v", rec)
			}

			// Two credentials on o3.test, each with a header of its own:
			// both are put on every request there, whatever it carries.
			for _, hdrs := range [][]string{{"Authorization", "Bearer agents-own"}, {"X-Api-Key", k3.Placeholder}} {
				resp, _ = e.do(c, mkReq(t, "GET", fmt.Sprintf("https://o3.test:%d/echo", e.origin.port), nil, hdrs...))
				if got := resp.Header.Get("X-Echo-Authorization"); got != "Bearer "+bear.Placeholder || resp.Header.Get("X-Echo-Key") != k3.Placeholder {
					t.Errorf("%q: upstream saw %v (redacted); want the bearer and the key", hdrs, resp.Header)
				}
			}
			e.waitAudit(func(r audit.Record) bool { return r.Host == "o3.test" && r.Credential == "bear,k3" })

			// Basic, with the placeholder as the password, as git sends it.
			req := mkReq(t, "GET", fmt.Sprintf("https://h1.test:%d/echo", e.origin1.port), nil)
			req.SetBasicAuth("x-access-token", git.Placeholder)
			resp, _ = e.do(c, req)
			if got := resp.Header.Get("X-Echo-Authorization"); got != basicAuth("x-access-token", git.Placeholder) {
				t.Errorf("basic: upstream saw %q (redacted); want basic with git's value", got)
			}
			e.waitAudit(func(r audit.Record) bool { return r.Host == "h1.test" && r.Credential == "git" })

			// A query credential on plain HTTP: the agent's key= replaced
			// where it stood, the rest kept.
			_, body = e.do(c, mkReq(t, "GET", fmt.Sprintf("http://plain.test:%d/echo?a=1&key=agents-own&b=2", e.plain.port), nil))
			if got := decodeEcho(t, body); got.Query != "a=1&key="+q.Placeholder+"&b=2" {
				t.Errorf("query: upstream saw %q (redacted)", got.Query)
			}
			// The upstream saw each value (the answers above showed the
			// placeholder because the guard took the value out of them),
			// once, without the agent's own.
			saw := e.upstreamSaw.String()
			for _, want := range []string{
				fmt.Sprintf("o1.test %q", []string{hdr.Value}),
				fmt.Sprintf("o3.test %q %q", []string{k3.Value}, []string{"Bearer " + bear.Value}),
				fmt.Sprintf("h1.test [] %q", []string{basicAuth("x-access-token", git.Value)}),
				fmt.Sprintf("%q\n", "a=1&key="+url.QueryEscape(q.Value)+"&b=2"),
			} {
				if !strings.Contains(saw, want) {
					t.Errorf("the upstream did not see %s in:\n%s", want, saw)
				}
			}
			if strings.Contains(saw, "agents-own") {
				t.Errorf("the agent's own value reached the upstream:\n%s", saw)
			}
		})
	}
}

// TestPlaceholderRefusedElsewhere: a placeholder sent to a host its
// credential is not bound to, in a header, a Basic authorization or the
// URL, is refused with 403 before anything is dialled, naming the
// credential and its hosts; in the body, the upstream request is cut
// before the placeholder's last byte leaves, and the agent gets the 403.
func TestPlaceholderRefusedElsewhere(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, vals := newSecretEnv(t, secretPolicy, nil)
			c := e.client(h2)
			ph := vals["git"].Placeholder
			o2 := fmt.Sprintf("https://o2.test:%d", e.origin.port)
			for i, req := range []*http.Request{
				mkReq(t, "GET", o2+"/h0", nil, "X-Token", ph),
				mkReq(t, "GET", o2+"/h1", nil, "Authorization", basicAuth("x-access-token", ph)),
				mkReq(t, "GET", o2+"/h2?token="+ph, nil),
				mkReq(t, "GET", o2+"/h3/"+url.PathEscape(ph), nil),
			} {
				resp, body := e.do(c, req)
				// (The body repeats the path the agent asked for: the
				// placeholder in request 3's is the agent's own.)
				if ps := resp.Header.Get("Proxy-Status"); resp.StatusCode != 403 || !strings.Contains(body, "credential git") ||
					!strings.Contains(body, "h1.test, o1.test") || !strings.Contains(ps, "http_request_denied") || strings.Contains(ps, ph) {
					t.Errorf("request %d: %d %q %v", i, resp.StatusCode, body, resp.Header)
				}
				rec := e.waitAudit(func(r audit.Record) bool {
					return r.Host == "o2.test" && strings.HasPrefix(r.Path, fmt.Sprintf("/h%d", i))
				})
				if rec.Decision != "deny" || rec.Credential != "git" || rec.Status != 403 {
					t.Errorf("request %d: audit %+v", i, rec)
				}
				wantCause(t, rec, allowlist.CauseCredentialMisuse)
			}
			for i := range 4 {
				if e.seen.has(fmt.Sprintf("/h%d", i)) {
					t.Errorf("request %d reached the upstream", i)
				}
			}

			// The body, written a byte at a time, and in odd sizes.
			for _, size := range []int{1, 7} {
				body := []byte(strings.Repeat("commit message ", 100) + ph + " and more")
				pr, pw := io.Pipe()
				go func() {
					for b := body; len(b) > 0; {
						n := min(size, len(b))
						if _, err := pw.Write(b[:n]); err != nil {
							return
						}
						b = b[n:]
					}
					pw.Close()
				}()
				resp, rbody := e.do(c, mkReq(t, "POST", o2+"/sink", pr))
				if resp.StatusCode != 403 || !strings.Contains(rbody, "credential git") {
					t.Errorf("body in %d-byte writes: %d %q", size, resp.StatusCode, rbody)
				}
				if strings.Contains(e.sink.String(), ph) {
					t.Errorf("body in %d-byte writes: the upstream received the placeholder", size)
				}
				rec := e.waitAudit(func(r audit.Record) bool { return r.Host == "o2.test" && r.Path == "/sink" && r.Status == 403 })
				wantCause(t, rec, allowlist.CauseCredentialMisuse)
				pr.Close()
			}
		})
	}
}

// leakForms is the value v written in every encoding the guard knows, as
// a client might put it in a request.
func leakForms(v string) map[string]string {
	return map[string]string{
		"raw":         v,
		"hex":         hex.EncodeToString([]byte(v)),
		"HEX":         strings.ToUpper(hex.EncodeToString([]byte(v))),
		"query":       url.QueryEscape(v),
		"path":        url.PathEscape(v),
		"base64-at-0": base64.StdEncoding.EncodeToString([]byte(v)),
		"base64-at-1": base64.StdEncoding.EncodeToString([]byte("u:" + v)),
		"base64-at-2": base64.RawStdEncoding.EncodeToString([]byte("us:" + v + "!")),
		"base64url":   base64.RawURLEncoding.EncodeToString([]byte("user:" + v)),
	}
}

// TestRealValueRefused: the real value of a credential, in any encoding,
// in a header, the URL or the body (written a byte at a time and in odd
// sizes), is refused with 403 and cause secret-leak, to an unbound host as
// to its own; the audit says "value:NAME", never the value.
func TestRealValueRefused(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, vals := newSecretEnv(t, secretPolicy, nil)
			c := e.client(h2)
			v := vals["hdr"].Value
			n := 0
			check := func(what string, req *http.Request) {
				t.Helper()
				n++
				resp, body := e.do(c, req)
				if resp.StatusCode != 403 || !strings.Contains(body, "real value of credential hdr") {
					t.Errorf("%s: %d %q", what, resp.StatusCode, body)
				}
			}
			for name, form := range leakForms(v) {
				for _, host := range []string{"o2.test", "o1.test"} {
					// A path of its own for each request, so that no two
					// denials are coalesced into one audit line.
					base := fmt.Sprintf("https://%s:%d", host, e.origin.port)
					check(name+" in a header to "+host, mkReq(t, "GET", fmt.Sprintf("%s/l%d", base, n), nil, "X-Debug", "x "+form))
					check(name+" in the URL to "+host, mkReq(t, "GET", fmt.Sprintf("%s/l%d?d=%s", base, n, url.QueryEscape(form)), nil))
					for _, size := range []int{1, 5, 4093} {
						body := []byte(`{"pad":"` + strings.Repeat("p", 31) + `","leak":"` + form + `"}`)
						check(fmt.Sprintf("%s in the body in %d-byte reads to %s", name, size, host),
							mkReq(t, "POST", fmt.Sprintf("%s/sink/%d", base, n), &slowReader{b: body, size: size}))
						if strings.Contains(e.sink.String(), form) {
							t.Errorf("%s: the upstream received the value", name)
						}
					}
				}
			}
			lines := 0
			for _, r := range e.auditLines() {
				if r.Kind == "request" && r.Cause == allowlist.CauseSecretLeak.String() {
					lines++
					if !slices.Equal(r.DLP, []string{"value:hdr"}) || r.Decision != "deny" {
						t.Errorf("audit %+v", r)
					}
				}
			}
			if lines != n {
				t.Errorf("%d secret-leak lines; want %d", lines, n)
			}
		})
	}
}

// slowReader yields b in reads of size bytes, with a pause now and then so
// that the reads reach the proxy apart.
type slowReader struct {
	b    []byte
	size int
	i    int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	if s.i++; s.i%16 == 0 {
		time.Sleep(time.Millisecond)
	}
	n := copy(p, s.b[:min(s.size, len(s.b))])
	s.b = s.b[n:]
	return n, nil
}

// TestSSEFromBoundHostStreams: an event stream from a bound host arrives
// event by event (the upstream waits for the agent to have read the first
// before it sends the second), with the echoed value redacted.
func TestSSEFromBoundHostStreams(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			e, vals := newSecretEnv(t, secretPolicy, nil)
			resp, err := e.client(h2).Get(fmt.Sprintf("https://o1.test:%d/sse-echo", e.origin.port))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			ph := vals["hdr"].Placeholder
			for i, want := range []string{"data: first key=" + ph, "data: second key=" + ph} {
				line, err := br.ReadString('\n')
				if err != nil || strings.TrimSpace(line) != want {
					t.Fatalf("event %d: %q, %v; want %q", i, line, err, want)
				}
				br.ReadString('\n') // the blank line that ends the event
				if i == 0 {
					close(e.release) // only now does the upstream send the second
				}
			}
		})
	}
}

// TestWebSocketToBoundHost: an upgrade to a bound host is injected like
// any request, and the upgraded stream then works as before.
func TestWebSocketToBoundHost(t *testing.T) {
	e, _ := newSecretEnv(t, secretPolicy, nil)
	o1 := fmt.Sprintf("o1.test:%d", e.origin.port)
	resp, c, _ := e.connect(o1)
	if resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
	roots := x509.NewCertPool()
	roots.AddCert(e.bottleCA.Cert)
	tc := tls.Client(c, &tls.Config{ServerName: "o1.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
	fmt.Fprintf(tc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", o1)
	br := bufio.NewReader(tc)
	r, err := http.ReadResponse(br, nil)
	if err != nil || r.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", r, err)
	}
	io.WriteString(tc, "ping over the upgraded stream")
	buf := make([]byte, len("ping over the upgraded stream"))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping over the upgraded stream" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	tc.Close()
	rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/ws" })
	if rec.Credential != "hdr,git" || rec.Status != 101 {
		t.Errorf("audit %+v", rec)
	}
}

// TestUploadToBoundHostStreams: a 100 MB upload to a bound host is
// streamed through the guard: the upstream has received its first bytes
// while the agent still holds most of the body back.
func TestUploadToBoundHostStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB")
	}
	e, _ := newSecretEnv(t, secretPolicy, nil)
	const total = 100 << 20
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
		// The first MiB, then nothing more until the upstream has some.
		for range 16 {
			if _, err := pw.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		select {
		case <-e.gotData:
		case <-time.After(20 * time.Second):
			pw.CloseWithError(errors.New("the upstream received nothing of the first MiB: the body is not streamed"))
			errc <- errors.New("not streamed")
			return
		}
		for sent := 1 << 20; sent < total; sent += len(chunk) {
			if _, err := pw.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- pw.Close()
	}()
	resp, body := e.do(e.client(false), mkReq(t, "POST", fmt.Sprintf("https://o1.test:%d/sink", e.origin.port), pr))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != fmt.Sprint(total) {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/sink" })
	if rec.Credential != "hdr,git" || rec.BytesIn != total {
		t.Errorf("audit %+v", rec)
	}
}

// TestReportModeStillBlocksSecrets: in report mode a policy refusal and a
// DLP finding in block mode go through marked would-deny, but a
// placeholder astray and a real value are refused all the same.
func TestReportModeStillBlocksSecrets(t *testing.T) {
	pol := strings.Replace(secretPolicy, "version: 1\n", "version: 1\nmode: report\ndlp: block\n", 1)
	e, vals := newSecretEnv(t, pol, func(c *Config) { c.DLP = fakeDLP{} })
	c := e.client(false)
	o2 := fmt.Sprintf("https://o2.test:%d", e.origin.port)
	if resp, _ := e.do(c, mkReq(t, "GET", o2+"/astray", nil, "X-Token", vals["hdr"].Placeholder)); resp.StatusCode != 403 {
		t.Errorf("placeholder astray in report mode: %d", resp.StatusCode)
	}
	if resp, _ := e.do(c, mkReq(t, "GET", o2+"/leak", nil, "X-Token", vals["hdr"].Value)); resp.StatusCode != 403 {
		t.Errorf("value in report mode: %d", resp.StatusCode)
	}
	resp, _ := e.do(c, mkReq(t, "GET", o2+"/dlp", nil, "X-Token", "FAKESECRET-123"))
	if resp.StatusCode != 200 {
		t.Errorf("DLP finding in report mode: %d", resp.StatusCode)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/dlp" })
	if rec.Decision != "would-deny" || !slices.Equal(rec.DLP, []string{"fake-rule"}) {
		t.Errorf("audit %+v", rec)
	}
	wantCause(t, rec, allowlist.CauseDLP)
}

// fakeDLP finds "FAKESECRET-" and digits: rule fake-rule. Its reader
// reads the whole body first (the test bodies are small), so that in
// block mode nothing of a body with a finding is released.
type fakeDLP struct{}

var fakeSecretRE = regexp.MustCompile(`FAKESECRET-[0-9]+`)

func (fakeDLP) Scan(b []byte) []Finding {
	var out []Finding
	for _, loc := range fakeSecretRE.FindAllIndex(b, -1) {
		out = append(out, Finding{RuleID: "fake-rule", Offset: int64(loc[0])})
	}
	return out
}

func (f fakeDLP) NewReader(r io.Reader, block bool, found func(Finding)) io.Reader {
	data, err := io.ReadAll(r)
	if err != nil {
		return &errReader{err}
	}
	fs := f.Scan(data)
	for _, x := range fs {
		found(x)
	}
	if block && len(fs) > 0 {
		return &errReader{errors.New("dlp: blocked")}
	}
	return bytes.NewReader(data)
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// TestDLPModes: DLP findings in the URL, a header or the body are audited
// as would-deny with the rule id (report, the default), refused (block),
// or not looked for (a rule with dlp: off).
func TestDLPModes(t *testing.T) {
	for _, mode := range []string{"report", "block"} {
		t.Run(mode, func(t *testing.T) {
			pol := strings.Replace(secretPolicy, "version: 1\n", "version: 1\ndlp: "+mode+"\n", 1)
			e, _ := newSecretEnv(t, pol, func(c *Config) { c.DLP = fakeDLP{} })
			c := e.client(true)
			o2 := fmt.Sprintf("https://o2.test:%d", e.origin.port)
			where := map[string]string{"/u": "in the URL", "/h": "in header X-Thing", "/sink": "in the body"}
			for _, req := range []*http.Request{
				mkReq(t, "GET", o2+"/u?x=FAKESECRET-1", nil),
				mkReq(t, "GET", o2+"/h", nil, "X-Before", "plain", "X-Thing", "FAKESECRET-2", "X-After", "plain"),
				mkReq(t, "POST", o2+"/sink", strings.NewReader("a FAKESECRET-3 b")),
			} {
				path := req.URL.Path
				resp, body := e.do(c, req)
				rec := e.waitAudit(func(r audit.Record) bool { return r.Path == path })
				wantCause(t, rec, allowlist.CauseDLP)
				if !slices.Equal(rec.DLP, []string{"fake-rule"}) {
					t.Errorf("%s: audit %+v", path, rec)
				}
				switch mode {
				case "report":
					if resp.StatusCode != 200 || rec.Decision != "would-deny" {
						t.Errorf("%s: %d %q, %+v", path, resp.StatusCode, body, rec)
					}
				case "block":
					if resp.StatusCode != 403 || rec.Decision != "deny" || !strings.Contains(body, "fake-rule "+where[path]) || strings.Contains(body, "FAKESECRET") {
						t.Errorf("%s: %d %q, %+v", path, resp.StatusCode, body, rec)
					}
				}
			}
			if mode == "block" && strings.Contains(e.sink.String(), "FAKESECRET") {
				t.Error("a blocked body reached the upstream")
			}
			// dlp: off on the rule that admits the request.
			resp, _ := e.do(c, mkReq(t, "GET", fmt.Sprintf("https://report-only.test:%d/off?x=FAKESECRET-4", e.origin.port), nil))
			rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/off" })
			if resp.StatusCode != 200 || rec.Decision != "allow" || rec.DLP != nil {
				t.Errorf("dlp: off: %d %+v", resp.StatusCode, rec)
			}
		})
	}
}

// TestSetSecretsSwaps: a new set applies from the next request (a
// rotated value), and a nil set injects nothing.
func TestSetSecretsSwaps(t *testing.T) {
	e, _ := newSecretEnv(t, secretPolicy, nil)
	pol, _ := allowlist.Parse("t.yaml", []byte(e.policy))
	nv := newSecretValue(t)
	ph := secret.NewPlaceholder("hdr")
	e.secrets = append(e.secrets, nv, ph)
	set, err := guard.New(pol.Credentials(), &secret.File{Version: 1, Credentials: []secret.Value{{Name: "hdr", Placeholder: ph, Value: nv}}})
	if err != nil || !slices.Equal(set.Missing(), []string{"bear", "k3", "git", "q"}) {
		t.Fatalf("%v %v", err, set.Missing())
	}
	e.proxy.SetSecrets(set)
	resp, _ := e.do(e.client(false), mkReq(t, "GET", fmt.Sprintf("https://o1.test:%d/echo", e.origin.port), nil))
	if resp.Header.Get("X-Echo-Key") != ph {
		t.Errorf("after the swap the upstream saw %q (redacted); want the new value", resp.Header.Get("X-Echo-Key"))
	}
	e.proxy.SetSecrets(nil)
	resp, _ = e.do(e.client(false), mkReq(t, "GET", fmt.Sprintf("https://o1.test:%d/echo", e.origin.port), nil))
	if resp.Header.Get("X-Echo-Key") != "" {
		t.Errorf("with no set the upstream saw %q", resp.Header.Get("X-Echo-Key"))
	}
}

// TestAWSNotResigned: a request to a host an aws credential is bound to is
// refused, not sent with the agent's placeholder signature, until a
// Resigner is configured; with one, it is what puts the keys on.
func TestAWSNotResigned(t *testing.T) {
	pol := secretPolicy + `  - name: aws
    hosts: [h1.test]
    aws:
      access_key_id: env:AK
      secret_access_key: env:SK
`
	pol = strings.Replace(pol, "hosts: [h1.test, o1.test]", "hosts: [o1.test]", 1)
	for _, resign := range []bool{false, true} {
		var called bool
		e, vals := newSecretEnv(t, pol, func(c *Config) {
			if resign {
				c.ResignAWS = func(r *http.Request, from, to guard.AWSKeys, _ time.Time) error {
					called = from.AccessKeyID != to.AccessKeyID
					r.Header.Set("Authorization", "AWS4-HMAC-SHA256 re-signed")
					return nil
				}
			}
		})
		aws := vals["aws"].AWS
		req := mkReq(t, "GET", fmt.Sprintf("https://h1.test:%d/echo", e.origin1.port), nil,
			"Authorization", "AWS4-HMAC-SHA256 Credential="+aws.PlaceholderKeyID+"/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
		resp, body := e.do(e.client(false), req)
		switch {
		case !resign && (resp.StatusCode != 403 || !strings.Contains(body, "AWS re-signing is not available in this build")):
			t.Errorf("no resigner: %d %q", resp.StatusCode, body)
		case resign && (resp.StatusCode != 200 || !called || resp.Header.Get("X-Echo-Authorization") != "AWS4-HMAC-SHA256 re-signed"):
			t.Errorf("resigner: %d %v %v", resp.StatusCode, called, resp.Header)
		}
	}
}

// textReader is an endless stream of printable text.
type textReader struct{}

func (textReader) Read(p []byte) (int, error) {
	const line = "the quick brown fox jumps over the lazy dog 0123456789 {\"k\": \"v\"}\n"
	for i := range p {
		p[i] = line[i%len(line)]
	}
	return len(p), nil
}

// BenchmarkGuardedUpload is the cost of the guard on a bulk upload: with
// no credentials, to an unbound host (the body scanned for values and
// placeholders), and to a bound host (injected, scanned). B/op and the
// peak heap stay far below the body's size: the body is streamed.
//
//	go test ./proxy -run '^$' -bench GuardedUpload -benchtime 10x
func BenchmarkGuardedUpload(b *testing.B) {
	e, _ := newSecretEnv(b, secretPolicy, func(c *Config) { c.AllowHTTP2 = false })
	set := e.proxy.secrets.Load()
	c := e.clientFor(e.bottleCA.Cert, true, true)
	for _, tc := range []struct {
		name string
		host string
		set  *guard.Set
	}{
		{"no-credentials", "o1.test", nil},
		{"unbound", "o2.test", set},
		{"bound", "o1.test", set},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e.proxy.SetSecrets(tc.set)
			u := fmt.Sprintf("https://%s:%d/upload", tc.host, e.origin.port)
			var peak atomic.Uint64
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() { // the heap's high-water mark while uploads run
				defer close(done)
				var ms runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					runtime.ReadMemStats(&ms)
					if ms.HeapAlloc > peak.Load() {
						peak.Store(ms.HeapAlloc)
					}
				}
			}()
			b.SetBytes(benchBulk)
			b.ReportAllocs()
			for b.Loop() {
				// The body is made as it is sent: the heap holds none of it.
				req := mkReq(b, "POST", u, io.LimitReader(textReader{}, benchBulk))
				req.ContentLength = benchBulk
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(got) != fmt.Sprint(benchBulk) {
					b.Fatalf("%d %q", resp.StatusCode, got)
				}
			}
			close(stop)
			<-done
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
		})
	}
}

// TestDLPReportScansTheStart: in report mode DLP scans the first
// DLPReportMax bytes of a body, and the rest passes unscanned (at full
// speed); in block mode all of it is scanned.
func TestDLPReportScansTheStart(t *testing.T) {
	for _, mode := range []string{"report", "block"} {
		pol := strings.Replace(secretPolicy, "version: 1\n", "version: 1\ndlp: "+mode+"\n", 1)
		e, _ := newSecretEnv(t, pol, func(c *Config) { c.DLP = fakeDLP{} })
		late := strings.Repeat("a", DLPReportMax) + " FAKESECRET-9"
		resp, _ := e.do(e.client(false), mkReq(t, "POST", fmt.Sprintf("https://o2.test:%d/sink/late", e.origin.port), strings.NewReader(late)))
		rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/sink/late" })
		switch {
		case mode == "report" && (resp.StatusCode != 200 || rec.Decision != "allow" || rec.DLP != nil):
			t.Errorf("report, a finding past the scanned start: %d %+v", resp.StatusCode, rec)
		case mode == "block" && (resp.StatusCode != 403 || rec.Cause != allowlist.CauseDLP.String()):
			t.Errorf("block, a finding past DLPReportMax: %d %+v", resp.StatusCode, rec)
		}
	}
}
