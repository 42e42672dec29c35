package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/secret"
)

// mcpSession speaks MCP to the sidecar the way curl would: JSON-RPC
// POSTs, the session id of initialize echoed, answers read from either a
// JSON body or an event stream.
type mcpSession struct {
	t   *testing.T
	url string
	id  string
	n   int
}

func (sc *sidecar) mcpURL() string {
	sc.t.Helper()
	m := regexp.MustCompile(`msg="mcp listening" addr=(\S+)`).FindStringSubmatch(sc.stderr.String())
	if m == nil {
		sc.t.Fatalf("the MCP server is not listening:\n%s", sc.stderr.String())
	}
	return "http://" + m[1] + contract.MCPPath
}

func (sc *sidecar) mcp() *mcpSession {
	s := &mcpSession{t: sc.t, url: sc.mcpURL()}
	s.rpc("initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "curl", "version": "1"}})
	s.post(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"})
	return s
}

func (s *mcpSession) post(msg map[string]any) *http.Response {
	s.t.Helper()
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequest("POST", s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", s.url, err)
	}
	if resp.StatusCode/100 != 2 {
		s.t.Fatalf("POST %s %s: %s", s.url, msg["method"], resp.Status)
	}
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		s.id = id
	}
	return resp
}

// rpc calls method and returns its result.
func (s *mcpSession) rpc(method string, params any) json.RawMessage {
	s.t.Helper()
	s.n++
	resp := s.post(map[string]any{"jsonrpc": "2.0", "id": s.n, "method": method, "params": params})
	defer resp.Body.Close()
	var answer struct {
		Result json.RawMessage `json:"result"`
		Error  any             `json:"error"`
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			var ok bool
			if line, ok = strings.CutPrefix(line, "data: "); !ok {
				continue
			}
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &m) != nil || m["id"] == nil {
			continue // a notification
		}
		json.Unmarshal([]byte(line), &answer)
		break
	}
	if answer.Error != nil || answer.Result == nil {
		s.t.Fatalf("%s: %v", method, answer.Error)
	}
	return answer.Result
}

// tool calls a tool and returns its structured result.
func (s *mcpSession) tool(name string, args map[string]any) map[string]any {
	s.t.Helper()
	var res struct {
		Structured map[string]any `json:"structuredContent"`
		IsError    bool           `json:"isError"`
		Content    []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	json.Unmarshal(s.rpc("tools/call", map[string]any{"name": name, "arguments": args}), &res)
	if res.IsError {
		s.t.Fatalf("%s: %+v", name, res.Content)
	}
	return res.Structured
}

// auditLines are the audit's lines of kind so far.
func (sc *sidecar) auditLines(kind string) []audit.Record {
	var out []audit.Record
	for _, l := range strings.Split(sc.stdout.String(), "\n") {
		var r audit.Record
		if json.Unmarshal([]byte(l), &r) == nil && r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

const askPolicy = `version: 1
approvals: ask
approval_timeout: 30s
allow:
  - host: a.test
    ports: [{{PORT}}]
`

// TestSidecarRequestAccess: through the sidecar's MCP server, the agent's
// request_access files a pending approval and waits; a decision file
// releases it, and the decision is audited in the sidecar's audit log.
func TestSidecarRequestAccess(t *testing.T) {
	dir := t.TempDir()
	sc := startSidecar(t, askPolicy+"  - cidr: 127.0.0.1/32\n    ports: [{{PORT}}]\n", "--approval-dir", dir)
	s := sc.mcp()
	port, _ := strconv.Atoi(sc.port())
	done := make(chan map[string]any, 1)
	go func() {
		done <- s.tool("request_access", map[string]any{"host": "b.test", "port": port, "reason": "the build fetches from it"})
	}()
	var q approval.Request
	deadline := time.Now().Add(5 * time.Second)
	for q.ID == "" && time.Now().Before(deadline) {
		if rs, _ := approval.List(dir); len(rs) == 1 {
			q = rs[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if q.Source != approval.SourceMCP || q.Bottle != "sc" || q.Host != "b.test" || int(q.Port) != port || q.AgentReason != "the build fetches from it" {
		t.Fatalf("filed %+v", q)
	}
	if err := approval.Decide(dir, approval.Decision{ID: q.ID, Verdict: approval.Host, By: "bottle approve (test)", Note: "for this session"}); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	select {
	case out = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("request_access did not return after the decision")
	}
	if out["status"] != "approved" || out["verdict"] != "host" || out["note"] != "for this session" {
		t.Errorf("request_access = %v", out)
	}
	var rec audit.Record
	for deadline := time.Now().Add(5 * time.Second); rec.Approval == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if l := sc.auditLines(audit.KindApproval); len(l) > 0 {
			rec = l[0]
		}
	}
	if rec.Approval == nil || rec.Approval.ID != q.ID || rec.Approval.Verdict != "host" || rec.Approval.By != "bottle approve (test)" ||
		rec.Approval.Source != "mcp" || rec.Bottle != "sc" || rec.Host != "b.test" || rec.Decision != audit.DecisionAllow {
		t.Errorf("audit = %+v %+v", rec, rec.Approval)
	}
	gs, err := approval.Grants(dir)
	if err != nil || len(gs) != 1 || gs[0].Rule.Host != "b.test" {
		t.Errorf("grants.json = %+v, %v", gs, err)
	}
	// The proxy lets the agent through on the grant.
	if st, err := sc.get(sc.client(), "b.test"); st != 200 || err != nil {
		t.Errorf("GET b.test after the approval: %d %v", st, err)
	}
	rules := s.tool("list_rules", nil)
	if rules["approvals"] != "ask" || fmt.Sprint(rules["grants"]) == "[]" {
		t.Errorf("list_rules = %v", rules)
	}
}

// TestSidecarWhyBlocked: a denial the proxy audits is what why_blocked
// shows, with the command that would allow it.
func TestSidecarWhyBlocked(t *testing.T) {
	sc := startSidecar(t, sidecarPolicy)
	if st, _ := sc.status(sc.client(), "b.test"); st != 403 {
		t.Fatalf("blocked host: %d", st)
	}
	s := sc.mcp()
	var denials []any
	for deadline := time.Now().Add(5 * time.Second); len(denials) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		denials, _ = s.tool("why_blocked", nil)["denials"].([]any)
	}
	if len(denials) == 0 {
		t.Fatal("why_blocked shows no denial")
	}
	d := denials[0].(map[string]any)
	if d["host"] != "b.test" || d["cause"] != "no-rule" || !strings.Contains(fmt.Sprint(d["command"]), "bottle allow add b.test") {
		t.Errorf("why_blocked = %v", d)
	}
	// Without --approval-dir there is nobody to ask.
	if out := s.tool("request_access", map[string]any{"host": "b.test", "reason": "r"}); out["status"] != "unavailable" {
		t.Errorf("request_access without a channel = %v", out)
	}
}

// TestSidecarFailsPendingOfPreviousRun: a pending approval a previous run
// left is failed as denied, audited and removed when the sidecar starts.
func TestSidecarFailsPendingOfPreviousRun(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, approval.PendingDir), 0o755)
	old := approval.Request{ID: "0badcafe", Bottle: "sc", State: approval.StatePending, Source: approval.SourceProxy, Kind: "request",
		Host: "old.test", Port: 443, Method: "GET", Path: "/", Cause: "no-rule", Count: 2, Created: time.Now().Add(-time.Minute)}
	b, _ := json.Marshal(old)
	os.WriteFile(filepath.Join(dir, approval.PendingDir, old.ID+".json"), b, 0o644)
	sc := startSidecar(t, askPolicy, "--approval-dir", dir)
	if rs, _ := approval.List(dir); len(rs) != 0 {
		t.Errorf("still pending: %+v", rs)
	}
	l := sc.auditLines(audit.KindApproval)
	if len(l) != 1 || l[0].Approval.ID != old.ID || l[0].Approval.Verdict != "failed" || l[0].Approval.By != approval.ByRestart || l[0].Host != "old.test" {
		t.Fatalf("audit = %+v", l)
	}
}

// get fetches https://host:PORT/x through the proxy and returns the
// status (403 for a refused CONNECT).
func (sc *sidecar) get(c *http.Client, host string) (int, error) {
	resp, err := c.Get(fmt.Sprintf("https://%s:%s/x", host, sc.port()))
	if err != nil {
		if strings.Contains(err.Error(), "Forbidden") {
			return 403, nil
		}
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitApproval waits for the one pending approval in dir.
func waitApproval(t *testing.T, dir string) approval.Request {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if rs, _ := approval.List(dir); len(rs) == 1 && rs[0].State == approval.StatePending {
			return rs[0]
		}
	}
	t.Fatal("no pending approval")
	return approval.Request{}
}

// TestSidecarHoldsUntilDecided: with --approval-dir and approvals: ask, a
// request the policy denies is held, and the decision file the host
// writes releases it: once lets that one through, host this one and every
// later one to the host and port.
func TestSidecarHoldsUntilDecided(t *testing.T) {
	dir := t.TempDir()
	policy := askPolicy + "  - cidr: 127.0.0.1/32\n    ports: [{{PORT}}]\n"
	sc := startSidecar(t, policy, "--approval-dir", dir)
	c := sc.client()
	for _, v := range []approval.Verdict{approval.Once, approval.Host} {
		done := make(chan int, 1)
		go func() {
			st, err := sc.get(c, "b.test")
			if err != nil {
				t.Errorf("GET b.test: %v", err)
			}
			done <- st
		}()
		q := waitApproval(t, dir)
		if q.Source != approval.SourceProxy || q.Host != "b.test" || q.Cause != "no-rule" || q.HostRule.Host != "b.test" {
			t.Errorf("held %+v", q)
		}
		select {
		case st := <-done:
			t.Fatalf("answered %d before a decision", st)
		case <-time.After(300 * time.Millisecond):
		}
		if err := approval.Decide(dir, approval.Decision{ID: q.ID, Verdict: v, By: "bottle approve (test)"}); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-done:
			if st != 200 {
				t.Fatalf("approved %s: %d", v, st)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the decision %s did not release the request", v)
		}
	}
	// The host grant lets the next one through with nothing held.
	if st, err := sc.get(c, "b.test"); st != 200 || err != nil {
		t.Errorf("after host: %d %v", st, err)
	}
	if rs, _ := approval.List(dir); len(rs) != 0 {
		t.Errorf("held again: %+v", rs)
	}
	var verdicts []string
	for _, r := range sc.auditLines(audit.KindApproval) {
		verdicts = append(verdicts, r.Approval.Verdict+"/"+r.Approval.By)
	}
	if strings.Join(verdicts, ",") != "once/bottle approve (test),host/bottle approve (test)" {
		t.Errorf("audited %v", verdicts)
	}
}

// TestSidecarApprovalsFlag: --approvals overrides the allowlist's
// approvals: either way.
func TestSidecarApprovalsFlag(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		dir := t.TempDir()
		sc := startSidecar(t, askPolicy, "--approval-dir", dir, "--approvals", "off")
		if st, err := sc.get(sc.client(), "b.test"); st != 403 || err != nil {
			t.Errorf("--approvals off: %d %v", st, err)
		}
		if rs, _ := approval.List(dir); len(rs) != 0 {
			t.Errorf("held: %+v", rs)
		}
	})
	t.Run("ask", func(t *testing.T) {
		dir := t.TempDir()
		sc := startSidecar(t, strings.Replace(askPolicy, "approvals: ask", "approvals: off", 1), "--approval-dir", dir, "--approvals", "ask")
		done := make(chan int, 1)
		go func() { st, _ := sc.get(sc.client(), "b.test"); done <- st }()
		q := waitApproval(t, dir)
		approval.Decide(dir, approval.Decision{ID: q.ID, Verdict: approval.Deny, By: "test", Note: "no"})
		if st := <-done; st != 403 {
			t.Errorf("denied: %d", st)
		}
	})
}

// TestSidecarNeverFilesACredential: a denied request whose path carries a
// credential's value or placeholder is refused at once, never held: the
// approvals channel is the host's to read, and holds no secret.
func TestSidecarNeverFilesACredential(t *testing.T) {
	dir := t.TempDir()
	ph, v := secret.NewPlaceholder("k"), testSecret()
	policy := strings.Replace(credPolicy, "version: 1\n", "version: 1\napprovals: ask\n", 1)
	sc := startSidecarWith(t, policy, func(sc *sidecar) { sc.writeCreds(ph, v) }, "--approval-dir", dir)
	c := sc.client()
	for _, s := range []string{v, ph} {
		start := time.Now()
		resp, err := c.Get(fmt.Sprintf("https://c.test:%s/%s", sc.port(), s))
		if err == nil {
			resp.Body.Close()
		}
		if err == nil && resp.StatusCode != 403 || time.Since(start) > 3*time.Second {
			t.Errorf("a request with a credential in its path: %v %v after %s", resp, err, time.Since(start))
		}
	}
	if rs, _ := approval.List(dir); len(rs) != 0 {
		t.Errorf("filed %+v", rs)
	}
	for _, out := range []string{sc.stdout.String(), sc.stderr.String()} {
		if strings.Contains(out, v) || strings.Contains(out, ph) {
			t.Error("a credential's value or placeholder in the sidecar's output")
		}
	}
}
