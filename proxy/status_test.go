package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// parseProxyStatus parses one Proxy-Status member (RFC 9209 over RFC 8941):
// a token, then `;`-separated parameters whose values are tokens or
// sf-strings. It rejects what a structured-field parser would.
func parseProxyStatus(v string) (string, map[string]string, error) {
	isTok := func(c byte) bool {
		return c > 0x20 && c < 0x7f && !strings.ContainsRune(`"(),;<=>?@[\]{}`, rune(c))
	}
	i := 0
	tok := func() string {
		j := i
		for i < len(v) && isTok(v[i]) {
			i++
		}
		return v[j:i]
	}
	ows := func() {
		for i < len(v) && v[i] == ' ' {
			i++
		}
	}
	name := tok()
	if name == "" {
		return "", nil, fmt.Errorf("no member name in %q", v)
	}
	params := map[string]string{}
	for {
		ows()
		if i == len(v) {
			return name, params, nil
		}
		if v[i] != ';' {
			return "", nil, fmt.Errorf("want ';' at %d in %q", i, v)
		}
		i++
		ows()
		key := tok()
		if key == "" || i == len(v) || v[i] != '=' {
			return "", nil, fmt.Errorf("bad parameter at %d in %q", i, v)
		}
		i++
		if i < len(v) && v[i] == '"' {
			i++
			var b strings.Builder
			for {
				if i == len(v) {
					return "", nil, fmt.Errorf("unterminated string in %q", v)
				}
				c := v[i]
				i++
				if c == '"' {
					break
				}
				if c == '\\' {
					if i == len(v) || (v[i] != '"' && v[i] != '\\') {
						return "", nil, fmt.Errorf("bad escape in %q", v)
					}
					c = v[i]
					i++
				} else if c < 0x20 || c > 0x7e {
					return "", nil, fmt.Errorf("byte %#x in an sf-string", c)
				}
				b.WriteByte(c)
			}
			params[key] = b.String()
		} else {
			params[key] = tok()
		}
	}
}

func TestParseProxyStatus(t *testing.T) {
	name, p, err := parseProxyStatus(`bottle; error=http_request_denied; details="a \"quoted\" \\ thing; with a semicolon"`)
	if err != nil || name != "bottle" || p["error"] != "http_request_denied" || p["details"] != `a "quoted" \ thing; with a semicolon` {
		t.Errorf("%q %v %v", name, p, err)
	}
	for _, bad := range []string{`bottle; details="unterminated`, `bottle; details="bad \n escape"`, "bottle; details=\"\x01\"", `; error=x`} {
		if _, _, err := parseProxyStatus(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	// Whatever goes into details, what comes out parses.
	for _, details := range []string{"", `"`, `\`, "ünïcode and \x00 control \r\n bytes", strings.Repeat(`"\`, 1000)} {
		h := proxyStatus("http_request_denied", details, sfParam{"next-hop", `10.0.0.1"`})
		if _, p, err := parseProxyStatus(h); err != nil || len(p["details"]) > maxDetails+3 {
			t.Errorf("details %q: %q does not parse: %v", details, h, err)
		}
	}
}

// TestProxyStatus: every refusal and failure the proxy writes carries a
// Proxy-Status a parser reads, with the RFC 9209 error type for its cause.
func TestProxyStatus(t *testing.T) {
	closed := listen(t, "127.0.0.1") // a port where nothing answers
	refusedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	pol := strings.NewReplacer(
		"deny:\n", fmt.Sprintf("  - host: gone.test\n    ports: [{{ORIGIN}}, {{PLAIN}}]\n  - host: refused.test\n    ports: [%d]\n  - cidr: 127.0.0.1/32\n    ports: [%d]\ndeny:\n", refusedPort, refusedPort),
	).Replace(basePolicy)
	e := newEnv(t, pol, nil)
	_, pport, _ := net.SplitHostPort(e.addr)
	c := e.client(false)
	type want struct {
		status  int
		token   string
		details string            // a substring of details
		params  map[string]string // exact
		cause   allowlist.Cause   // of the audit line
	}
	check := func(t *testing.T, resp *http.Response, w want) {
		t.Helper()
		if resp.StatusCode != w.status {
			t.Errorf("status %d; want %d", resp.StatusCode, w.status)
		}
		vs := resp.Header.Values("Proxy-Status")
		if len(vs) != 1 {
			t.Fatalf("Proxy-Status %q", vs)
		}
		name, p, err := parseProxyStatus(vs[0])
		if err != nil {
			t.Fatal(err)
		}
		if name != "bottle" || p["error"] != w.token || !strings.Contains(p["details"], w.details) {
			t.Errorf("Proxy-Status %q; want error=%s and details containing %q", vs[0], w.token, w.details)
		}
		for k, v := range w.params {
			if p[k] != v {
				t.Errorf("Proxy-Status %q: %s=%q; want %q", vs[0], k, p[k], v)
			}
		}
		if strings.Contains(vs[0], "?") && strings.Contains(vs[0], "secret=") {
			t.Errorf("query string in Proxy-Status: %q", vs[0])
		}
	}
	get := func(t *testing.T, u string, w want) {
		t.Helper()
		resp, _ := e.get(c, u)
		check(t, resp, w)
		pu, _ := url.Parse(u)
		wantCause(t, e.waitAuditT(t, func(r audit.Record) bool { return r.Kind == "request" && r.Host == pu.Hostname() }), w.cause)
	}
	connect := func(t *testing.T, target string, w want) {
		t.Helper()
		resp, _, _ := e.connectRaw(target)
		check(t, resp, w)
		host, _, _ := net.SplitHostPort(target)
		wantCause(t, e.waitAuditT(t, func(r audit.Record) bool {
			return r.Kind == "connect" && (r.Host == host || r.Host == target)
		}), w.cause)
	}
	o := e.origin.port
	cases := []struct {
		name string
		run  func(*testing.T)
	}{
		{"policy/plain", func(t *testing.T) {
			get(t, fmt.Sprintf("http://blocked.test:%d/x?secret=1", e.plain.port), want{403, "http_request_denied", "no rule allows GET blocked.test", nil, allowlist.CauseNoRule})
		}},
		{"policy/connect", func(t *testing.T) {
			connect(t, fmt.Sprintf("blocked.test:%d", o), want{403, "http_request_denied", "no rule allows blocked.test", nil, allowlist.CauseNoRule})
		}},
		{"policy/in-tunnel", func(t *testing.T) {
			get(t, fmt.Sprintf("https://l7.test:%d/nope?secret=1", o), want{403, "http_request_denied", "not this path", nil, allowlist.CausePath})
		}},
		{"address-guard/plain", func(t *testing.T) {
			get(t, fmt.Sprintf("http://loop.test:%d/", e.victim.port), want{403, "destination_ip_prohibited", "loopback", map[string]string{"next-hop": "127.0.0.2"}, allowlist.CauseSpecialAddress})
		}},
		{"address-guard/connect", func(t *testing.T) {
			connect(t, fmt.Sprintf("linklocal.test:%d", e.victim.port), want{403, "destination_ip_prohibited", "link-local", map[string]string{"next-hop": "169.254.169.254"}, allowlist.CauseSpecialAddress})
		}},
		{"own-address", func(t *testing.T) {
			connect(t, "self.test:"+pport, want{403, "proxy_loop_detected", "own address", nil, allowlist.CauseOwnAddress})
		}},
		{"dns/connect", func(t *testing.T) {
			connect(t, fmt.Sprintf("gone.test:%d", o), want{502, "dns_error", "does not exist", map[string]string{"rcode": "NXDOMAIN"}, allowlist.CauseAllowed})
		}},
		{"dns/plain", func(t *testing.T) {
			get(t, fmt.Sprintf("http://gone.test:%d/", e.plain.port), want{502, "dns_error", "does not exist", map[string]string{"rcode": "NXDOMAIN"}, allowlist.CauseAllowed})
		}},
		{"tls-certificate", func(t *testing.T) {
			get(t, fmt.Sprintf("https://rogue.test:%d/", e.rogue.port), want{502, "tls_certificate_error", "--upstream-ca", nil, allowlist.CauseAllowed})
		}},
		{"connection-refused", func(t *testing.T) {
			get(t, fmt.Sprintf("http://refused.test:%d/", refusedPort), want{502, "connection_refused", "refused", nil, allowlist.CauseAllowed})
		}},
		{"malformed-connect", func(t *testing.T) {
			connect(t, "o1.test:0", want{400, "http_request_error", "bad CONNECT target", nil, allowlist.CauseBadTarget})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}

	t.Run("curl", func(t *testing.T) {
		if _, err := exec.LookPath("curl"); err != nil {
			t.Skip("no curl")
		}
		cafile := e.caFile()
		curl := func(args ...string) (string, string) {
			cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "30", "-x", "http://" + e.addr, "--cacert", cafile}, args...)...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			cmd.Run()
			return out.String(), errb.String()
		}
		re := regexp.MustCompile(`(?mi)^<? ?Proxy-Status: (.*?)\r?$`)
		for _, tc := range []struct {
			args  []string
			token string
			in    func(out, errs string) string
		}{
			{[]string{"-D", "-", "-o", "/dev/null", fmt.Sprintf("http://blocked.test:%d/", e.plain.port)}, "http_request_denied", func(out, _ string) string { return out }},
			{[]string{"-v", fmt.Sprintf("https://blocked.test:%d/", o)}, "http_request_denied", func(_, errs string) string { return errs }},
			{[]string{"-D", "-", "-o", "/dev/null", fmt.Sprintf("https://rogue.test:%d/", e.rogue.port)}, "tls_certificate_error", func(out, _ string) string { return out }},
		} {
			out, errs := curl(tc.args...)
			m := re.FindStringSubmatch(tc.in(out, errs))
			if m == nil {
				t.Errorf("curl %v: no Proxy-Status in\n%s%s", tc.args, out, errs)
				continue
			}
			if _, p, err := parseProxyStatus(m[1]); err != nil || p["error"] != tc.token {
				t.Errorf("curl %v: Proxy-Status %q (%v); want error=%s", tc.args, m[1], err, tc.token)
			}
		}
	})
}

// addrLike matches an IPv4 or bracketed IPv6 address with a port, and any
// bare IPv4 address.
var addrLike = regexp.MustCompile(`\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]:\d+`)

type headerTimeout struct{}

func (headerTimeout) Error() string   { return "net/http: timeout awaiting response headers" }
func (headerTimeout) Timeout() bool   { return true }
func (headerTimeout) Temporary() bool { return true }

// TestFailureMessages: what the agent is told about an upstream failure is a
// class and the fix, never an address of the sidecar's resolver or sockets;
// the audit line gets the whole cause.
func TestFailureMessages(t *testing.T) {
	const resolver = "10.9.9.9:53"
	dial := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(10, 1, 1, 1), Port: 48617},
			Addr: &net.TCPAddr{IP: net.IPv4(93, 184, 216, 34), Port: 443}, Err: err}
	}
	dnsErr := func(d *net.DNSError) error {
		d.Name, d.Server = "api.test", resolver
		return &resolveError{host: "api.test", err: d}
	}
	tests := []struct {
		name   string
		err    error
		status int
		token  string
		class  string
	}{
		{"nxdomain", dnsErr(&net.DNSError{Err: "no such host", IsNotFound: true}), 502, "dns_error", "does not exist"},
		{"dns-timeout", dnsErr(&net.DNSError{Err: "read udp 127.0.0.1:48617->" + resolver + ": i/o timeout", IsTimeout: true}), 504, "dns_timeout", "upstream DNS timed out"},
		{"dns-servfail", dnsErr(&net.DNSError{Err: "server misbehaving", IsTemporary: true}), 502, "dns_error", "upstream DNS failed"},
		{"dns-deadline", &resolveError{host: "api.test", err: fmt.Errorf("lookup api.test on %s: %w", resolver, context.DeadlineExceeded)}, 504, "dns_timeout", "upstream DNS timed out"},
		{"no-addresses", &resolveError{host: "api.test", err: errNoAddresses}, 502, "dns_error", "no addresses"},
		{"unknown-ca", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, 502, "tls_certificate_error", "--upstream-ca FILE"},
		{"wrong-name", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "93.184.216.34"}}, 502, "tls_certificate_error", "not valid for this name"},
		{"expired", &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}, 502, "tls_certificate_error", "expired"},
		{"tls-alert", fmt.Errorf("remote error: %w", tls.AlertError(40)), 502, "tls_protocol_error", "TLS handshake failed"},
		{"refused", dial(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), 502, "connection_refused", "refused the connection"},
		{"dial-timeout", dial(os.ErrDeadlineExceeded), 504, "connection_timeout", "timed out"},
		{"header-timeout", headerTimeout{}, 504, "http_response_timeout", "before sending response headers"},
		{"unroutable", dial(&os.SyscallError{Syscall: "connect", Err: syscall.EHOSTUNREACH}), 502, "destination_ip_unroutable", "no route"},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(93, 184, 216, 34), Port: 443}, Err: &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}}, 502, "http_response_incomplete", "closed the connection"},
		{"eof", fmt.Errorf("net/http: %w", io.ErrUnexpectedEOF), 502, "http_response_incomplete", "closed the connection"},
		{"other", errors.New("something odd at 10.1.1.1:48617"), 502, "destination_unavailable", "could not connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.err)
			a := failAnswer("api.test", 443, f)
			agent := a.body + "\n" + a.header.Get("Proxy-Status")
			if f.status != tt.status || a.status != tt.status || f.token != tt.token || !strings.Contains(a.body, tt.class) {
				t.Errorf("status %d token %s body %q; want %d %s %q", a.status, f.token, a.body, tt.status, tt.token, tt.class)
			}
			if m := addrLike.FindString(agent); m != "" || strings.Contains(agent, resolver) {
				t.Errorf("the agent is shown an address (%q):\n%s", m, agent)
			}
			if _, p, err := parseProxyStatus(a.header.Get("Proxy-Status")); err != nil || p["error"] != tt.token {
				t.Errorf("Proxy-Status %q: %v", a.header.Get("Proxy-Status"), err)
			}
			if f.cause != tt.err.Error() {
				t.Errorf("audit cause %q; want %q", f.cause, tt.err.Error())
			}
		})
	}

	// End to end, with the stdlib resolver's error shapes.
	e := newEnv(t, strings.Replace(basePolicy, "deny:\n", "  - host: slowdns.test\n    ports: [{{PLAIN}}]\ndeny:\n", 1), func(c *Config) {
		c.Resolver = failingResolver{mapResolver: c.Resolver.(mapResolver), name: "slowdns.test", err: &net.DNSError{
			Err: "read udp 127.0.0.1:48617->" + resolver + ": i/o timeout", Name: "slowdns.test", Server: resolver, IsTimeout: true}}
	})
	resp, body := e.get(e.client(false), fmt.Sprintf("http://slowdns.test:%d/", e.plain.port))
	if resp.StatusCode != 504 || addrLike.MatchString(body) || addrLike.MatchString(resp.Header.Get("Proxy-Status")) {
		t.Errorf("%d %q %q", resp.StatusCode, body, resp.Header.Get("Proxy-Status"))
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Host == "slowdns.test" })
	if !strings.Contains(rec.Error, resolver) || rec.Status != 504 {
		t.Errorf("audit %+v lacks the cause", rec)
	}
}

// failingResolver fails one name with err.
type failingResolver struct {
	mapResolver
	name string
	err  error
}

func (r failingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == r.name {
		return nil, r.err
	}
	return r.mapResolver.LookupNetIP(ctx, network, host)
}

// TestTruncatedResponseStaysTruncated: when an upstream response breaks off
// midway, the agent sees it break off (a chunked response is not ended as if
// it were complete), in a tunnel over h1 and h2 and on plain HTTP.
func TestTruncatedResponseStaysTruncated(t *testing.T) {
	e := newEnv(t, reloadPolicy, nil)
	for _, tc := range []struct {
		name, url string
		h2        bool
	}{
		{"tunnel-h2-upstream", fmt.Sprintf("https://o1.test:%d/truncate", e.origin.port), false},
		{"tunnel-h1-upstream", fmt.Sprintf("https://h1.test:%d/truncate", e.origin1.port), false},
		{"tunnel-h2-agent", fmt.Sprintf("https://h1.test:%d/truncate", e.origin1.port), true},
		{"plain", fmt.Sprintf("http://plain.test:%d/truncate", e.plain.port), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.client(tc.h2).Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("a truncated response (%q) read as complete", body)
			}
			rec := e.waitAuditT(t, func(r audit.Record) bool { return r.Path == "/truncate" && r.Error != "" })
			if !strings.Contains(rec.Error, "response body") {
				t.Errorf("audit error %q", rec.Error)
			}
			e.audit.Reset()
		})
	}
}
