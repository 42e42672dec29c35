package proxy

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Record is one audit line: one per request, per tunnel and per denied
// CONNECT. It never holds a query string, a header value or a body.
type Record struct {
	Time     string  `json:"time"`
	Bottle   string  `json:"bottle,omitempty"`
	Kind     string  `json:"kind"` // "request", "tunnel" or "connect" (a CONNECT denied before any tunnel)
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
}

// Auditor writes audit records as JSON lines to every sink. Each line is one
// Write, so concurrent readers of a file never see half a line.
type Auditor struct {
	mu    sync.Mutex
	sinks []io.Writer
}

// NewAuditor writes to the given sinks (stdout, a file, a test buffer).
func NewAuditor(sinks ...io.Writer) *Auditor { return &Auditor{sinks: sinks} }

// Log writes r, filling in the time.
func (a *Auditor) Log(r *Record) {
	if a == nil {
		return
	}
	if r.Time == "" {
		r.Time = time.Now().UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.sinks {
		w.Write(b) // an audit sink that fails must not stop traffic decisions
	}
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
