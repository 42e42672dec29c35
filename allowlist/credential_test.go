package allowlist

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

const credPolicy = `version: 1
dlp: block
allow:
  - host: api.example.com
  - host: "*.example.org"
  - host: "**.cloud.example"
  - host: paste.example.com
    dlp: off
  - host: report.example.com
    methods: [POST]
    dlp: report
  - host: git.example.com
  - host: git.example.com
    ports: [22]
    tls: passthrough
credentials:
  - name: anthropic
    hosts: [API.example.com.]
    header: x-api-key
    source: env:ANTHROPIC_API_KEY
    agent_env: ANTHROPIC_API_KEY
  - name: github
    hosts: [git.example.com, "*.example.org"]
    basic_user: x-access-token
    source: "command:gh auth token"
  - name: maps
    hosts: [api.example.com]
    query: key
    source: file:/run/keys/maps
  - name: bearer
    hosts: [report.example.com]
    bearer: true
    source: keychain:acme/me
  - name: aws
    hosts: ["*.cloud.example"]
    aws:
      access_key_id: env:AWS_ACCESS_KEY_ID
      secret_access_key: env:AWS_SECRET_ACCESS_KEY
      session_token: env:AWS_SESSION_TOKEN
`

func TestCredentials(t *testing.T) {
	p := mustParse(t, credPolicy)
	creds := p.Credentials()
	var names []string
	for _, c := range creds {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, ","); got != "anthropic,github,maps,bearer,aws" {
		t.Fatalf("credentials = %s", got)
	}
	a := creds[0]
	if a.Kind != CredHeader || a.Header != "X-Api-Key" || a.Source != (Source{"env", "ANTHROPIC_API_KEY"}) || a.AgentEnv != "ANTHROPIC_API_KEY" || a.Line != 17 || a.Col != 5 {
		t.Errorf("anthropic = %+v", a)
	}
	if got := a.Hosts(); !slices.Equal(got, []string{"api.example.com"}) {
		t.Errorf("anthropic hosts = %v; want the canonical name", got)
	}
	g := creds[1]
	if g.Kind != CredBasic || g.BasicUser != "x-access-token" || g.Source.String() != "command:gh auth token" || !slices.Equal(g.Hosts(), []string{"git.example.com", "*.example.org"}) {
		t.Errorf("github = %+v %v", g, g.Hosts())
	}
	if m := creds[2]; m.Kind != CredQuery || m.Query != "key" || m.Source != (Source{"file", "/run/keys/maps"}) {
		t.Errorf("maps = %+v", m)
	}
	if b := creds[3]; b.Kind != CredBearer || b.Source != (Source{"keychain", "acme/me"}) {
		t.Errorf("bearer = %+v", b)
	}
	w := creds[4]
	if w.Kind != CredAWS || w.AccessKeyID.Ref != "AWS_ACCESS_KEY_ID" || w.SecretAccessKey.Ref != "AWS_SECRET_ACCESS_KEY" || w.SessionToken.Ref != "AWS_SESSION_TOKEN" || w.Source.Scheme != "" || w.AgentEnv != "" {
		t.Errorf("aws = %+v", w)
	}
	for _, tt := range []struct {
		host string
		want string
	}{
		{"api.example.com", "anthropic,maps"},
		{"API.Example.COM.", "anthropic,maps"},
		{"git.example.com", "github"},
		{"a.example.org", "github"},
		{"example.org", ""},
		{"a.b.example.org", ""},
		{"s3.cloud.example", "aws"},
		{"a.b.cloud.example", ""},
		{"cloud.example", ""},
		{"other.example", ""},
		{"10.0.0.1", ""},
		{"", ""},
		{"bad name", ""},
	} {
		var got []string
		for _, c := range p.CredentialsFor(tt.host) {
			got = append(got, c.Name)
			if !c.Matches(tt.host) {
				t.Errorf("%s is returned for %q but does not match it", c.Name, tt.host)
			}
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("CredentialsFor(%q) = %v; want %s", tt.host, got, tt.want)
		}
		for _, c := range creds {
			if c.Matches(tt.host) != slices.Contains(got, c.Name) {
				t.Errorf("%s.Matches(%q) = %v, disagreeing with CredentialsFor", c.Name, tt.host, c.Matches(tt.host))
			}
		}
	}
}

func TestNoCredentials(t *testing.T) {
	p := mustParse(t, "version: 1\nallow:\n  - host: a.example.com\ncredentials:\n")
	if p.Credentials() != nil || p.CredentialsFor("a.example.com") != nil {
		t.Errorf("credentials of an empty section: %v", p.Credentials())
	}
	if p.DLP() != DLPReport || p.DLPFor(Request{Scheme: "https", Host: "a.example.com", Method: "GET", Path: "/"}) != DLPReport {
		t.Errorf("default DLP = %v; want report", p.DLP())
	}
}

func TestDLPFor(t *testing.T) {
	p := mustParse(t, credPolicy)
	if p.DLP() != DLPBlock {
		t.Fatalf("DLP() = %v; want block", p.DLP())
	}
	for _, tt := range []struct {
		host, method string
		want         DLPMode
	}{
		{"api.example.com", "GET", DLPBlock},      // a rule without dlp: the file's
		{"paste.example.com", "POST", DLPOff},     // dlp: off on its rule
		{"report.example.com", "POST", DLPReport}, // dlp: report on its rule
		{"report.example.com", "GET", DLPBlock},   // its rule does not admit GET: the file's
		{"nowhere.example", "GET", DLPBlock},      // no rule: the file's
	} {
		req := Request{Scheme: "https", Host: tt.host, Method: tt.method, Path: "/x"}
		if got := p.DLPFor(req); got != tt.want {
			t.Errorf("DLPFor(%s %s) = %v; want %v", tt.method, tt.host, got, tt.want)
		}
	}
	for _, src := range []string{"dlp: off", "dlp: report", "dlp: block"} {
		q := mustParse(t, "version: 1\n"+src+"\n")
		if got := "dlp: " + q.DLP().String(); got != src {
			t.Errorf("%s parses as %s", src, got)
		}
	}
	// In report mode, a request no rule admits gets the file's setting,
	// not that of a rule it does not match.
	r := mustParse(t, "version: 1\nmode: report\ndlp: block\nallow:\n  - host: a.example.com\n    paths: [\"/ok/**\"]\n    dlp: off\n")
	if got := r.DLPFor(Request{Scheme: "https", Host: "a.example.com", Method: "GET", Path: "/other"}); got != DLPBlock {
		t.Errorf("report-mode would-deny DLPFor = %v; want block", got)
	}
	if got := r.DLPFor(Request{Scheme: "https", Host: "a.example.com", Method: "GET", Path: "/ok/x"}); got != DLPOff {
		t.Errorf("report-mode allowed DLPFor = %v; want off", got)
	}
}

func TestCredentialCoverage(t *testing.T) {
	for _, tt := range []struct {
		rules, hosts string
		err          string // "" when accepted
	}{
		{"- host: a.example.com", "[a.example.com]", ""},
		{"- host: \"*.example.com\"", "[a.example.com]", ""},
		{"- host: \"**.example.com\"", "[a.b.example.com]", ""},
		{"- host: \"*.example.com\"", "[\"*.example.com\"]", ""},
		{"- host: \"**.example.com\"", "[\"*.example.com\"]", ""},
		{"- host: \"**.example.com\"", "[\"**.a.example.com\"]", ""},
		{"- host: \"**.example.com\"", "[\"**.example.com\"]", ""},
		{"- host: \"*.example.com\"", "[\"**.example.com\"]", "is not allowed by any allow rule"},
		{"- host: \"*.example.com\"", "[\"*.a.example.com\"]", "is not allowed by any allow rule"},
		{"- host: a.example.com", "[\"*.example.com\"]", "is not allowed by any allow rule"},
		{"- host: a.example.com\n  ports: [8443]", "[a.example.com]", ""},
		{"- host: a.example.com\n  tls: passthrough", "[a.example.com]", "with tls: passthrough, and credentials apply only to intercepted hosts"},
		{"- host: a.example.com\n  tls: passthrough\n  ports: [22]\n- host: a.example.com", "[a.example.com]", ""},
		{"- host: a.example.com\n  tls: passthrough\n- host: a.example.com\n  ports: [443]", "[a.example.com]", "a passthrough rule wins"},
		{"- cidr: 10.0.0.0/8", "[a.example.com]", "run `bottle allow add a.example.com` first"},
	} {
		src := "version: 1\nallow:\n" + indent(tt.rules) + "credentials:\n  - name: c\n    hosts: " + tt.hosts + "\n    bearer: true\n    source: env:C\n"
		_, err := Parse("t.yaml", []byte(src))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s / %s: %v; want it accepted", tt.rules, tt.hosts, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s / %s: %v; want an error containing %q", tt.rules, tt.hosts, err, tt.err)
		}
		var el ErrorList
		hostsLine := strings.Count(src[:strings.Index(src, "hosts:")], "\n") + 1
		if err != nil && (!errors.As(err, &el) || el[0].Line != hostsLine || el[0].Col != 13) {
			t.Errorf("%s / %s: error not at the host: %v", tt.rules, tt.hosts, err)
		}
	}
}

func indent(rules string) string {
	var b strings.Builder
	for _, l := range strings.Split(rules, "\n") {
		b.WriteString("  " + l + "\n")
	}
	return b.String()
}

func TestParseSource(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Source
		argv []string
		err  string
	}{
		{in: "env:TOKEN", want: Source{"env", "TOKEN"}},
		{in: "env:_x1", want: Source{"env", "_x1"}},
		{in: "file:~/.config/t", want: Source{"file", "~/.config/t"}},
		{in: "file:/a b/c", want: Source{"file", "/a b/c"}},
		{in: "keychain:svc", want: Source{"keychain", "svc"}},
		{in: "keychain:svc/acct", want: Source{"keychain", "svc/acct"}},
		{in: "command:gh auth token", want: Source{"command", "gh auth token"}, argv: []string{"gh", "auth", "token"}},
		{in: "command:  a   b  ", want: Source{"command", "  a   b  "}, argv: []string{"a", "b"}},
		{in: `command:op read 'op://vault/item one/password'`, argv: []string{"op", "read", "op://vault/item one/password"}},
		{in: `command:sh -c "echo \"hi\" \\ there"`, argv: []string{"sh", "-c", `echo "hi" \ there`}},
		{in: `command:a "" b`, argv: []string{"a", "", "b"}},
		{in: `command:a\ b c`, argv: []string{"a b", "c"}},
		{in: `command:x'y'"z"`, argv: []string{"xyz"}},
		{in: `command:'it''s'`, argv: []string{"its"}},
		{in: "TOKEN", err: `has no scheme; write env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT], never the secret itself (for the variable TOKEN: "env:TOKEN")`},
		{in: "Bearer:x", err: "has no scheme"},
		{in: "", err: "has no scheme"},
		{in: "vault:x", err: `has the unknown scheme "vault:"; use one of env:VAR`},
		{in: "env:", err: "does not name a variable"},
		{in: "env:A-B", err: "does not name a variable"},
		{in: "file:  ", err: "names no file"},
		{in: "command:", err: "names no command"},
		{in: "command:'a", err: "unterminated '"},
		{in: `command:"a`, err: `unterminated "`},
		{in: `command:a\`, err: "lone backslash"},
		{in: "keychain:/acct", err: "names no keychain service"},
		{in: "keychain:svc/", err: "empty account"},
		{in: "env:A\nB", err: "control character"},
	} {
		got, err := ParseSource(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSource(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSource(%q): %v", tt.in, err)
			continue
		}
		if got.String() != tt.in {
			t.Errorf("ParseSource(%q).String() = %q", tt.in, got.String())
		}
		if tt.want.Scheme != "" && got != tt.want {
			t.Errorf("ParseSource(%q) = %+v; want %+v", tt.in, got, tt.want)
		}
		argv, err := got.Argv()
		switch {
		case tt.argv == nil && err == nil:
			t.Errorf("Argv of %q = %q; want an error (not a command)", tt.in, argv)
		case tt.argv != nil && (err != nil || !slices.Equal(argv, tt.argv)):
			t.Errorf("Argv of %q = %q, %v; want %q", tt.in, argv, err, tt.argv)
		}
	}
}

// TestSourceNotEchoed: a source with no scheme is most likely the secret
// itself, pasted where its source belongs; no message repeats it.
func TestSourceNotEchoed(t *testing.T) {
	token := "tok" + strings.Repeat("aB3x", 10) // made here: no real-looking secret in the file
	for _, bad := range []string{token, token[:10] + ":" + token[10:], "x" + token + ":y"} {
		_, err := ParseSource(bad)
		var sl *SecretLikeError
		if !errors.As(err, &sl) || strings.Contains(err.Error(), token[:10]) {
			t.Errorf("ParseSource(token) = %v", err)
		}
		src := "version: 1\nallow:\n  - host: a.example.com\ncredentials:\n  - name: a\n    hosts: [a.example.com]\n    bearer: true\n    source: " + bad + "\n"
		_, err = Parse("t.yaml", []byte(src))
		if err == nil || strings.Contains(err.Error(), token[:10]) || !strings.Contains(err.Error(), "t.yaml:8:13: credentials[0].source has no scheme") {
			t.Errorf("Parse echoes the value: %v", err)
		}
		_, err = AddCredential("t.yaml", []byte("version: 1\nallow:\n  - host: a.example.com\n"), CredentialSpec{Name: "a", Hosts: []string{"a.example.com"}, Kind: CredBearer, Source: Source{Scheme: "", Ref: bad}})
		if err == nil || strings.Contains(err.Error(), token[:10]) {
			t.Errorf("AddCredential echoes the value: %v", err)
		}
	}
}

func TestCheckHeader(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"x-api-key", "X-Api-Key"},
		{"authorization", "Authorization"},
		{"X-Goog-Api-Key", "X-Goog-Api-Key"},
	} {
		if got, err := CheckHeader(tt.in); err != nil || got != tt.want {
			t.Errorf("CheckHeader(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, h := range []string{"host", "HOST", "content-length", "transfer-encoding", "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "Proxy-Connection", "", "a b", "a:b", "é"} {
		if _, err := CheckHeader(h); err == nil {
			t.Errorf("CheckHeader(%q) accepted", h)
		}
	}
}

func TestParseEmbeddedCredentials(t *testing.T) {
	src := "version: 1\nname: demo\nimage: alpine\nallow:\n  - host: api.example.com\n    dlp: off\ndlp: block\ncredentials:\n  - name: key\n    hosts: [api.example.com]\n    bearer: true\n    source: env:KEY\n"
	p, err := ParseEmbedded("bottle.yaml", []byte(src), []string{"name", "image"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Credentials()) != 1 || p.DLP() != DLPBlock || p.DLPFor(Request{Scheme: "https", Host: "api.example.com", Method: "GET", Path: "/"}) != DLPOff {
		t.Errorf("embedded: %d credentials, dlp %v", len(p.Credentials()), p.DLP())
	}
	_, err = ParseEmbedded("bottle.yaml", []byte("version: 1\nname: demo\ncredentials:\n  - name: key\n    hosts: [api.example.com]\n    bearer: true\n    source: env:KEY\n"), []string{"name"})
	if err == nil || !strings.Contains(err.Error(), "bottle.yaml:5:13: credentials[0].hosts: \"api.example.com\" is not allowed by any allow rule") {
		t.Errorf("embedded uncovered host: %v", err)
	}
}

func TestRuleStringDLP(t *testing.T) {
	p := mustParse(t, credPolicy)
	if got := p.Allow()[3].String(); got != "allow[3]: paste.example.com ports 80,443 dlp off" {
		t.Errorf("String = %q", got)
	}
	if got := p.Allow()[0].String(); got != "allow[0]: api.example.com ports 80,443" {
		t.Errorf("String = %q", got)
	}
}
