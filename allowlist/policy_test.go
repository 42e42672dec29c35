package allowlist

import "testing"

// TestRuleString: the one way every message shows a rule.
func TestRuleString(t *testing.T) {
	pol, err := Parse("a.yaml", []byte(`version: 1
allow:
  - host: api.example.com
  - host: github.com
    methods: [GET, POST]
    paths: ["/acme/**"]
  - host: ssh.example.com
    ports: [22, 443]
    tls: passthrough
    sni: optional
  - cidr: 10.20.0.0/16
    ports: [5432]
deny:
  - host: gist.github.com
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"allow[0]: api.example.com ports 80,443",
		"allow[1]: github.com ports 80,443 methods GET,POST paths /acme/**",
		"allow[2]: ssh.example.com ports 22,443 (tls passthrough, sni optional)",
		"allow[3]: 10.20.0.0/16 ports 5432",
		"deny[0]: gist.github.com all ports",
	}
	rules := append(append([]*Rule{}, pol.Allow()...), pol.DenyRules()...)
	for i, r := range rules {
		if got := r.String(); got != want[i] {
			t.Errorf("got  %s\nwant %s", got, want[i])
		}
	}
	if rules[3].Target() != "10.20.0.0/16" || rules[0].Target() != "api.example.com" {
		t.Errorf("targets %q %q", rules[3].Target(), rules[0].Target())
	}
}
