package allowlist

import (
	"testing"
	"time"
)

func TestParseApprovals(t *testing.T) {
	for _, tc := range []struct {
		src     string
		mode    ApprovalMode
		timeout time.Duration
	}{
		{"version: 1\nallow: []\n", ApprovalsOff, DefaultApprovalTimeout},
		{"version: 1\napprovals: ask\nallow: []\n", ApprovalsAsk, DefaultApprovalTimeout},
		{"version: 1\napprovals: off\napproval_timeout: 90s\nallow: []\n", ApprovalsOff, 90 * time.Second},
		{"version: 1\napprovals: ask\napproval_timeout: 10m\nallow: []\n", ApprovalsAsk, MaxApprovalTimeout},
	} {
		p, err := Parse("a.yaml", []byte(tc.src))
		if err != nil {
			t.Fatalf("%q: %v", tc.src, err)
		}
		if p.Approvals() != tc.mode || p.ApprovalTimeout() != tc.timeout {
			t.Errorf("%q: approvals %s, timeout %s; want %s, %s", tc.src, p.Approvals(), p.ApprovalTimeout(), tc.mode, tc.timeout)
		}
	}
}
