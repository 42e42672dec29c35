package allowlist

import (
	"errors"
	"os"
	"strings"
	"testing"
)

const sniPolicy = `version: 1
allow:
  - host: opt.example.com
    ports: [443, 8443]
    tls: passthrough
    sni: optional
  - host: req.example.com
    tls: passthrough
    sni: required
  - host: default.example.com
    tls: passthrough
  - host: intercepted.example.com
  - cidr: 10.30.0.0/16
    ports: [5432]
    tls: passthrough
    sni: optional
  - host: l7deny.example.com
    tls: passthrough
    sni: optional
  - host: first.wild.example.com
    tls: passthrough
  - host: "*.wild.example.com"
    tls: passthrough
    sni: optional
deny:
  - host: l7deny.example.com
    paths: ["/admin/**"]
`

func TestParseSNI(t *testing.T) {
	p := mustParse(t, sniPolicy)
	want := []bool{true, false, false, false, true, true, false, true}
	for i, r := range p.Allow() {
		if r.SNIOptional != want[i] {
			t.Errorf("%s.SNIOptional = %v; want %v", r.ID, r.SNIOptional, want[i])
		}
	}
}

// TestDecideConnectSNI: AllowNoSNI is set on a tunnel made by a passthrough
// rule with `sni: optional`, and on nothing else.
func TestDecideConnectSNI(t *testing.T) {
	p := mustParse(t, sniPolicy)
	tests := []struct {
		name    string
		host    string
		port    uint16
		action  Action
		rule    string
		noSNIOK bool
		cause   Cause // CauseAllowed unless set
	}{
		{name: "optional", host: "opt.example.com", port: 443, action: ActionTunnel, rule: "allow[0]", noSNIOK: true},
		{name: "optional on its other port", host: "OPT.example.com.", port: 8443, action: ActionTunnel, rule: "allow[0]", noSNIOK: true},
		{name: "optional, wrong port", host: "opt.example.com", port: 22, action: ActionDeny, rule: "default", cause: CausePort},
		{name: "required written out", host: "req.example.com", port: 443, action: ActionTunnel, rule: "allow[1]"},
		{name: "required by default", host: "default.example.com", port: 443, action: ActionTunnel, rule: "allow[2]"},
		{name: "intercepted", host: "intercepted.example.com", port: 443, action: ActionIntercept, rule: "allow[3]"},
		{name: "cidr passthrough", host: "10.30.1.2", port: 5432, action: ActionTunnel, rule: "allow[4]", noSNIOK: true},
		{name: "an L7 deny forces interception", host: "l7deny.example.com", port: 443, action: ActionIntercept, rule: "allow[5]"},
		// The first matching passthrough rule in file order decides, and it
		// requires the SNI although a later wildcard would not.
		{name: "first passthrough rule decides", host: "first.wild.example.com", port: 443, action: ActionTunnel, rule: "allow[6]"},
		{name: "wildcard optional", host: "other.wild.example.com", port: 443, action: ActionTunnel, rule: "allow[7]", noSNIOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.DecideConnect(tt.host, tt.port)
			cause := tt.cause
			if cause == CauseUnknown {
				cause = CauseAllowed
			}
			if d.Action != tt.action || d.Rule != tt.rule || d.AllowNoSNI != tt.noSNIOK || d.Cause != cause {
				t.Errorf("DecideConnect(%q, %d) = %v by %s, %s, AllowNoSNI %v (%s); want %v by %s, %s, AllowNoSNI %v",
					tt.host, tt.port, d.Action, d.Rule, d.Cause, d.AllowNoSNI, d.Explain(), tt.action, tt.rule, cause, tt.noSNIOK)
			}
		})
	}
	// Other questions never carry it.
	if d := p.Decide(Request{Scheme: "https", Host: "opt.example.com", Method: "GET", Path: "/"}); d.AllowNoSNI {
		t.Errorf("Decide set AllowNoSNI: %+v", d)
	}
	if d := p.DecideName("opt.example.com"); d.AllowNoSNI {
		t.Errorf("DecideName set AllowNoSNI: %+v", d)
	}
	// Report mode lets a denied CONNECT through intercepted, never tunnelled.
	rp := mustParse(t, strings.Replace(sniPolicy, "version: 1\n", "version: 1\nmode: report\n", 1))
	if d := rp.DecideConnect("opt.example.com", 22); d.Action != ActionIntercept || !d.WouldDeny || d.AllowNoSNI {
		t.Errorf("report mode: %+v; want a would-deny intercept without AllowNoSNI", d)
	}
}

func TestRuleArgsSNI(t *testing.T) {
	p := mustParse(t, sniPolicy)
	if got, want := p.Allow()[0].Spec().Args(), "opt.example.com --port 443 --port 8443 --passthrough --sni-optional"; got != want {
		t.Errorf("Spec().Args() of allow[0] = %q; want %q", got, want)
	}
	if got, want := p.Allow()[2].Spec().Args(), "default.example.com --passthrough"; got != want {
		t.Errorf("Spec().Args() of allow[2] = %q; want %q", got, want)
	}
}

func TestEditSNI(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/commented.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pass := RuleSpec{Host: "ssh.github.com", Ports: []uint16{22, 443}, Passthrough: true}
	opt := pass
	opt.SNIOptional = true

	added, err := Add("commented.yaml", in, opt)
	if err != nil {
		t.Fatal(err)
	}
	// The rule goes after the last allow rule, every other byte as it was.
	want := strings.Replace(string(in), "    ]\n\n# Never.", "    ]\n  - host: ssh.github.com\n    ports: [22, 443]\n    tls: passthrough\n    sni: optional\n\n# Never.", 1)
	if want == string(in) || string(added.Data) != want {
		t.Fatalf("Add(sni optional):\n%s\nwant:\n%s", added.Data, want)
	}
	if p, err := Parse("c.yaml", added.Data); err != nil || !p.Allow()[3].SNIOptional {
		t.Fatalf("added rule does not parse as sni: optional: %v", err)
	}

	// The same rule again is a no-op; without the opt-out it is another rule.
	if res, err := Add("commented.yaml", added.Data, opt); err != nil || res.Existing != "allow[3]" {
		t.Errorf("Add again = %+v, %v; want the existing allow[3]", res, err)
	}
	if res, err := Add("commented.yaml", added.Data, pass); err != nil || res.Existing != "" || res.Data == nil {
		t.Errorf("Add without sni = %+v, %v; want a new rule", res, err)
	}

	// Remove names the rule exactly: the opt-out is a selector.
	_, err = Remove("commented.yaml", added.Data, pass, false)
	if !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "allow[3]: ssh.github.com ports 22,443 (tls passthrough, sni optional)") {
		t.Errorf("Remove without sni = %v; want ErrNoMatch listing the sni-optional rule", err)
	}
	res, err := Remove("commented.yaml", added.Data, opt, false)
	if err != nil || string(res.Data) != string(in) || strings.Join(res.Removed, ",") != "allow[3]" {
		t.Errorf("Remove(sni optional) = %+v, %v; want the original file back", res, err)
	}
	res, err = Remove("commented.yaml", added.Data, RuleSpec{Host: "ssh.github.com"}, true)
	if err != nil || string(res.Data) != string(in) {
		t.Errorf("Remove --all = %+v, %v; want the original file back", res, err)
	}

	for _, spec := range []RuleSpec{
		{Host: "a.example.com", SNIOptional: true},
		{Host: "a.example.com", SNIOptional: true, Deny: true},
		{Host: "a.example.com", SNIOptional: true, Passthrough: true, Methods: []string{"GET"}},
	} {
		if _, err := Add("commented.yaml", in, spec); err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("Add(%+v) = %v; want an error naming the flags", spec, err)
		}
	}
}
