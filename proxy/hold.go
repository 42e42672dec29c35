package proxy

import (
	"context"
	"fmt"
	"sync"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
)

// Holding (approvals: ask). A request the policy denies for a cause a
// human may overrule (allowlist.Holdable) is not refused at once: unless
// a session grant admits it, the proxy asks Config.Approvals and waits,
// the agent's request open, until a human decides, the policy's
// approval_timeout passes, or the agent hangs up. Approved, the request
// goes on exactly as an allowed one (judged by the guard and the git gate,
// sent by the round trip), its audit line ruled "approval[ID]"; refused,
// it gets the readable 403 with the approval's id and why.
//
// What is held:
//   - a request, plain HTTP or inside a tunnel (approval Kind "request");
//   - a CONNECT that cannot be shown a page (an IP literal, the port of a
//     protocol that is not HTTP, a client that asked for a raw tunnel),
//     before it is answered (Kind "connect"). An approved one opens the
//     tunnel its rule implies (passthrough for a non-HTTP port), and the
//     requests inside an intercepted one are admitted by the same
//     approval.
//
// A CONNECT that can be shown a page is not held: it is answered 200 and
// each request inside it is held on its own.

// MaxHeldPerClient bounds the requests one client may have held at once;
// over it a denial is answered at once, saying so. A held request costs a
// goroutine and a connection, and a human reads each one.
const MaxHeldPerClient = 16

// Kinds of a held request (approval.Request.Kind).
const (
	holdRequest = "request"
	holdConnect = "connect"
)

// holds counts the held requests of each client.
type holds struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *holds) take(client string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	if h.n[client] >= MaxHeldPerClient {
		return false
	}
	h.n[client]++
	return true
}

func (h *holds) release(client string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[client]--; h.n[client] <= 0 {
		delete(h.n, client)
	}
}

// asking reports whether denials are held under p: an Approver is set,
// and --approvals (else the policy's approvals:) says ask.
func (s *Server) asking(p Policy) bool {
	if s.cfg.Approvals == nil {
		return false
	}
	switch s.cfg.ApprovalsFlag {
	case "ask":
		return true
	case "off":
		return false
	}
	return p.Approvals() == allowlist.ApprovalsAsk
}

// approvedDecision is the decision an approval (or a session grant) id
// makes of a denied request.
func approvedDecision(id, why string) allowlist.Decision {
	return allowlist.Decision{Allowed: true, Action: allowlist.ActionIntercept, Rule: approvalRule(id), Cause: allowlist.CauseAllowed, Reason: why}
}

// approvalRule is the rule an approval writes in audit lines.
func approvalRule(id string) string { return "approval[" + id + "]" }

// overrule asks whether a human lets through what p denied with d: a
// session grant, or a held request approved in time. It returns the
// decision to act on (d itself, its reason saying why, when nothing let
// it through) and the id of the approval or grant involved ("" when none
// was). kind, scheme and req say what is held; client is the agent's
// address (for the bound on held requests). It blocks while a human
// decides, and never with a lock held.
func (s *Server) overrule(ctx context.Context, p Policy, kind, client string, req allowlist.Request, d allowlist.Decision) (allowlist.Decision, string) {
	// The launcher's self-test must see its probe refused at once: held,
	// it would time out, and the launch fail.
	if d.Allowed || !allowlist.Holdable(d.Cause) || !s.asking(p) || s.cfg.SelfTest != nil && s.cfg.SelfTest(req.Host) {
		return d, ""
	}
	ap := s.cfg.Approvals
	if id, ok := ap.Granted(req); ok {
		return approvedDecision(id, fmt.Sprintf("allowed by the session grant of approval %s (%s)", id, d.Explain())), id
	}
	ip := clientIP(client)
	if !s.held.take(ip) {
		d.Reason += fmt.Sprintf("; not held for approval: %d requests of this client are already waiting for one", MaxHeldPerClient)
		return d, ""
	}
	defer s.held.release(ip)
	always, host := p.ApprovalRules(req, d)
	q := approval.Request{
		Bottle: s.cfg.Bottle, Source: approval.SourceProxy, Kind: kind,
		Scheme: req.Scheme, Host: req.Host, Port: req.Port, Method: req.Method, Path: pathOnly(req.Path),
		Cause: d.Cause.String(), Rule: d.Rule, Reason: d.Explain(),
		Always: always, Command: allowlist.ApprovalCommand(always, s.hintScope()), HostRule: host,
	}
	if kind == holdConnect {
		q.Scheme, q.Method, q.Path = "", "", ""
	}
	timeout := p.ApprovalTimeout()
	s.log.Info("request held for approval", "host", req.Host, "port", req.Port, "method", req.Method, "cause", d.Cause.String())
	id, dec := ap.Ask(ctx, q, timeout)
	if dec.Verdict.Allows() {
		return approvedDecision(id, fmt.Sprintf("approved (%s) by %s: %s", dec.Verdict, byWhom(dec.By), d.Explain())), id
	}
	switch {
	case id == "":
		// Nothing was filed (the broker's bounds, its channel, its
		// shutdown): no human was asked.
		d.Reason += "; not held for approval: " + byWhom(dec.By)
		return d, ""
	case dec.By == "timeout":
		d.Reason += fmt.Sprintf("; no decision within %s (approval %s)", timeout, id)
	case dec.By == "agent gone":
		d.Reason += fmt.Sprintf("; the agent hung up before a decision (approval %s)", id)
	default:
		d.Reason += fmt.Sprintf("; denied by %s (approval %s)", byWhom(dec.By), id)
		if dec.Note != "" {
			d.Reason += ": " + dec.Note
		}
	}
	return d, id
}

func byWhom(by string) string {
	if by == "" {
		return "a human"
	}
	return by
}

// pathOnly is path without a query or fragment (the proxy judges escaped
// paths, which have none; a request line's may).
func pathOnly(path string) string {
	for i := 0; i < len(path); i++ {
		if path[i] == '?' || path[i] == '#' {
			return path[:i]
		}
	}
	return path
}
