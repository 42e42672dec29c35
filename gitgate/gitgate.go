// Package gitgate is git's smart-HTTP push protocol as the sidecar's proxy
// sees it: it edits the receive-pack advertisement so that clients send
// self-contained packs (no-thin), reads a push request (its ref-update
// commands and its pack) into a bounded private spool, decodes the pack
// and scans what it adds, and writes the answer git prints when the gate
// refuses a push (report-status, on side-band when the client asked).
//
// It knows nothing of policy: the proxy judges the commands against the
// repository's entry (allowlist.GitRepo) and gives the gate a Scanner.
//
// The protocol is git's own (Documentation/gitprotocol-http.adoc,
// gitprotocol-pack.adoc, gitprotocol-capabilities.adoc); the pack is
// decoded with go-git's packfile package.
package gitgate

import (
	"errors"
	"io"
	"os"
	"strconv"
)

// Content types of the receive-pack endpoints.
const (
	AdvertisementType = "application/x-git-receive-pack-advertisement"
	RequestType       = "application/x-git-receive-pack-request"
	ResultType        = "application/x-git-receive-pack-result"
)

// ZeroID is the all-zero object id of a ref that does not exist (SHA-1).
const ZeroID = "0000000000000000000000000000000000000000"

// Command is one ref-update command of a push.
type Command struct {
	Old, New string // hex object ids; ZeroID: none
	Ref      string // "refs/heads/main"
}

// Create and Delete say what the command does.
func (c Command) Create() bool { return c.Old == ZeroID && c.New != ZeroID }
func (c Command) Delete() bool { return c.New == ZeroID }

// Caps are the capabilities the client asked for on its first command.
type Caps struct {
	ReportStatus   bool // report-status
	ReportStatusV2 bool // report-status-v2
	SideBand64k    bool // side-band-64k
	SideBand       bool // side-band (1000-byte packets)
	Quiet          bool
	Atomic         bool
	PushOptions    bool
	Agent          string // agent=…
	All            []string
}

// Errors of Receive and Inspect. Each is wrapped with the detail; the
// proxy tells them apart with errors.Is.
var (
	// ErrTooLarge: the request body is larger than Limits.MaxPack.
	ErrTooLarge = errors.New("push too large")
	// ErrMalformed: the request is not a receive-pack request git would send.
	ErrMalformed = errors.New("malformed push")
	// ErrThin: the pack has a delta against an object it does not hold
	// (a thin pack); the gate cannot know what it adds, so it refuses.
	ErrThin = errors.New("thin pack")
)

// spoolPrefix begins the name of every file the gate makes in the spool
// (SpoolPattern).
const spoolPrefix = "push-"

// SpoolPattern matches (filepath.Match) the names of the files the gate
// makes in its spool directory: a push, and the scratch files of its
// pack. Each is removed as soon as it is made, where the system allows,
// so only a crash between the two can leave one behind.
const SpoolPattern = spoolPrefix + "*"

// Limits bound what a push may cost the sidecar.
type Limits struct {
	Dir     string // spool directory ("": os.TempDir())
	MaxPack int64  // the largest request body taken (0: contract.DefaultGitMaxPack)
}

// Push is a receive-pack request read whole into the spool: its commands
// parsed, its bytes kept as received for forwarding. Close removes the
// spool file.
type Push struct {
	Commands    []Command
	Caps        Caps
	Shallow     []string // the ids of its "shallow <id>" lines (a push from a shallow clone)
	PushOptions []string // push-option lines, when negotiated

	file    *os.File // the request body as received (decoded when it was gzip-encoded)
	size    int64    // bytes in file
	packOff int64    // where the pack starts in file; size when there is none
	maxPack int64    // Limits.MaxPack it was received with (0: the default), which bounds what Inspect inflates
}

// Scanner looks for secrets in one object's content. found is called for
// each finding with its rule ("aws-access-token", or "value:NAME" for a
// credential's real value) and the offset of the match in the content;
// never with the match. It must be safe for concurrent use.
type Scanner interface {
	Scan(r io.Reader, found func(rule string, offset int64)) error
}

// Finding is one secret in pushed content: the rule, where it is (the
// file's path in the commit that adds it, or "commit message"), the line
// (1-based; 0 when unknown), and the commit. Never the match.
type Finding struct {
	Rule   string
	Path   string
	Line   int
	Commit string // hex id of the first commit of the push whose tree holds it ("" if no commit does)
	Object string // hex id of the blob or commit
}

// String is the finding as audited and shown to the agent:
// "aws-access-token in config/prod.env:3 (commit 1a2b3c4d)".
func (f Finding) String() string {
	s := f.Rule + " in " + f.Path
	if f.Line > 0 {
		s += ":" + strconv.Itoa(f.Line)
	}
	if f.Commit != "" {
		c := f.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		s += " (commit " + c + ")"
	}
	return s
}

// Result is what Inspect found in a push's pack.
type Result struct {
	Objects  int      // objects in the pack
	Commits  []string // ids of the commits it adds, in pack order
	Blobs    int      // blobs scanned
	Findings []Finding
}

// RefStatus is the answer for one command in a report.
type RefStatus struct {
	Ref    string
	OK     bool
	Reason string // for a rejected ref: shown by git as "! [remote rejected] REF (REASON)"
}

// The functions of the package, by file:
//
// advert.go
//
//	func NoThin(r io.Reader) io.Reader
//	    r, a receive-pack advertisement (identity-encoded), with "no-thin"
//	    added to the capabilities of its first ref line, streamed; the rest
//	    is unchanged. A body that is not an advertisement passes unchanged.
//
// request.go
//
//	func Receive(body io.Reader, lim Limits) (*Push, error)
//	    reads a receive-pack request body whole into the spool and parses
//	    its commands (ErrTooLarge, ErrMalformed). The probe git sends before
//	    a large push ("0000") is a Push with no commands; a push too large
//	    comes with its commands (no pack) when they fit in the limit.
//	func DecodeBody(body io.Reader, contentEncoding string) (io.Reader, error)
//	    body decoded from its Content-Encoding (gzip, x-gzip, identity or
//	    none; others are ErrMalformed), for Receive.
//	func (p *Push) Body() (io.ReadCloser, int64)
//	    the request body as received, for forwarding, and its length.
//	func (p *Push) Close() error
//
// pack.go
//
//	func (p *Push) Inspect(ctx context.Context, s Scanner, honourAllow bool) (*Result, error)
//	    decodes the pack (ErrThin, ErrMalformed, ErrTooLarge), and scans
//	    with s every blob it adds, every commit and tag message, the file
//	    names of every tree, and the push's ref names, capabilities and
//	    push options (nil: no scan, the pack is decoded still).
//	    honourAllow drops findings on lines that carry "gitleaks:allow".
//
// report.go
//
//	func WriteReport(w io.Writer, caps Caps, refs []RefStatus, messages []string) error
//	    writes a receive-pack result that git prints as a refusal: "unpack
//	    ok", one ok/ng line per ref, and messages as "remote: " lines (on
//	    band 2 when the client asked for side-band; without side-band git
//	    shows no messages, only the reasons).
