package proxy

// Credentials and DLP in the proxy. Every intercepted request the policy
// admits (plain HTTP, or inside an intercepted tunnel) goes through the
// same steps, before anything is dialled:
//
//  1. The guard (package secret/guard) looks at its URL and headers as the
//     agent wrote them: a credential's real value anywhere (secret-leak)
//     or a placeholder on its way to a host its credential is not bound to
//     (credential-misuse) refuses it.
//  2. DLP patterns (well-known secret formats) are looked for in its URL
//     and header values: audited as would-deny in `dlp: report`, refused in
//     `dlp: block`, skipped where the rule that admits it says `dlp: off`.
//  3. On a bound host, the guard injects the credential (and the audit line
//     names it).
//  4. The body is scanned as it streams by both: a value or a placeholder
//     astray stops it before its last byte leaves (and the agent gets a
//     403 when the upstream has not answered yet), as does a DLP finding in
//     block mode. In report mode DLP scans the first DLPReportMax bytes of
//     a body only.
//  5. An answer from a bound host has the real values taken out of its
//     headers and its body (streamed) before the agent sees it.
//
// Passthrough tunnels (TLS the sidecar cannot read) and the raw bytes of
// an upgraded stream after its 101 (a WebSocket) are not inspected; the
// request that asks for the upgrade is.
//
// Report mode (allowlist `mode: report`) lets a DLP refusal through marked
// would-deny, like every other refusal on policy grounds, but never a
// secret-leak nor a credential-misuse: a bottle under observation must not
// leak its keys either.

import (
	"cmp"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/secret/guard"
)

// Patterns detects well-known secret formats in what the agent sends
// (package dlp, with gitleaks' rules, implements it through an adapter).
type Patterns interface {
	// Scan returns the findings in b (a URL, a header value).
	Scan(b []byte) []Finding
	// NewReader passes r through, calling found for each finding; with
	// block, it fails on a finding before the matching bytes are released.
	NewReader(r io.Reader, block bool, found func(Finding)) io.Reader
}

// Finding is one DLP finding: the rule that matched and where. Never the
// match.
type Finding struct {
	RuleID string
	Offset int64
}

// SetSecrets swaps the credentials: every request from now on is guarded
// by set (nil: none). Requests in flight keep the set they started with.
func (s *Server) SetSecrets(set *guard.Set) { s.secrets.Store(set) }

// DLPReportMax is how much of a request body DLP scans in report mode
// (the whole body is scanned in block mode). Pattern detection costs a few
// MB/s of CPU, and scans as the body passes: a 100 MB upload scanned whole
// would go at that pace, for findings that block nothing.
const DLPReportMax = 8 << 20

// maxDLPIDs bounds the rule ids an audit line lists.
const maxDLPIDs = 16

// reqSecrets is what the guard and DLP did to one request. The body's
// readers run on the transport's goroutines, hence the lock.
type reqSecrets struct {
	set     *guard.Set
	body    *guard.Body // the guarded body, if any
	mode    allowlist.DLPMode
	block   bool // DLP findings refuse (block mode, enforced)
	mu      sync.Mutex
	found   []string // DLP rule ids, in order, once each
	blocked bool     // a DLP finding stopped the body
	stop    func()   // ends the upstream request (set when it starts)
}

func (sec *reqSecrets) addFinding(id string, blocked bool) {
	sec.mu.Lock()
	if !slices.Contains(sec.found, id) && len(sec.found) < maxDLPIDs {
		sec.found = append(sec.found, id)
	}
	if blocked {
		sec.blocked = true
	}
	sec.mu.Unlock()
}

func (sec *reqSecrets) findings() ([]string, bool) {
	sec.mu.Lock()
	defer sec.mu.Unlock()
	return slices.Clone(sec.found), sec.blocked
}

// guardRequest runs steps 1 to 4 on an admitted request whose target is
// rs.req. It returns a response only to refuse.
func (s *Server) guardRequest(r *http.Request, rs *reqState) *http.Response {
	set := s.secrets.Load()
	if set.Len() == 0 && s.cfg.DLP == nil {
		return nil
	}
	sec := &reqSecrets{set: set}
	rs.sec = sec
	host := rs.req.Host
	if v := set.Check(r, host); v != nil {
		return s.refuseSecret(r, rs, v)
	}
	sec.mode = rs.gen.p.DLPFor(rs.req)
	sec.block = sec.mode == allowlist.DLPBlock && rs.gen.p.Mode() == allowlist.Enforce
	if s.cfg.DLP != nil && sec.mode != allowlist.DLPOff {
		if where, ids := s.scanHead(r); len(ids) > 0 {
			for _, id := range ids {
				sec.addFinding(id, false)
			}
			if sec.block {
				return s.refuseDLP(r, rs, where)
			}
			s.wouldDenyDLP(rs, where)
		}
	}
	name, v := set.Inject(r, host, s.cfg.ResignAWS)
	if v != nil {
		return s.refuseSecret(r, rs, v)
	}
	rs.rec.Credential = name
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	body := set.RequestBody(r.Body, host)
	if sec.body, _ = body.(*guard.Body); sec.body != nil {
		sec.body.CheckTrailer(&r.Trailer)
	}
	if s.cfg.DLP != nil && sec.mode != allowlist.DLPOff {
		block := sec.block
		found := func(f Finding) { sec.addFinding(f.RuleID, block) }
		if block {
			body = readCloser{s.cfg.DLP.NewReader(body, true, found), body}
		} else {
			// Report mode scans the start of a body only: pattern
			// detection runs at a few MB/s, and a report must not slow a
			// large upload to that pace.
			scanned := s.cfg.DLP.NewReader(io.LimitReader(body, DLPReportMax), false, found)
			body = readCloser{io.MultiReader(scanned, body), body}
		}
	}
	r.Body = readCloser{stopReader{body, sec}, body}
	return nil
}

// scanHead looks for DLP patterns in the URL and the header values, and
// says where the first finding is. They are scanned in one call, a line
// each: a scan costs about as much for one short field as for a whole
// request's head.
func (s *Server) scanHead(r *http.Request) (string, []string) {
	type field struct {
		end  int // where its line ends in head
		name string
	}
	var head []byte
	var fields []field
	add := func(name, v string) {
		head = append(append(head, v...), '\n')
		fields = append(fields, field{len(head), name})
	}
	add("the URL", r.URL.String())
	for name, vals := range r.Header {
		for _, v := range vals {
			add("header "+name, v)
		}
	}
	var where string
	var ids []string
	for _, f := range s.cfg.DLP.Scan(head) {
		if where == "" {
			i, _ := slices.BinarySearchFunc(fields, f.Offset, func(x field, off int64) int { return cmp.Compare(int64(x.end), off+1) })
			where = fields[min(i, len(fields)-1)].name
		}
		if !slices.Contains(ids, f.RuleID) {
			ids = append(ids, f.RuleID)
		}
	}
	return where, ids
}

// secretDecision is the decision of a refusal by the guard: it blocks in
// every mode.
func secretDecision(v *guard.Violation) allowlist.Decision {
	return allowlist.Decision{Rule: allowlist.RuleDefault, Cause: v.Cause, Reason: v.Error()}
}

// refuseSecret answers 403 to a request the guard refused, and audits it
// with the credential's name (never its value or placeholder).
func (s *Server) refuseSecret(r *http.Request, rs *reqState, v *guard.Violation) *http.Response {
	s.markSecret(rs, v)
	a := denyAnswer(r.Method, rs.req.Host, rs.req.Port, rs.in.path, rs.d, "")
	s.finish(rs, a.status, "")
	return a.response(r)
}

func (s *Server) markSecret(rs *reqState, v *guard.Violation) {
	rs.d = secretDecision(v)
	recordViolation(&rs.rec, v)
}

// recordViolation puts a refusal by the guard into an audit line: the
// decision, and what was refused: the value of a credential (a DLP
// finding "value:NAME") or its placeholder (the credential's name).
func recordViolation(rec *audit.Record, v *guard.Violation) {
	setDecision(rec, secretDecision(v))
	if f := v.Finding(); f != "" {
		rec.DLP = append(rec.DLP, f)
	} else {
		rec.Credential = v.Credential
	}
}

func dlpReason(where string, ids []string) string {
	return fmt.Sprintf("a secret matching DLP rule %s in %s", strings.Join(ids, ", "), where)
}

// refuseDLP answers 403 to a request with a DLP finding in block mode.
func (s *Server) refuseDLP(r *http.Request, rs *reqState, where string) *http.Response {
	ids, _ := rs.sec.findings()
	rs.decided(allowlist.Decision{Rule: allowlist.RuleDefault, Cause: allowlist.CauseDLP, Reason: dlpReason(where, ids)})
	rs.rec.DLP = ids
	a := denyAnswer(r.Method, rs.req.Host, rs.req.Port, rs.in.path, rs.d, "")
	s.finish(rs, a.status, "")
	return a.response(r)
}

// wouldDenyDLP marks a request DLP found something in, and lets it go
// (report mode). A request that is already a would-deny keeps its cause.
func (s *Server) wouldDenyDLP(rs *reqState, where string) {
	if rs.d.WouldDeny {
		return
	}
	ids, _ := rs.sec.findings()
	d := rs.d
	d.WouldDeny, d.Cause, d.Reason = true, allowlist.CauseDLP, dlpReason(where, ids)
	rs.decided(d)
}

// bodyRefusal is the answer to a request whose body the guard or DLP
// stopped before the upstream answered, or nil if neither did.
func (s *Server) bodyRefusal(req *http.Request, rs *reqState) *http.Response {
	sec := rs.sec
	if sec == nil {
		return nil
	}
	if sec.body != nil {
		if v := sec.body.Violation(); v != nil {
			return s.refuseSecret(req, rs, v)
		}
	}
	if _, blocked := sec.findings(); blocked {
		return s.refuseDLP(req, rs, "the body")
	}
	return nil
}

// finishSecrets puts into rec, the request's audit line, what its body
// showed: DLP findings (a would-deny in report mode), or what stopped it
// after the upstream had answered.
func (rs *reqState) finishSecrets(rec *audit.Record) {
	sec := rs.sec
	if sec == nil {
		return
	}
	if sec.body != nil {
		if v := sec.body.Violation(); v != nil {
			if rec.Decision != audit.DecisionDeny {
				recordViolation(rec, v)
			}
			return
		}
	}
	ids, blocked := sec.findings()
	if len(ids) == 0 {
		return
	}
	rec.DLP = ids
	switch {
	case rec.Decision == audit.DecisionDeny:
	case blocked:
		setDecision(rec, allowlist.Decision{Rule: allowlist.RuleDefault, Cause: allowlist.CauseDLP, Reason: dlpReason("the body", ids)})
	case rec.Decision == audit.DecisionAllow:
		setDecision(rec, allowlist.Decision{Allowed: true, WouldDeny: true, Rule: rec.Rule, Cause: allowlist.CauseDLP, Reason: dlpReason("the body", ids)})
	}
}

// guardResponse takes the real values out of an answer from a bound host.
func (s *Server) guardResponse(resp *http.Response, rs *reqState) {
	if rs.sec != nil {
		rs.sec.set.Response(resp, rs.req.Host)
	}
}

// stopReader ends the upstream request when the body it reads fails (a
// value or a placeholder astray, a DLP finding in block mode): the
// transport would end it too, but not always at once when the upstream
// has answered already.
type stopReader struct {
	r   io.Reader
	sec *reqSecrets
}

func (s stopReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.sec.mu.Lock()
		stop := s.sec.stop
		s.sec.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
	return n, err
}

type readCloser struct {
	io.Reader
	io.Closer
}
