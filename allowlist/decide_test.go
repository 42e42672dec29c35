package allowlist

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"
)

const testPolicy = `version: 1
allow:
  - host: api.example.com
  - host: "*.github.com"
  - host: "**.pythonhosted.org"
  - host: github.com
    methods: [get, HEAD, POST]
    paths: ["/acme/widget.git/**", "/acme/*/issues"]
  - host: ssh.example.com
    ports: [22, 443]
    tls: passthrough
  - cidr: 10.20.0.0/16
    ports: [5432]
  - cidr: 2001:db8:1::/48
  - host: bücher.example
  - host: internal.example.com
  - cidr: 192.168.7.0/24
  - host: both.example.com
    tls: passthrough
deny:
  - host: gist.github.com
  - host: github.com
    methods: [DELETE]
  - cidr: 10.20.9.0/24
  - host: both.example.com
    paths: ["/admin/**"]
`

func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestDecide(t *testing.T) {
	p := mustParse(t, testPolicy)
	tests := []struct {
		name  string
		req   Request
		allow bool
		rule  string
		cause Cause
	}{
		{name: "exact host", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/v1"}, allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "exact host upper case and trailing dot", req: Request{Scheme: "https", Host: "API.Example.COM.", Method: "GET", Path: "/"}, allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "exact does not match subdomain", req: Request{Scheme: "https", Host: "x.api.example.com", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "exact does not match sibling", req: Request{Scheme: "https", Host: "evil-api.example.com", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "one-label wildcard", req: Request{Scheme: "https", Host: "raw.github.com", Method: "GET", Path: "/"}, allow: true, rule: "allow[1]", cause: CauseAllowed},
		{name: "one-label wildcard not two labels", req: Request{Scheme: "https", Host: "a.raw.github.com", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "one-label wildcard not apex (apex has own L7 rule)", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/other"}, allow: false, rule: "default", cause: CausePath},
		{name: "evil-github.com is not *.github.com", req: Request{Scheme: "https", Host: "evil-github.com", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "github.com.evil.com is not *.github.com", req: Request{Scheme: "https", Host: "api.github.com.evil.com", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "any-depth wildcard one label", req: Request{Scheme: "https", Host: "files.pythonhosted.org", Method: "GET", Path: "/"}, allow: true, rule: "allow[2]", cause: CauseAllowed},
		{name: "any-depth wildcard three labels", req: Request{Scheme: "https", Host: "a.b.c.pythonhosted.org", Method: "GET", Path: "/"}, allow: true, rule: "allow[2]", cause: CauseAllowed},
		{name: "any-depth wildcard not apex", req: Request{Scheme: "https", Host: "pythonhosted.org", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "any-depth wildcard trailing dot request", req: Request{Scheme: "https", Host: "Files.PythonHosted.org.", Method: "GET", Path: "/"}, allow: true, rule: "allow[2]", cause: CauseAllowed},
		{name: "default port 443", req: Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/"}, allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "default port 80", req: Request{Scheme: "http", Host: "api.example.com", Method: "GET", Path: "/"}, allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "port outside defaults", req: Request{Scheme: "https", Host: "api.example.com", Port: 8443, Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CausePort},
		{name: "method lower case in rule and request", req: Request{Scheme: "https", Host: "github.com", Method: "get", Path: "/acme/widget.git/info/refs"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "method not allowed", req: Request{Scheme: "https", Host: "github.com", Method: "PUT", Path: "/acme/widget.git/info/refs"}, allow: false, rule: "default", cause: CauseMethod},
		{name: "deny method wins", req: Request{Scheme: "https", Host: "github.com", Method: "DELETE", Path: "/acme/widget.git/x"}, allow: false, rule: "deny[1]", cause: CauseDenyRule},
		{name: "deny host wins over wildcard allow", req: Request{Scheme: "https", Host: "gist.github.com", Method: "GET", Path: "/"}, allow: false, rule: "deny[0]", cause: CauseDenyRule},
		{name: "deny host on any port", req: Request{Scheme: "https", Host: "gist.github.com", Port: 8443, Method: "GET", Path: "/"}, allow: false, rule: "deny[0]", cause: CauseDenyRule},
		{name: "double star path deep", req: Request{Scheme: "https", Host: "github.com", Method: "POST", Path: "/acme/widget.git/git-upload-pack"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "double star path zero segments", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "single star one segment", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/gadget/issues"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "single star not two segments", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/a/b/issues"}, allow: false, rule: "default", cause: CausePath},
		{name: "single star not zero segments", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/issues"}, allow: false, rule: "default", cause: CausePath},
		{name: "encoded dot-dot cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/%2e%2e/%2e%2e/secret"}, allow: false, rule: "default", cause: CausePath},
		{name: "double-encoded dot-dot cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/%252e%252e/%252e%252e/secret"}, allow: false, rule: "default", cause: CausePath},
		{name: "plain dot-dot cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/../../secret"}, allow: false, rule: "default", cause: CausePath},
		{name: "backslash dot-dot cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/..\\..\\secret"}, allow: false, rule: "default", cause: CausePath},
		{name: "encoded slash dot-dot cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git%2f..%2f..%2fsecret"}, allow: false, rule: "default", cause: CausePath},
		{name: "dot-dot that stays inside is fine", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/a/../info/refs"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "double slash collapses", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "//acme//widget.git/info"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "double slash cannot fake a root", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "//secret/acme/widget.git"}, allow: false, rule: "default", cause: CausePath},
		{name: "dot segment collapses", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/./widget.git/./x"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "query ignored", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/info/refs?service=git-upload-pack"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "bad escape denied", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/%zz"}, allow: false, rule: "default", cause: CauseBadPathEscape},
		{name: "percent-encoded four times denied", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/%2525252e%2525252e/x"}, allow: false, rule: "default", cause: CauseBadPathEncoding},
		{name: "control character denied", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/%00"}, allow: false, rule: "default", cause: CauseBadPathControl},
		{name: "IDN request unicode", req: Request{Scheme: "https", Host: "BÜCHER.example", Method: "GET", Path: "/"}, allow: true, rule: "allow[7]", cause: CauseAllowed},
		{name: "IDN request punycode", req: Request{Scheme: "https", Host: "xn--bcher-kva.example", Method: "GET", Path: "/"}, allow: true, rule: "allow[7]", cause: CauseAllowed},
		{name: "cidr literal in range", req: Request{Scheme: "https", Host: "10.20.3.4", Port: 5432, Method: "GET", Path: "/"}, allow: true, rule: "allow[5]", cause: CauseAllowed},
		{name: "cidr literal wrong port", req: Request{Scheme: "https", Host: "10.20.3.4", Port: 443, Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CausePort},
		{name: "cidr literal out of range", req: Request{Scheme: "https", Host: "10.21.0.1", Port: 5432, Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "cidr deny inside allowed range", req: Request{Scheme: "https", Host: "10.20.9.1", Port: 5432, Method: "GET", Path: "/"}, allow: false, rule: "deny[2]", cause: CauseDenyRule},
		{name: "IPv4-mapped IPv6 literal matches IPv4 cidr", req: Request{Scheme: "https", Host: "[::ffff:10.20.3.4]", Port: 5432, Method: "GET", Path: "/"}, allow: true, rule: "allow[5]", cause: CauseAllowed},
		{name: "IPv6 literal in range", req: Request{Scheme: "https", Host: "[2001:db8:1::5]", Method: "GET", Path: "/"}, allow: true, rule: "allow[6]", cause: CauseAllowed},
		{name: "IPv6 literal out of range", req: Request{Scheme: "https", Host: "2001:db8:2::5", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "public IP literal needs a cidr", req: Request{Scheme: "https", Host: "93.184.216.34", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "decimal IP literal is not a name", req: Request{Scheme: "http", Host: "2130706433", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseBadName},
		{name: "hex IP literal is not a name", req: Request{Scheme: "http", Host: "0x7f000001", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseBadName},
		{name: "dotted octal-ish literal is not a name", req: Request{Scheme: "http", Host: "0177.0.0.1", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseBadName},
		{name: "name resolving to public address", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("93.184.216.34")}, allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "name resolving to loopback", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("127.0.0.1")}, allow: false, rule: "default", cause: CauseSpecialAddress},
		{name: "name resolving to metadata", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("169.254.169.254")}, allow: false, rule: "default", cause: CauseSpecialAddress},
		{name: "name resolving to mapped loopback", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("::ffff:127.0.0.1")}, allow: false, rule: "default", cause: CauseSpecialAddress},
		{name: "name resolving to NAT64", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("64:ff9b::a00:1")}, allow: false, rule: "default", cause: CauseSpecialAddress},
		{name: "name resolving into allowed cidr", req: Request{Scheme: "https", Host: "internal.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("192.168.7.9")}, allow: true, rule: "allow[8]", cause: CauseAllowed},
		{name: "name resolving into denied cidr", req: Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("10.20.9.9")}, allow: false, rule: "deny[2]", cause: CauseDenyCIDR},
		{name: "name without host rule resolving into allowed cidr", req: Request{Scheme: "https", Host: "other.example.com", Method: "GET", Path: "/", DstIP: netip.MustParseAddr("192.168.7.9")}, allow: false, rule: "default", cause: CauseNoRule},
		{name: "invalid host", req: Request{Scheme: "https", Host: "a..b", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseBadName},
		// Servlet servers (Tomcat, Jetty, Spring) drop ";params" from each
		// segment before routing, so "/..;/" climbs and "/admin;x/" is /admin/.
		{name: "dot-dot with params cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/..;/..;/secret"}, allow: false, rule: "default", cause: CauseBadPathParams},
		{name: "dot-dot with param value cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/..;x=1/..;/secret"}, allow: false, rule: "default", cause: CauseBadPathParams},
		{name: "dot with params refused", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/.;/info"}, allow: false, rule: "default", cause: CauseBadPathParams},
		{name: "encoded dot-dot with encoded semicolon cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/%2e%2e%3b/%2E%2E%3B/secret"}, allow: false, rule: "default", cause: CauseBadPathParams},
		{name: "double-encoded semicolon counts", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git/..%253b/..%253b/secret"}, allow: false, rule: "default", cause: CauseBadPathParams},
		{name: "backslash dot-dot with params cannot escape", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git\\..;\\..;\\secret"}, allow: false, rule: "default", cause: CauseBadPathParams},
		{name: "params on a literal segment are ignored", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/widget.git;jsessionid=1/info/refs"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "params on the last segment are ignored", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/gadget/issues;x=1"}, allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "params do not make a segment", req: Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/a;/b/issues"}, allow: false, rule: "default", cause: CausePath},
		{name: "deny path with params still denies", req: Request{Scheme: "https", Host: "both.example.com", Method: "GET", Path: "/admin;jsessionid=1/users"}, allow: false, rule: "deny[3]", cause: CauseDenyRule},
		{name: "deny path with encoded params still denies", req: Request{Scheme: "https", Host: "both.example.com", Method: "GET", Path: "/admin%3bx/users"}, allow: false, rule: "deny[3]", cause: CauseDenyRule},
		{name: "deny path with empty params segment still denies", req: Request{Scheme: "https", Host: "both.example.com", Method: "GET", Path: "/;x/admin/users"}, allow: false, rule: "deny[3]", cause: CauseDenyRule},
		{name: "deny path with bare semicolon still denies", req: Request{Scheme: "https", Host: "both.example.com", Method: "GET", Path: "/admin;"}, allow: false, rule: "deny[3]", cause: CauseDenyRule},
		{name: "outside the deny path is allowed", req: Request{Scheme: "https", Host: "both.example.com", Method: "GET", Path: "/adminx;/users"}, allow: true, rule: "allow[10]", cause: CauseAllowed},
		{name: "empty host", req: Request{Scheme: "https", Host: "", Method: "GET", Path: "/"}, allow: false, rule: "default", cause: CauseBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Decide(tt.req)
			if d.Allowed != tt.allow || d.Rule != tt.rule || d.Cause != tt.cause {
				t.Errorf("Decide(%+v) = allowed %v by %s, %s (%s); want allowed %v by %s, %s", tt.req, d.Allowed, d.Rule, d.Cause, d.Explain(), tt.allow, tt.rule, tt.cause)
			}
			if d.WouldDeny {
				t.Errorf("WouldDeny set in enforce mode")
			}
			if d.Explain() == "" {
				t.Errorf("empty reason")
			}
		})
	}
}

// TestDecideDotSegmentParams: a dot segment with parameters gets a reason that
// says what was refused and why, and no path params leak into it.
func TestDecideDotSegmentParams(t *testing.T) {
	p := mustParse(t, testPolicy)
	for _, path := range []string{"/acme/widget.git/..;jsessionid=SECRET/x", "/acme/widget.git/%2e%2e%3bjsessionid=SECRET/x"} {
		d := p.Decide(Request{Scheme: "https", Host: "github.com", Method: "GET", Path: path})
		want := `path has a ".." segment with ;parameters, which servlet servers (Tomcat, Jetty, Spring) read as ".."; such paths are refused`
		if d.Allowed || d.Explain() != want || d.Cause != CauseBadPathParams {
			t.Errorf("Decide(%q) = allowed %v, %s, reason %q; want denied, %s, with %q", path, d.Allowed, d.Cause, d.Explain(), CauseBadPathParams, want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in   string
		want string // segments joined by "/"; "ERR" for an error
	}{
		{"/a/b", "a/b"},
		{"/a;x/b;y=1,2/c;", "a/b/c"},
		{"/a%3Bx/b%3by", "a/b"},
		{"/a%253bx/b", "a/b"},
		{"/a;x/../b", "b"},
		{"/a/b;x/..", "a"},
		{"/;x/a", "a"},
		{"/a;/../../../b", "b"},
		{"/a\\b;x\\c", "a/b/c"},
		{"/a/..;", "ERR"},
		{"/a/..;x=1/b", "ERR"},
		{"/a/.;/b", "ERR"},
		{"/a/.;x", "ERR"},
		{"/a/%2e%2e%3b/b", "ERR"},
		{"/a/..%5c..;/b", "ERR"},
		{"/a/...;/b", "a/.../b"},
		{"/a/..x;/b", "a/..x/b"},
		{"/a;..;/b", "a/b"},
	}
	for _, tt := range tests {
		segs, err := CleanPath(tt.in)
		got := strings.Join(segs, "/")
		if err != nil {
			got = "ERR"
		}
		if got != tt.want {
			t.Errorf("CleanPath(%q) = %q (%v); want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDecideConnect(t *testing.T) {
	p := mustParse(t, testPolicy)
	tests := []struct {
		name   string
		host   string
		port   uint16
		action Action
		rule   string
		cause  Cause
	}{
		{name: "allowed host is intercepted", host: "api.example.com", port: 443, action: ActionIntercept, rule: "allow[0]", cause: CauseAllowed},
		{name: "L7 host is intercepted", host: "github.com", port: 443, action: ActionIntercept, rule: "allow[3]", cause: CauseAllowed},
		{name: "passthrough host tunnels", host: "ssh.example.com", port: 22, action: ActionTunnel, rule: "allow[4]", cause: CauseAllowed},
		{name: "passthrough host on its other port", host: "SSH.example.com.", port: 443, action: ActionTunnel, rule: "allow[4]", cause: CauseAllowed},
		{name: "passthrough host wrong port", host: "ssh.example.com", port: 25, action: ActionDeny, rule: "default", cause: CausePort},
		{name: "blocked host", host: "evil.example.net", port: 443, action: ActionDeny, rule: "default", cause: CauseNoRule},
		{name: "allowed host wrong port", host: "api.example.com", port: 22, action: ActionDeny, rule: "default", cause: CausePort},
		{name: "deny host outright", host: "gist.github.com", port: 443, action: ActionDeny, rule: "deny[0]", cause: CauseDenyRule},
		{name: "deny with methods still intercepts", host: "github.com", port: 443, action: ActionIntercept, rule: "allow[3]", cause: CauseAllowed},
		{name: "passthrough with L7 deny is intercepted", host: "both.example.com", port: 443, action: ActionIntercept, rule: "allow[10]", cause: CauseAllowed},
		{name: "IPv4 literal outside cidr", host: "127.0.0.1", port: 443, action: ActionDeny, rule: "default", cause: CauseNoRule},
		{name: "IPv4 literal in cidr", host: "10.20.0.7", port: 5432, action: ActionIntercept, rule: "allow[5]", cause: CauseAllowed},
		{name: "IPv4 literal in deny cidr", host: "10.20.9.7", port: 5432, action: ActionDeny, rule: "deny[2]", cause: CauseDenyRule},
		{name: "IPv6 literal bracketed", host: "[::1]", port: 443, action: ActionDeny, rule: "default", cause: CauseNoRule},
		{name: "IPv6 literal in cidr", host: "2001:db8:1::1", port: 443, action: ActionIntercept, rule: "allow[6]", cause: CauseAllowed},
		{name: "decimal literal", host: "2130706433", port: 443, action: ActionDeny, rule: "default", cause: CauseBadName},
		{name: "hex literal", host: "0x7f.0x0.0x0.0x1", port: 443, action: ActionDeny, rule: "default", cause: CauseBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.DecideConnect(tt.host, tt.port)
			if d.Action != tt.action || d.Rule != tt.rule || d.Allowed != (tt.action != ActionDeny) || d.Cause != tt.cause {
				t.Errorf("DecideConnect(%q, %d) = %v allowed=%v by %s, %s (%s); want %v by %s, %s", tt.host, tt.port, d.Action, d.Allowed, d.Rule, d.Cause, d.Explain(), tt.action, tt.rule, tt.cause)
			}
		})
	}
}

func TestDecideName(t *testing.T) {
	p := mustParse(t, testPolicy)
	tests := []struct {
		name  string
		query string
		allow bool
		rule  string
		cause Cause
	}{
		{name: "exact", query: "api.example.com", allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "fqdn with dot and case", query: "API.EXAMPLE.COM.", allow: true, rule: "allow[0]", cause: CauseAllowed},
		{name: "wildcard", query: "raw.github.com", allow: true, rule: "allow[1]", cause: CauseAllowed},
		{name: "apex with L7 rule", query: "github.com", allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "apex deny with methods does not block the name", query: "github.com.", allow: true, rule: "allow[3]", cause: CauseAllowed},
		{name: "deny outright", query: "gist.github.com", allow: false, rule: "deny[0]", cause: CauseDenyRule},
		{name: "unlisted", query: "exfil-4f2a9c.example.net", allow: false, rule: "default", cause: CauseNoRule},
		{name: "sibling of allowed", query: "data.api.example.com", allow: false, rule: "default", cause: CauseNoRule},
		{name: "passthrough host", query: "ssh.example.com", allow: true, rule: "allow[4]", cause: CauseAllowed},
		{name: "IDN", query: "bücher.example", allow: true, rule: "allow[7]", cause: CauseAllowed},
		{name: "reverse lookup not listed", query: "4.3.20.10.in-addr.arpa", allow: false, rule: "default", cause: CauseNoRule},
		{name: "garbage", query: "a..b", allow: false, rule: "default", cause: CauseBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.DecideName(tt.query)
			if d.Allowed != tt.allow || d.Rule != tt.rule || d.Cause != tt.cause {
				t.Errorf("DecideName(%q) = allowed %v by %s, %s (%s); want %v by %s, %s", tt.query, d.Allowed, d.Rule, d.Cause, d.Explain(), tt.allow, tt.rule, tt.cause)
			}
		})
	}
}

func TestReportMode(t *testing.T) {
	p := mustParse(t, "version: 1\nmode: report\nallow:\n  - host: ok.example.com\ndeny:\n  - host: bad.example.com\n")
	d := p.Decide(Request{Scheme: "https", Host: "bad.example.com", Method: "GET", Path: "/"})
	if !d.Allowed || !d.WouldDeny || d.Rule != "deny[0]" || !d.Denied() || d.Cause != CauseDenyRule {
		t.Errorf("report-mode deny: %+v; want allowed, would-deny by deny[0], deny-rule", d)
	}
	d = p.DecideConnect("other.example.com", 443)
	if !d.Allowed || !d.WouldDeny || d.Action != ActionIntercept || d.Rule != "default" || d.Cause != CauseNoRule {
		t.Errorf("report-mode CONNECT: %+v; want intercept, would-deny, no-rule", d)
	}
	d = p.DecideName("other.example.com")
	if !d.Allowed || !d.WouldDeny || d.Cause != CauseNoRule {
		t.Errorf("report-mode name: %+v; want allowed, would-deny, no-rule", d)
	}
	d = p.Decide(Request{Scheme: "https", Host: "ok.example.com", Method: "GET", Path: "/"})
	if !d.Allowed || d.WouldDeny || d.Denied() || d.Cause != CauseAllowed {
		t.Errorf("report-mode allow: %+v; want plain allow", d)
	}
}

func TestCheckDst(t *testing.T) {
	p := mustParse(t, testPolicy)
	tests := []struct {
		name  string
		host  string
		port  uint16
		dst   string
		allow bool
		rule  string
		cause Cause
	}{
		{name: "allowed cidr", host: "internal.example.com", port: 443, dst: "192.168.7.1", allow: true, rule: "default", cause: CauseAllowed},
		{name: "private destination", host: "ssh.example.com", port: 22, dst: "10.0.0.1", rule: "default", cause: CauseSpecialAddress},
		{name: "public destination", host: "ssh.example.com", port: 22, dst: "8.8.4.4", allow: true, rule: "default", cause: CauseAllowed},
		{name: "deny cidr on its port", host: "api.example.com", port: 5432, dst: "10.20.9.1", rule: "deny[2]", cause: CauseDenyCIDR},
		{name: "literal judged already", host: "10.20.9.1", port: 5432, dst: "10.20.9.1", allow: true, rule: "default", cause: CauseAllowed},
		{name: "bad name", host: "a..b", port: 443, dst: "8.8.4.4", rule: "default", cause: CauseBadName},
	}
	for _, tt := range tests {
		d := p.CheckDst(tt.host, tt.port, netip.MustParseAddr(tt.dst))
		if d.Allowed != tt.allow || d.Rule != tt.rule || d.Cause != tt.cause || d.Explain() == "" {
			t.Errorf("%s: CheckDst(%q, %d, %s) = allowed %v by %s, %s (%q); want allowed %v by %s, %s",
				tt.name, tt.host, tt.port, tt.dst, d.Allowed, d.Rule, d.Cause, d.Explain(), tt.allow, tt.rule, tt.cause)
		}
	}
}

func TestDefaultPort(t *testing.T) {
	for scheme, want := range map[string]uint16{
		"": 443, "https": 443, "HTTPS": 443, "wss": 443, "Wss": 443,
		"http": 80, "HTTP": 80, "ws": 80, "ftp": 80, "gopher": 80,
	} {
		if got := DefaultPort(scheme); got != want {
			t.Errorf("DefaultPort(%q) = %d; want %d", scheme, got, want)
		}
	}
	// A Request without a port or scheme is judged at 443.
	p := mustParse(t, "version: 1\nallow:\n  - host: a.example.com\n    ports: [443]\n")
	if d := p.Decide(Request{Host: "a.example.com", Method: "GET", Path: "/"}); !d.Allowed {
		t.Errorf("no scheme, no port: %+v", d)
	}
	if d := p.Decide(Request{Scheme: "http", Host: "a.example.com", Method: "GET", Path: "/"}); d.Allowed || d.Cause != CausePort {
		t.Errorf("http, no port: %+v", d)
	}
}

// TestCauseKeys pins the String of every Cause: the audit log writes them,
// and scripts match on them. Each is a distinct kebab-case word.
func TestCauseKeys(t *testing.T) {
	want := []string{"unknown", "allowed",
		"no-rule", "port-not-covered", "method-not-covered", "path-not-covered", "deny-rule", "deny-cidr", "special-address",
		"bad-name", "bad-path-escape", "bad-path-encoding", "bad-path-control", "bad-path-params",
		"own-address", "fronting", "host-mismatch", "sni-mismatch", "sni-missing", "bad-client-hello", "bad-target",
		"connect-in-tunnel", "not-passthrough",
		"dns-opcode", "dns-class", "dns-type",
		"credential-misuse", "secret-leak", "dlp",
		"git-ref", "git-secret", "git-pack", "git-ssh"}
	if int(numCauses) != len(want) {
		t.Fatalf("%d causes; the test knows %d", numCauses, len(want))
	}
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	for c := range numCauses {
		if got := c.String(); got != want[c] || !kebab.MatchString(got) {
			t.Errorf("Cause(%d).String() = %q; want %q", c, got, want[c])
		}
	}
	if got := numCauses.String(); got != "cause-33" {
		t.Errorf("an unknown value prints as %q", got)
	}
}

func TestAllowCommand(t *testing.T) {
	p := mustParse(t, testPolicy)
	tests := []struct {
		req  Request
		want string
	}{
		{Request{Scheme: "https", Host: "new.example.net", Method: "GET", Path: "/x"}, "bottle allow add new.example.net"},
		{Request{Scheme: "https", Host: "new.example.net", Port: 8443, Method: "GET", Path: "/x"}, "bottle allow add new.example.net --port 8443"},
		{Request{Scheme: "https", Host: "github.com", Method: "put", Path: "/acme/x y?q=1"}, "bottle allow add github.com --method PUT --path '/acme/x y'"},
		{Request{Scheme: "https", Host: "github.com", Method: "DELETE", Path: "/acme/widget.git"}, "bottle allow rm --deny github.com --method DELETE && bottle allow add github.com --method DELETE --path /acme/widget.git"},
		{Request{Scheme: "https", Host: "gist.github.com", Method: "GET", Path: "/"}, "bottle allow rm --deny gist.github.com"},
		// The hint names the path as it is matched: a rule cannot hold ";".
		{Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/x;jsessionid=1/y%3bz"}, "bottle allow add github.com --method GET --path /acme/x/y"},
		// No rule can allow a path that is refused whatever the rules say,
		// and a command without --path would allow far more.
		{Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/..;/x"}, ""},
		{Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/%zz"}, ""},
		// A git clone over smart HTTP: the rule the whole clone needs, for
		// its first request and for its second.
		{Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/other.git/info/refs?service=git-upload-pack"}, "bottle allow add github.com --path '/acme/other.git/**' --method GET --method POST"},
		{Request{Scheme: "https", Host: "github.com", Method: "POST", Path: "/acme/other.git/git-upload-pack"}, "bottle allow add github.com --path '/acme/other.git/**' --method GET --method POST"},
		{Request{Scheme: "https", Host: "github.com", Method: "POST", Path: "/acme/other/git-receive-pack"}, "bottle allow add github.com --path '/acme/other/**' --method GET --method POST"},
		{Request{Scheme: "http", Host: "git.example.net", Port: 8080, Method: "GET", Path: "/r/info/refs"}, "bottle allow add git.example.net --port 8080 --path '/r/**' --method GET --method POST"},
		// Not a repository: a path of its own named info/refs, or one whose
		// glob would be a wildcard.
		{Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/info/refs"}, "bottle allow add github.com --method GET --path /info/refs"},
		{Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/*/info/refs"}, "bottle allow add github.com --method GET --path '/acme/*/info/refs'"},
		// A CONNECT to the port of a protocol that is not HTTP needs a
		// passthrough rule; another port is intercepted.
		{Request{Host: "db.example.net", Port: 5432}, "bottle allow add db.example.net --port 5432 --passthrough"},
		{Request{Host: "git.example.net", Port: 22}, "bottle allow add git.example.net --port 22 --passthrough"},
		{Request{Host: "web.example.net", Port: 8443}, "bottle allow add web.example.net --port 8443"},
		{Request{Host: "web.example.net", Port: 443}, "bottle allow add web.example.net"},
	}
	for _, tt := range tests {
		var d Decision
		if tt.req.Method == "" {
			d = p.DecideConnect(tt.req.Host, tt.req.Port)
		} else {
			d = p.Decide(tt.req)
		}
		if !d.Denied() {
			t.Fatalf("%+v: allowed by %s; the case needs a denial", tt.req, d.Rule)
		}
		if got := p.AllowCommand(tt.req, d, HintScope{}); got != tt.want {
			t.Errorf("AllowCommand(%+v) = %q; want %q", tt.req, got, tt.want)
		}
	}
}

// TestAllowCommandScope: every command of a hint names the allowlist it is
// for; the bottle's name and the file are quoted like every other word.
func TestAllowCommandScope(t *testing.T) {
	p := mustParse(t, testPolicy)
	deny := Request{Scheme: "https", Host: "github.com", Method: "DELETE", Path: "/acme/widget.git"}
	tests := []struct {
		scope HintScope
		req   Request
		want  string
	}{
		{HintScope{Bottle: "demo"}, Request{Scheme: "https", Host: "new.example.net", Method: "GET", Path: "/x"}, "bottle allow add new.example.net --bottle demo"},
		{HintScope{Bottle: "demo"}, deny, "bottle allow rm --deny github.com --method DELETE --bottle demo && bottle allow add github.com --method DELETE --path /acme/widget.git --bottle demo"},
		{HintScope{File: "team rules.yaml"}, deny, "bottle allow rm --deny github.com --method DELETE --file 'team rules.yaml' && bottle allow add github.com --method DELETE --path /acme/widget.git --file 'team rules.yaml'"},
		// --bottle wins: a bottle's hint is about its live allowlist.
		{HintScope{Bottle: "demo", File: "x.yaml"}, Request{Host: "db.example.net", Port: 5432}, "bottle allow add db.example.net --port 5432 --passthrough --bottle demo"},
		// Nothing to suggest stays nothing.
		{HintScope{Bottle: "demo"}, Request{Scheme: "https", Host: "github.com", Method: "GET", Path: "/acme/%zz"}, ""},
	}
	for _, tt := range tests {
		var d Decision
		if tt.req.Method == "" {
			d = p.DecideConnect(tt.req.Host, tt.req.Port)
		} else {
			d = p.Decide(tt.req)
		}
		if got := p.AllowCommand(tt.req, d, tt.scope); got != tt.want {
			t.Errorf("%+v %+v: %q; want %q", tt.scope, tt.req, got, tt.want)
		}
	}
}
