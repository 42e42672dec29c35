// Package approval is the channel between a bottle's sidecar, which holds a
// request the policy denied while a human is asked (allowlist `approvals:
// ask`), and that human on the host, who decides it with `bottle approve`,
// `bottle deny` or `bottle watch`.
//
// The channel is a directory of the bottle's state that the agent never
// sees: contract.ApprovalsDir on the host, mounted read-write at
// contract.SidecarApprovalsDir in the sidecar only. Plain files, polled,
// work alike on Docker's bind mounts and Apple container's shared
// directories, and need no socket the agent could reach:
//
//	pending/ID.json  a Request: written by the sidecar (temp file + rename),
//	                 rewritten as it changes (Count, State), removed when
//	                 decided or Linger after it expired
//	decided/ID.json  a Decision: written by the host (temp file + rename),
//	                 read and removed by the sidecar
//	grants.json      the session grants (Verdict Host) in force: written by
//	                 the sidecar, read back when it restarts, so a grant
//	                 lasts the bottle's lifetime
//
// The sidecar decides nothing itself, and nothing the agent sends can
// write a Decision: a Request's fields that come from the agent (host,
// path, the reason it gave through MCP) are data the human reads.
//
// A sidecar that starts finds the pending requests of its previous run:
// their agents' connections are gone, so each is failed as denied
// ("sidecar restarted"), audited, and removed; none is lost silently.
package approval

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/atomicfile"
)

// Subdirectories and files of the channel directory.
const (
	PendingDir = "pending"
	DecidedDir = "decided"
	GrantsFile = "grants.json"
)

// Linger is how long an expired request stays listed: a human who comes
// back after the agent gave up can still allow it for next time (--host,
// --always); --once says it is too late.
const Linger = 10 * time.Minute

// Verdict is what a human decided.
type Verdict string

const (
	// Once lets the held request (and the identical ones collapsed into
	// it) proceed; nothing else changes.
	Once Verdict = "once"
	// Host lets them proceed and allows Request.HostRule for the bottle's
	// lifetime (the sidecar's memory and grants.json, not the allowlist).
	Host Verdict = "host"
	// Always lets them proceed after the host wrote Request.Always to the
	// bottle's live allowlist (the comment-preserving editor of `bottle
	// allow add`).
	Always Verdict = "always"
	// Deny answers them with the readable 403 at once.
	Deny Verdict = "deny"
)

// Valid says whether v is one of the verdicts.
func (v Verdict) Valid() bool {
	return v == Once || v == Host || v == Always || v == Deny
}

// Allows says whether v lets the held request through.
func (v Verdict) Allows() bool { return v == Once || v == Host || v == Always }

// States of a Request.
const (
	StatePending = "pending" // held: a decision releases the agent's request
	StateExpired = "expired" // the agent's request timed out and got the 403; listed for Linger
)

// Sources of a Request.
const (
	SourceProxy = "proxy" // a request the policy denied, held by the proxy
	SourceMCP   = "mcp"   // filed by the agent's request_access tool, with its reason
)

// Request is a pending approval: what was denied, why, and what each
// verdict would allow.
type Request struct {
	ID      string    `json:"id"` // IDLen lowercase hex digits
	Bottle  string    `json:"bottle"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"` // when the held request gives up
	State   string    `json:"state"`   // StatePending or StateExpired
	Source  string    `json:"source"`  // SourceProxy or SourceMCP

	// What was denied. Kind is "request" (an HTTP request, plain or in a
	// tunnel) or "connect" (a tunnel that cannot be shown a page: an IP
	// literal, a port of a protocol that is not HTTP). Method and Path are
	// empty for a connect; Path never has a query.
	Kind   string `json:"kind"`
	Scheme string `json:"scheme,omitempty"`
	Host   string `json:"host"`
	Port   uint16 `json:"port"`
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`

	// Why the policy denied it: the decision's cause key, rule and reason.
	Cause  string `json:"cause"`
	Rule   string `json:"rule"`
	Reason string `json:"reason"`

	// Count is how many requests are held on this one: identical requests
	// (same Key) collapse into one approval.
	Count int `json:"count"`
	// AgentReason is the reason the agent gave through MCP
	// request_access; empty for a request the proxy held.
	AgentReason string `json:"agent_reason,omitempty"`

	// Always are the rules Verdict Always writes, as narrow as the request
	// (host and port; and method and path when the rules refused those),
	// and Command the `bottle allow add …` command that writes them.
	// HostRule is what Verdict Host allows for the bottle's lifetime: the
	// host and port, every method and path.
	Always   []allowlist.RuleSpec `json:"always"`
	Command  string               `json:"command"`
	HostRule allowlist.RuleSpec   `json:"host_rule"`
}

// Key is what makes two requests identical for collapsing: kind, host,
// port, method and path.
func (r *Request) Key() string {
	return strings.Join([]string{r.Kind, r.Scheme, r.Host, fmt.Sprint(r.Port), r.Method, r.Path}, "\x00")
}

// Decision is a human's answer to a Request.
type Decision struct {
	ID      string    `json:"id"`
	Verdict Verdict   `json:"verdict"`
	By      string    `json:"by"`             // who decided, through what: "bottle approve (root)", "bottle watch (alice)"
	Note    string    `json:"note,omitempty"` // the human's note, returned to an MCP request_access
	Time    time.Time `json:"time"`
}

// IDLen is the length of an approval id: short enough to type.
const IDLen = 8

var idPattern = regexp.MustCompile(`^[0-9a-f]{8}$`)

// NewID returns a fresh random id.
func NewID() string {
	var b [IDLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidID says whether id has the form of an approval id (so that it is
// safe in a file name).
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ErrNotFound is returned by Get and Decide for an id that is not pending
// (never was, already decided, or expired more than Linger ago).
var ErrNotFound = errors.New("no such approval")

// List returns the requests in dir's pending/, oldest first. A missing
// directory is an empty list (a bottle without approvals); a file that
// does not parse is skipped (a write in progress is never seen: writes
// are renames).
func List(dir string) ([]Request, error) {
	ents, err := os.ReadDir(filepath.Join(dir, PendingDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Request
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !ValidID(id) {
			continue
		}
		r, err := read(filepath.Join(dir, PendingDir, e.Name()))
		if err != nil {
			continue
		}
		if r, ok := settled(r, time.Now()); ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Request) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// Get returns the pending request id of dir.
func Get(dir, id string) (Request, error) {
	if !ValidID(id) {
		return Request{}, fmt.Errorf("%q is not an approval id (%d hex digits, as `bottle approvals` lists them)", id, IDLen)
	}
	r, err := read(filepath.Join(dir, PendingDir, id+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return Request{}, ErrNotFound
	}
	if err != nil {
		return Request{}, err
	}
	r, ok := settled(r, time.Now())
	if !ok {
		return Request{}, ErrNotFound
	}
	return r, nil
}

// staleGrace is how long past its Expires a request may still be listed
// as pending: its sidecar marks it expired when it gives up, and writes
// the file within a poll.
const staleGrace = 5 * time.Second

// settled is r as the host reads it at now, and whether it is still
// listed. A sidecar that is gone (killed, and not restarted) left its
// files as they were: a request pending well past Expires is expired (so
// --once says it is too late, not that the held request proceeds), and
// one past Expires and Linger is no longer listed, as its sidecar would
// have removed it.
func settled(r Request, now time.Time) (Request, bool) {
	if now.After(r.Expires.Add(Linger + staleGrace)) {
		return r, false
	}
	if r.State == StatePending && now.After(r.Expires.Add(staleGrace)) {
		r.State = StateExpired
	}
	return r, true
}

func read(path string) (Request, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Request{}, err
	}
	var r Request
	if err := json.Unmarshal(b, &r); err != nil {
		return Request{}, fmt.Errorf("%s: %w", path, err)
	}
	if !ValidID(r.ID) {
		return Request{}, fmt.Errorf("%s: bad id %q", path, r.ID)
	}
	return r, nil
}

// Decide writes d for the sidecar to act on. The request must still be
// listed (ErrNotFound otherwise). Deciding is the host's only write to
// the channel.
func Decide(dir string, d Decision) error {
	if !d.Verdict.Valid() {
		return fmt.Errorf("verdict %q is not one of once, host, always, deny", d.Verdict)
	}
	if _, err := Get(dir, d.ID); err != nil {
		return err
	}
	if d.Time.IsZero() {
		d.Time = time.Now().UTC()
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, DecidedDir), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, DecidedDir, d.ID+".json"), b)
}
