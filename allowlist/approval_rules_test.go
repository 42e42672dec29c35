package allowlist

import "testing"

const approvalPolicy = `version: 1
allow:
  - host: api.example.com
    methods: [GET]
    paths: ["/v1/**"]
  - host: git.example.com
    paths: ["/acme/widget.git/**"]
  - host: alt.example.com
    ports: [8443]
  - host: ssh.example.com
    ports: [22]
    tls: passthrough
  - host: pass.example.com
    tls: passthrough
deny:
  - host: evil.example.com
`

// TestApprovalRules: what an approval writes is as narrow as the request:
// the host and port for a name no rule covers (passthrough for a CONNECT
// to a non-HTTP port), and the method and exact path (or the git
// repository) when the rules refused those. The session grant is the
// host and port whatever the request.
func TestApprovalRules(t *testing.T) {
	p := mustParse(t, approvalPolicy)
	for _, tc := range []struct {
		req        Request
		always     string
		host       string
		command    string
		noAlways   bool
		wantCauses Cause
	}{
		{req: Request{Scheme: "https", Host: "new.example.com", Port: 443, Method: "GET", Path: "/x"}, wantCauses: CauseNoRule,
			always: "new.example.com --port 443", host: "new.example.com --port 443",
			command: "bottle allow add new.example.com --port 443 --bottle b1"},
		{req: Request{Scheme: "https", Host: "new.example.com", Port: 22}, wantCauses: CauseNoRule,
			always: "new.example.com --port 22 --passthrough", host: "new.example.com --port 22 --passthrough"},
		{req: Request{Scheme: "https", Host: "10.1.2.3", Port: 443}, wantCauses: CauseNoRule,
			always: "10.1.2.3 --port 443", host: "10.1.2.3 --port 443"},
		{req: Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "post", Path: "/v1/items/%2e%2e/x"}, wantCauses: CauseMethod,
			always: "api.example.com --port 443 --method POST --path /v1/x", host: "api.example.com --port 443"},
		{req: Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/v2/items"}, wantCauses: CausePath,
			always: "api.example.com --port 443 --method GET --path /v2/items", host: "api.example.com --port 443",
			command: "bottle allow add api.example.com --port 443 --method GET --path /v2/items --bottle b1"},
		{req: Request{Scheme: "https", Host: "git.example.com", Port: 443, Method: "GET", Path: "/acme/other.git/info/refs"}, wantCauses: CausePath,
			always: "git.example.com --port 443 --method GET --method POST --path /acme/other.git/info/refs --path /acme/other.git/git-upload-pack", host: "git.example.com --port 443"},
		{req: Request{Scheme: "https", Host: "git.example.com", Port: 443, Method: "POST", Path: "/acme/other.git/git-receive-pack"}, wantCauses: CausePath,
			always: "git.example.com --port 443 --method GET --method POST --path /acme/other.git/info/refs --path /acme/other.git/git-receive-pack", host: "git.example.com --port 443"},
		{req: Request{Scheme: "https", Host: "api.example.com", Port: 443, Method: "GET", Path: "/v2/*"}, wantCauses: CausePath,
			noAlways: true, host: "api.example.com --port 443"},
		{req: Request{Scheme: "https", Host: "alt.example.com", Port: 443, Method: "GET", Path: "/"}, wantCauses: CausePort,
			always: "alt.example.com --port 443", host: "alt.example.com --port 443"},
	} {
		var d Decision
		if tc.req.Method == "" {
			d = p.DecideConnect(tc.req.Host, tc.req.Port)
		} else {
			d = p.Decide(tc.req)
		}
		if d.Cause != tc.wantCauses || !Holdable(d.Cause) {
			t.Fatalf("%+v: cause %s; want %s", tc.req, d.Cause, tc.wantCauses)
		}
		always, host := p.ApprovalRules(tc.req, d)
		if host.Args() != tc.host {
			t.Errorf("%+v: host rule %q; want %q", tc.req, host.Args(), tc.host)
		}
		if tc.noAlways {
			if always != nil {
				t.Errorf("%+v: always %v; want none", tc.req, always)
			}
			continue
		}
		if len(always) != 1 || always[0].Args() != tc.always {
			t.Errorf("%+v: always %v; want %q", tc.req, always, tc.always)
			continue
		}
		if cmd := ApprovalCommand(always, HintScope{Bottle: "b1"}); tc.command != "" && cmd != tc.command {
			t.Errorf("%+v: command %q; want %q", tc.req, cmd, tc.command)
		}
		// The rule written (by the editor of `bottle allow add`) lets the
		// request through.
		res, err := Add("a.yaml", []byte(approvalPolicy), always[0])
		if err != nil {
			t.Fatalf("%+v: adding %v: %v", tc.req, always[0], err)
		}
		q := mustParse(t, string(res.Data))
		var nd Decision
		if tc.req.Method == "" {
			nd = q.DecideConnect(tc.req.Host, tc.req.Port)
		} else {
			nd = q.Decide(tc.req)
		}
		if !nd.Allowed {
			t.Errorf("%+v: still refused after adding %v: %s", tc.req, always[0], nd.Explain())
		}
	}
}

// TestConnectPageable: a refused CONNECT is answered inside TLS only for
// a name, on a port that carries HTTP, for a refusal a page can explain,
// to a host that is not only a passthrough target.
func TestConnectPageable(t *testing.T) {
	p := mustParse(t, approvalPolicy)
	for _, tc := range []struct {
		host string
		port uint16
		want bool
	}{
		{"new.example.com", 443, true},
		{"evil.example.com", 443, true},       // a deny rule: shown, never held
		{"alt.example.com", 443, true},        // the port its rule does not cover
		{"new.example.com", 8443, true},       // a port an intercepting rule names
		{"new.example.com", 8080, false},      // a port no rule names
		{"new.example.com", 22, false},        // ssh
		{"new.example.com", 5432, false},      // a database
		{"10.1.2.3", 443, false},              // an address: no leaf
		{"pass.example.com", 8443, false},     // only passthrough covers it
		{"ssh.example.com", 443, false},       // the same
		{"api.example.com", 443, false},       // allowed: nothing to page
		{"bad_name..example.com", 443, false}, // not a name
	} {
		d := p.DecideConnect(tc.host, tc.port)
		if got := p.ConnectPageable(tc.host, tc.port, d); got != tc.want {
			t.Errorf("%s:%d (%s): pageable %v; want %v", tc.host, tc.port, d.Cause, got, tc.want)
		}
	}
	if Holdable(CauseDenyRule) || Holdable(CauseSpecialAddress) || Holdable(CauseFronting) || Holdable(CauseSecretLeak) || Holdable(CauseGitRef) {
		t.Error("a refusal no human may overrule is holdable")
	}
}
