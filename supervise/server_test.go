package supervise

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
)

type fixture struct {
	t       *testing.T
	dir     string
	broker  *approval.Broker
	denials *Denials
	log     *audit.Log
	pol     atomic.Pointer[allowlist.Policy]
	srv     *Server
	url     string
}

const askPolicy = `version: 1
approvals: ask
approval_timeout: 30s
allow:
  - host: docs.example.com
  - host: api.example.com
    methods: [GET]
deny:
  - host: evil.example.com
git:
  - repo: git.example.com/acme/widget
    push: [refs/heads/agent/**]
`

func parse(t *testing.T, policy string) *allowlist.Policy {
	t.Helper()
	pol, err := allowlist.Parse("allowlist.yaml", []byte(policy))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// start runs a server with a real broker on a temporary channel, served
// on loopback.
func start(t *testing.T, policy string, mod func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), denials: NewDenials(0)}
	f.pol.Store(parse(t, policy))
	f.log = audit.NewWith(audit.Options{Bottle: "bx"}, f.denials)
	b, err := approval.NewBroker(f.dir, "bx", func(r *audit.Record) { f.log.Write(r) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.broker = b
	cfg := Config{Bottle: "bx", Policy: f.pol.Load, Approvals: b, Denials: f.denials,
		Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if mod != nil {
		mod(&cfg)
	}
	if f.srv, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.srv.Shutdown(ctx)
	})
	// The broker closes first: it answers the calls still blocked.
	t.Cleanup(func() { b.Close() })
	f.url = "http://" + ln.Addr().String() + contract.MCPPath
	return f
}

// client connects an MCP client (the SDK's, over streamable HTTP).
func (f *fixture) client() *mcp.ClientSession {
	f.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "v1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: f.url}, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	// The broker closes first: it answers the calls still blocked.
	f.t.Cleanup(func() { f.broker.Close(); cs.Close() })
	return cs
}

// call calls tool and returns its text and its structured content
// decoded into out.
func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any, out any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Errorf("%s: %v", tool, err) // not Fatal: some calls run on goroutines of their own
		return "", true
	}
	var text []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			text = append(text, tc.Text)
		}
	}
	if out != nil && !res.IsError {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, out); err != nil {
			t.Errorf("%s: structured content %s: %v", tool, b, err)
		}
	}
	return strings.Join(text, "\n"), res.IsError
}

// background calls tool on a goroutine of its own, whose end the test
// does not wait for (its cleanup answers the call).
func background(cs *mcp.ClientSession, tool string, args map[string]any) {
	cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
}

func (f *fixture) waitPending() approval.Request {
	f.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, _ := approval.List(f.dir)
		if len(rs) == 1 {
			return rs[0]
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("pending: %+v", rs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestAccessBlocksUntilDecided(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	type res struct {
		text string
		out  AccessResult
	}
	done := make(chan res, 1)
	go func() {
		var out AccessResult
		text, isErr := call(t, cs, "request_access", map[string]any{"host": "pkg.example.com", "path": "/simple/", "method": "get",
			"reason": "to install the test dependencies"}, &out)
		if isErr {
			t.Errorf("request_access failed: %s", text)
		}
		done <- res{text, out}
	}()
	q := f.waitPending()
	if q.Source != approval.SourceMCP || q.AgentReason != "to install the test dependencies" || q.Host != "pkg.example.com" ||
		q.Port != 443 || q.Method != "GET" || q.Path != "/simple/" || q.Cause != "no-rule" || q.Kind != "request" {
		t.Errorf("filed %+v", q)
	}
	if q.HostRule.Host != "pkg.example.com" || !slices.Equal(q.HostRule.Ports, []uint16{443}) || len(q.Always) != 1 ||
		q.Command != "bottle allow add pkg.example.com --port 443 --bottle bx" {
		t.Errorf("what the verdicts allow: host %+v always %+v command %q", q.HostRule, q.Always, q.Command)
	}
	select {
	case r := <-done:
		t.Fatalf("returned before a decision: %+v", r)
	case <-time.After(300 * time.Millisecond):
	}
	if err := approval.Decide(f.dir, approval.Decision{ID: q.ID, Verdict: approval.Once, By: "bottle approve (test)", Note: "only the index"}); err != nil {
		t.Fatal(err)
	}
	var r res
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("request_access did not return after the decision")
	}
	if r.out.Status != "approved" || r.out.Verdict != "once" || r.out.Note != "only the index" || r.out.ID != q.ID || r.out.By != "bottle approve (test)" {
		t.Errorf("result %+v", r.out)
	}
	if !strings.Contains(r.text, `"only the index"`) || !strings.Contains(r.text, "Approved once") {
		t.Errorf("text %q", r.text)
	}
	// Once on an MCP request allows what it asked for, for a while.
	if _, ok := f.broker.Granted(allowlist.Request{Scheme: "https", Host: "pkg.example.com", Port: 443, Method: "GET", Path: "/simple/"}); !ok {
		t.Error("the approved target is not granted")
	}
	// Asked again, it is allowed at once, with nothing filed.
	var again AccessResult
	call(t, cs, "request_access", map[string]any{"host": "pkg.example.com", "path": "/simple/", "method": "GET", "reason": "again"}, &again)
	if again.Status != "allowed" || again.ID != q.ID {
		t.Errorf("asked again: %+v", again)
	}
}

func TestRequestAccessDeniedAndTimeout(t *testing.T) {
	f := start(t, strings.Replace(askPolicy, "approval_timeout: 30s", "approval_timeout: 1s", 1), nil)
	cs := f.client()
	var out AccessResult
	start := time.Now()
	text, _ := call(t, cs, "request_access", map[string]any{"host": "slow.example.com", "reason": "nobody answers"}, &out)
	if out.Status != "timeout" || out.ID == "" || time.Since(start) < time.Second || !strings.Contains(out.Command, "bottle allow add slow.example.com") {
		t.Errorf("timeout: %+v (%s)", out, text)
	}
	done := make(chan AccessResult, 1)
	go func() {
		var out AccessResult
		call(t, cs, "request_access", map[string]any{"host": "deny.example.com", "port": 8443, "reason": "please"}, &out)
		done <- out
	}()
	var q approval.Request
	deadline := time.Now().Add(5 * time.Second)
	for q.ID == "" && time.Now().Before(deadline) {
		rs, _ := approval.List(f.dir)
		for _, r := range rs {
			if r.Host == "deny.example.com" {
				q = r
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if q.Port != 8443 || q.Kind != "connect" {
		t.Fatalf("filed %+v", q)
	}
	approval.Decide(f.dir, approval.Decision{ID: q.ID, Verdict: approval.Deny, By: "test", Note: "not that one"})
	if out := <-done; out.Status != "denied" || out.Note != "not that one" {
		t.Errorf("denied: %+v", out)
	}
}

func TestRequestAccessNeedsNoApproval(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	for _, c := range []struct {
		args   map[string]any
		status string
		rule   string
	}{
		{map[string]any{"host": "docs.example.com", "reason": "read"}, "allowed", "allow[0]"},
		{map[string]any{"host": "API.example.com", "method": "GET", "path": "/v1", "reason": "read"}, "allowed", "allow[1]"},
		{map[string]any{"host": "evil.example.com", "reason": "please"}, "denied", "deny[0]"},
	} {
		var out AccessResult
		text, isErr := call(t, cs, "request_access", c.args, &out)
		if isErr || out.Status != c.status || out.Rule != c.rule {
			t.Errorf("%v: %+v %q", c.args, out, text)
		}
	}
	if rs, _ := approval.List(f.dir); len(rs) != 0 {
		t.Errorf("filed %+v", rs)
	}
	f.pol.Store(parse(t, strings.Replace(askPolicy, "version: 1\n", "version: 1\nmode: report\n", 1)))
	var out AccessResult
	if text, _ := call(t, cs, "request_access", map[string]any{"host": "new.example.com", "reason": "r"}, &out); out.Status != "allowed" || !strings.Contains(text, "report mode") {
		t.Errorf("report mode: %+v", out)
	}
}

func TestRequestAccessApprovalsOff(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"flag off":   func(c *Config) { c.ApprovalsFlag = "off" },
		"no channel": func(c *Config) { c.Approvals = nil },
	} {
		t.Run(name, func(t *testing.T) {
			f := start(t, askPolicy, mod)
			var out AccessResult
			call(t, f.client(), "request_access", map[string]any{"host": "new.example.com", "reason": "please"}, &out)
			if out.Status != "unavailable" || out.Command != "bottle allow add new.example.com --bottle bx" {
				t.Errorf("%+v", out)
			}
			if rs, _ := approval.List(f.dir); len(rs) != 0 {
				t.Errorf("filed %+v", rs)
			}
		})
	}
	// The flag turns approvals on for a policy that has them off.
	f := start(t, strings.Replace(askPolicy, "approvals: ask", "approvals: off", 1), func(c *Config) { c.ApprovalsFlag = "ask" })
	go background(f.client(), "request_access", map[string]any{"host": "new.example.com", "reason": "please"})
	f.waitPending()
}

func TestRequestAccessValidates(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	for _, c := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"host": "*.example.com", "reason": "r"}, "wildcard"},
		{map[string]any{"host": "https://x.example.com/", "reason": "r"}, "without a scheme"},
		{map[string]any{"host": "bad_name..example", "reason": "r"}, "not a valid name"},
		{map[string]any{"host": "x.example.com", "port": 70000, "reason": "r"}, "from 1 to 65535"},
		{map[string]any{"host": "x.example.com", "port": -1, "reason": "r"}, "from 1 to 65535"},
		{map[string]any{"host": "x.example.com", "method": "BREW", "reason": "r"}, "want one of GET"},
		{map[string]any{"host": "x.example.com", "path": "v1/x", "reason": "r"}, "must start with /"},
		{map[string]any{"host": "x.example.com", "path": "/v1?token=abc", "reason": "r"}, "without a query"},
		// An escaped "*" is a wildcard to the allowlist ("/v1/**"), which
		// the human would not read in "/v1/%2A%2A".
		{map[string]any{"host": "x.example.com", "method": "GET", "path": "/v1/%2A%2A", "reason": "r"}, "wildcard"},
		{map[string]any{"host": "x.example.com", "path": "/v1/%2a", "reason": "r"}, "wildcard"},
		{map[string]any{"host": "x.example.com", "reason": "  "}, "reason is required"},
		{map[string]any{"host": "x.example.com"}, "reason"},
		{map[string]any{"host": "x.example.com", "reason": strings.Repeat("x", 1001)}, "at most 1000"},
		{map[string]any{"host": "x.example.com", "reason": "a\x1b[2Jb"}, "control characters"},
	} {
		text, isErr := call(t, cs, "request_access", c.args, nil)
		if !isErr || !strings.Contains(text, c.want) {
			t.Errorf("%v: error %v %q, want %q", c.args, isErr, text, c.want)
		}
	}
	if strings.Contains(func() string {
		t, _ := call(t, cs, "request_access", map[string]any{"host": "x.example.com", "path": "/v1?token=abc", "reason": "r"}, nil)
		return t
	}(), "token=abc") {
		t.Error("an error repeats the query")
	}
	if rs, _ := approval.List(f.dir); len(rs) != 0 {
		t.Errorf("filed %+v", rs)
	}
}

func TestRequestAccessScrubs(t *testing.T) {
	const value = "s3cr3t-value-of-a-credential"
	scrub := func(s string) string { return strings.ReplaceAll(s, value, "[credential forge value]") }
	f := start(t, askPolicy, func(c *Config) { c.Scrub = scrub })
	cs := f.client()
	if text, isErr := call(t, cs, "request_access", map[string]any{"host": "x.example.com", "path": "/" + value, "reason": "r"}, nil); !isErr || strings.Contains(text, value) {
		t.Errorf("a path with a credential's value: %v %q", isErr, text)
	}
	go background(cs, "request_access", map[string]any{"host": "x.example.com", "reason": "the token is " + value})
	if q := f.waitPending(); q.AgentReason != "the token is [credential forge value]" {
		t.Errorf("filed reason %q", q.AgentReason)
	}
}

func TestWhyBlocked(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	var out BlockedResult
	if text, _ := call(t, cs, "why_blocked", nil, &out); len(out.Denials) != 0 || !strings.Contains(text, "No denials") {
		t.Fatalf("before any: %+v %q", out, text)
	}
	// What the proxy writes: a denial of an inner request, one of a
	// method, an allowed request, and a denial the policy has since lifted.
	f.log.Write(&audit.Record{Time: "t1", Kind: audit.KindRequest, Method: "GET", Scheme: "https", Host: "new.example.com", Port: 443,
		Path: "/v1/x?token=abc", Decision: audit.DecisionDeny, Rule: "default", Cause: "no-rule", Reason: "no rule allows new.example.com"})
	f.log.Write(&audit.Record{Time: "t2", Kind: audit.KindRequest, Method: "POST", Scheme: "https", Host: "api.example.com", Port: 443,
		Path: "/v1/y", Decision: audit.DecisionDeny, Rule: "allow[1]", Cause: "method-not-covered", Reason: "POST is not allowed"})
	f.log.Write(&audit.Record{Time: "t3", Kind: audit.KindRequest, Method: "GET", Host: "docs.example.com", Decision: audit.DecisionAllow})
	f.log.Write(&audit.Record{Time: "t4", Kind: audit.KindConnect, Host: "docs.example.com", Port: 443, Decision: audit.DecisionDeny, Rule: "default", Cause: "no-rule"})
	f.log.Write(&audit.Record{Time: "t5", Kind: audit.KindRequest, Method: "POST", Host: "docs.example.com", Port: 443, Decision: audit.DecisionDeny, Rule: "default", Cause: "dlp", Reason: "a secret"})
	text, _ := call(t, cs, "why_blocked", map[string]any{"recent": 10}, &out)
	if len(out.Denials) != 4 {
		t.Fatalf("denials %+v", out.Denials)
	}
	got := out.Denials
	if got[0].Time != "t5" || got[0].Command != "" || got[0].Now != "denied" {
		t.Errorf("dlp: %+v", got[0])
	}
	if got[1].Time != "t4" || got[1].Now != "allowed" {
		t.Errorf("lifted since: %+v", got[1])
	}
	if got[2].Command != "bottle allow add api.example.com --method GET --method POST --bottle bx" && !strings.Contains(got[2].Command, "POST") {
		t.Errorf("method: %+v", got[2])
	}
	if got[3].Path != "/v1/x" || !strings.HasPrefix(got[3].Command, "bottle allow add new.example.com") {
		t.Errorf("no rule: %+v", got[3])
	}
	if strings.Contains(text, "token") {
		t.Errorf("why_blocked shows a query: %s", text)
	}
	if !strings.Contains(text, "to allow it: bottle allow add new.example.com") {
		t.Errorf("text %s", text)
	}
	call(t, cs, "why_blocked", map[string]any{"recent": 1}, &out)
	if len(out.Denials) != 1 || out.Denials[0].Time != "t5" {
		t.Errorf("recent 1: %+v", out.Denials)
	}
	if text, isErr := call(t, cs, "why_blocked", map[string]any{"recent": 500}, nil); !isErr || !strings.Contains(text, "from 1 to 50") {
		t.Errorf("recent 500: %v %q", isErr, text)
	}
}

func TestListRules(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	var out RulesResult
	text, _ := call(t, cs, "list_rules", nil, &out)
	if out.Mode != "enforce" || out.Approvals != "ask" || out.ApprovalTimeout != "30s" {
		t.Errorf("settings %+v", out)
	}
	if len(out.Allow) != 2 || out.Allow[0].ID != "allow[0]" || out.Allow[0].Spec.Host != "docs.example.com" ||
		out.Allow[1].Rule != "allow[1]: api.example.com ports 80,443 methods GET" {
		t.Errorf("allow %+v", out.Allow)
	}
	if len(out.Deny) != 1 || out.Deny[0].Spec.Host != "evil.example.com" || !out.Deny[0].Spec.Deny {
		t.Errorf("deny %+v", out.Deny)
	}
	if len(out.Git) != 1 || out.Git[0].Repo != "git.example.com/acme/widget" || !slices.Contains(out.Git[0].Paths, "/acme/widget.git/git-receive-pack") {
		t.Errorf("git %+v", out.Git)
	}
	if !strings.Contains(text, "allow[0]: docs.example.com ports 80,443") || !strings.Contains(text, "approvals ask") {
		t.Errorf("text %s", text)
	}
	// A grant a human made shows.
	go background(cs, "request_access", map[string]any{"host": "new.example.com", "reason": "r"})
	q := f.waitPending()
	approval.Decide(f.dir, approval.Decision{ID: q.ID, Verdict: approval.Host, By: "test"})
	deadline := time.Now().Add(5 * time.Second)
	for len(out.Grants) == 0 && time.Now().Before(deadline) {
		call(t, cs, "list_rules", nil, &out)
		time.Sleep(20 * time.Millisecond)
	}
	if len(out.Grants) != 1 || out.Grants[0].Rule != "new.example.com --port 443" || out.Grants[0].Until != "" {
		t.Errorf("grants %+v", out.Grants)
	}
}

func TestTools(t *testing.T) {
	f := start(t, askPolicy, nil)
	res, err := f.client().ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	// Nothing decides: the agent cannot approve anything.
	if !slices.Equal(names, []string{"list_rules", "request_access", "why_blocked"}) {
		t.Errorf("tools %v", names)
	}
}

// TestPeersOutsideRefused: a peer outside the client ranges gets nothing:
// the listener closes its connection, and the handler answers 403.
func TestPeersOutsideRefused(t *testing.T) {
	f := start(t, askPolicy, func(c *Config) { c.Clients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	c := mcp.NewClient(&mcp.Implementation{Name: "outsider", Version: "v1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: f.url, MaxRetries: -1}, nil); err == nil {
		cs.Close()
		t.Fatal("a peer outside the internal range connected")
	}
	resp, err := http.Post(f.url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the listener answered an outsider: %s", resp.Status)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", contract.MCPPath, strings.NewReader(`{}`))
	req.RemoteAddr = "192.0.2.7:5555"
	f.srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("handler answered an outsider %d", rec.Code)
	}
}

func TestDenialsRing(t *testing.T) {
	d := NewDenials(3)
	l := audit.New(d)
	for i := range 5 {
		l.Write(&audit.Record{Time: string(rune('a' + i)), Kind: audit.KindRequest, Host: "h.example.com", Decision: audit.DecisionDeny})
	}
	l.Write(&audit.Record{Time: "x", Kind: audit.KindApproval, Decision: audit.DecisionDeny})
	l.Write(&audit.Record{Time: "y", Kind: audit.KindDNS, Name: "self.test", Decision: audit.DecisionDeny, SelfTest: true})
	var got []string
	for _, x := range d.Recent(10) {
		got = append(got, x.Time)
	}
	if !slices.Equal(got, []string{"e", "d", "c"}) {
		t.Errorf("recent %v", got)
	}
}

// TestRequestAccessL7: a method the rules leave out is asked for as
// narrowly as it was denied; a glob path the agent gives is kept as given.
func TestRequestAccessL7(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	for _, c := range []struct {
		path, want string
	}{
		{"/v1/items", "bottle allow add api.example.com --port 443 --method POST --path /v1/items --bottle bx"},
		{"/v1/**", "bottle allow add api.example.com --port 443 --method POST --path '/v1/**' --bottle bx"},
		// A method and no path is the method on every path, as once
		// grants it: always writes no path either, not "/".
		{"", "bottle allow add api.example.com --port 443 --method POST --bottle bx"},
	} {
		go background(cs, "request_access", map[string]any{"host": "api.example.com", "method": "POST", "path": c.path, "reason": "to create one"})
		q := f.waitPending()
		if q.Cause != "method-not-covered" || q.Command != c.want || q.Kind != "request" {
			t.Errorf("%s: filed %+v", c.path, q)
		}
		approval.Decide(f.dir, approval.Decision{ID: q.ID, Verdict: approval.Deny, By: "test"})
		waitGone(t, f.dir)
	}
}

func waitGone(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if rs, _ := approval.List(dir); len(rs) == 0 {
			return
		}
	}
	t.Fatal("the approval is still pending")
}

// TestRequestAccessProgress: a client that asks for progress hears, while
// its request_access waits, that it still waits.
func TestRequestAccessProgress(t *testing.T) {
	f := start(t, askPolicy, func(c *Config) { c.progressEvery = 20 * time.Millisecond })
	heard := make(chan string, 100)
	c := mcp.NewClient(&mcp.Implementation{Name: "test-agent", Version: "v1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			select {
			case heard <- r.Params.Message:
			default:
			}
		}})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: f.url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.broker.Close(); cs.Close() })
	params := &mcp.CallToolParams{Name: "request_access", Arguments: map[string]any{"host": "slow.example.com", "reason": "r"}}
	params.SetProgressToken("tok")
	go cs.CallTool(context.Background(), params)
	select {
	case m := <-heard:
		if !strings.Contains(m, "waiting for the human to decide on slow.example.com:443") {
			t.Errorf("progress %q", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no progress while request_access waits")
	}
}

// TestGrantNeverOverrulesADenyRule: a session grant made before a deny
// rule was added does not make request_access or why_blocked say the
// target is allowed: the proxy refuses it, whatever the grant.
func TestGrantNeverOverrulesADenyRule(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	done := make(chan AccessResult, 1)
	go func() {
		var out AccessResult
		call(t, cs, "request_access", map[string]any{"host": "new.example.com", "reason": "r"}, &out)
		done <- out
	}()
	q := f.waitPending()
	if err := approval.Decide(f.dir, approval.Decision{ID: q.ID, Verdict: approval.Host, By: "t"}); err != nil {
		t.Fatal(err)
	}
	if out := <-done; out.Status != "approved" {
		t.Fatalf("%+v", out)
	}
	f.pol.Store(parse(t, strings.Replace(askPolicy, "deny:\n", "deny:\n  - host: new.example.com\n", 1)))
	var out AccessResult
	if text, _ := call(t, cs, "request_access", map[string]any{"host": "new.example.com", "reason": "r"}, &out); out.Status != "denied" {
		t.Errorf("a target a deny rule refuses: %+v %q", out, text)
	}
	f.log.Write(&audit.Record{Time: "t1", Kind: audit.KindConnect, Host: "new.example.com", Port: 443, Decision: audit.DecisionDeny, Rule: "deny[1]", Cause: "deny-rule"})
	var b BlockedResult
	call(t, cs, "why_blocked", nil, &b)
	if len(b.Denials) != 1 || b.Denials[0].Now != "denied" {
		t.Errorf("why_blocked: %+v", b.Denials)
	}
}

// TestRequestAccessBounded: the agent may have maxAsking request_access
// calls waiting at once; the next is refused at once, and files nothing.
func TestRequestAccessBounded(t *testing.T) {
	f := start(t, askPolicy, nil)
	cs := f.client()
	for i := range maxAsking {
		go background(cs, "request_access", map[string]any{"host": fmt.Sprintf("h%d.example.com", i), "reason": "r"})
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, _ := approval.List(f.dir)
		if len(rs) == maxAsking {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pending", len(rs))
		}
		time.Sleep(10 * time.Millisecond)
	}
	text, isErr := call(t, cs, "request_access", map[string]any{"host": "one-more.example.com", "reason": "r"}, nil)
	if !isErr || !strings.Contains(text, "already wait") {
		t.Errorf("over the bound: %v %q", isErr, text)
	}
	if rs, _ := approval.List(f.dir); len(rs) != maxAsking {
		t.Errorf("%d filed", len(rs))
	}
}
