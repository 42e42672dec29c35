package gitgate

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"bottle.dev/bottle/internal/contract"
)

// Receive reads a receive-pack request body whole into a private spool
// file in lim.Dir (at most lim.MaxPack bytes, else ErrTooLarge) and parses
// what precedes the pack (gitprotocol-pack.adoc, "Reference Update
// Request and Packfile Transfer"):
//
//	[shallow <id>]...
//	<old> <new> <ref>\0<caps>     the first command; its LF is optional
//	<old> <new> <ref>             further commands
//	0000
//	[<push-option>... 0000]       when the client asked for push-options
//	PACK...                       unless every command is a delete
//
// Anything else is ErrMalformed, with what was wrong. The probe git sends
// before a large push (a body of just "0000") is a Push with no commands.
// A body over the limit is ErrTooLarge with, when its commands are read
// whole, a Push that holds them (and no pack), so that the refusal can
// name each ref. The caller closes the Push; on error nothing is left in
// lim.Dir.
func Receive(body io.Reader, lim Limits) (*Push, error) {
	p, err := spool(body, lim)
	if errors.Is(err, ErrTooLarge) && p != nil {
		if p.parse() != nil || len(p.Commands) == 0 {
			p.Close()
			return nil, err
		}
		p.packOff = p.size // what was kept of the pack is not a pack
		return p, err
	}
	if err != nil {
		return nil, err
	}
	if err := p.parse(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// spool copies body into a new file in lim.Dir, removed at once where the
// system allows it (an open file stays readable), so that a sidecar that
// dies mid-push leaves nothing behind. Over the limit, it returns the
// Push of what it kept with ErrTooLarge.
func spool(body io.Reader, lim Limits) (*Push, error) {
	max := lim.MaxPack
	if max <= 0 {
		max = contract.DefaultGitMaxPack
	}
	f, err := os.CreateTemp(lim.Dir, spoolPrefix+"*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("spooling a git push: %w (bottle-sidecar --git-spool)", err)
	}
	os.Remove(f.Name()) // fails where an open file cannot be removed: Close removes it then
	p := &Push{file: f, maxPack: max}
	n, err := copySpool(f, io.LimitReader(body, max+1))
	switch {
	case err != nil:
		p.Close()
		return nil, err
	case n > max:
		// The first max+1 bytes are kept: Receive reads the commands
		// from them.
		p.size = n
		return p, &tooLarge{max: max}
	}
	p.size, p.packOff = n, n
	return p, nil
}

// copySpool copies r to f in 64 KiB writes (a chunked body can come in
// many small reads), and says whether reading or writing failed.
func copySpool(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var total int64
	for {
		n, err := 0, error(nil)
		for n < len(buf) && err == nil {
			var m int
			m, err = r.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if _, werr := f.Write(buf[:n]); werr != nil {
				return total, fmt.Errorf("spooling a git push: %w (bottle-sidecar --git-spool, --git-max-pack)", werr)
			}
			total += int64(n)
		}
		switch {
		case err == io.EOF:
			return total, nil
		case errors.Is(err, ErrMalformed):
			return total, err
		case err != nil:
			return total, fmt.Errorf("reading a git push: %w", err)
		}
	}
}

// maxCommands bounds the ref-update commands of one push (and its shallow
// lines, and its push options): each is judged, audited and answered, and
// a body of --git-max-pack bytes holds millions of them. A mirror push of
// a large repository has tens of thousands of commands.
const maxCommands = 1 << 16

// tooLarge is ErrTooLarge with the limit, worded for the agent.
type tooLarge struct{ max int64 }

func (e *tooLarge) Error() string {
	return fmt.Sprintf("push of more than %s; the bottle's git gate takes at most %[1]s (bottle-sidecar --git-max-pack)", sizeString(e.max))
}

func (e *tooLarge) Unwrap() error { return ErrTooLarge }

// sizeString is n bytes in the largest unit that says it exactly, or in
// MiB to a tenth.
func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// malformed is ErrMalformed with what was wrong.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// parse reads the spooled request up to its pack and sets the Push's
// commands, capabilities, shallow ids, push options and packOff.
func (p *Push) parse() error {
	r := &countReader{r: bufio.NewReader(io.NewSectionReader(p.file, 0, p.size))}
	next := func(what string) (int, []byte, error) {
		kind, _, payload, err := readPkt(r)
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			return 0, nil, malformed("the request ends inside its %s", what)
		case err != nil:
			return 0, nil, malformed("%v among the %s", err, what)
		case kind != pktData && kind != pktFlush:
			return 0, nil, malformed("a delim or response-end pkt-line among the %s", what)
		}
		return kind, payload, nil
	}
	for {
		kind, payload, err := next("commands")
		if err != nil {
			return err
		}
		if kind == pktFlush {
			break
		}
		if err := p.parseLine(payload); err != nil {
			return err
		}
		if len(p.Commands) > maxCommands || len(p.Shallow) > maxCommands {
			return fmt.Errorf("%w: a push of more than %d ref updates or shallow lines; the bottle's git gate takes at most %[2]d of each at a time", ErrTooLarge, maxCommands)
		}
	}
	seen := make(map[string]bool, len(p.Commands))
	for i, c := range p.Commands {
		if seen[c.Ref] {
			return malformed("command %d: %s is updated twice", i+1, c.Ref)
		}
		seen[c.Ref] = true
	}
	if len(p.Commands) == 0 {
		switch {
		case len(p.Shallow) > 0:
			return malformed("shallow lines but no ref-update commands")
		case r.n != p.size:
			return malformed("no ref-update commands, but %d more bytes", p.size-r.n)
		}
		return nil // the probe: "0000"
	}
	if p.Caps.PushOptions {
		for {
			kind, payload, err := next("push options")
			if err != nil {
				return err
			}
			if kind == pktFlush {
				break
			}
			p.PushOptions = append(p.PushOptions, string(bytes.TrimSuffix(payload, []byte("\n"))))
			if len(p.PushOptions) > maxCommands {
				return fmt.Errorf("%w: a push of more than %d push options; the bottle's git gate takes at most %[2]d", ErrTooLarge, maxCommands)
			}
		}
	}
	p.packOff = r.n
	if p.packOff == p.size {
		for _, c := range p.Commands {
			if !c.Delete() {
				return malformed("%s is created or updated, but the push carries no pack", c.Ref)
			}
		}
		return nil
	}
	var magic [4]byte
	if _, err := p.file.ReadAt(magic[:], p.packOff); err != nil || string(magic[:]) != "PACK" {
		return malformed("after its commands the request holds %d bytes that are not a pack", p.size-p.packOff)
	}
	return nil
}

// parseLine parses one pkt-line before the flush: a shallow line or a
// command, the first with the capabilities.
func (p *Push) parseLine(line []byte) error {
	if id, ok := bytes.CutPrefix(line, []byte("shallow ")); ok {
		if len(p.Commands) > 0 {
			return malformed("a shallow line after the commands")
		}
		id = bytes.TrimSuffix(id, []byte("\n"))
		if !isID(id) {
			return malformed("shallow line: %q is not a 40-digit hex object id", clip(id))
		}
		p.Shallow = append(p.Shallow, strings.ToLower(string(id)))
		return nil
	}
	cmd, caps, hasCaps := bytes.Cut(line, []byte{0})
	if hasCaps && len(p.Commands) > 0 {
		return malformed("command %d has capabilities; only the first may", len(p.Commands)+1)
	}
	if hasCaps {
		p.Caps = parseCaps(string(bytes.TrimSuffix(caps, []byte("\n"))))
		for _, c := range p.Caps.All {
			if f, ok := strings.CutPrefix(c, "object-format="); ok && f != "sha1" {
				return malformed("the repository's object format is %s; the bottle's git gate supports only sha1 repositories for now", clip([]byte(f)))
			}
		}
	} else {
		cmd = bytes.TrimSuffix(cmd, []byte("\n"))
	}
	if bytes.HasPrefix(cmd, []byte("push-cert")) {
		return malformed("a signed push (push-cert); the bottle's git gate does not take signed pushes")
	}
	f := bytes.SplitN(cmd, []byte(" "), 3)
	if len(f) != 3 {
		return malformed("command %d is not \"OLD NEW REF\": %q", len(p.Commands)+1, clip(cmd))
	}
	for _, id := range f[:2] {
		if !isID(id) {
			return malformed("command %d: %q is not a 40-digit hex object id", len(p.Commands)+1, clip(id))
		}
	}
	ref := string(f[2])
	if !validRef(ref) {
		return malformed("command %d: %q is not a valid ref name (git check-ref-format)", len(p.Commands)+1, clip(f[2]))
	}
	p.Commands = append(p.Commands, Command{Old: strings.ToLower(string(f[0])), New: strings.ToLower(string(f[1])), Ref: ref})
	return nil
}

// clip keeps what an error quotes from the request short.
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// isID says whether b is a SHA-1 object id in hex.
func isID(b []byte) bool {
	if len(b) != 40 {
		return false
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// validRef says whether ref is a ref name git accepts
// (git check-ref-format, refs.c check_refname_component) under refs/.
func validRef(ref string) bool {
	if !strings.HasPrefix(ref, "refs/") || strings.HasSuffix(ref, "/") || strings.HasSuffix(ref, ".") ||
		strings.Contains(ref, "..") || strings.Contains(ref, "@{") || strings.Contains(ref, "//") {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if c := ref[i]; c < 0x20 || c == 0x7f || strings.IndexByte(" ~^:?*[\\", c) >= 0 {
			return false
		}
	}
	for _, comp := range strings.Split(ref, "/") {
		if comp == "" || comp[0] == '.' || strings.HasSuffix(comp, ".lock") {
			return false
		}
	}
	return true
}

// parseCaps reads the capability list of the first command.
func parseCaps(s string) Caps {
	c := Caps{All: strings.Fields(s)}
	for _, f := range c.All {
		switch f {
		case "report-status":
			c.ReportStatus = true
		case "report-status-v2":
			c.ReportStatusV2 = true
		case "side-band-64k":
			c.SideBand64k = true
		case "side-band":
			c.SideBand = true
		case "quiet":
			c.Quiet = true
		case "atomic":
			c.Atomic = true
		case "push-options":
			c.PushOptions = true
		default:
			if a, ok := strings.CutPrefix(f, "agent="); ok {
				c.Agent = a
			}
		}
	}
	return c
}

// countReader counts the bytes read through it: the offset in the spool.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Body returns the request body as received (decoded, when it was
// gzip-encoded), from its start, for forwarding upstream, and its length.
// Each call returns a new reader; closing it leaves the Push open.
func (p *Push) Body() (io.ReadCloser, int64) {
	return io.NopCloser(io.NewSectionReader(p.file, 0, p.size)), p.size
}

// Close closes and removes the spool file. It may be called more than once.
func (p *Push) Close() error {
	if p.file == nil {
		return nil
	}
	f := p.file
	p.file = nil
	err := f.Close()
	if rerr := os.Remove(f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
		err = rerr
	}
	return err
}

// DecodeBody returns the receive-pack request body decoded from its
// Content-Encoding, which git-http-backend accepts as gzip or x-gzip
// (http-backend.c inflate_request) besides none. git push itself never
// compresses a push, but other clients may. Any other encoding, or a
// corrupt gzip stream (when read), is ErrMalformed.
func DecodeBody(body io.Reader, contentEncoding string) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(contentEncoding)) {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		z, err := gzip.NewReader(body)
		if err != nil {
			return nil, malformed("a gzip-encoded body that is not gzip: %v", err)
		}
		return gzipBody{z}, nil
	}
	return nil, malformed("Content-Encoding %q; the bottle's git gate takes gzip or none", clip([]byte(contentEncoding)))
}

// gzipBody makes a corrupt stream ErrMalformed, told apart from a client
// that went away.
type gzipBody struct{ z *gzip.Reader }

func (g gzipBody) Read(p []byte) (int, error) {
	n, err := g.z.Read(p)
	if err != nil && err != io.EOF && (errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || isFlateError(err)) {
		err = malformed("the gzip-encoded body is corrupt: %v", err)
	}
	return n, err
}

func isFlateError(err error) bool {
	var c flate.CorruptInputError
	return errors.As(err, &c)
}
