// Package audit writes the sidecar's audit log: one JSON object per line, to
// every sink (stdout, a file), each line in a single Write so concurrent
// readers never see half a line.
package audit

import (
	"encoding/json"
	"io"
	"sync"
)

// Log is a set of sinks. A nil *Log discards.
type Log struct {
	mu    sync.Mutex
	sinks []io.Writer
}

// New writes to the given sinks.
func New(sinks ...io.Writer) *Log { return &Log{sinks: sinks} }

// Write encodes rec as one JSON line to every sink. A sink that fails must not
// stop traffic decisions, so errors are dropped.
func (l *Log) Write(rec any) {
	if l == nil {
		return
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.sinks {
		w.Write(b)
	}
}
