package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"bottle.dev/bottle/internal/syncbuf"
)

func TestWriteWholeLines(t *testing.T) {
	var a syncbuf.Buffer
	var b bytes.Buffer // written under the Log's own lock only
	l := New(&a, &b)
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

type denial struct {
	Kind     string `json:"kind"`
	Client   string `json:"client"`
	Name     string `json:"name"`
	Reason   string `json:"reason,omitempty"`
	Repeated int64  `json:"repeated,omitempty"`
}

func (d *denial) SetRepeated(n int64) { d.Repeated = n }

// waitLines waits until buf holds n lines or more (the window's end writes
// them from a timer) and returns them; the test fails if they never come.
func waitLines(t *testing.T, buf *syncbuf.Buffer, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := lines(t, buf.String())
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines; want %d:\n%s", len(got), n, buf.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func lines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestClip(t *testing.T) {
	if Clip("short") != "short" {
		t.Fatal("a short field changed")
	}
	long := strings.Repeat("é", MaxField) // 2 bytes a rune: the cut falls inside one
	c := Clip(long)
	if !utf8.ValidString(c) || len(c) > MaxField+32 || !strings.HasSuffix(c, "…[+2048 bytes]") {
		t.Fatalf("clipped to %d bytes, ends %q", len(c), c[len(c)-20:])
	}
}

// Identical denials in one window become one line plus one line with the
// count; a different key is its own line.
func TestDenialCoalesces(t *testing.T) {
	var buf syncbuf.Buffer
	l := NewWith(Options{Window: 50 * time.Millisecond, PerClient: 100}, &buf)
	for range 1000 {
		l.Denial("10.0.0.2", "a.test", &denial{Kind: "dns", Client: "10.0.0.2", Name: "a.test"})
	}
	l.Denial("10.0.0.2", "b.test", &denial{Kind: "dns", Client: "10.0.0.2", Name: "b.test"})
	got := waitLines(t, &buf, 3) // the count, when the window ends
	if len(got) != 3 {
		t.Fatalf("%d lines:\n%s", len(got), buf.String())
	}
	if got[0]["name"] != "a.test" || got[0]["repeated"] != nil || got[1]["name"] != "b.test" {
		t.Errorf("first lines: %v", got[:2])
	}
	if got[2]["name"] != "a.test" || got[2]["repeated"] != float64(999) {
		t.Errorf("count line: %v", got[2])
	}
	// After the window the same denial is written again, at once.
	l.Denial("10.0.0.2", "a.test", &denial{Name: "a.test"})
	if n := len(lines(t, buf.String())); n != 4 {
		t.Errorf("after the window: %d lines", n)
	}
}

// DenialFunc writes what Denial would, building a record only for the lines
// written: the first of a kind, and the count of its repeats (the last one's
// record) when the window ends; a denial over the budget builds none.
func TestDenialFuncBuildsOnlyWhatIsWritten(t *testing.T) {
	var buf syncbuf.Buffer
	l := NewWith(Options{Window: 50 * time.Millisecond, PerClient: 2}, &buf)
	built := 0
	deny := func(name string, i int) {
		l.DenialFunc("10.0.0.2", name, func() Repeatable {
			built++
			return &denial{Kind: "dns", Client: "10.0.0.2", Name: name, Reason: fmt.Sprint(i)}
		})
	}
	for i := range 100 {
		deny("a.test", i)
	}
	for i := range 100 {
		deny(fmt.Sprintf("n%d.test", i), i) // the second is the budget's last line
	}
	got := waitLines(t, &buf, 4) // a, n0, the count of a, the suppressed line
	if len(got) != 4 {
		t.Fatalf("%d lines:\n%s", len(got), buf.String())
	}
	l.dmu.Lock()
	n := built
	l.dmu.Unlock()
	if n != 3 {
		t.Errorf("%d records built for 3 lines", n)
	}
	for _, m := range got {
		if m["name"] == "a.test" && m["repeated"] != nil && (m["repeated"] != float64(99) || m["reason"] != "99") {
			t.Errorf("count line: %v", m)
		}
	}
}

// A client that sends many different denials gets PerClient lines and one
// "suppressed" line with the rest counted; another client is unaffected.
func TestDenialBudgetPerClient(t *testing.T) {
	var buf syncbuf.Buffer
	l := NewWith(Options{Bottle: "b1", Window: 50 * time.Millisecond, PerClient: 5}, &buf)
	for i := range 200 {
		l.Denial("10.0.0.2", fmt.Sprint(i), &denial{Client: "10.0.0.2", Name: fmt.Sprint(i)})
	}
	l.Denial("10.0.0.3", "x", &denial{Client: "10.0.0.3", Name: "x"})
	got := waitLines(t, &buf, 7) // 5 + 1 lines, and the suppressed line when the window ends
	var from2, from3, suppressed int
	for _, m := range got {
		switch {
		case m["kind"] == "suppressed":
			suppressed++
			if m["count"] != float64(195) || m["client"] != "10.0.0.2" || m["bottle"] != "b1" {
				t.Errorf("suppressed line: %v", m)
			}
		case m["client"] == "10.0.0.2":
			from2++
		case m["client"] == "10.0.0.3":
			from3++
		}
	}
	if from2 != 5 || from3 != 1 || suppressed != 1 {
		t.Errorf("lines: %d from .2, %d from .3, %d suppressed:\n%s", from2, from3, suppressed, buf.String())
	}
}

// A flood of long, distinct denials from several clients writes a bounded
// number of bytes.
func TestDenialFloodIsBounded(t *testing.T) {
	var buf syncbuf.Buffer
	l := NewWith(Options{Window: 20 * time.Millisecond, PerClient: 20}, &buf)
	long := strings.Repeat("x", 60<<10)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < 200*time.Millisecond; i++ {
				l.Denial(fmt.Sprint("10.0.0.", c), fmt.Sprint(i), &denial{Name: Clip(long + fmt.Sprint(i))})
			}
		}()
	}
	wg.Wait()
	l.Flush()
	// 8 clients × (20 lines + 1 suppressed) per 20 ms window, ≤ 3 KB a line,
	// over at most 11 windows.
	if n := buf.Len(); n > 8*21*3<<10*11 {
		t.Errorf("%d bytes written", n)
	}
	if !strings.Contains(buf.String(), `"kind":"suppressed"`) {
		t.Error("no suppressed line")
	}
}

func TestFileRotates(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "egress.jsonl")
	f, err := OpenFile(p, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("a", 39) + "\n") // 40 bytes
	for range 20 {
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	var total int64
	for _, name := range []string{"egress.jsonl", "egress.jsonl.1", "egress.jsonl.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 100 || st.Size()%40 != 0 {
			t.Errorf("%s: %d bytes", name, st.Size())
		}
		total += st.Size()
	}
	if _, err := os.Stat(p + ".3"); err == nil {
		t.Error("kept more than 2 old files")
	}
	if total != 240 {
		t.Errorf("%d bytes kept in all", total)
	}
	// Reopening appends to the current file.
	f, _ = OpenFile(p, 100, 2)
	f.Write(line)
	f.Close()
	if st, _ := os.Stat(p); st.Size() != 120 && st.Size() != 40 {
		t.Errorf("after reopen: %d", st.Size())
	}
}

// TestFileNeverRenamesADevice: --audit-log /dev/null (the benchmark harness
// uses it) is written, never rotated away.
func TestFileNeverRenamesADevice(t *testing.T) {
	f, err := OpenFile(os.DevNull, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := f.Write([]byte("0123456789\n")); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if st, err := os.Stat(os.DevNull); err != nil || st.Mode()&os.ModeDevice == 0 {
		t.Fatalf("%s is no longer a device: %v %v", os.DevNull, st, err)
	}
	if _, err := os.Stat(os.DevNull + ".1"); err == nil {
		t.Fatalf("%s.1 exists", os.DevNull)
	}
}
