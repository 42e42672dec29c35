// Package guard is what the sidecar's proxy does with credentials: it puts
// a credential's real value on requests to the hosts the credential is
// bound to, refuses a placeholder sent anywhere else, refuses the real
// value (in any common encoding) sent anywhere at all, and takes the real
// value out of what a bound host answers before the agent sees it.
//
// A Set is compiled once from the policy's credentials and the credentials
// file, and is immutable: the proxy swaps a whole new Set when either
// changes. Its matching is streaming (bodies are never buffered whole): a
// body is released as it passes, except for its longest tail that could
// still be the start of a value or a placeholder, so a value split across
// reads is caught, and an event stream whose events end in ordinary bytes
// is not delayed.
//
// The guard sees only what the proxy intercepts: requests inside an
// intercepted tunnel and plain-HTTP requests. Passthrough tunnels (whose
// bytes are TLS the sidecar cannot read) and the raw bytes of an upgraded
// stream after its 101 (a WebSocket) are not inspected.
package guard

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/secret"
)

// Set is a compiled, immutable set of credentials: the policy's, each
// joined with its value and placeholder from the credentials file. The
// zero of *Set (nil) is the empty set: it injects nothing and finds
// nothing.
type Set struct {
	creds   []*cred // with a value, in the policy's file order
	missing []string
	weak    []string

	// req finds, in what the agent sends, every credential's real value
	// in each encoding and every placeholder as it is; reqHit says which
	// is which.
	req    *matcher
	reqHit []hit
	// scrub is, by request pattern, what Scrub writes instead.
	scrub [][]byte
	// resp finds every real value in each encoding, in what a bound host
	// answers; respRepl is the placeholder in the same encoding.
	resp     *matcher
	respRepl [][]byte
}

// cred is one credential with its value.
type cred struct {
	name      string
	kind      allowlist.CredentialKind
	header    string // CredHeader, canonical
	basicUser string
	query     string
	hosts     []string
	matches   func(host string) bool

	value        string // every kind but AWS
	placeholder  string // AWS: the secret access key's
	aws          *secret.AWS
	placeholders []string // every placeholder the agent holds for it
	retired      []string // values before a rotation: looked for, never injected
}

// retiredValues are the values of old that cur no longer has.
func retiredValues(old, cur *secret.Value) []string {
	var out []string
	add := func(o, c string) {
		// One too short to look for is left out here, not named by Weak.
		if len(o) >= minPattern && o != c && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	if old.AWS == nil {
		add(old.Value, cur.Value)
		return out
	}
	add(old.AWS.SecretAccessKey, cur.AWS.SecretAccessKey)
	add(old.AWS.SessionToken, cur.AWS.SessionToken)
	return out
}

// hit is what a request pattern is.
type hit struct {
	cred        int
	placeholder bool
}

// minPattern is the shortest pattern looked for: a shorter one would match
// ordinary bytes by chance. A value shorter than this is injected but not
// looked for (Weak names it).
const minPattern = 8

// Looking for a value costs automaton states in proportion to its length
// times its encodings. A value longer than maxEncoded is looked for raw up
// to maxRaw bytes, and in its encodings by its first maxEncoded bytes (a
// prefix of a secret is as telling as the whole of it).
const (
	maxEncoded = 256
	maxRaw     = 8 << 10
)

// New compiles the credentials of a policy (in its file order) with their
// values from f (nil: none). A credential of the policy without a value of
// its kind in f is not injected; Missing names it. A value in f that the policy does
// not declare is ignored: where a credential may go is the policy's alone.
//
// retired are credentials files that were in force before f (a rotation):
// their values of a credential still declared, when not f's, are never
// injected but still refused in requests and taken out of answers, for a
// token rotated is not always revoked.
func New(creds []*allowlist.Credential, f *secret.File, retired ...*secret.File) (*Set, error) {
	var in []*cred
	var missing []string
	for _, c := range creds {
		var v *secret.Value
		if f != nil {
			v, _ = f.Lookup(c.Name)
		}
		if v == nil || (c.Kind == allowlist.CredAWS) != (v.AWS != nil) {
			// None, or one of another kind (the policy changed and the
			// file was not refreshed): the others still apply.
			missing = append(missing, c.Name)
			continue
		}
		cr := &cred{name: c.Name, kind: c.Kind, header: c.Header, basicUser: c.BasicUser, query: c.Query,
			hosts: c.Hosts(), matches: c.Matches, value: v.Value, placeholder: v.Placeholder, aws: v.AWS}
		for _, old := range retired {
			if ov, ok := old.Lookup(c.Name); ok && (ov.AWS != nil) == (v.AWS != nil) {
				cr.retired = append(cr.retired, retiredValues(ov, v)...)
			}
		}
		in = append(in, cr)
	}
	s, err := compile(in)
	if err != nil {
		return nil, err
	}
	s.missing = missing
	return s, nil
}

// maxPatternBytes bounds the patterns of a set, and so the size of its
// automaton (a state per pattern byte at most, a few hundred bytes each).
const maxPatternBytes = 1 << 17

// compile builds the matchers of creds.
func compile(creds []*cred) (*Set, error) {
	s := &Set{creds: creds}
	var reqPats, respPats [][]byte
	reqSeen, respSeen := map[string]bool{}, map[string]bool{}
	addReq := func(p string, h hit) {
		if len(p) < minPattern || reqSeen[p] {
			return
		}
		reqSeen[p] = true
		reqPats = append(reqPats, []byte(p))
		s.reqHit = append(s.reqHit, h)
		what := "value"
		if h.placeholder {
			what = "placeholder"
		}
		s.scrub = append(s.scrub, []byte("[credential "+creds[h.cred].name+" "+what+"]"))
	}
	addResp := func(p, repl string) {
		if len(p) < minPattern || respSeen[p] {
			return
		}
		respSeen[p] = true
		respPats = append(respPats, []byte(p))
		s.respRepl = append(s.respRepl, []byte(repl))
	}
	for i, c := range creds {
		c.placeholders = []string{c.placeholder}
		values := [][2]string{{c.value, c.placeholder}} // value, its placeholder
		if c.aws != nil {
			values = [][2]string{{c.aws.SecretAccessKey, c.placeholder}}
			c.placeholders = append(c.placeholders, c.aws.PlaceholderKeyID)
			if c.aws.SessionToken != "" {
				values = append(values, [2]string{c.aws.SessionToken, c.aws.PlaceholderToken})
				c.placeholders = append(c.placeholders, c.aws.PlaceholderToken)
			}
			// The real key id is no secret, but the agent has no use for
			// it: an answer that names it names the placeholder instead.
			addResp(c.aws.AccessKeyID, c.aws.PlaceholderKeyID)
		}
		for _, r := range c.retired {
			values = append(values, [2]string{r, c.placeholder})
		}
		for _, ph := range c.placeholders {
			addReq(ph, hit{cred: i, placeholder: true})
		}
		for _, vp := range values {
			v, ph := vp[0], vp[1]
			if len(v) < minPattern {
				// Nor its encodings: hex of 7 bytes is no rarer than
				// they are.
				s.weak = append(s.weak, c.name)
				continue
			}
			raw := v[:min(len(v), maxRaw)]
			addReq(raw, hit{cred: i})
			addResp(raw, ph)
			prefix, phPrefix := v[:min(len(v), maxEncoded)], ph[:min(len(ph), maxEncoded)]
			for _, e := range encodings[1:] {
				p := e.enc(prefix)
				if len(v) > maxEncoded && strings.Contains(raw, p) {
					// It would end inside the raw value and replace only
					// its start.
					continue
				}
				addReq(p, hit{cred: i})
				addResp(p, e.enc(phPrefix))
			}
		}
	}
	total := 0
	for _, p := range append(reqPats, respPats...) {
		total += len(p)
	}
	if total > maxPatternBytes {
		return nil, fmt.Errorf("the credentials' values are too many or too long to be looked for: %d KiB of patterns, at most %d KiB", total>>10, maxPatternBytes>>10)
	}
	s.req = newMatcher(reqPats)
	s.resp = newMatcher(respPats)
	return s, nil
}

// Missing names the credentials of the policy that have no value in the
// credentials file, or one of another kind (aws keys for a header, a single
// value for aws): they are not injected anywhere.
func (s *Set) Missing() []string {
	if s == nil {
		return nil
	}
	return s.missing
}

// Weak names the credentials whose value is too short (under 8 bytes) to
// be looked for in requests and answers without matching ordinary bytes:
// they are injected, but their value is not refused nor redacted.
func (s *Set) Weak() []string {
	if s == nil {
		return nil
	}
	return s.weak
}

// Len is the number of credentials with a value.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.creds)
}

// Bound says whether some credential with a value is bound to host (a
// normalised name, as allowlist.Request.Host).
func (s *Set) Bound(host string) bool {
	return s != nil && len(s.bound(host)) > 0
}

func (s *Set) bound(host string) []int {
	var out []int
	for i, c := range s.creds {
		if c.matches(host) {
			out = append(out, i)
		}
	}
	return out
}

// Violation is why the guard refuses a request. It never holds a value or
// a placeholder.
type Violation struct {
	Cause      allowlist.Cause // CauseSecretLeak or CauseCredentialMisuse
	Credential string          // the credential whose value or placeholder it is
	Hosts      []string        // the hosts the credential is bound to
	Where      string          // "the URL", "header X-Api-Key", "the body"
	Host       string          // where the request was going
	why        string          // for the other refusals
}

func (v *Violation) Error() string {
	switch {
	case v.why != "":
		return fmt.Sprintf("credential %s: %s", v.Credential, v.why)
	case v.Cause == allowlist.CauseSecretLeak:
		return fmt.Sprintf("the real value of credential %s in %s; the agent never holds it, so it is sent nowhere", v.Credential, v.Where)
	}
	return fmt.Sprintf("the placeholder of credential %s in %s, to %s; credential %s is bound to %s only",
		v.Credential, v.Where, v.Host, v.Credential, strings.Join(v.Hosts, ", "))
}

// Finding is the DLP entry of the audit line: "value:NAME" for a real
// value, "" for a placeholder sent astray (not a secret: the line's cause
// and credential say it).
func (v *Violation) Finding() string {
	if v.Cause == allowlist.CauseSecretLeak {
		return "value:" + v.Credential
	}
	return ""
}

// Check looks at a request's URL and headers, as the agent sent them, on
// their way to host: the real value of any credential anywhere in them
// (raw or decoded) is a secret-leak, whatever the host; a placeholder sent
// to a host its credential is not bound to is a credential-misuse. It
// changes nothing.
func (s *Set) Check(r *http.Request, host string) *Violation {
	if s == nil || len(s.creds) == 0 {
		return nil
	}
	var v *Violation
	s.eachPart(r, func(where string, b []byte) bool {
		v = s.find(b, host, where)
		return v == nil
	})
	return v
}

// eachPart calls f with each part of a request the agent wrote (its URL
// raw and decoded, each header's name and values, a Basic authorization
// decoded), until f returns false.
func (s *Set) eachPart(r *http.Request, f func(where string, b []byte) bool) {
	u := r.URL.String()
	parts := []string{u, r.Host}
	if d, err := url.PathUnescape(u); err == nil && d != u {
		parts = append(parts, d)
	}
	if d, err := url.QueryUnescape(u); err == nil && d != u {
		parts = append(parts, d)
	}
	for _, p := range parts {
		if !f("the URL", []byte(p)) {
			return
		}
	}
	for name, vals := range r.Header {
		where := "header " + name
		if !f(where, []byte(name)) {
			return
		}
		for _, val := range vals {
			if !f(where, []byte(val)) {
				return
			}
			if dec, ok := basicDecode(name, val); ok && !f(where, dec) {
				return
			}
		}
	}
}

// basicDecode decodes the credentials of a Basic authorization.
func basicDecode(name, val string) ([]byte, bool) {
	if name != "Authorization" && name != "Proxy-Authorization" {
		return nil, false
	}
	return basicCreds(val)
}

// basicCreds decodes the credentials of a header value of the form
// "Basic BASE64".
func basicCreds(val string) ([]byte, bool) {
	scheme, enc, ok := strings.Cut(strings.TrimSpace(val), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return nil, false
	}
	enc = strings.TrimSpace(enc)
	dec, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		if dec, err = base64.RawStdEncoding.DecodeString(enc); err != nil {
			return nil, false
		}
	}
	return dec, true
}

// find is the first violation in b, to host.
func (s *Set) find(b []byte, host, where string) *Violation {
	var v *Violation
	s.req.each(b, func(id int) bool {
		v = s.judge(id, host, where)
		return v == nil
	})
	return v
}

// judge says whether request pattern id, seen in where on its way to host,
// is a violation.
func (s *Set) judge(id int, host, where string) *Violation {
	h := s.reqHit[id]
	c := s.creds[h.cred]
	switch {
	case !h.placeholder:
		return &Violation{Cause: allowlist.CauseSecretLeak, Credential: c.name, Hosts: c.hosts, Where: where, Host: host}
	case !c.matches(host):
		return &Violation{Cause: allowlist.CauseCredentialMisuse, Credential: c.name, Hosts: c.hosts, Where: where, Host: host}
	}
	return nil
}

// Scrub returns s with every real value (in any encoding) and every
// placeholder replaced by "[credential NAME value]" or "[credential NAME
// placeholder]": for what is written about a request (the audit's path
// and reason), which must never hold either.
func (s *Set) Scrub(str string) string {
	if s == nil || len(s.creds) == 0 {
		return str
	}
	if b, ok := s.req.replace([]byte(str), s.scrub); ok {
		return string(b)
	}
	return str
}

// Resigner re-signs an AWS request the agent signed with the placeholder
// keys (from) with the real ones (to), as secret/sigv4's Resign does. It
// must refuse (return an error) a request whose signature does not verify
// against from.
type Resigner func(r *http.Request, from, to AWSKeys, now time.Time) error

// AWSKeys is one set of AWS keys.
type AWSKeys struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Inject puts the credentials bound to host on the request, and returns
// their names, comma-separated ("" when none is bound to host). Each one
// sets its own header, Authorization or query parameter, replacing
// whatever the agent sent there; when several set the same one, the one
// whose placeholder the request carries wins, else the first in file
// order. Every placeholder of a credential bound to host in any header
// value (inside a Basic authorization too) becomes its value, and
// Accept-Encoding is dropped, so that the answer comes as bytes Response
// can read.
//
// An aws credential is put on by resign (nil: refused, with an error that
// says so): a request to its host that carries its placeholder keys, or
// one to a host no other kind of credential is bound to, is re-signed, and
// nothing else is put on it. Call Check first: Inject trusts that no
// placeholder of another host is there.
func (s *Set) Inject(r *http.Request, host string, resign Resigner) (string, *Violation) {
	if s == nil {
		return "", nil
	}
	bound := s.bound(host)
	if len(bound) == 0 {
		return "", nil
	}
	var aws *cred
	var plain []*cred
	for _, i := range bound {
		if c := s.creds[i]; c.kind == allowlist.CredAWS {
			aws = cmp.Or(aws, c)
		} else {
			plain = append(plain, c)
		}
	}
	if aws != nil && (len(plain) == 0 || s.carries(r, aws)) {
		return s.resign(r, host, aws, resign)
	}
	// One credential per header or query parameter: the one the request
	// carries a placeholder of, else the first (looked for only where two
	// meet, before the placeholders are swapped).
	var targets []string
	cands := map[string][]*cred{}
	for _, c := range plain {
		t := c.target()
		if cands[t] == nil {
			targets = append(targets, t)
		}
		cands[t] = append(cands[t], c)
	}
	winner := map[string]*cred{}
	for _, t := range targets {
		winner[t] = cands[t][0]
		if len(cands[t]) > 1 {
			if i := slices.IndexFunc(cands[t], func(c *cred) bool { return s.carries(r, c) }); i >= 0 {
				winner[t] = cands[t][i]
			}
		}
	}
	r.Header.Del("Accept-Encoding")
	for _, c := range plain {
		swapHeaders(r.Header, c.placeholder, c.value)
	}
	var names []string
	for _, t := range targets {
		c := winner[t]
		switch c.kind {
		case allowlist.CredHeader:
			r.Header.Set(c.header, c.value)
		case allowlist.CredBearer:
			r.Header.Set("Authorization", "Bearer "+c.value)
		case allowlist.CredBasic:
			r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.basicUser+":"+c.value)))
		case allowlist.CredQuery:
			r.URL.RawQuery = setQuery(r.URL.RawQuery, c.query, c.value)
			r.URL.ForceQuery = false
		}
		names = append(names, c.name)
	}
	return strings.Join(names, ","), nil
}

// target is what a credential sets on a request: a header (canonical) or,
// after "?", a query parameter.
func (c *cred) target() string {
	switch c.kind {
	case allowlist.CredHeader:
		return c.header
	case allowlist.CredQuery:
		return "?" + c.query
	}
	return "Authorization"
}

// resign puts an aws credential on r: the agent signed it with the
// placeholder keys, and only a request re-signed with the real ones may
// leave, never one with the agent's placeholder signature.
func (s *Set) resign(r *http.Request, host string, c *cred, resign Resigner) (string, *Violation) {
	if !awsSigns(r, "accept-encoding") {
		// An AWS client may have signed it: then it stays, or the
		// signature would not verify upstream.
		r.Header.Del("Accept-Encoding")
	}
	if resign == nil {
		return "", &Violation{Cause: allowlist.CauseCredentialMisuse, Credential: c.name, Hosts: c.hosts, Host: host,
			why: "AWS re-signing is not available in this build; the request is not sent"}
	}
	from := AWSKeys{c.aws.PlaceholderKeyID, c.placeholder, c.aws.PlaceholderToken}
	to := AWSKeys{c.aws.AccessKeyID, c.aws.SecretAccessKey, c.aws.SessionToken}
	if err := resign(r, from, to, time.Now()); err != nil {
		return "", &Violation{Cause: allowlist.CauseCredentialMisuse, Credential: c.name, Hosts: c.hosts, Host: host,
			why: "the request's AWS signature could not be re-signed: " + err.Error()}
	}
	return c.name, nil
}

// awsSigns says whether the AWS signature of r (in its Authorization
// header or, presigned, its query) covers the header name (lower case).
func awsSigns(r *http.Request, name string) bool {
	signed := r.URL.Query().Get("X-Amz-SignedHeaders")
	if _, rest, ok := strings.Cut(r.Header.Get("Authorization"), "SignedHeaders="); ok {
		signed, _, _ = strings.Cut(rest, ",")
	}
	return slices.Contains(strings.Split(strings.TrimSpace(signed), ";"), name)
}

// carries says whether a placeholder of c is in the request's URL or
// headers.
func (s *Set) carries(r *http.Request, c *cred) bool {
	found := false
	s.eachPart(r, func(_ string, b []byte) bool {
		found = slices.ContainsFunc(c.placeholders, func(ph string) bool { return bytes.Contains(b, []byte(ph)) })
		return !found
	})
	return found
}

// swapHeaders replaces ph by value in every header value, and inside the
// credentials of a Basic authorization.
func swapHeaders(h http.Header, ph, value string) {
	for name, vals := range h {
		for i, v := range vals {
			if dec, ok := basicDecode(name, v); ok && strings.Contains(string(dec), ph) {
				vals[i] = "Basic " + base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(string(dec), ph, value)))
				continue
			}
			if strings.Contains(v, ph) {
				vals[i] = strings.ReplaceAll(v, ph, value)
			}
		}
	}
}

// setQuery sets the query parameter name to value in the raw query q: the
// first occurrence is replaced where it stands, the others are dropped,
// and every other parameter is kept as written.
func setQuery(q, name, value string) string {
	pair := url.QueryEscape(name) + "=" + url.QueryEscape(value)
	var out []string
	set := false
	for _, p := range strings.Split(q, "&") {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == name || k == name {
			if !set {
				out = append(out, pair)
				set = true
			}
			continue
		}
		out = append(out, p)
	}
	if !set {
		out = append(out, pair)
	}
	return strings.Join(out, "&")
}

// Body is a request body on its way through the guard.
type Body struct {
	io.ReadCloser
	fr      *findReader
	v       atomic.Pointer[Violation]
	set     *Set
	host    string
	trailer *http.Header
}

// CheckTrailer has the body check, when it ends, the trailers in *t (a
// request's Trailer, which its server fills in before the body's end) as
// Check checks headers: a placeholder astray or a real value there fails
// the body's last read with the *Violation, so the trailers are never
// sent.
func (b *Body) CheckTrailer(t *http.Header) { b.trailer = t }

// RequestBody wraps a request body on its way to host. It passes the
// bytes on as they come, holding back only what could still be the start
// of a value or a placeholder; on a value (in any encoding) or a
// placeholder of a credential not bound to host it fails with a
// *Violation before the match's last byte is released, and Violation says
// which. A Set with no credential returns body as it is.
func (s *Set) RequestBody(body io.ReadCloser, host string) io.ReadCloser {
	if s == nil || len(s.creds) == 0 || body == nil || body == http.NoBody {
		return body
	}
	b := &Body{ReadCloser: body, set: s, host: host}
	b.fr = newFindReader(s.req, body, func(id int) error {
		if v := s.judge(id, host, "the body"); v != nil {
			b.v.CompareAndSwap(nil, v)
			return v
		}
		return nil
	})
	return b
}

func (b *Body) Read(p []byte) (int, error) {
	n, err := b.fr.Read(p)
	if err == io.EOF && b.trailer != nil && len(*b.trailer) > 0 {
		if v := b.set.Check(&http.Request{URL: &url.URL{}, Header: *b.trailer}, b.host); v != nil {
			v.Where = strings.Replace(v.Where, "header", "trailer", 1)
			b.v.CompareAndSwap(nil, v)
			return n, v
		}
	}
	return n, err
}

// Violation is what stopped the body, or nil.
func (b *Body) Violation() *Violation { return b.v.Load() }

// Response takes the real value of every credential (raw, and in the
// encodings the guard knows) out of an answer from host, when a credential
// is bound to host: each becomes the placeholder, written the same way, in
// the header values, in the body as it streams (which then loses its
// Content-Length) and in the trailers at its end. A compressed body (the
// upstream ignored the identity encoding Inject asked for) is passed as
// it is, its trailers redacted still. It reports whether the body is
// rewritten.
func (s *Set) Response(resp *http.Response, host string) bool {
	if !s.Bound(host) || len(s.respRepl) == 0 {
		return false
	}
	s.redactHeader(resp.Header)
	if resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	// Trailers (a gRPC server's grpc-message may quote the key it
	// refused) arrive with the body's end: redacted then, before the
	// proxy copies them.
	resp.Body = &trailerBody{ReadCloser: resp.Body, resp: resp, s: s}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	resp.Body = readCloser{newReplaceReader(s.resp, resp.Body, s.respRepl), resp.Body}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return true
}

// ResponseHeader takes the real values out of the headers of an answer
// from host, as Response does, and leaves its body alone: for a 101,
// whose body is the upgraded stream (a WebSocket server echoes the
// subprotocol it chose, which may carry the token).
func (s *Set) ResponseHeader(resp *http.Response, host string) {
	if s.Bound(host) && len(s.respRepl) > 0 {
		s.redactHeader(resp.Header)
	}
}

// redactHeader replaces the real values in the values of h.
func (s *Set) redactHeader(h http.Header) {
	for _, vals := range h {
		for i, v := range vals {
			if dec, ok := basicCreds(v); ok {
				// Echoed Basic credentials: swapped back as Inject swapped
				// them, so that they decode to the placeholder.
				if nv, ok := s.resp.replace(dec, s.respRepl); ok {
					vals[i] = "Basic " + base64.StdEncoding.EncodeToString(nv)
					continue
				}
			}
			if nv, ok := s.resp.replace([]byte(v), s.respRepl); ok {
				vals[i] = string(nv)
			}
		}
	}
}

// trailerBody redacts the trailers of resp when its body ends: the
// transport fills resp.Trailer before the body's EOF.
type trailerBody struct {
	io.ReadCloser
	resp *http.Response
	s    *Set
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.s.redactHeader(b.resp.Trailer)
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}
