package supervise

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"bottle.dev/bottle/internal/audit"
)

// DefaultDenials is how many denials a Denials keeps.
const DefaultDenials = 200

// Denial is one denial the audit log recorded, as why_blocked shows it.
type Denial struct {
	Time     string `json:"time"`
	Kind     string `json:"kind"` // request, connect, tunnel, dns, git-push
	Method   string `json:"method,omitempty"`
	Scheme   string `json:"scheme,omitempty"`
	Host     string `json:"host,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Path     string `json:"path,omitempty"` // never a query
	Name     string `json:"name,omitempty"` // a DNS query's
	Decision string `json:"decision"`       // deny, or would-deny in report mode
	Rule     string `json:"rule,omitempty"`
	Cause    string `json:"cause,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Repeated int64  `json:"repeated,omitempty"`
}

// Denials keeps the last denials of the audit log: it is one of the
// log's sinks (audit.NewWith), so it reads the JSON lines the log writes,
// and keeps those of denials. It never holds a query string: the log's
// paths have none, and a "?" that got there is cut.
type Denials struct {
	mu   sync.Mutex
	ring []Denial
	next int
	full bool
}

// NewDenials keeps the last n denials (DefaultDenials when n <= 0).
func NewDenials(n int) *Denials {
	if n <= 0 {
		n = DefaultDenials
	}
	return &Denials{ring: make([]Denial, n)}
}

var (
	denyMark      = []byte(`"decision":"deny"`)
	wouldDenyMark = []byte(`"decision":"would-deny"`)
)

// Write takes one or more audit lines. It never fails: the audit log
// must not stop on it.
func (d *Denials) Write(p []byte) (int, error) {
	n := len(p)
	// The log writes every decision; only denials are read, and the test
	// for one is cheap.
	if !bytes.Contains(p, denyMark) && !bytes.Contains(p, wouldDenyMark) {
		return n, nil
	}
	for line := range bytes.SplitSeq(p, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r audit.Record
		if json.Unmarshal(line, &r) != nil {
			continue
		}
		if r.Decision != audit.DecisionDeny && r.Decision != audit.DecisionWouldDeny || r.SelfTest {
			continue
		}
		switch r.Kind {
		case audit.KindRequest, audit.KindConnect, audit.KindTunnel, audit.KindDNS, audit.KindGitPush:
		default:
			continue // approvals, suppressed counts
		}
		path, _, _ := strings.Cut(r.Path, "?")
		d.add(Denial{Time: r.Time, Kind: r.Kind, Method: r.Method, Scheme: r.Scheme, Host: r.Host, Port: r.Port, Path: path,
			Name: r.Name, Decision: r.Decision, Rule: r.Rule, Cause: r.Cause, Reason: r.Reason, Repeated: r.Repeated})
	}
	return n, nil
}

func (d *Denials) add(x Denial) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ring[d.next] = x
	d.next++
	if d.next == len(d.ring) {
		d.next, d.full = 0, true
	}
}

// Recent returns the last n denials, newest first.
func (d *Denials) Recent(n int) []Denial {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	have := d.next
	if d.full {
		have = len(d.ring)
	}
	n = min(n, have)
	out := make([]Denial, 0, n)
	for i := range n {
		out = append(out, d.ring[(d.next-1-i+len(d.ring))%len(d.ring)])
	}
	return out
}
