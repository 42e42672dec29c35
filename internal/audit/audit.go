// Package audit writes the sidecar's audit log: one JSON object per line, to
// every sink (stdout, a file), each line in a single Write so concurrent
// readers never see half a line.
//
// The agent decides much of what goes into this log (names, paths, how often
// it is refused), so the log has a size discipline of its own: every string
// field is clipped to MaxField bytes by the writers (Clip), repeated
// identical denials within a window are coalesced into one line with a count,
// each client gets a budget of denial lines per window (the rest are counted
// in one "suppressed" line), and the file rotates at a fixed size (File).
package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxField is the longest a string field of an audit line may be; longer
// values are cut at a character boundary and marked with how much was cut.
const MaxField = 2 << 10

// Clip cuts s to MaxField bytes, marking the cut.
func Clip(s string) string {
	if len(s) <= MaxField {
		return s
	}
	cut := MaxField
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[+%d bytes]", s[:cut], len(s)-cut)
}

// Defaults for the denial budget.
const (
	DefaultWindow    = time.Second
	DefaultPerClient = 20   // first-of-a-kind denial lines per client per window
	maxGroups        = 8192 // coalescing groups held at once (bounded memory)
)

// Repeatable is a record that can say how many identical ones it stands for.
type Repeatable interface {
	SetRepeated(n int64)
}

// Options configure a Log. Zero values take the defaults.
type Options struct {
	Bottle    string        // in Suppressed lines
	Window    time.Duration // coalescing and budget window
	PerClient int           // denial lines per client per window
}

// Log is a set of sinks. A nil *Log discards.
type Log struct {
	mu    sync.Mutex // serialises writes to the sinks
	sinks []io.Writer
	opt   Options

	dmu     sync.Mutex // the denial state below
	groups  map[string]*group
	clients map[string]*budget
	timer   *time.Timer
}

type group struct {
	until time.Time
	n     int64
	last  Repeatable
	mk    func() Repeatable // builds last when it is nil (DenialFunc)
}

type budget struct {
	until      time.Time
	lines      int
	suppressed int64
}

// New writes to the given sinks with the default options.
func New(sinks ...io.Writer) *Log { return NewWith(Options{}, sinks...) }

// NewWith writes to the given sinks with opt.
func NewWith(opt Options, sinks ...io.Writer) *Log {
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.PerClient <= 0 {
		opt.PerClient = DefaultPerClient
	}
	return &Log{sinks: sinks, opt: opt, groups: map[string]*group{}, clients: map[string]*budget{}}
}

// Write encodes rec as one JSON line to every sink. A sink that fails must not
// stop traffic decisions, so errors are dropped.
func (l *Log) Write(rec any) {
	if l == nil {
		return
	}
	// A line per request: it is encoded into a pooled buffer. An Encoder
	// writes what json.Marshal does (HTML escaping included) followed by a
	// newline, so the line is the same, without Marshal's copy of it.
	buf := linePool.Get().(*bytes.Buffer)
	defer putLine(buf)
	if err := json.NewEncoder(buf).Encode(rec); err != nil {
		return
	}
	b := buf.Bytes()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.sinks {
		w.Write(b)
	}
}

var linePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putLine(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return // a rare large line (a git push's): not kept
	}
	b.Reset()
	linePool.Put(b)
}

// Denial writes a denial under the size discipline. client identifies who
// was refused (an address without port), key what was refused: a record
// whose client and key were already written in the current window is only
// counted, and written once more with its count when the window ends. A
// client that has used its budget of lines for the window is only counted
// too, and gets one Suppressed line at the end of the window.
func (l *Log) Denial(client, key string, rec Repeatable) { l.denial(client, key, rec, nil) }

// DenialFunc is Denial for a record that costs something to build (a time
// to format, fields to clip): mk is called only for a line that is written,
// never for a denial that is only counted, as most are in a flood. mk may be
// called with the log's lock held, and must not call the log.
func (l *Log) DenialFunc(client, key string, mk func() Repeatable) { l.denial(client, key, nil, mk) }

func (l *Log) denial(client, key string, rec Repeatable, mk func() Repeatable) {
	if l == nil {
		return
	}
	now := time.Now()
	k := client + "\x00" + key
	l.dmu.Lock()
	if g := l.groups[k]; g != nil && now.Before(g.until) {
		g.n++
		g.last, g.mk = rec, mk
		l.dmu.Unlock()
		return
	}
	c := l.clients[client]
	if c == nil || !now.Before(c.until) {
		if c != nil && c.suppressed > 0 {
			l.flushLocked(now) // its last window's count goes out first
		}
		c = &budget{until: now.Add(l.opt.Window)}
		l.clients[client] = c
	}
	if c.lines >= l.opt.PerClient || len(l.groups) >= maxGroups {
		c.suppressed++
		l.armLocked()
		l.dmu.Unlock()
		return
	}
	c.lines++
	l.groups[k] = &group{until: now.Add(l.opt.Window)}
	l.armLocked()
	l.dmu.Unlock()
	if rec == nil {
		rec = mk()
	}
	l.Write(rec)
}

// armLocked makes sure a flush runs when the window ends.
func (l *Log) armLocked() {
	if l.timer == nil {
		l.timer = time.AfterFunc(l.opt.Window, l.flush)
	}
}

func (l *Log) flush() {
	l.dmu.Lock()
	l.timer = nil
	l.flushLocked(time.Now())
	if len(l.groups) > 0 || len(l.clients) > 0 {
		l.armLocked()
	}
	l.dmu.Unlock()
}

// flushLocked writes the counts of windows that have ended and forgets them.
// It writes with dmu held, which only orders it after the lines counted.
func (l *Log) flushLocked(now time.Time) {
	for k, g := range l.groups {
		if now.Before(g.until) {
			continue
		}
		delete(l.groups, k)
		if g.n > 0 {
			last := g.last
			if last == nil {
				last = g.mk()
			}
			last.SetRepeated(g.n)
			l.Write(last)
		}
	}
	for client, c := range l.clients {
		if now.Before(c.until) {
			continue
		}
		delete(l.clients, client)
		if c.suppressed > 0 {
			// The line written for a client whose denials went over its
			// budget in one window.
			l.Write(&Record{Time: now.UTC().Format(time.RFC3339Nano), Bottle: l.opt.Bottle, Kind: KindSuppressed,
				Client: client, Decision: DecisionDeny, Count: c.suppressed,
				Reason: fmt.Sprintf("%d more denials of %s within %s were not logged one by one (at most %d lines per %s)",
					c.suppressed, client, l.opt.Window, l.opt.PerClient, l.opt.Window)})
		}
	}
}

// Flush writes every pending count now (at shutdown).
func (l *Log) Flush() {
	if l == nil {
		return
	}
	l.dmu.Lock()
	defer l.dmu.Unlock()
	for _, g := range l.groups {
		g.until = time.Time{}
	}
	for _, c := range l.clients {
		c.until = time.Time{}
	}
	l.flushLocked(time.Now())
}
