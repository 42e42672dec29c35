package allowlist

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"

	"bottle.dev/bottle/internal/golden"
)

// TestInvalid parses each testdata/invalid/NAME.yaml and compares the errors,
// one per line, with NAME.err. Run with -update to rewrite the .err files,
// then read the diff.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(filepath.Base(f), data)
			var el ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("Parse returned %v; want an ErrorList", err)
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".err", []byte(err.Error()+"\n"))
			for _, e := range el {
				if e.Line == 0 || e.Col == 0 {
					t.Errorf("error without a position: %v", e)
				}
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	p := mustParse(t, testPolicy)
	if got := len(p.Allow()); got != 11 {
		t.Errorf("allow rules = %d; want 11", got)
	}
	if got := len(p.DenyRules()); got != 4 {
		t.Errorf("deny rules = %d; want 4", got)
	}
	r := p.Allow()[3]
	if r.ID != "allow[3]" || r.HostPattern() != "github.com" || r.Line != 6 || r.Col != 5 {
		t.Errorf("allow[3] = %s %q at %d:%d", r.ID, r.HostPattern(), r.Line, r.Col)
	}
	if strings.Join(r.Methods, ",") != "GET,HEAD,POST" {
		t.Errorf("methods not upper-cased: %v", r.Methods)
	}
	if !p.Allow()[0].DefaultPorts || len(p.DenyRules()[0].Ports) != 0 {
		t.Errorf("default ports: allow %v, deny %v", p.Allow()[0].Ports, p.DenyRules()[0].Ports)
	}
	if got := p.Allow()[7].HostPattern(); got != "xn--bcher-kva.example" {
		t.Errorf("IDN rule = %q; want punycode", got)
	}
}

func TestParseEdgeForms(t *testing.T) {
	for _, src := range []string{
		"version: 1\n",                              // no rules at all: deny everything
		"version: 1\nallow:\ndeny:\n",               // empty lists
		"version: 1\nallow: []\n",                   // flow empty list
		"version: \"1\"\nmode: report\n",            // quoted version
		"version: 1\nallow:\n- host: A.COM.\n",      // zero-indented list, case, trailing dot
		"version: 1\nx: &r {host: a.example.com}\n", // alias targets are still keys: error expected below
	} {
		_, err := Parse("t.yaml", []byte(src))
		if strings.Contains(src, "x: &r") {
			if err == nil {
				t.Errorf("%q: unknown key accepted", src)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
	// Aliases resolve to the node they name.
	p := mustParse(t, "version: 1\nallow:\n  - &r {host: a.example.com}\n  - *r\n")
	if len(p.Allow()) != 2 || p.Allow()[1].HostPattern() != "a.example.com" {
		t.Errorf("alias not followed: %d rules", len(p.Allow()))
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "Example.COM.", want: "example.com"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "Bücher.example", want: "xn--bcher-kva.example"},
		{in: "_acme-challenge.example.com", want: "_acme-challenge.example.com"},
		{in: "a..b", bad: true},
		{in: ".", bad: true},
		{in: "", bad: true},
		{in: "a b.com", bad: true},
		{in: "127.0.0.1", bad: true},
		{in: "0x7f.1", bad: true},
		{in: strings.Repeat("a", 64) + ".com", bad: true},
		{in: strings.Repeat("a.", 127) + "com", bad: true},
	}
	for _, tt := range tests {
		got, err := NormalizeName(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestAddrClass(t *testing.T) {
	tests := []struct {
		addr, class string
	}{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.1", ""},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.128.0.1", ""},
		{"0.0.0.0", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"255.255.255.255", "reserved"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fc00::1", "unique-local"},
		{"fd12:3456::1", "unique-local"},
		{"ff02::1", "multicast"},
		{"::ffff:127.0.0.1", "IPv4-mapped"},
		{"::ffff:8.8.8.8", "IPv4-mapped"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "NAT64"},
		{"64:ff9b:1::1", "NAT64"},
		{"2002:7f00:1::", "6to4"},
		{"2001:0:4136:e378::1", "Teredo"},
		{"2001:4860:4860::8888", ""},
		{"2606:4700::1111", ""},
	}
	for _, tt := range tests {
		a, err := netipParse(tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := AddrClass(a); got != tt.class {
			t.Errorf("AddrClass(%s) = %q; want %q", tt.addr, got, tt.class)
		}
	}
}

func netipParse(s string) (netip.Addr, error) { return netip.ParseAddr(s) }

// TestWildcardOverPublicSuffix pins what the public suffix list says about
// each example (so a list update that changes it shows up here) and what the
// parser makes of a wildcard over it.
func TestWildcardOverPublicSuffix(t *testing.T) {
	tests := []struct {
		pattern string
		// What publicsuffix.PublicSuffix returns for the part after the
		// wildcard.
		ps    string
		icann bool
		// Empty: the pattern is accepted.
		err string
	}{
		{pattern: "**.co.uk", ps: "co.uk", icann: true, err: `is a wildcard over the public suffix "co.uk", where anyone can create a name of their own; name the hosts you need, e.g. "example.co.uk"`},
		{pattern: "*.github.io", ps: "github.io", err: `e.g. "acme.github.io"`},
		{pattern: "**.s3.amazonaws.com", ps: "s3.amazonaws.com", err: `e.g. "acme.s3.amazonaws.com"`},
		{pattern: "*.herokuapp.com", ps: "herokuapp.com", err: `e.g. "acme.herokuapp.com"`},
		{pattern: "**.blogspot.com", ps: "blogspot.com", err: `e.g. "acme.blogspot.com"`},
		{pattern: "*.workers.dev", ps: "workers.dev", err: `e.g. "acme.workers.dev"`},
		// The list has the wildcard rule "*.compute.amazonaws.com": each
		// region name is a suffix, and customers' names lie below it.
		{pattern: "*.us-east-1.compute.amazonaws.com", ps: "us-east-1.compute.amazonaws.com", err: `e.g. "acme.us-east-1.compute.amazonaws.com"`},
		{pattern: "**.compute.amazonaws.com", ps: "com", icann: true, err: `each name directly under it is a public suffix (the list has "*.compute.amazonaws.com")`},
		{pattern: "*.compute.amazonaws.com", ps: "com", icann: true},
		{pattern: "**.kawasaki.jp", ps: "jp", icann: true, err: `(the list has "*.kawasaki.jp")`},
		{pattern: "*.acme.github.io", ps: "github.io"},
		{pattern: "**.acme.s3.amazonaws.com", ps: "s3.amazonaws.com"},
		{pattern: "*.github.com", ps: "com", icann: true},
		{pattern: "**.pythonhosted.org", ps: "org", icann: true},
	}
	for _, tt := range tests {
		suffix := strings.TrimLeft(tt.pattern, "*.")
		if ps, icann := publicsuffix.PublicSuffix(suffix); ps != tt.ps || icann != tt.icann {
			t.Errorf("PublicSuffix(%q) = %q, %v; the test expects %q, %v", suffix, ps, icann, tt.ps, tt.icann)
		}
		_, err := parseHostPattern(tt.pattern)
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("parseHostPattern(%q) = %v; want it accepted", tt.pattern, err)
		case tt.err != "" && err == nil:
			t.Errorf("parseHostPattern(%q) accepted; want an error containing %q", tt.pattern, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), tt.err):
			t.Errorf("parseHostPattern(%q) = %v; want it to contain %q", tt.pattern, err, tt.err)
		case tt.err != "" && !strings.Contains(err.Error(), "anyone can create a name"):
			t.Errorf("parseHostPattern(%q) = %v; want it to say why", tt.pattern, err)
		}
	}
}
