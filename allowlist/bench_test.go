package allowlist

import (
	"fmt"
	"strings"
	"testing"
)

// benchPolicy builds a policy of n rules: mostly exact hosts, with some
// wildcards, L7 rules and cidrs mixed in, as a large generated file would be.
func benchPolicy(b *testing.B, n int) *Policy {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("version: 1\nallow:\n")
	for i := range n {
		switch i % 10 {
		case 0:
			fmt.Fprintf(&sb, "  - host: \"*.svc%d.example.com\"\n", i)
		case 1:
			fmt.Fprintf(&sb, "  - host: \"**.deep%d.example.org\"\n", i)
		case 2:
			fmt.Fprintf(&sb, "  - host: git%d.example.net\n    methods: [GET, POST]\n    paths: [\"/org%d/**\"]\n", i, i)
		default:
			fmt.Fprintf(&sb, "  - host: host%d.example.com\n", i)
		}
	}
	sb.WriteString("  - cidr: 10.20.0.0/16\n    ports: [5432]\ndeny:\n  - host: gist.example.com\n")
	p, err := Parse("bench.yaml", []byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkDecide measures one request decision against policies of growing
// size; with the host index its cost must not grow with the rule count.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 1_000, 100_000} {
		p := benchPolicy(b, n)
		reqs := []Request{
			{Scheme: "https", Host: fmt.Sprintf("host%d.example.com", n-1), Method: "GET", Path: "/v1/messages"}, // exact, last rule
			{Scheme: "https", Host: "api.svc0.example.com", Method: "GET", Path: "/"},                            // one-label wildcard
			{Scheme: "https", Host: "a.b.deep1.example.org", Method: "GET", Path: "/"},                           // any-depth wildcard
			{Scheme: "https", Host: "git2.example.net", Method: "POST", Path: "/org2/repo.git/git-upload-pack"},  // L7
			{Scheme: "https", Host: "blocked.example.io", Method: "GET", Path: "/"},                              // default deny
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				d := p.Decide(reqs[i%len(reqs)])
				if d.Rule == "" {
					b.Fatal("no rule")
				}
			}
		})
	}
}

func BenchmarkDecideConnect(b *testing.B) {
	p := benchPolicy(b, 1_000)
	b.ReportAllocs()
	for b.Loop() {
		p.DecideConnect("host999.example.com", 443)
	}
}

func BenchmarkDecideName(b *testing.B) {
	p := benchPolicy(b, 1_000)
	b.ReportAllocs()
	for b.Loop() {
		p.DecideName("host999.example.com.")
	}
}

// BenchmarkDecideAllowed is the proxy's hot path: one allowed request to a
// host with a rule of its own, as every intercepted request is judged. The
// reason is not written (nobody reads it here); Explain writes it on demand.
func BenchmarkDecideAllowed(b *testing.B) {
	p := benchPolicy(b, 1_000)
	req := Request{Scheme: "https", Host: "host999.example.com", Method: "GET", Path: "/v1/messages"}
	b.Run("decide", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := p.Decide(req); !d.Allowed {
				b.Fatal(d.Explain())
			}
		}
	})
	b.Run("decide+explain", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if d := p.Decide(req); d.Explain() == "" {
				b.Fatal("no reason")
			}
		}
	})
}
