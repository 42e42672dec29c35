package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
)

// fakeApprover stands for the sidecar's broker: identical requests (same
// Key) collapse into one pending approval, which the test decides.
type fakeApprover struct {
	mu      sync.Mutex
	pending map[string]*fakePending
	order   []*fakePending
	grants  map[string]string // host → grant id
	gone    int               // Asks that ended because the agent hung up
	granted int               // Granted calls that admitted a request
	changed chan struct{}     // a send for every Ask and every end of one
}

type fakePending struct {
	id    string
	q     approval.Request
	count int
	done  chan struct{}
	dec   approval.Decision
}

func newFakeApprover() *fakeApprover {
	return &fakeApprover{pending: map[string]*fakePending{}, grants: map[string]string{}, changed: make(chan struct{}, 1024)}
}

func (f *fakeApprover) Ask(ctx context.Context, q approval.Request, timeout time.Duration) (string, approval.Decision) {
	f.mu.Lock()
	p := f.pending[q.Key()]
	if p == nil {
		p = &fakePending{id: approval.NewID(), q: q, done: make(chan struct{})}
		f.pending[q.Key()] = p
		f.order = append(f.order, p)
	}
	p.count++
	f.mu.Unlock()
	f.changed <- struct{}{}
	defer func() { f.changed <- struct{}{} }()
	select {
	case <-p.done:
		return p.id, p.dec
	case <-ctx.Done():
		f.mu.Lock()
		f.gone++
		f.mu.Unlock()
		return p.id, approval.Decision{ID: p.id, Verdict: approval.Deny, By: "agent gone"}
	case <-time.After(timeout):
		return p.id, approval.Decision{ID: p.id, Verdict: approval.Deny, By: "timeout"}
	}
}

func (f *fakeApprover) Granted(req allowlist.Request) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.grants[req.Host]
	if ok {
		f.granted++
	}
	return id, ok
}

// wait waits until the n-th distinct approval is pending with count
// holders, and returns it.
func (f *fakeApprover) wait(t *testing.T, n, count int) *fakePending {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		if len(f.order) >= n && f.order[n-1].count >= count {
			p := f.order[n-1]
			f.mu.Unlock()
			return p
		}
		f.mu.Unlock()
		select {
		case <-f.changed:
		case <-deadline:
			t.Fatalf("no approval #%d held %d times", n, count)
		}
	}
}

func (f *fakeApprover) asks() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.order)
}

func (f *fakeApprover) decide(p *fakePending, v approval.Verdict, by, note string) {
	p.dec = approval.Decision{ID: p.id, Verdict: v, By: by, Note: note, Time: time.Now()}
	close(p.done)
}

const askPolicy = "approvals: ask\napproval_timeout: 30s\n" + basePolicy

func withApprover(f *fakeApprover) func(*Config) {
	return func(c *Config) { c.Approvals = f }
}

type result struct {
	resp *http.Response
	body string
	err  error
}

// getAsync sends a GET through c and delivers its result.
func (e *env) getAsync(c *http.Client, u string, hdr ...string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", u, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			ch <- result{err: err}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ch <- result{resp: resp, body: string(b)}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("request: %v", r.err)
		}
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("no answer")
	}
	return result{}
}

// TestHoldApproveOnce: a request inside a denied tunnel is held, with the
// approval filled in (what, why, the narrow rule and its command); once
// approved it goes upstream, without a retry, even across a policy reload
// during the wait, and its line is ruled approval[ID].
func TestHoldApproveOnce(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	o := e.origin.port
	ch := e.getAsync(e.client(false), fmt.Sprintf("https://blocked.test:%d/held?token=x", o))
	p := f.wait(t, 1, 1)
	rule := allowlist.RuleSpec{Host: "blocked.test", Ports: []uint16{o}}
	want := approval.Request{Bottle: "t1", Source: approval.SourceProxy, Kind: "request", Scheme: "https", Host: "blocked.test", Port: o,
		Method: "GET", Path: "/held", Cause: "no-rule", Rule: "default", Reason: p.q.Reason,
		Always: []allowlist.RuleSpec{rule}, Command: fmt.Sprintf("bottle allow add blocked.test --port %d --bottle t1", o), HostRule: rule}
	if fmt.Sprint(p.q) != fmt.Sprint(want) || !strings.Contains(p.q.Reason, "no rule allows GET blocked.test") {
		t.Errorf("held:\n%+v\nwant:\n%+v", p.q, want)
	}
	if e.seen.has("/held") {
		t.Fatal("the held request reached the upstream before a decision")
	}
	pol, _ := allowlist.Parse("same.yaml", []byte(e.policy))
	e.proxy.SetPolicy(pol) // a reload while it waits does not undo the approval
	f.decide(p, approval.Once, "bottle approve (tester)", "")
	r := recv(t, ch)
	if r.resp.StatusCode != 200 || !strings.Contains(r.body, "hello from blocked.test") || !e.seen.has("/held") {
		t.Fatalf("approved: %d\n%s", r.resp.StatusCode, r.body)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Kind == "request" && r.Path == "/held" })
	if rec.Decision != audit.DecisionAllow || rec.Rule != "approval["+p.id+"]" || rec.Status != 200 {
		t.Errorf("audit %+v", rec)
	}
}

// TestHoldDeny: a denied approval is the readable 403 with the id and who
// denied it, and nothing goes upstream.
func TestHoldDeny(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	ch := e.getAsync(e.client(false), fmt.Sprintf("http://blocked.test:%d/no", e.plain.port))
	p := f.wait(t, 1, 1)
	if p.q.Kind != "request" || p.q.Scheme != "http" {
		t.Errorf("held %+v", p.q)
	}
	f.decide(p, approval.Deny, "bottle deny (tester)", "not today")
	r := recv(t, ch)
	for _, want := range []string{"approval: " + p.id + "\n", "denied by bottle deny (tester) (approval " + p.id + "): not today", "bottle allow add blocked.test"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q:\n%s", want, r.body)
		}
	}
	if r.resp.StatusCode != 403 || r.resp.Header.Get("X-Bottle-Approval") != p.id || e.seen.has("/no") {
		t.Errorf("%d %v", r.resp.StatusCode, r.resp.Header)
	}
	wantCause(t, e.waitAudit(func(r audit.Record) bool { return r.Path == "/no" }), allowlist.CauseNoRule)
}

// TestHoldTimeout: no decision within approval_timeout is the 403 that
// says so, with the approval id in the JSON body too.
func TestHoldTimeout(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, "approvals: ask\napproval_timeout: 1s\n"+basePolicy, withApprover(f))
	start := time.Now()
	r := recv(t, e.getAsync(e.client(false), fmt.Sprintf("https://blocked.test:%d/slow", e.origin.port), "Accept", "application/json"))
	p := f.wait(t, 1, 1)
	if r.resp.StatusCode != 403 || !strings.Contains(r.body, `"approval_id":"`+p.id+`"`) || !strings.Contains(r.body, "no decision within 1s") {
		t.Errorf("%d\n%s", r.resp.StatusCode, r.body)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("answered after %s, before the timeout", d)
	}
}

// TestHoldAgentGone: an agent that hangs up ends the wait.
func TestHoldAgentGone(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("https://blocked.test:%d/gone", e.origin.port), nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := e.client(false).Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	f.wait(t, 1, 1)
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the request was answered after its client gave up")
	}
	waitGone := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			f.mu.Lock()
			gone := f.gone
			f.mu.Unlock()
			if gone == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the wait did not end when the agent hung up")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitGone(1)

	// A CONNECT held before it is answered: the same.
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT blocked.test:22 HTTP/1.1\r\nHost: blocked.test:22\r\n\r\n")
	f.wait(t, 2, 1)
	c.Close()
	waitGone(2)
}

// TestHoldCollapses: identical requests are held on one approval, and one
// decision releases them all.
func TestHoldCollapses(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	u := fmt.Sprintf("https://blocked.test:%d/same", e.origin.port)
	a, b := e.getAsync(e.client(false), u), e.getAsync(e.client(false), u+"?other=query")
	p := f.wait(t, 1, 2)
	if f.asks() != 1 {
		t.Fatalf("%d approvals for identical requests", f.asks())
	}
	f.decide(p, approval.Host, "bottle watch (tester)", "")
	for _, ch := range []<-chan result{a, b} {
		if r := recv(t, ch); r.resp.StatusCode != 200 {
			t.Errorf("%d\n%s", r.resp.StatusCode, r.body)
		}
	}
}

// TestHoldGranted: a session grant admits a request without asking.
func TestHoldGranted(t *testing.T) {
	f := newFakeApprover()
	f.grants["blocked.test"] = "0badcafe"
	e := newEnv(t, askPolicy, withApprover(f))
	resp, body := e.get(e.client(false), fmt.Sprintf("https://blocked.test:%d/granted", e.origin.port))
	if resp.StatusCode != 200 || f.asks() != 0 || !strings.Contains(body, "hello from blocked.test") {
		t.Fatalf("%d (asks %d)\n%s", resp.StatusCode, f.asks(), body)
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/granted" })
	if rec.Rule != "approval[0badcafe]" || rec.Decision != audit.DecisionAllow {
		t.Errorf("audit %+v", rec)
	}
}

// TestHoldOnlyWhatAHumanMayOverrule: a deny rule, fronting, the address
// guard and approvals off (the flag over the policy) are refused at once;
// a method or a path the rules refuse is held, with the narrow rule.
func TestHoldOnlyWhatAHumanMayOverrule(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy+"  - host: evil.test\n", withApprover(f))
	o := e.origin.port
	c := e.client(false)
	for _, tc := range []struct {
		u, host string
		cause   allowlist.Cause
	}{
		{fmt.Sprintf("https://evil.test:%d/", o), "", allowlist.CauseDenyRule},
		{fmt.Sprintf("https://l7.test:%d/ok/x", o), "", allowlist.CauseDenyRule}, // DELETE below
		{fmt.Sprintf("https://o1.test:%d/", o), "blocked.test", allowlist.CauseFronting},
		{fmt.Sprintf("http://loop.test:%d/", e.victim.port), "", allowlist.CauseSpecialAddress},
	} {
		method := "GET"
		if strings.Contains(tc.u, "l7.test") {
			method = "DELETE"
		}
		req, _ := http.NewRequest(method, tc.u, nil)
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("X-Bottle-Denied") != tc.cause.String() {
			t.Errorf("%s %s: %d %v", method, tc.u, resp.StatusCode, resp.Header)
		}
	}
	if f.asks() != 0 {
		t.Fatalf("%d refusals no human may overrule were held", f.asks())
	}

	ch := e.getAsync(c, fmt.Sprintf("https://l7.test:%d/other/x", o))
	p := f.wait(t, 1, 1)
	want := []allowlist.RuleSpec{{Host: "l7.test", Ports: []uint16{o}, Methods: []string{"GET"}, Paths: []string{"/other/x"}}}
	if p.q.Cause != "path-not-covered" || !slices.EqualFunc(p.q.Always, want, func(a, b allowlist.RuleSpec) bool { return fmt.Sprint(a) == fmt.Sprint(b) }) {
		t.Errorf("held %+v", p.q)
	}
	f.decide(p, approval.Deny, "t", "")
	recv(t, ch)

	off := newFakeApprover()
	e2 := newEnv(t, askPolicy, func(c *Config) { c.Approvals, c.ApprovalsFlag = off, "off" })
	if resp, _ := e2.get(e2.client(false), fmt.Sprintf("https://blocked.test:%d/", e2.origin.port)); resp.StatusCode != 403 || off.asks() != 0 {
		t.Errorf("--approvals off: %d, %d asks", resp.StatusCode, off.asks())
	}
}

// TestHoldConnect: a CONNECT that cannot be shown a page is held before
// it is answered; approved, it opens the tunnel its rule implies, and
// the requests in it are admitted by the same approval.
func TestHoldConnect(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	o := e.origin.port
	ch := make(chan *http.Response, 1)
	var tcResp *http.Response
	go func() {
		resp, _, _ := e.connectRaw(fmt.Sprintf("blocked.test:%d", o))
		ch <- resp
	}()
	p := f.wait(t, 1, 1)
	if p.q.Kind != "connect" || p.q.Method != "" || p.q.Path != "" || p.q.Scheme != "" || p.q.HostRule.Passthrough {
		t.Errorf("held %+v", p.q)
	}
	f.decide(p, approval.Once, "t", "")
	select {
	case tcResp = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the CONNECT")
	}
	if tcResp.StatusCode != 200 {
		t.Fatalf("approved CONNECT: %s", tcResp.Status)
	}

	// A non-HTTP port: held too; denied, the CONNECT's 403 with the id.
	ch2 := make(chan *http.Response, 1)
	go func() { resp, _, _ := e.connect("blocked.test:22"); ch2 <- resp }()
	p2 := f.wait(t, 2, 1)
	if !p2.q.HostRule.Passthrough || p2.q.Command != "bottle allow add blocked.test --port 22 --passthrough --bottle t1" {
		t.Errorf("held %+v", p2.q)
	}
	f.decide(p2, approval.Deny, "t", "")
	resp := <-ch2
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 403 || !strings.Contains(string(body), "approval: "+p2.id) {
		t.Errorf("%d\n%s", resp.StatusCode, body)
	}
}

// TestHoldConnectTunnel: the requests inside a tunnel an approval opened
// go through under it.
func TestHoldConnectTunnel(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	o := e.origin.port
	done := make(chan string, 1)
	go func() {
		tc, br := e.tunnelToRaw(fmt.Sprintf("blocked.test:%d", o), "blocked.test")
		defer tc.Close()
		resp, body := roundTrip1(t, tc, br, fmt.Sprintf("blocked.test:%d", o), "/inside", "")
		done <- fmt.Sprint(resp.StatusCode) + " " + body
	}()
	p := f.wait(t, 1, 1)
	f.decide(p, approval.Once, "t", "")
	select {
	case got := <-done:
		if !strings.HasPrefix(got, "200 hello from blocked.test") {
			t.Errorf("inside the approved tunnel: %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	if f.asks() != 1 {
		t.Errorf("%d approvals asked; want the CONNECT's only", f.asks())
	}
	rec := e.waitAudit(func(r audit.Record) bool { return r.Path == "/inside" })
	if rec.Rule != "approval["+p.id+"]" {
		t.Errorf("audit %+v", rec)
	}
}

// TestHoldBounded: a client may have MaxHeldPerClient requests held; the
// next is refused at once, saying so.
func TestHoldBounded(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	c := e.client(false)
	var chs []<-chan result
	for i := range MaxHeldPerClient {
		chs = append(chs, e.getAsync(c, fmt.Sprintf("http://blocked.test:%d/n%d", e.plain.port, i)))
	}
	f.wait(t, MaxHeldPerClient, 1)
	r := recv(t, e.getAsync(c, fmt.Sprintf("http://blocked.test:%d/over", e.plain.port)))
	if r.resp.StatusCode != 403 || !strings.Contains(r.body, "not held for approval") {
		t.Errorf("over the bound: %d\n%s", r.resp.StatusCode, r.body)
	}
	f.mu.Lock()
	ps := slices.Clone(f.order)
	f.mu.Unlock()
	for _, p := range ps {
		f.decide(p, approval.Deny, "t", "")
	}
	for _, ch := range chs {
		recv(t, ch)
	}
}

// TestHoldNeverTheSelfTest: the launcher's self-test probe (Config.SelfTest's
// host) is refused at once, never held, while approvals: ask holds the
// same request to any other host: held, the probe would time out and the
// launch fail.
func TestHoldNeverTheSelfTest(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, func(c *Config) {
		c.Approvals = f
		c.SelfTest = func(host string) bool { return host == "bottle-self-test-x.invalid" }
	})
	start := time.Now()
	r := recv(t, e.getAsync(e.client(false), "http://bottle-self-test-x.invalid/p"))
	if r.resp.StatusCode != http.StatusForbidden || f.asks() != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("the self-test's probe: %d after %s, %d approvals asked", r.resp.StatusCode, time.Since(start), f.asks())
	}
	e.getAsync(e.client(false), "http://bottle-self-test-y.invalid/p")
	f.wait(t, 1, 1) // any other name is held
}

// TestHoldConnectRejudged: a deny rule added while a CONNECT is held
// refuses it even when a human approves it afterwards: no approval
// overrules a deny rule, whichever policy was in force when it was held.
func TestHoldConnectRejudged(t *testing.T) {
	f := newFakeApprover()
	e := newEnv(t, askPolicy, withApprover(f))
	ch := make(chan *http.Response, 1)
	go func() { resp, _, _ := e.connectRaw(fmt.Sprintf("blocked.test:%d", e.origin.port)); ch <- resp }()
	p := f.wait(t, 1, 1)
	pol, err := allowlist.Parse("deny.yaml", []byte(e.policy+"  - host: blocked.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.proxy.SetPolicy(pol)
	f.decide(p, approval.Once, "t", "")
	var resp *http.Response
	select {
	case resp = <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer to the CONNECT")
	}
	if resp == nil || resp.StatusCode != 403 {
		t.Fatalf("a CONNECT a deny rule refuses now was opened by an approval: %v", resp)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "deny") {
		t.Errorf("403 body does not say the deny rule refused it:\n%s", body)
	}
}

// refusingApprover files nothing: the broker over its bounds.
type refusingApprover struct{}

func (refusingApprover) Ask(context.Context, approval.Request, time.Duration) (string, approval.Decision) {
	return "", approval.Decision{Verdict: approval.Deny, By: approval.ByTooMany}
}

func (refusingApprover) Granted(allowlist.Request) (string, bool) { return "", false }

// TestHoldNotFiled: a denial the broker could not file says that it was
// not held, and why, with no empty approval id.
func TestHoldNotFiled(t *testing.T) {
	e := newEnv(t, askPolicy, func(c *Config) { c.Approvals = refusingApprover{} })
	r := recv(t, e.getAsync(e.client(false), fmt.Sprintf("http://blocked.test:%d/no", e.plain.port)))
	if r.resp.StatusCode != 403 || !strings.Contains(r.body, "not held for approval: too many pending approvals") || strings.Contains(r.body, "approval )") {
		t.Errorf("%d\n%s", r.resp.StatusCode, r.body)
	}
}
