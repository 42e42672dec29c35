package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/approval"
)

// held is a request a bottle holds, as `bottle approvals --json` lists it.
type held struct {
	Bottle string `json:"bottle"`
	approval.Request
}

// agentRun is a command running in a bottle's agent, in the background.
type agentRun struct {
	done chan struct{}
	out  bytes.Buffer
	code int
	took time.Duration
}

// start runs script in bottle name's agent without waiting for it: a
// request the sidecar holds blocks it until the host decides.
func (w *world) start(name, script string) *agentRun {
	r := &agentRun{done: make(chan struct{})}
	cmd := exec.Command(filepath.Join(w.bin, "bottle"), "exec", name, "--", "sh", "-c", script)
	cmd.Env, cmd.Dir = w.env(), filepath.Dir(w.policyAt)
	cmd.Stdout, cmd.Stderr = &r.out, &r.out
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("bottle exec %s: %v", name, err)
	}
	go func() {
		defer close(r.done)
		err := cmd.Wait()
		r.took = time.Since(begin)
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			r.code = -1
		}
	}()
	w.t.Cleanup(func() { cmd.Process.Kill(); <-r.done })
	return r
}

// wait waits for the command to end, at most d.
func (r *agentRun) wait(t *testing.T, d time.Duration) (string, int) {
	t.Helper()
	select {
	case <-r.done:
		return r.out.String(), r.code
	case <-time.After(d):
		t.Fatalf("the agent's command did not end within %s", d)
	}
	return "", 0
}

// running says whether the command still runs (is held).
func (r *agentRun) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// pending polls `bottle approvals NAME --json` until a request matches.
func (w *world) pending(name string, match func(held) bool) held {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		out, errs, code := w.bottle("approvals", name, "--json")
		if code != 0 {
			w.t.Fatalf("bottle approvals: exit %d\n%s", code, errs)
		}
		var all []held
		if err := json.Unmarshal([]byte(out), &all); err != nil {
			w.t.Fatalf("bottle approvals --json: %v\n%s", err, out)
		}
		for _, q := range all {
			if match(q) {
				return q
			}
		}
		last = out
		time.Sleep(200 * time.Millisecond)
	}
	w.t.Fatalf("no such pending approval within 30s; the last list:\n%s", last)
	return held{}
}

func forHost(host string) func(held) bool {
	return func(q held) bool { return q.Host == host && q.State == approval.StatePending }
}

// approvalsPolicy is the e2e allowlist with a timeout long enough for a
// test to decide in.
func (w *world) approvalsPolicy() {
	w.t.Helper()
	data, err := os.ReadFile(w.policyAt)
	if err != nil {
		w.t.Fatal(err)
	}
	os.WriteFile(w.policyAt, append(data, "approval_timeout: 90s\n"...), 0o644)
}

// TestApprovals launches a bottle with --approvals ask and decides, from
// the host's CLI, what its agent's real curl was refused: the request is
// held, not refused, and goes through when approved, without a retry.
func TestApprovals(t *testing.T) {
	w := newWorld(t, "docker")
	w.approvalsPolicy()
	w.launch("appr", "--approvals", "ask")

	t.Run("once_releases_the_held_request", func(t *testing.T) {
		run := w.start("appr", "curl -sS -m 120 https://blocked.sim.test/one")
		q := w.pending("appr", forHost("blocked.sim.test"))
		if q.Port != 443 || q.Path != "/one" || q.Cause != "no-rule" || q.Source != approval.SourceProxy || q.Count != 1 {
			t.Errorf("pending: %+v", q)
		}
		if !run.running() {
			t.Fatalf("curl was not held: %s", run.out.String())
		}
		table, hint, _ := w.bottle("approvals")
		t.Logf("bottle approvals:\n%s%s", table, hint) // the README's session
		if !strings.Contains(table, q.ID+"  appr") || !strings.Contains(table, "blocked.sim.test:443") {
			t.Errorf("bottle approvals:\n%s", table)
		}
		out, errs, code := w.bottle("approve", q.ID)
		if code != 0 || !strings.Contains(out, "allowed once: GET https://blocked.sim.test/one (bottle appr") {
			t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
		}
		got, code := run.wait(t, 20*time.Second)
		if code != 0 || got != "hello from blocked.sim.test GET /one\n" {
			t.Errorf("curl: exit %d: %q", code, got)
		}
	})
	t.Run("host_lets_the_later_ones_through", func(t *testing.T) {
		// Once was this request only: the next one is held again.
		run := w.start("appr", "curl -sS -m 120 https://blocked.sim.test/two")
		q := w.pending("appr", forHost("blocked.sim.test"))
		out, errs, code := w.bottle("approve", q.ID, "--host")
		if code != 0 || !strings.Contains(out, "allowed blocked.sim.test:443, every method and path, while bottle appr runs") {
			t.Fatalf("approve --host: exit %d\n%s%s", code, out, errs)
		}
		if got, code := run.wait(t, 20*time.Second); code != 0 || got != "hello from blocked.sim.test GET /two\n" {
			t.Errorf("curl: exit %d: %q", code, got)
		}
		got, code := w.sh("appr", "curl -sS -m 10 -X POST https://blocked.sim.test/three")
		if code != 0 || got != "hello from blocked.sim.test POST /three\n" {
			t.Errorf("after --host: exit %d: %q", code, got)
		}
	})
	t.Run("always_writes_the_rule", func(t *testing.T) {
		run := w.start("appr", "curl -sS -m 120 https://always.sim.test/v1")
		q := w.pending("appr", forHost("always.sim.test"))
		out, errs, code := w.bottle("approve", q.ID, "--always")
		t.Logf("bottle approve --always:\n%s%s", out, errs)
		if code != 0 || !strings.Contains(out, "to the live allowlist of appr") || !strings.Contains(out, "allowed always: GET https://always.sim.test/v1") ||
			!strings.Contains(errs, "the sidecar of appr applied it") {
			t.Fatalf("approve --always: exit %d\n%s%s", code, out, errs)
		}
		if got, code := run.wait(t, 20*time.Second); code != 0 || got != "hello from always.sim.test GET /v1\n" {
			t.Errorf("curl: exit %d: %q", code, got)
		}
		list, _, _ := w.bottle("allow", "list", "--bottle", "appr")
		if !strings.Contains(list, "always.sim.test") {
			t.Errorf("allow list --bottle appr:\n%s", list)
		}
		launched, _ := os.ReadFile(w.policyAt)
		if !strings.Contains(string(launched), "host: always.sim.test") || !strings.Contains(string(launched), "# ssh and a protocol where the server speaks first") {
			t.Errorf("the file appr was launched from:\n%s", launched)
		}
		if got, code := w.sh("appr", "curl -sS -m 10 https://always.sim.test/again"); code != 0 || !strings.Contains(got, "hello from always.sim.test") {
			t.Errorf("after --always: exit %d: %q", code, got)
		}
	})
	t.Run("deny_gives_the_readable_403", func(t *testing.T) {
		run := w.start("appr", "curl -sS -i -m 120 https://denied.sim.test/x")
		q := w.pending("appr", forHost("denied.sim.test"))
		start := time.Now()
		if out, errs, code := w.bottle("deny", q.ID, "--note", "not this one"); code != 0 || !strings.Contains(out, "denied GET https://denied.sim.test/x (bottle appr)") {
			t.Fatalf("deny: exit %d\n%s%s", code, out, errs)
		}
		got, _ := run.wait(t, 20*time.Second)
		t.Logf("curl after deny:\n%s", got)
		if !strings.Contains(got, " 403") || !strings.Contains(got, "denied.sim.test") || !strings.Contains(got, "bottle allow add denied.sim.test") ||
			!strings.Contains(got, "denied by bottle deny (") || !strings.Contains(got, "not this one") {
			t.Errorf("curl after deny:\n%s", got)
		}
		if time.Since(start) > 15*time.Second {
			t.Errorf("the 403 took %s: it came at the timeout, not at the deny", time.Since(start))
		}
	})
	t.Run("identical_requests_collapse", func(t *testing.T) {
		var runs []*agentRun
		for range 3 {
			runs = append(runs, w.start("appr", "curl -sS -m 120 https://collapse.sim.test/same"))
		}
		q := w.pending("appr", func(q held) bool { return q.Host == "collapse.sim.test" && q.Count == 3 })
		out, _, _ := w.bottle("approvals", "appr", "--json")
		if n := strings.Count(out, `"path": "/same"`); n != 1 {
			t.Errorf("%d approvals for three identical requests:\n%s", n, out)
		}
		if out, errs, code := w.bottle("approve", q.ID); code != 0 || !strings.Contains(out, "3 held requests proceed") {
			t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
		}
		for i, r := range runs {
			if got, code := r.wait(t, 20*time.Second); code != 0 || got != "hello from collapse.sim.test GET /same\n" {
				t.Errorf("curl %d: exit %d: %q", i, code, got)
			}
		}
	})
	t.Run("plain_http_is_held_too", func(t *testing.T) {
		run := w.start("appr", "curl -sS -m 120 http://plain.sim.test/p")
		q := w.pending("appr", forHost("plain.sim.test"))
		if q.Port != 80 || q.Scheme != "http" {
			t.Errorf("pending: %+v", q)
		}
		if out, errs, code := w.bottle("approve", q.ID); code != 0 || !strings.Contains(out, "allowed once: GET http://plain.sim.test/p") {
			t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
		}
		if got, code := run.wait(t, 20*time.Second); code != 0 || got != "hello from plain.sim.test GET /p\n" {
			t.Errorf("curl: exit %d: %q", code, got)
		}
	})
	// Every decision is audited, with who made it.
	audit, _ := os.ReadFile(filepath.Join(w.state, "bottle", "appr", "logs", "egress.jsonl"))
	for _, v := range []string{"once", "host", "always", "deny"} {
		if !strings.Contains(string(audit), `"verdict":"`+v+`"`) {
			t.Errorf("no audited %s decision", v)
		}
	}
	if !strings.Contains(string(audit), `"by":"bottle approve (`) || !strings.Contains(string(audit), `"by":"bottle deny (`) {
		t.Errorf("the audit does not say who decided:\n%s", audit)
	}

	// Last: it kills the bottle's sidecar. A request held when the sidecar
	// dies is not lost silently: the sidecar that starts again fails it,
	// audited, and it can no longer be approved.
	t.Run("sidecar_killed_while_held", func(t *testing.T) {
		run := w.start("appr", "curl -sS -m 120 https://killed.sim.test/k")
		q := w.pending("appr", forHost("killed.sim.test"))
		docker(t, "kill", "bottle-appr-sidecar")
		if _, code := run.wait(t, 20*time.Second); code == 0 {
			t.Errorf("curl succeeded with its sidecar killed: %s", run.out.String())
		}
		docker(t, "start", "bottle-appr-sidecar")
		deadline := time.Now().Add(30 * time.Second)
		var log string
		for time.Now().Before(deadline) {
			b, _ := os.ReadFile(filepath.Join(w.state, "bottle", "appr", "logs", "egress.jsonl"))
			if log = string(b); strings.Contains(log, `"id":"`+q.ID+`","verdict":"failed","by":"sidecar restarted"`) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(log, `"id":"`+q.ID+`","verdict":"failed","by":"sidecar restarted"`) {
			t.Errorf("the held request's failure is not audited:\n%s", log)
		}
		if out, errs, code := w.bottle("approve", q.ID); code == 0 {
			t.Errorf("a request the killed sidecar held is still approvable: %s%s", out, errs)
		}
	})
}

// mcpScript speaks JSON-RPC to the supervise MCP server from inside the
// agent with curl (streamable HTTP: initialize, keep the session's
// Mcp-Session-Id, notifications/initialized), then calls tool with args
// and prints the answer.
func mcpScript(tool, args string) string {
	return `set -e
U="$MCP_SUPERVISE_URL"
rpc() { curl -sS -m 150 -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' ${SID:+-H "Mcp-Session-Id: $SID"} "$@" "$U"; }
rpc -D /tmp/mcp-h -o /tmp/mcp-b -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}'
SID=$(grep -i '^mcp-session-id:' /tmp/mcp-h | cut -d' ' -f2 | tr -d '\r')
rpc -o /dev/null -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
rpc -d '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}'
`
}

// TestMCPSupervise: the agent asks for access through its sidecar's MCP
// server, with a reason; the call blocks until the human approves it on
// the host, and returns the note; the host is then reachable; why_blocked
// names an earlier denial. The MCP port answers on the internal network
// only: not from another bottle, not from the egress network.
func TestMCPSupervise(t *testing.T) {
	w := newWorld(t, "docker")
	w.approvalsPolicy()
	w.launch("mcp", "--approvals", "ask")

	// A denial that is never held (a deny rule), for why_blocked.
	if out, _ := w.sh("mcp", "curl -sS -i -m 10 -X DELETE https://git.sim.test/git/acme/widget.git/x"); !strings.Contains(out, "403") {
		t.Fatalf("the deny rule's request:\n%s", out)
	}
	run := w.start("mcp", mcpScript("request_access", `{"host":"asked.sim.test","port":443,"reason":"the build needs the docs"}`))
	q := w.pending("mcp", forHost("asked.sim.test"))
	if q.Source != approval.SourceMCP || q.AgentReason != "the build needs the docs" {
		t.Errorf("pending: %+v", q)
	}
	if !run.running() {
		t.Fatalf("request_access did not block: %s", run.out.String())
	}
	table, _, _ := w.bottle("approvals", "mcp")
	if !strings.Contains(table, "the build needs the docs") {
		t.Errorf("bottle approvals does not show the agent's reason:\n%s", table)
	}
	if out, errs, code := w.bottle("approve", q.ID, "--note", "go ahead, docs only"); code != 0 || !strings.Contains(out, "allowed asked.sim.test:443 for 10 minutes") {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
	}
	got, code := run.wait(t, 30*time.Second)
	t.Logf("request_access:\n%s", got)
	if code != 0 || !strings.Contains(got, "go ahead, docs only") || !strings.Contains(got, "once") {
		t.Errorf("request_access: exit %d\n%s", code, got)
	}
	if out, code := w.sh("mcp", "curl -sS -m 10 https://asked.sim.test/docs"); code != 0 || out != "hello from asked.sim.test GET /docs\n" {
		t.Errorf("after the approval: exit %d: %q", code, out)
	}

	// A grant of one method and path (once on a request_access naming
	// them) admits those, and no tunnel the agent asks for raw: its
	// CONNECT is held like any other, and denied, refused.
	run = w.start("mcp", mcpScript("request_access", `{"host":"narrow.sim.test","method":"GET","path":"/docs","reason":"the docs page only"}`))
	q = w.pending("mcp", forHost("narrow.sim.test"))
	if out, errs, code := w.bottle("approve", q.ID); code != 0 {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
	}
	run.wait(t, 30*time.Second)
	if out, code := w.sh("mcp", "curl -sS -m 10 https://narrow.sim.test/docs"); code != 0 || out != "hello from narrow.sim.test GET /docs\n" {
		t.Errorf("the granted request: exit %d: %q", code, out)
	}
	raw := w.start("mcp", "curl -sS -i -m 60 --proxy-header 'X-Bottle-Tunnel: raw' -X POST https://narrow.sim.test/admin")
	tunnel := w.pending("mcp", func(q held) bool {
		return q.Host == "narrow.sim.test" && q.Kind == "connect" && q.State == approval.StatePending
	})
	if out, errs, code := w.bottle("deny", tunnel.ID); code != 0 {
		t.Fatalf("deny: exit %d\n%s%s", code, out, errs)
	}
	if got, code := raw.wait(t, 30*time.Second); code == 0 || strings.Contains(got, "hello from narrow.sim.test POST /admin") {
		t.Errorf("a raw tunnel under the grant of GET /docs: exit %d\n%s", code, got)
	}

	out, code := w.sh("mcp", mcpScript("why_blocked", `{}`))
	if code != 0 || !strings.Contains(out, "git.sim.test") || !strings.Contains(out, "DELETE") {
		t.Errorf("why_blocked: exit %d\n%s", code, out)
	}

	// Only the internal network: not another bottle, not the egress side.
	sidecar := w.sidecarIP("mcp")
	w.launch("mcp-other")
	probe := "env -u HTTP_PROXY -u HTTPS_PROXY -u http_proxy -u https_proxy bottle-probe probe --timeout 3s tcp "
	if out, code := w.sh("mcp-other", probe+sidecar+":3129"); code == 0 {
		t.Errorf("another bottle reaches the MCP port: %s", out)
	}
	if out, code := w.sh("mcp", probe+sidecar+":3129"); code != 0 {
		t.Errorf("the bottle's own agent does not reach its MCP port: exit %d %s", code, out)
	}
	egressIP := docker(t, "inspect", "--format", "{{(index .NetworkSettings.Networks \""+w.net+"\").IPAddress}}", "bottle-mcp-sidecar")
	image := docker(t, "inspect", "--format", "{{.Config.Image}}", "bottle-mcp-sidecar")
	fromEgress := func(target string) (string, error) {
		return dockerErr("run", "--rm", "--network", w.net, "--entrypoint", "/bottle-sidecar", image, "probe", "--timeout", "3s", "tcp", target)
	}
	if _, err := fromEgress(w.simA + ":443"); err != nil {
		t.Fatalf("the egress network's probe does not work at all: %v", err)
	}
	if out, err := fromEgress(egressIP + ":3129"); err == nil {
		t.Errorf("the MCP port answers on the egress network: %s", out)
	}
}
