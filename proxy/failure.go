package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"bottle.dev/bottle/internal/audit"
)

// failure is why an upstream could not be used, in the three forms each
// reader needs: the agent gets a short class and the fix (never an address
// of the sidecar's resolver or sockets: those say nothing the agent can act
// on and map the sidecar's network for it), clients and tools get a
// Proxy-Status error type (RFC 9209), and the audit log gets the full cause.
type failure struct {
	status int
	token  string    // Proxy-Status error type
	class  string    // what the agent is told
	params []sfParam // further Proxy-Status parameters (rcode)
	cause  string    // err.Error(), for the audit log only
}

// upstreamCAHint is the fix for an upstream certificate the sidecar does not
// trust: on a network that inspects TLS, the inspecting CA must be added.
const upstreamCAHint = "upstream TLS certificate not trusted: if your network inspects TLS, launch with --upstream-ca FILE"

var errNoAddresses = errors.New("no addresses")

// classify turns an error from resolving, dialling or a round trip into a
// failure. The order matters: a resolver timeout is a DNS failure before it
// is a timeout, and a certificate error is wrapped in an *net.OpError.
func classify(err error) failure {
	f := failure{status: http.StatusBadGateway, cause: err.Error()}
	var re *resolveError
	var dns *net.DNSError
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var alert tls.AlertError
	var rh tls.RecordHeaderError
	var oe *net.OpError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		switch {
		case errors.As(re.err, &dns) && dns.IsTimeout, errors.Is(re.err, context.DeadlineExceeded):
			f.status, f.token, f.class = http.StatusGatewayTimeout, "dns_timeout", "upstream DNS timed out"
		case errors.As(re.err, &dns) && dns.IsNotFound:
			f.token, f.class = "dns_error", "the name does not exist (upstream DNS: no such host)"
			f.params = []sfParam{{"rcode", "NXDOMAIN"}}
		case errors.Is(re.err, errNoAddresses):
			f.token, f.class = "dns_error", "the name has no addresses"
		default:
			f.token, f.class = "dns_error", "upstream DNS failed"
		}
	case errors.As(err, &he):
		f.token, f.class = "tls_certificate_error", "upstream TLS certificate is not valid for this name"
	case errors.As(err, &ci) && (ci.Reason == x509.Expired):
		f.token, f.class = "tls_certificate_error", "upstream TLS certificate has expired or is not yet valid (check the clock)"
	case errors.As(err, &cv), errors.As(err, &ua), errors.As(err, &ci):
		f.token, f.class = "tls_certificate_error", upstreamCAHint
	case errors.As(err, &alert), errors.As(err, &rh), strings.HasPrefix(err.Error(), "tls:"):
		f.token, f.class = "tls_protocol_error", "upstream TLS handshake failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		f.token, f.class = "connection_refused", "upstream refused the connection"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		f.status = http.StatusGatewayTimeout
		switch {
		case errors.As(err, &oe) && oe.Op == "dial":
			f.token, f.class = "connection_timeout", "upstream timed out (no answer to the connection attempt)"
		case strings.Contains(err.Error(), "TLS handshake timeout"):
			f.token, f.class = "connection_timeout", "upstream timed out during the TLS handshake"
		case strings.Contains(err.Error(), "awaiting response headers"):
			f.token, f.class = "http_response_timeout", "upstream timed out before sending response headers"
		default:
			f.token, f.class = "connection_read_timeout", "upstream timed out"
		}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		f.token, f.class = "destination_ip_unroutable", "no route to the upstream"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		f.token, f.class = "http_response_incomplete", "upstream closed the connection before a complete response"
	default:
		f.token, f.class = "destination_unavailable", "could not connect to the upstream"
	}
	return f
}

// sfParam is one Proxy-Status parameter whose value is an sf-string.
type sfParam struct{ key, val string }

// maxDetails bounds the details parameter: it is a hint, not a log.
const maxDetails = 256

// proxyStatus renders a Proxy-Status member (RFC 9209) for this proxy:
// `bottle; error=TOKEN; PARAM="…"; details="…"`. details must hold no query
// string or secret; it is cut to maxDetails bytes, non-printable or
// non-ASCII bytes become '?', and '"' and '\' are escaped, so it is always a
// valid sf-string whatever it was made from.
func proxyStatus(token, details string, params ...sfParam) string {
	var b strings.Builder
	b.WriteString("bottle; error=")
	b.WriteString(token)
	for _, p := range params {
		b.WriteString("; ")
		b.WriteString(p.key)
		b.WriteByte('=')
		writeSFString(&b, p.val)
	}
	if details != "" {
		b.WriteString("; details=")
		writeSFString(&b, details)
	}
	return b.String()
}

func writeSFString(b *strings.Builder, s string) {
	cut := len(s) > maxDetails
	if cut {
		s = s[:maxDetails]
	}
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	if cut {
		b.WriteString("...")
	}
	b.WriteByte('"')
}

// answer is a response the proxy writes itself (a denial or a failure).
type answer struct {
	status int
	header http.Header
	body   string
	deny   *denial // a denial: its page may be given as JSON instead (negotiated)
}

func newAnswer(status int, body string) *answer {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return &answer{status: status, header: h, body: body}
}

// response is the answer as goproxy takes it from a request filter.
func (a *answer) response(req *http.Request) *http.Response {
	a = a.negotiated(req)
	resp := &http.Response{
		Request:       req,
		StatusCode:    a.status,
		Status:        http.StatusText(a.status),
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        a.header,
		ContentLength: int64(len(a.body)),
		Body:          io.NopCloser(strings.NewReader(a.body)),
	}
	return resp
}

// write sends the answer to a CONNECT r, whose connection ends with it.
func (a *answer) write(w http.ResponseWriter, r *http.Request) {
	a = a.negotiated(r)
	h := w.Header()
	for k, v := range a.header {
		h[k] = v
	}
	h.Set("Connection", "close")
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

// failAnswer is what the agent sees when an upstream could not be used.
func failAnswer(host string, port uint16, f failure) *answer {
	a := newAnswer(f.status, "bottle: could not reach "+audit.Clip(joinHostPort(host, port))+": "+f.class+"\n")
	a.header.Set("Proxy-Status", proxyStatus(f.token, f.class, f.params...))
	return a
}
