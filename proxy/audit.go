package proxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"bottle.dev/bottle/internal/audit"
)

// Record is one audit line: one per request, per tunnel and per denied
// CONNECT. It never holds a query string, a header value or a body.
type Record struct {
	Time     string  `json:"time"` // filled in by the proxy
	Bottle   string  `json:"bottle,omitempty"`
	Kind     string  `json:"kind"` // "request", "tunnel" or "connect" (a CONNECT answered without a tunnel)
	Client   string  `json:"client"`
	Method   string  `json:"method,omitempty"`
	Scheme   string  `json:"scheme,omitempty"`
	Host     string  `json:"host"`
	Port     uint16  `json:"port"`
	Path     string  `json:"path,omitempty"`
	Decision string  `json:"decision"` // "allow", "deny" or "would-deny" (report mode)
	Rule     string  `json:"rule"`
	Reason   string  `json:"reason"`
	Status   int     `json:"status,omitempty"`
	BytesIn  int64   `json:"bytes_in"`  // from the agent
	BytesOut int64   `json:"bytes_out"` // to the agent
	Duration float64 `json:"duration_ms"`
	DstIP    string  `json:"dst_ip,omitempty"`
	Error    string  `json:"error,omitempty"`
	// Repeated counts the identical denials this line stands for, when the
	// audit log coalesced them (see audit.Log.Denial).
	Repeated int64 `json:"repeated,omitempty"`
}

// SetRepeated implements audit.Repeatable.
func (r *Record) SetRepeated(n int64) { r.Repeated = n }

// clip bounds every string field: the agent decides most of them (names,
// paths, and reasons, which embed both).
func (r *Record) clip() {
	for _, f := range []*string{&r.Bottle, &r.Kind, &r.Client, &r.Method, &r.Scheme, &r.Host, &r.Path,
		&r.Decision, &r.Rule, &r.Reason, &r.DstIP, &r.Error} {
		*f = audit.Clip(*f)
	}
}

// denialKey is what makes two denials "the same" for coalescing. It is a
// hash so that the audit log's table of recent denials stays small whatever
// the agent puts in a path.
func (r *Record) denialKey() string {
	h := sha256.New()
	for _, f := range []string{r.Kind, r.Method, r.Host, strconv.Itoa(int(r.Port)), r.Path, r.Rule} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// record writes r: allowed traffic one line each, denials under the audit
// log's size discipline (coalesced, and budgeted per client).
func (s *Server) record(r *Record) {
	r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	r.Bottle = s.cfg.Bottle
	if r.Decision == "deny" {
		key := r.denialKey()
		r.clip()
		s.cfg.Audit.Denial(clientIP(r.Client), key, r)
		return
	}
	r.clip()
	s.cfg.Audit.Write(r)
}

func decisionWord(allowed, wouldDeny bool) string {
	switch {
	case wouldDeny:
		return "would-deny"
	case allowed:
		return "allow"
	}
	return "deny"
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
