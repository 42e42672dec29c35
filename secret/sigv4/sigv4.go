// Package sigv4 verifies AWS Signature Version 4 and signs again with other
// keys: the agent signs its AWS requests with the placeholder keys bottle
// gave it, and the sidecar's proxy, after checking that a request really is
// signed with them, re-signs it with the real keys, which the agent never
// sees.
//
// The canonical request is rebuilt from what the client signed: exactly the
// headers its SignedHeaders lists, the path and query as sent, the region
// and service of its credential scope, its X-Amz-Date and its payload hash.
// Re-signing changes only the access key id, the session token and the
// signature, so what the upstream checks is what the agent signed. The
// canonicalisation follows the AWS SDK for Go v2's signer
// (aws/signer/v4, whose output the tests compare against byte for byte).
//
// Nothing here logs, and no error message holds a key, a token or a
// signature.
package sigv4

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Credentials are one set of AWS keys: the placeholders the agent signs
// with, or the real ones.
type Credentials struct{ AccessKeyID, SecretAccessKey, SessionToken string }

const (
	// MaxBody bounds the body Resign reads to hash it, when the request
	// does not carry its payload hash in X-Amz-Content-Sha256.
	MaxBody = 16 << 20
	// MaxSkew is how far a header-signed request's X-Amz-Date may be from
	// the clock, either way (AWS's own window).
	MaxSkew = 15 * time.Minute
	// MaxExpires is the longest a presigned URL may be valid (7 days, as AWS).
	MaxExpires = 7 * 24 * time.Hour
)

// The errors Resign returns, for errors.Is; the returned error may wrap one
// with a message that says more. None holds a key.
var (
	ErrNotSigned    = errors.New("the request is not signed with AWS Signature Version 4")
	ErrMalformed    = errors.New("the request's AWS signature is malformed")
	ErrWrongKey     = errors.New("the request is signed with keys other than the bottle's placeholders")
	ErrBadSignature = errors.New("the request's signature does not verify against the bottle's placeholder secret access key")
	ErrSkew         = errors.New("the request's X-Amz-Date is more than 15 minutes away from the sidecar's clock; check the clock")
	ErrExpired      = errors.New("the presigned request has expired")
	ErrUnsupported  = errors.New("the request is signed in a way bottle cannot re-sign")
	ErrBodyTooLarge = fmt.Errorf("the request body is over %d MiB, too large to hash for its signature; send X-Amz-Content-Sha256 with the body's hash or UNSIGNED-PAYLOAD", MaxBody>>20)
)

const (
	algorithm     = "AWS4-HMAC-SHA256"
	algorithmV4a  = "AWS4-ECDSA-P256-SHA256"
	timeFormat    = "20060102T150405Z"
	unsigned      = "UNSIGNED-PAYLOAD"
	hContentSha   = "X-Amz-Content-Sha256"
	hDate         = "X-Amz-Date"
	hToken        = "X-Amz-Security-Token"
	qAlgorithm    = "X-Amz-Algorithm"
	qCredential   = "X-Amz-Credential"
	qDate         = "X-Amz-Date"
	qExpires      = "X-Amz-Expires"
	qSignedHeader = "X-Amz-SignedHeaders"
	qSignature    = "X-Amz-Signature"
	qToken        = "X-Amz-Security-Token"
	tokenHeader   = "x-amz-security-token"
)

// chunkedAdvice is what to do about signed aws-chunked uploads. The SDKs
// for Java sign the chunks of an S3 upload over plain http always, and over
// https only with payload signing enabled (v1 AWSS3V4Signer.useChunkEncoding,
// v2 DefaultAwsV4HttpSigner.checksummer). botocore (the AWS CLI, the SDK for
// Python) never signs chunks: over https it sends unsigned trailers
// (STREAMING-UNSIGNED-PAYLOAD-TRAILER, which Resign handles), and turning
// its checksums off (AWS_REQUEST_CHECKSUM_CALCULATION=when_required) only
// stops those. The SDK for Go v2's signer signs no chunks at all.
const chunkedAdvice = "signed aws-chunked uploads (%s), whose every chunk carries a signature, are not supported; " +
	"use an https:// endpoint with payload signing off (the AWS SDKs for Java sign chunks over http:// or with payloadSigningEnabled; " +
	"chunkedEncodingEnabled(false) also stops it), or send UNSIGNED-PAYLOAD"

// KeyID returns the access key id a request is signed with, from its
// Authorization header or its presigned query, and whether the request is
// signed with Signature Version 4 at all (SigV4a included, which Resign
// refuses).
func KeyID(r *http.Request) (string, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		alg, rest, _ := strings.Cut(auth, " ")
		if alg != algorithm && alg != algorithmV4a {
			return "", false
		}
		for part := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential="); ok {
				id, _, _ := strings.Cut(v, "/")
				return id, true
			}
		}
		return "", true
	}
	q, _ := url.ParseQuery(r.URL.RawQuery) // what parses; Resign refuses the rest
	if q.Get(qAlgorithm) != algorithm && q.Get(qAlgorithm) != algorithmV4a {
		return "", false
	}
	id, _, _ := strings.Cut(q.Get(qCredential), "/")
	return id, true
}

// request is what a signature says about itself.
type request struct {
	presigned     bool
	query         url.Values // presigned: the query, without X-Amz-Signature
	keyID         string
	day           string // YYYYMMDD of the scope
	region        string
	service       string
	signedHeaders []string
	signature     string
	amzDate       string
	at            time.Time
	expires       time.Duration // presigned only; 0 when absent
}

// scope is the credential scope, "YYYYMMDD/region/service/aws4_request".
func (s *request) scope() string {
	return s.day + "/" + s.region + "/" + s.service + "/aws4_request"
}

// Resign verifies that r is signed with from and re-signs it with to, in
// place: a request signed in its Authorization header gets a new
// Authorization and X-Amz-Security-Token, a presigned one a new
// X-Amz-Credential, X-Amz-Security-Token and X-Amz-Signature. X-Amz-Date
// (and so the signing time) stays the request's; now is only the clock the
// date is checked against. When Resign reads the body to hash it, it puts
// it back on r. On error r's headers and URL are as they were.
//
// The signature binds the host it is made for: r.Host (else r.URL.Host).
// The caller must make sure that is the host the request goes to, the one
// it matched against the credential's hosts: else the agent could have the
// real keys sign for one host a request that is sent to another.
func Resign(r *http.Request, from, to Credentials, now time.Time) error {
	if from.AccessKeyID == "" || from.SecretAccessKey == "" || to.AccessKeyID == "" || to.SecretAccessKey == "" {
		return errors.New("sigv4: Resign needs an access key id and a secret access key on both sides")
	}
	s, err := parse(r)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(s.keyID), []byte(from.AccessKeyID)) != 1 {
		return fmt.Errorf("%w: the access key id is not the placeholder", ErrWrongKey)
	}
	if err := checkToken(r, s, from); err != nil {
		return err
	}
	if err := checkTime(s, now); err != nil {
		return err
	}
	var query string
	if s.presigned {
		query = encodeQuery(s.query)
	} else if q, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		return fmt.Errorf("%w: its query string does not parse", ErrMalformed)
	} else {
		query = encodeQuery(q)
	}
	payloads, err := payloadHashes(r, s)
	if err != nil {
		return err
	}
	key := signingKey(from.SecretAccessKey, s)
	for _, host := range hosts(r) {
		for _, uri := range uris(r.URL, s.service) {
			for _, payload := range payloads {
				c := canonical(r, host, uri, query, s.signedHeaders, payload)
				want := hex.EncodeToString(signature(key, s, c))
				if hmac.Equal([]byte(want), []byte(s.signature)) {
					sign(r, s, host, uri, query, payload, to)
					return nil
				}
			}
		}
	}
	return ErrBadSignature
}

// sign signs r again with to, as the request s describes was signed (with
// the canonical host, uri, query and payload hash that verified).
func sign(r *http.Request, s *request, host, uri, query, payload string, to Credentials) {
	if r.Host != host && (r.Host != "" || r.URL.Host != host) {
		r.Host = host // the default port stripped, as the SDK does
	}
	key := signingKey(to.SecretAccessKey, s)
	headers := s.signedHeaders
	// A presigned request carries its token in the query, unless its
	// client put it in a header.
	tokenInHeader := !s.presigned || r.Header.Get(hToken) != ""
	if tokenInHeader {
		headers = setTokenHeader(r, headers, to.SessionToken)
	}
	if !s.presigned {
		c := canonical(r, host, uri, query, headers, payload)
		sig := hex.EncodeToString(signature(key, s, c))
		r.Header.Set("Authorization", algorithm+" Credential="+to.AccessKeyID+"/"+s.scope()+
			", SignedHeaders="+strings.Join(headers, ";")+", Signature="+sig)
		return
	}
	q := s.query
	q.Set(qCredential, to.AccessKeyID+"/"+s.scope())
	q.Set(qSignedHeader, strings.Join(headers, ";"))
	if to.SessionToken != "" && !tokenInHeader {
		q.Set(qToken, to.SessionToken)
	} else {
		q.Del(qToken)
	}
	raw := encodeQuery(q)
	c := canonical(r, host, uri, raw, headers, payload)
	sig := hex.EncodeToString(signature(key, s, c))
	r.URL.RawQuery = raw + "&" + qSignature + "=" + sig
}

// setTokenHeader sets (or, for keys without one, deletes) the
// X-Amz-Security-Token header, and returns the signed headers to match:
// the token is signed when it is there, as the SDK does, unless the client
// sent it unsigned.
func setTokenHeader(r *http.Request, headers []string, token string) []string {
	sentUnsigned := r.Header.Get(hToken) != "" && !slices.Contains(headers, tokenHeader)
	headers = slices.DeleteFunc(slices.Clone(headers), func(h string) bool { return h == tokenHeader })
	if token == "" {
		r.Header.Del(hToken)
		return headers
	}
	r.Header.Set(hToken, token)
	if !sentUnsigned {
		i, _ := slices.BinarySearch(headers, tokenHeader)
		headers = slices.Insert(headers, i, tokenHeader)
	}
	return headers
}

// parse reads the signature from r's Authorization header or its query.
func parse(r *http.Request) (*request, error) {
	auths := r.Header.Values("Authorization")
	q, qerr := url.ParseQuery(r.URL.RawQuery)
	inQuery := q.Has(qAlgorithm) || q.Has(qSignature)
	switch {
	case inQuery && qerr != nil:
		return nil, fmt.Errorf("%w: its query string does not parse", ErrMalformed)
	case len(auths) > 1:
		return nil, fmt.Errorf("%w: more than one Authorization header", ErrMalformed)
	case len(auths) == 1 && inQuery:
		return nil, fmt.Errorf("%w: signed both in the Authorization header and in the query", ErrMalformed)
	case len(auths) == 1:
		return parseHeader(r, auths[0])
	case inQuery:
		return parseQuery(q)
	case qerr == nil && q.Has("AWSAccessKeyId") && q.Has("Signature"):
		return nil, fmt.Errorf("%w: Signature Version 2 (AWSAccessKeyId=) is not supported; use Signature Version 4", ErrUnsupported)
	}
	return nil, ErrNotSigned
}

func parseHeader(r *http.Request, auth string) (*request, error) {
	alg, rest, _ := strings.Cut(auth, " ")
	switch {
	case alg == algorithmV4a:
		return nil, fmt.Errorf("%w: SigV4a (%s, multi-region signing) is not supported; sign with SigV4 for one region", ErrUnsupported, algorithmV4a)
	case alg == "AWS" || alg == "AWS3-HTTPS":
		return nil, fmt.Errorf("%w: Signature Version 2 or 3 is not supported; use Signature Version 4", ErrUnsupported)
	case alg != algorithm:
		return nil, ErrNotSigned
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, fmt.Errorf("%w: the Authorization header has a part that is not NAME=VALUE", ErrMalformed)
		}
		if _, dup := fields[k]; dup {
			return nil, fmt.Errorf("%w: the Authorization header repeats %s", ErrMalformed, k)
		}
		fields[k] = v
	}
	for _, k := range []string{"Credential", "SignedHeaders", "Signature"} {
		if fields[k] == "" {
			return nil, fmt.Errorf("%w: the Authorization header has no %s", ErrMalformed, k)
		}
	}
	dates := r.Header.Values(hDate)
	switch {
	case len(dates) == 0:
		return nil, fmt.Errorf("%w: the request has no X-Amz-Date header (a Date header alone is not supported)", ErrUnsupported)
	case len(dates) > 1:
		return nil, fmt.Errorf("%w: more than one X-Amz-Date header", ErrMalformed)
	}
	s := &request{signature: strings.ToLower(fields["Signature"]), amzDate: dates[0]}
	if err := s.setCredential(fields["Credential"]); err != nil {
		return nil, err
	}
	if err := s.setSignedHeaders(fields["SignedHeaders"]); err != nil {
		return nil, err
	}
	return s, s.setDate()
}

func parseQuery(q url.Values) (*request, error) {
	for _, k := range []string{qAlgorithm, qCredential, qDate, qSignedHeader, qSignature} {
		if len(q[k]) != 1 || q[k][0] == "" {
			return nil, fmt.Errorf("%w: the presigned query needs exactly one %s", ErrMalformed, k)
		}
	}
	if alg := q.Get(qAlgorithm); alg == algorithmV4a {
		return nil, fmt.Errorf("%w: SigV4a (%s, multi-region signing) is not supported; sign with SigV4 for one region", ErrUnsupported, algorithmV4a)
	} else if alg != algorithm {
		return nil, fmt.Errorf("%w: X-Amz-Algorithm is not %s", ErrUnsupported, algorithm)
	}
	s := &request{presigned: true, signature: strings.ToLower(q.Get(qSignature)), amzDate: q.Get(qDate)}
	if err := s.setCredential(q.Get(qCredential)); err != nil {
		return nil, err
	}
	if err := s.setSignedHeaders(q.Get(qSignedHeader)); err != nil {
		return nil, err
	}
	if e, ok := q[qExpires]; ok {
		n, err := strconv.Atoi(e[0])
		if len(e) != 1 || err != nil || n <= 0 || time.Duration(n)*time.Second > MaxExpires {
			return nil, fmt.Errorf("%w: X-Amz-Expires must be one number of seconds from 1 to 604800", ErrMalformed)
		}
		s.expires = time.Duration(n) * time.Second
	}
	q.Del(qSignature)
	s.query = q
	return s, s.setDate()
}

// setCredential reads "AKID/YYYYMMDD/region/service/aws4_request".
func (s *request) setCredential(c string) error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return fmt.Errorf("%w: the credential is not KEYID/DATE/REGION/SERVICE/aws4_request", ErrMalformed)
	}
	s.keyID, s.day, s.region, s.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// setSignedHeaders reads "host;x-amz-date;…", which must be lowercase and
// sorted without repeats, as the canonical request needs, and must hold
// host (as AWS requires): a signature with the real keys that does not
// bind the host could be taken to another host and used there.
func (s *request) setSignedHeaders(h string) error {
	s.signedHeaders = strings.Split(h, ";")
	for i, name := range s.signedHeaders {
		if name == "" || name != strings.ToLower(name) || (i > 0 && name <= s.signedHeaders[i-1]) {
			return fmt.Errorf("%w: SignedHeaders must be lowercase header names, sorted, each once", ErrMalformed)
		}
	}
	if !slices.Contains(s.signedHeaders, "host") {
		return fmt.Errorf("%w: SignedHeaders must include host", ErrMalformed)
	}
	return nil
}

func (s *request) setDate() error {
	t, err := time.Parse(timeFormat, s.amzDate)
	if err != nil {
		return fmt.Errorf("%w: X-Amz-Date is not of the form 20060102T150405Z", ErrMalformed)
	}
	if s.day != s.amzDate[:8] {
		return fmt.Errorf("%w: the credential's date is not X-Amz-Date's day", ErrMalformed)
	}
	s.at = t
	return nil
}

// checkToken: a session token the request carries must be the placeholder.
func checkToken(r *http.Request, s *request, from Credentials) error {
	sent := r.Header.Values(hToken)
	if s.presigned {
		sent = append(sent, s.query[qToken]...)
	}
	for _, t := range sent {
		if subtle.ConstantTimeCompare([]byte(t), []byte(from.SessionToken)) != 1 {
			return fmt.Errorf("%w: the X-Amz-Security-Token is not the placeholder session token", ErrWrongKey)
		}
	}
	return nil
}

func checkTime(s *request, now time.Time) error {
	if d := s.at.Sub(now); d > MaxSkew || (!s.presigned && d < -MaxSkew) {
		return ErrSkew
	}
	if !s.presigned {
		return nil
	}
	valid := s.expires
	if valid == 0 {
		valid = MaxSkew
	}
	if now.After(s.at.Add(valid)) {
		return ErrExpired
	}
	return nil
}

// payloadHashes returns the payload hashes to try, the likeliest first: the
// request's X-Amz-Content-Sha256 when it has one, else the hash of its body
// (and for a presigned request UNSIGNED-PAYLOAD, which S3 uses).
func payloadHashes(r *http.Request, s *request) ([]string, error) {
	v := r.Header.Values(hContentSha)
	if len(v) == 0 && s.presigned {
		v = s.query[hContentSha] // some presigners put it in the query
	}
	if len(v) > 0 {
		if len(v) > 1 {
			return nil, fmt.Errorf("%w: more than one X-Amz-Content-Sha256 header", ErrMalformed)
		}
		switch p := v[0]; {
		case strings.HasPrefix(p, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"):
			return nil, fmt.Errorf("%w: "+chunkedAdvice, ErrUnsupported, p)
		case strings.HasPrefix(p, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
			return nil, fmt.Errorf("%w: SigV4a-signed chunks (%s) are not supported; sign with SigV4 and "+
				"an https:// endpoint with payload signing off", ErrUnsupported, p)
		case strings.HasPrefix(p, "STREAMING-AWS4-HMAC-SHA256-EVENTS"):
			return nil, fmt.Errorf("%w: signed event streams (%s) are not supported", ErrUnsupported, p)
		default:
			// UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER (whose
			// chunks carry no signature) or the body's hash: signed as is.
			return []string{p}, nil
		}
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	hashes := []string{hex.EncodeToString(sum[:])}
	if s.presigned {
		if isS3(s.service) {
			return []string{unsigned, hashes[0]}, nil
		}
		hashes = append(hashes, unsigned)
	}
	return hashes, nil
}

// readBody reads r's body (at most MaxBody) and puts it back.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	orig := r.Body
	body, err := io.ReadAll(io.LimitReader(orig, MaxBody+1))
	if err != nil {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), orig), orig}
		return nil, fmt.Errorf("reading the request body to hash it: %w", err)
	}
	if len(body) > MaxBody {
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), orig), orig}
		return nil, ErrBodyTooLarge
	}
	orig.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	if r.ContentLength < 0 {
		r.ContentLength = int64(len(body))
	}
	return body, nil
}

// isS3 says whether service signs paths as they are (S3 and its kin),
// rather than escaping them once more as every other service does.
func isS3(service string) bool {
	return service == "s3" || service == "s3express" || service == "s3-object-lambda" || service == "s3-outposts"
}

// uris returns the canonical URIs to try, the likeliest first: the path as
// sent (S3) or escaped once more (every other service), the SDK's
// DisableURIPathEscaping. A path without escapes has only one form.
func uris(u *url.URL, service string) []string {
	path := uriPath(u)
	double := escapePath(path)
	switch {
	case double == path:
		return []string{path}
	case isS3(service):
		return []string{path, double}
	}
	return []string{double, path}
}

// uriPath is the path as the client sent it (the SDK's GetURIPath).
func uriPath(u *url.URL) string {
	var p string
	if u.Opaque != "" {
		o, _, _ := strings.Cut(u.Opaque, "?")
		o = strings.TrimPrefix(o, "//")
		if i := strings.IndexByte(o, '/'); i >= 0 {
			p = o[i:]
		}
	} else {
		p = u.EscapedPath()
	}
	if p == "" {
		p = "/"
	}
	return p
}

// escapePath escapes every byte but the unreserved ones and '/'.
func escapePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if c := p[i]; unreserved(c) || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// encodeQuery encodes q as the canonical query: keys and values escaped
// (space as %20), sorted by key, then value.
func encodeQuery(q url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range q {
		ek := escapeQuery(k)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, escapeQuery(v)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

func escapeQuery(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// hosts returns the hosts the client may have signed, the likeliest first:
// the Host header (else the URL's) as sent, and without a default port
// (":443", or ":80" for http), which the SDK strips before it signs and sends.
func hosts(r *http.Request) []string {
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	port := ":443"
	if strings.EqualFold(r.URL.Scheme, "http") {
		port = ":80"
	}
	if h, ok := strings.CutSuffix(host, port); ok && !strings.HasSuffix(h, ":") && h != "" {
		return []string{host, h}
	}
	return []string{host}
}

// canonical is the canonical request over exactly the headers listed.
func canonical(r *http.Request, host, uri, query string, headers []string, payload string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uri)
	b.WriteByte('\n')
	b.WriteString(query)
	b.WriteByte('\n')
	for _, h := range headers {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h, host))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(headers, ";"))
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

// headerValue is the canonical value of the header name (lowercase): its
// values trimmed, runs of spaces made one, joined by commas.
func headerValue(r *http.Request, name, host string) string {
	switch name {
	case "host":
		return stripSpaces(host)
	case "content-length":
		// The SDK signs the request's length, not a header; a request
		// read by a server has both.
		if r.ContentLength > 0 || r.ContentLength == 0 && r.Header.Get("Content-Length") == "" {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	case "transfer-encoding":
		// A server moves it out of the header (older botocore signed it).
		if len(r.TransferEncoding) > 0 && r.Header.Get("Transfer-Encoding") == "" {
			return strings.Join(r.TransferEncoding, ",")
		}
	}
	var values []string
	for k, vs := range r.Header {
		if strings.EqualFold(k, name) {
			values = append(values, vs...)
		}
	}
	for i, v := range values {
		values[i] = strings.TrimSpace(stripSpaces(v))
	}
	return strings.Join(values, ",")
}

// stripSpaces trims spaces and makes each run of spaces inside one, as the
// SDK's StripExcessSpaces (spaces only, not tabs).
func stripSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteByte(s[i])
	}
	return b.String()
}

// signingKey derives the key secret signs with in s's scope.
func signingKey(secret string, s *request) []byte {
	k := mac([]byte("AWS4"+secret), s.day)
	k = mac(k, s.region)
	k = mac(k, s.service)
	return mac(k, "aws4_request")
}

// signature is the HMAC under key of the string to sign for canonical.
func signature(key []byte, s *request, canonical string) []byte {
	sum := sha256.Sum256([]byte(canonical))
	return mac(key, algorithm+"\n"+s.amzDate+"\n"+s.scope()+"\n"+hex.EncodeToString(sum[:]))
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
