package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// The proxy writes one audit.Record per request (KindRequest), per tunnel
// when it ends (KindTunnel) and per CONNECT answered without a tunnel
// (KindConnect). None holds a query string, a header value or a body.

// denialKey is what makes two denials "the same" for coalescing. It is a
// hash so that the audit log's table of recent denials stays small whatever
// the agent puts in a path.
func denialKey(r *audit.Record) string {
	h := sha256.New()
	// The self-test's line and the agent's are never the same denial.
	fields := []string{r.Kind, r.Method, r.Host, strconv.Itoa(int(r.Port)), r.Path, r.Rule, strconv.FormatBool(r.SelfTest)}
	if r.Git != nil {
		// Two refused pushes to one repository are the same denial only
		// when they are refused for the same refs and findings: each
		// other one is a line of its own (the per-client budget still
		// bounds them).
		fields = append(fields, r.Cause, r.Reason)
	}
	for _, f := range fields {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// record writes r: allowed traffic one line each, denials under the audit
// log's size discipline (coalesced, and budgeted per client).
func (s *Server) record(r *audit.Record) {
	r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	r.Bottle = s.cfg.Bottle
	r.SelfTest = s.cfg.SelfTest != nil && s.cfg.SelfTest(r.Host)
	// What the agent wrote never brings a credential's value (or its
	// placeholder) into the log.
	if set := s.secrets.Load(); set.Len() > 0 {
		for _, f := range []*string{&r.Host, &r.Path, &r.Reason, &r.Error} {
			*f = set.Scrub(*f)
		}
	}
	if len(r.DLP) > 0 && s.cfg.DLP != nil {
		r.Path = cutFindings(s.cfg.DLP, r.Path)
	}
	if r.Decision == audit.DecisionDeny {
		key := denialKey(r)
		r.Clip()
		s.cfg.Audit.Denial(clientIP(r.Client), key, r)
		return
	}
	r.Clip()
	s.cfg.Audit.Write(r)
}

// cutFindings cuts path where the first DLP finding in it starts: the
// audit names a finding by its rule id, never holds the match.
func cutFindings(p Patterns, path string) string {
	fs := p.Scan([]byte(path))
	if len(fs) == 0 {
		return path
	}
	off := min(max(fs[0].Offset, 0), int64(len(path)))
	for _, f := range fs[1:] {
		off = min(off, max(f.Offset, 0))
	}
	return path[:off] + "[dlp " + fs[0].RuleID + "]"
}

func decisionWord(allowed, wouldDeny bool) string {
	switch {
	case wouldDeny:
		return audit.DecisionWouldDeny
	case allowed:
		return audit.DecisionAllow
	}
	return audit.DecisionDeny
}

// setDecision fills the decision fields of rec from d. The cause is written
// for a denial (or a would-deny) only: an allowed line has none.
func setDecision(rec *audit.Record, d allowlist.Decision) {
	rec.Decision, rec.Rule, rec.Reason = decisionWord(d.Allowed, d.WouldDeny), d.Rule, d.Explain()
	rec.Cause = ""
	if d.Denied() {
		rec.Cause = d.Cause.String()
	}
}

// cut is why the proxy refused something already under way (a request in
// flight, an open tunnel), or why report mode says it would have.
type cut struct {
	why   string
	cause allowlist.Cause
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
