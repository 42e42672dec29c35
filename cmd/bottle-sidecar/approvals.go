package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/supervise"
)

// openApprovals opens the approvals channel (--approval-dir) and builds
// the supervise MCP server (--mcp-listen), which it serves the agent on
// the internal network's addresses only. The broker's audit records go to
// the proxy's audit log, under the same rules: clipped, and never a
// credential's value.
func (a *appliance) openApprovals(o *contract.RunOptions, clients []netip.Prefix) error {
	if o.ApprovalDir != "" {
		b, err := approval.NewBroker(o.ApprovalDir, o.Bottle, a.auditApproval, a.log)
		if err != nil {
			return fmt.Errorf("--approval-dir %s: %w", o.ApprovalDir, err)
		}
		a.broker = b
		a.closers = append(a.closers, func() { b.Close() })
	}
	if o.MCPListen == "" {
		return nil
	}
	cfg := supervise.Config{Bottle: o.Bottle, Policy: a.policy, ApprovalsFlag: o.Approvals, Denials: a.denials,
		Clients: clients, Scrub: a.scrub, Logger: a.log}
	if a.broker != nil {
		cfg.Approvals = a.broker // never a nil *Broker in the interface
	}
	s, err := supervise.New(cfg)
	if err != nil {
		return err
	}
	a.mcp = s
	return nil
}

// auditApproval writes the broker's record of an approval.
func (a *appliance) auditApproval(r *audit.Record) {
	for _, f := range []*string{&r.Host, &r.Path, &r.Reason} {
		*f = a.scrub(*f)
	}
	if ap := r.Approval; ap != nil {
		ap.AgentReason, ap.Note = a.scrub(ap.AgentReason), a.scrub(ap.Note)
	}
	r.Clip()
	a.audit.Write(r)
}

// scrub removes every credential's value and placeholder from s.
func (a *appliance) scrub(s string) string {
	return a.secrets.Load().Scrub(s)
}

// policy is the policy in force.
func (a *appliance) policy() *allowlist.Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pol
}

// ByCredential is who refuses to hold a request that carries a
// credential's value or placeholder (approval.Decision.By).
const ByCredential = "the request holds a credential's value or placeholder"

// approver is the broker as the proxy's Approver: what it files is
// written to the host's files, which never hold a credential's value, so
// a request whose target carries one is not held (it gets the 403 at once:
// nothing a human approves should send it).
type approver struct {
	*approval.Broker
	scrub func(string) string
}

func (a approver) Ask(ctx context.Context, q approval.Request, timeout time.Duration) (string, approval.Decision) {
	if a.scrub(q.Host) != q.Host || a.scrub(q.Path) != q.Path {
		return "", approval.Decision{Verdict: approval.Deny, By: ByCredential, Time: time.Now().UTC()}
	}
	q.Reason = a.scrub(q.Reason)
	return a.Broker.Ask(ctx, q, timeout)
}
