package allowlist

import "time"

// ApprovalMode is what the proxy does with a request the policy denies:
// refuse it at once (off), or hold it while a human is asked (ask; package
// approval). `approvals:` in the allowlist; `bottle launch --approvals ask`
// turns it on for one bottle whatever the file says.
type ApprovalMode uint8

const (
	ApprovalsOff ApprovalMode = iota // the default
	ApprovalsAsk
)

func (m ApprovalMode) String() string {
	if m == ApprovalsAsk {
		return "ask"
	}
	return "off"
}

// DefaultApprovalTimeout is how long a held request waits for a decision
// when the allowlist sets no `approval_timeout:`; MaxApprovalTimeout is the
// longest it may set (a client holding a request longer than that has
// usually given up).
const (
	DefaultApprovalTimeout = 60 * time.Second
	MaxApprovalTimeout     = 10 * time.Minute
)

// Approvals returns the policy's `approvals:` setting.
func (p *Policy) Approvals() ApprovalMode { return p.approvals }

// ApprovalTimeout returns how long a held request waits for a decision.
func (p *Policy) ApprovalTimeout() time.Duration {
	if p.approvalTimeout == 0 {
		return DefaultApprovalTimeout
	}
	return p.approvalTimeout
}
