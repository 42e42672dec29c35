package contract

import (
	"encoding/json"
	"fmt"
	"time"
)

// ProbeSpec is one probe of a batch (`bottle-sidecar probe batch JSON`,
// JSON an array of them): what `bottle-sidecar probe KIND ARGS...` does,
// with the proxy an http probe goes through said here rather than in the
// environment, and a timeout of its own. The self-test runs all its
// probes in one batch: one exec, the probes at once.
type ProbeSpec struct {
	Kind string   `json:"kind"` // tcp, http or dns
	Args []string `json:"args"` // as after KIND
	// Proxy is the proxy URL of an http probe ("": none, directly).
	Proxy string `json:"proxy,omitempty"`
	// TimeoutMS bounds the probe; 0: the batch's --timeout.
	TimeoutMS int `json:"timeout_ms,omitempty"`
	// Retry tries again, until the timeout, while the probe is refused
	// (ProbeRefused): what it asks is still starting (the sidecar, whose
	// start the launch does not wait for).
	Retry bool `json:"retry,omitempty"`
}

// Timeout is the probe's timeout, def when it sets none.
func (p ProbeSpec) Timeout(def time.Duration) time.Duration {
	if p.TimeoutMS > 0 {
		return time.Duration(p.TimeoutMS) * time.Millisecond
	}
	return def
}

// ProbeResult is what one probe of a batch found: its exit code as the
// single probe would give it (ProbeOK …), and what it says.
type ProbeResult struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// ParseProbeResults reads a batch's output (a JSON array on one line)
// for want probes: anything else, a result too many or too few included,
// is an error (the self-test then has proven nothing).
func ParseProbeResults(out []byte, want int) ([]ProbeResult, error) {
	var rs []ProbeResult
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("the probe batch's output is not its results: %v", err)
	}
	if len(rs) != want {
		return nil, fmt.Errorf("the probe batch gave %d results for %d probes", len(rs), want)
	}
	return rs, nil
}
