package proxy

import "time"

// Record is one audit line: one per request, per tunnel and per denied
// CONNECT. It never holds a query string, a header value or a body.
type Record struct {
	Time     string  `json:"time"` // filled in by the proxy
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
