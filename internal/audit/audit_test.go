package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestWriteWholeLines(t *testing.T) {
	var a, b bytes.Buffer
	var mu sync.Mutex
	l := New(lockedWriter{&a, &mu}, &b)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); l.Write(map[string]int{"n": i}) }()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(a.String()), "\n")
	if len(lines) != 50 || a.String() != b.String() {
		t.Fatalf("%d lines; sinks equal: %v", len(lines), a.String() == b.String())
	}
	for _, line := range lines {
		var v map[string]int
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
	}
	var nilLog *Log
	nilLog.Write("ignored") // must not panic
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
