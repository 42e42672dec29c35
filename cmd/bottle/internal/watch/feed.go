package watch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

// Row is one audit record of one bottle.
type Row struct {
	Bottle string
	Rec    audit.Record
}

// Pending is one pending (or expired, still listed) approval of one bottle.
type Pending struct {
	Bottle string
	approval.Request
}

// Bottle is a watched bottle and what its metadata says of it.
type Bottle struct {
	Name   string
	Status string // running, launching, stopped, failed, …; "removed" once its state directory is gone
}

// Running says whether the bottle may still decide requests.
func (b Bottle) Running() bool { return b.Status == "running" || b.Status == "launching" }

// Poll is what one look at the state directory found: the audit lines
// written since the last one, the approvals listed now, and the bottles.
type Poll struct {
	Rows    []Row
	Pending []Pending
	Bottles []Bottle
	// Arrived are the ids of the pending approvals not seen before (none
	// on the first poll: those were there when watch started).
	Arrived []string
}

// Feed reads one bottle's, or every bottle's, egress audit and pending
// approvals from a state directory, a poll at a time. It follows each
// audit file as it grows, through its rotation (egress.jsonl becomes
// egress.jsonl.1) and truncation, and keeps a bottle that stops or is
// removed, marked so.
type Feed struct {
	State *launcher.Launcher // its StateDir only: nothing here asks the engine
	Name  string             // one bottle; "" for every bottle of the state directory
	// History is how many audit lines of each bottle the first poll reads
	// back (the newest); zero means 2000.
	History int

	tails   map[string]*tail
	bottles map[string]*Bottle
	seen    map[string]bool // pending ids
	polled  bool
}

// Poll looks at the state directory once. A bottle whose approvals cannot
// be read is an error, but the others' lines and approvals are in the
// Poll all the same (none read is lost).
func (f *Feed) Poll() (Poll, error) {
	if f.tails == nil {
		f.tails, f.bottles, f.seen = map[string]*tail{}, map[string]*Bottle{}, map[string]bool{}
	}
	names, err := f.names()
	if err != nil {
		return Poll{}, err
	}
	var p Poll
	var errs []error
	for _, name := range names {
		b := f.bottles[name]
		if b == nil {
			b = &Bottle{Name: name}
			f.bottles[name] = b
			f.tails[name] = &tail{path: filepath.Join(f.State.LogDir(name), contract.AuditFile), history: f.history()}
		}
		b.Status = f.status(name)
		var rows []Row
		for _, line := range f.tails[name].poll() {
			var rec audit.Record
			if json.Unmarshal(line, &rec) != nil || rec.SelfTest {
				continue // not an audit record; the launch's self-test (as bottle logs --egress)
			}
			rows = append(rows, Row{Bottle: name, Rec: rec})
		}
		p.Rows = append(p.Rows, rows...)
		reqs, err := approval.List(filepath.Join(f.State.Dir(name), contract.ApprovalsDir))
		if err != nil {
			errs = append(errs, fmt.Errorf("the approvals of bottle %s: %w", name, err))
		}
		for _, r := range reqs {
			p.Pending = append(p.Pending, Pending{Bottle: name, Request: r})
			if !f.seen[r.ID] && f.polled {
				p.Arrived = append(p.Arrived, r.ID)
			}
			f.seen[r.ID] = true
		}
	}
	// Lines of several bottles read in one poll go in time order; each
	// bottle's own stay in the order written.
	slices.SortStableFunc(p.Rows, func(a, b Row) int { return stamp(a.Rec).Compare(stamp(b.Rec)) })
	slices.SortStableFunc(p.Pending, func(a, b Pending) int { return a.Created.Compare(b.Created) })
	for _, name := range slices.Sorted(maps.Keys(f.bottles)) {
		p.Bottles = append(p.Bottles, *f.bottles[name])
	}
	f.polled = true
	return p, errors.Join(errs...)
}

func (f *Feed) history() int {
	if f.History > 0 {
		return f.History
	}
	return 2000
}

// names are the bottles to look at: Name, or every bottle of the state
// directory and every one seen before (a removed bottle's rows stay).
func (f *Feed) names() ([]string, error) {
	if f.Name != "" {
		return []string{f.Name}, nil
	}
	ents, err := os.ReadDir(f.State.StateDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		// .build and the like are bottle's own, and a directory without
		// metadata is not a bottle (yet).
		if !e.IsDir() || launcher.ValidName(e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(f.State.Dir(e.Name()), contract.MetadataFile)); err == nil {
			names = append(names, e.Name())
		}
	}
	for name := range f.bottles {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// status is what the bottle's metadata says: a bottle watch outlives
// shows as stopped or removed, its rows kept.
func (f *Feed) status(name string) string {
	b, err := f.State.Load(name)
	switch {
	case errors.Is(err, launcher.ErrNoBottle):
		return "removed"
	case err != nil:
		return "unreadable"
	case !b.Stopped.IsZero() || b.State == launcher.StateStopped:
		return "stopped"
	case b.State == launcher.StateReady:
		return "running"
	}
	return string(b.State)
}

// stamp is a record's time; the zero time for one that has none.
func stamp(r audit.Record) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, r.Time)
	return t
}

// tail follows one audit file: the sidecar appends whole lines to it, and
// renames it to PATH.1 when it is full (audit.File), starting a new one.
type tail struct {
	path    string
	history int // lines read back on the first poll

	f       *os.File
	partial []byte // the start of a line not yet ended
	started bool
}

// poll returns the whole lines written since the last poll.
func (t *tail) poll() [][]byte {
	if !t.started {
		t.started = true
		return t.first()
	}
	var lines [][]byte
	if t.f == nil {
		f, err := os.Open(t.path)
		if err != nil {
			return nil // not written yet
		}
		t.f = f
	}
	lines = append(lines, t.read()...)
	cur, err := os.Stat(t.path)
	if err != nil {
		return lines // removed with the bottle: what was read stays
	}
	old, err := t.f.Stat()
	if err != nil {
		return lines
	}
	switch {
	case !os.SameFile(cur, old):
		// Rotated: the rest of the old file was read above; go on with
		// the new one from its start.
		f, err := os.Open(t.path)
		if err != nil {
			return lines
		}
		t.f.Close()
		t.f, t.partial = f, nil
		lines = append(lines, t.read()...)
	default:
		if pos, err := t.f.Seek(0, io.SeekCurrent); err == nil && cur.Size() < pos {
			// Truncated: start over.
			t.f.Seek(0, io.SeekStart)
			t.partial = nil
			lines = append(lines, t.read()...)
		}
	}
	return lines
}

// first reads the newest history lines back: from the current file, and
// from the rotated ones (PATH.1 the newest) while that is not enough.
func (t *tail) first() [][]byte {
	if f, err := os.Open(t.path); err == nil {
		t.f = f
	}
	var lines [][]byte
	if t.f != nil {
		lines = t.read()
	}
	for i := 1; i <= audit.DefaultKeep && len(lines) < t.history; i++ {
		data, err := os.ReadFile(fmt.Sprintf("%s.%d", t.path, i))
		if err != nil {
			break
		}
		lines = append(complete(data), lines...)
	}
	if len(lines) > t.history {
		lines = lines[len(lines)-t.history:]
	}
	return lines
}

// read returns the whole lines from the file's position to its end,
// keeping a last line without its newline for the next read.
func (t *tail) read() [][]byte {
	data, err := io.ReadAll(t.f)
	if err != nil && len(data) == 0 {
		return nil
	}
	data = append(t.partial, data...)
	end := bytes.LastIndexByte(data, '\n') + 1
	t.partial = slices.Clone(data[end:])
	return complete(data[:end])
}

// complete splits data into its lines ended by a newline, dropping what
// follows the last one.
func complete(data []byte) [][]byte {
	var out [][]byte
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return out
		}
		if i > 0 {
			out = append(out, data[:i])
		}
		data = data[i+1:]
	}
}
