package allowlist

import (
	"net/netip"
	"testing"
)

// An allowed decision writes its reason only when read (Explain); what it
// writes is the sentence the policy used to format for every decision, byte
// for byte: the audit log's reason field of every allowed line is made of it.
func TestAllowedReasons(t *testing.T) {
	p := mustParse(t, `version: 1
allow:
  - host: api.example.com
    ports: [443, 8443]
  - host: pass.example.com
    tls: passthrough
  - host: opt.example.com
    tls: passthrough
    sni: optional
  - host: both.example.com
  - cidr: 10.20.0.0/16
    ports: [5432]
  - cidr: "2001:db8::/32"
    ports: [443]
deny:
  - host: both.example.com
    paths: ["/admin/**"]
`)
	dst := netip.MustParseAddr("93.184.216.34")
	for _, tc := range []struct {
		name string
		d    Decision
		want string
	}{
		{"request", p.Decide(Request{Scheme: "https", Host: "API.example.com", Method: "get", Path: "/v1/x?q=1#f"}), "GET api.example.com:443/v1/x matches allow[0]"},
		{"request, other port", p.Decide(Request{Scheme: "https", Host: "api.example.com", Port: 8443, Method: "POST", Path: ""}), "POST api.example.com:8443/ matches allow[0]"},
		{"request, no method", p.Decide(Request{Scheme: "https", Host: "api.example.com", Path: "/"}), "api.example.com:443 matches allow[0]"},
		{"request, ip", p.Decide(Request{Scheme: "http", Host: "10.20.1.2", Port: 5432, Method: "GET", Path: "/a"}), "GET 10.20.1.2:5432/a matches allow[4]"},
		{"request, ipv6", p.Decide(Request{Scheme: "https", Host: "[2001:db8::1]", Method: "GET", Path: "/"}), "GET [2001:db8::1]:443/ matches allow[5]"},
		{"request, resolved", p.Decide(Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/", DstIP: dst}), "GET api.example.com:443/ matches allow[0]"},
		{"connect", p.DecideConnect("api.example.com", 443), "api.example.com:443 matches allow[0]"},
		{"connect, ipv6", p.DecideConnect("2001:db8::1", 443), "[2001:db8::1]:443 matches allow[5]"},
		{"connect, l7 deny", p.DecideConnect("both.example.com", 443), "both.example.com:443 matches allow[3]; requests are checked against deny[0]"},
		{"connect, passthrough", p.DecideConnect("pass.example.com", 443), "pass.example.com:443 matches allow[1] (tls: passthrough)"},
		{"connect, passthrough sni optional", p.DecideConnect("opt.example.com", 443), "opt.example.com:443 matches allow[2] (tls: passthrough, sni: optional)"},
		{"name", p.DecideName("API.example.com."), "api.example.com matches allow[0]"},
		{"dst", p.CheckDst("api.example.com", 443, dst), "api.example.com may be reached at 93.184.216.34"},
		{"dst, mapped", p.CheckDst("api.example.com", 443, netip.MustParseAddr("::ffff:93.184.216.34")), "api.example.com may be reached at ::ffff:93.184.216.34"},
		{"dst, literal", p.CheckDst("10.20.1.2", 5432, netip.MustParseAddr("10.20.1.2")), "10.20.1.2 may be reached at 10.20.1.2"},
	} {
		if !tc.d.Allowed || tc.d.Cause != CauseAllowed {
			t.Errorf("%s: %+v; want allowed", tc.name, tc.d)
			continue
		}
		if tc.d.Reason != "" {
			t.Errorf("%s: Reason %q was formatted when deciding; want it left to Explain", tc.name, tc.d.Reason)
		}
		if got := tc.d.Explain(); got != tc.want {
			t.Errorf("%s: Explain() = %q\nwant          %q", tc.name, got, tc.want)
		}
	}
	// A reason set on a decision (a would-deny the proxy adds) is the one
	// Explain says.
	d := p.Decide(Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/"})
	d.Reason = "set by the proxy"
	if got := d.Explain(); got != "set by the proxy" {
		t.Errorf("Explain() = %q after Reason was set", got)
	}
	// A denial's reason is written when deciding, as before.
	if d := p.Decide(Request{Scheme: "https", Host: "other.example.com", Method: "GET", Path: "/"}); d.Reason != "no rule allows GET other.example.com:443/" || d.Explain() != d.Reason {
		t.Errorf("denial: Reason %q, Explain %q", d.Reason, d.Explain())
	}
}

// Deciding to allow costs no allocation for the reason (nor for anything
// else, on a host with a single rule).
func TestAllowedDecisionAllocs(t *testing.T) {
	p := mustParse(t, "version: 1\nallow:\n  - host: api.example.com\n")
	req := Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/v1/messages"}
	n := testing.AllocsPerRun(100, func() {
		if d := p.Decide(req); !d.Allowed {
			t.Fatal(d.Explain())
		}
	})
	t.Logf("Decide of an allowed request: %.0f allocations", n)
}
