package audit

// Record is one audit line, of any kind: the proxy and the DNS forwarder
// write them, `bottle logs --egress` reads them. Fields a kind does not use
// are left out of its line. It never holds a query string, a header value or
// a body.
type Record struct {
	Time   string `json:"time"` // RFC 3339, UTC, nanoseconds
	Bottle string `json:"bottle,omitempty"`
	Kind   string `json:"kind"`             // one of the Kind* constants
	Client string `json:"client,omitempty"` // the agent's address (the proxy's lines have its port)

	// Requests, tunnels and CONNECTs.
	Method string `json:"method,omitempty"`
	Scheme string `json:"scheme,omitempty"`
	Host   string `json:"host,omitempty"`
	Port   uint16 `json:"port,omitempty"`
	Path   string `json:"path,omitempty"` // without the query

	// DNS queries.
	Name  string `json:"name,omitempty"`
	QType string `json:"qtype,omitempty"`
	Rcode string `json:"rcode,omitempty"`

	Decision string `json:"decision"`        // one of the Decision* constants
	Rule     string `json:"rule,omitempty"`  // "allow[3]", "deny[0]", "default"
	Cause    string `json:"cause,omitempty"` // why, as a constant key (allowlist.Cause), for denials
	Reason   string `json:"reason,omitempty"`

	Status   int     `json:"status,omitempty"`
	BytesIn  int64   `json:"bytes_in,omitempty"`  // from the agent
	BytesOut int64   `json:"bytes_out,omitempty"` // to the agent
	Duration float64 `json:"duration_ms,omitempty"`
	DstIP    string  `json:"dst_ip,omitempty"`
	Error    string  `json:"error,omitempty"`

	// Credential names the credentials the proxy injected into the
	// request (comma-separated, when several bound to the host set headers
	// of their own), or the one whose placeholder it refused to send
	// (cause credential-misuse): names, never a value or placeholder.
	Credential string `json:"credential,omitempty"`
	// DLP lists what was found in the request: the rule ids of DLP
	// patterns, and "value:NAME" for the real value of credential NAME.
	// Never the match.
	DLP []string `json:"dlp,omitempty"`

	// Repeated counts the identical denials this line stands for, when the
	// log coalesced them (Log.Denial); Count is the number of denials a
	// KindSuppressed line stands for.
	Repeated int64 `json:"repeated,omitempty"`
	Count    int64 `json:"count,omitempty"`

	// Git is what the git gate saw of a push (kind git-push): its ref
	// updates, its commits and what the scan found. Never a secret.
	Git *GitPush `json:"git,omitempty"`

	// Approval is a held request's account (kind approval): its id, what
	// was decided and by whom. The request's own fields (Method, Host,
	// Port, Path, Cause) say what it was.
	Approval *Approval `json:"approval,omitempty"`

	// SelfTest marks a line about the launcher's self-test probe (the
	// sidecar sets it for the self-test's name only, while the self-test
	// runs: contract.SelfTestPrefix), not about the agent's traffic.
	SelfTest bool `json:"selftest,omitempty"`
}

// Kinds of audit line.
const (
	KindRequest    = "request"    // an HTTP request, plain or inside an intercepted tunnel
	KindTunnel     = "tunnel"     // an intercepted or passthrough connection, at its end
	KindConnect    = "connect"    // a CONNECT answered without a tunnel (refused, or failed)
	KindDNS        = "dns"        // a DNS query the forwarder refused (or would have)
	KindSuppressed = "suppressed" // denials of one client over its budget, counted
	KindGitPush    = "git-push"   // a git push the gate inspected (POST …/git-receive-pack), accepted or refused
	KindApproval   = "approval"   // a held request (allowlist approvals: ask) decided, timed out or failed
)

// Decisions.
const (
	DecisionAllow     = "allow"
	DecisionDeny      = "deny"
	DecisionWouldDeny = "would-deny" // report mode: let through, enforce would deny
)

// SetRepeated implements Repeatable.
func (r *Record) SetRepeated(n int64) { r.Repeated = n }

// Clip bounds every string field (the agent decides most of them: names,
// paths, and reasons, which embed both).
func (r *Record) Clip() {
	for _, f := range []*string{&r.Bottle, &r.Kind, &r.Client, &r.Method, &r.Scheme, &r.Host, &r.Path,
		&r.Name, &r.QType, &r.Rcode, &r.Decision, &r.Rule, &r.Cause, &r.Reason, &r.DstIP, &r.Error, &r.Credential} {
		*f = Clip(*f)
	}
	if a := r.Approval; a != nil {
		a.ID, a.Verdict, a.By, a.Note, a.AgentReason, a.Source = Clip(a.ID), Clip(a.Verdict), Clip(a.By), Clip(a.Note), Clip(a.AgentReason), Clip(a.Source)
	}
	if g := r.Git; g != nil {
		g.Repo, g.Entry, g.Scan = Clip(g.Repo), Clip(g.Entry), Clip(g.Scan)
		for i := range g.Refs {
			ref := &g.Refs[i]
			ref.Ref, ref.Old, ref.New, ref.Status, ref.Reason = Clip(ref.Ref), Clip(ref.Old), Clip(ref.New), Clip(ref.Status), Clip(ref.Reason)
		}
		for i := range g.Commits {
			g.Commits[i] = Clip(g.Commits[i])
		}
		for i := range g.Findings {
			g.Findings[i] = Clip(g.Findings[i])
		}
	}
}

// GitPush is the git gate's account of one push.
type GitPush struct {
	Repo    string   `json:"repo"`              // the declared repository ("git.example.com/acme/widget")
	Entry   string   `json:"entry,omitempty"`   // its entry ("git[0]")
	Refs    []GitRef `json:"refs"`              // the ref-update commands, in order
	Commits []string `json:"commits,omitempty"` // the ids of the commits the pack adds (bounded)
	Objects int      `json:"objects,omitempty"` // objects in the pack
	Bytes   int64    `json:"pack_bytes,omitempty"`
	Scan    string   `json:"scan,omitempty"` // "block", "report", "off"
	// Findings name what the scan found, one per finding: "RULE in
	// PATH:LINE (commit ID)". Never the match.
	Findings []string `json:"findings,omitempty"`
}

// GitRef is one ref-update command of a push and what the gate made of it.
type GitRef struct {
	Ref    string `json:"ref"`
	Old    string `json:"old"`
	New    string `json:"new"`
	Status string `json:"status"`           // "ok" (sent upstream) or "rejected"
	Reason string `json:"reason,omitempty"` // why it was rejected
}

// Approval is what became of one held request.
type Approval struct {
	ID string `json:"id"`
	// Verdict is "once", "host", "always" or "deny" when a human decided;
	// "timeout" when nobody did in time, "failed" when the sidecar could
	// not hold it (restarted, no channel).
	Verdict     string  `json:"verdict"`
	By          string  `json:"by,omitempty"`   // who decided, through what ("bottle approve (root)")
	Note        string  `json:"note,omitempty"` // the human's note
	Source      string  `json:"source"`         // "proxy" or "mcp"
	AgentReason string  `json:"agent_reason,omitempty"`
	Count       int     `json:"count,omitempty"` // the requests held on it
	WaitedMS    float64 `json:"waited_ms,omitempty"`
}
