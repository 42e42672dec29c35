package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/audit"
)

// passthrough serves a CONNECT allowed by a `tls: passthrough` rule, whose
// destination addresses were checked: read the ClientHello and check its SNI
// against the CONNECT host, then dial and relay bytes without looking inside.
func (s *Server) passthrough(tc *trackedConn, rd io.Reader, ts *tunnelState, g *generation, d allowlist.Decision, addrs []checkedAddr, ok200 string) {
	s.track(ts)
	defer s.untrack(ts)
	defer tc.Close()
	var refused *cut // a refusal after the tunnel opened
	defer func() {
		rec := s.tunnelRecord(ts, d, d.Explain())
		if refused != nil && rec.Decision != audit.DecisionDeny {
			rec.Decision, rec.Cause, rec.Reason = audit.DecisionDeny, refused.cause.String(), refused.why+"; connection closed"
		}
		s.record(rec)
	}()
	s.settle(ts, g)
	if _, err := io.WriteString(tc, ok200); err != nil {
		return
	}
	report := g.p.Mode() == allowlist.Report
	wouldDeny := func(cause allowlist.Cause, reason string) {
		if !d.WouldDeny {
			d.WouldDeny, d.Cause, d.Reason = true, cause, reason
		}
	}

	// The agent speaks first in TLS: its ClientHello is read (bounded by the
	// handshake timeout armed at the CONNECT) before anything goes upstream.
	// An agent still silent after serverFirstWait may be the client of a
	// protocol where the server speaks first (MySQL, SMTP, FTP): the upstream
	// is dialed then and its greeting relayed, and the agent's first bytes
	// are still checked before any reach the upstream.
	// open dials the upstream (nil: refused, and said) and settles the
	// tunnel: both sides on the idle timeout from then on.
	open := func() *trackedConn {
		upc := s.dialPassthrough(ts, addrs, wouldDeny)
		if upc != nil {
			s.settle(ts, g)
			tc.arm(s.cfg.IdleTimeout)
			upc.arm(s.cfg.IdleTimeout)
		}
		return upc
	}
	br := bufio.NewReaderSize(rd, 4096)
	peeked := make(chan error, 1)
	go func() { _, err := br.Peek(1); peeked <- err }()
	var upc *trackedConn
	var down chan struct{} // closed when the upstream-to-agent copy ends
	var err error
	select {
	case err = <-peeked:
	case <-time.After(serverFirstWait):
		if upc = open(); upc == nil {
			return
		}
		defer upc.Close()
		down = make(chan struct{})
		go func() { defer close(down); copyBuf(tc, upc); closeWrite(tc) }()
		err = <-peeked
	}
	if err != nil {
		if down != nil && errors.Is(err, io.EOF) {
			// The agent read the server's greeting and hung up: a whole
			// session of a server-first protocol.
			closeWrite(upc)
			<-down
			return
		}
		if down == nil {
			ts.setErr(fmt.Sprintf("the agent sent nothing within %s of the CONNECT", s.cfg.TLSHandshakeTimeout))
		}
		return
	}
	var hello []byte
	if first, _ := br.Peek(1); first[0] == 0x16 { // a TLS handshake record
		sni, raw, err := readClientHello(br)
		var refusal *cut
		switch {
		case err != nil:
			refusal = &cut{why: "the agent sent a malformed TLS ClientHello", cause: allowlist.CauseBadClientHello}
			ts.setErr(err.Error())
		case sni == "" && isIPLiteral(ts.host):
			// A client never names an IP address in SNI (RFC 6066 §3):
			// to an address, no SNI is the only ClientHello that matches.
		case sni == "" && !d.AllowNoSNI:
			refusal = &cut{why: fmt.Sprintf("TLS ClientHello without SNI; passthrough to %s needs the SNI to name it (a rule with sni: optional lets a client omit it)", ts.host),
				cause: allowlist.CauseSNIMissing}
		case sni != "" && !sameName(sni, ts.host):
			refusal = &cut{why: fmt.Sprintf("TLS SNI %q differs from the CONNECT host %s", sni, ts.host), cause: allowlist.CauseSNIMismatch}
		}
		if refusal != nil {
			if !report {
				refused = refusal
				return
			}
			wouldDeny(refusal.cause, refusal.why) // report mode: relay what was read
		}
		hello = raw
	}
	// Not TLS (ssh, a database protocol): the name and port were checked at
	// CONNECT and the addresses before it was answered, and there is no SNI
	// to check.

	if upc == nil {
		if upc = open(); upc == nil {
			return
		}
		defer upc.Close()
	}
	if len(hello) > 0 {
		if _, err := upc.Write(hello); err != nil {
			ts.setErr(classify(err).cause)
			return
		}
	}
	if down == nil {
		relay(tc, br, upc)
		return
	}
	copyBuf(upc, br)
	closeWrite(upc)
	<-down
}

// serverFirstWait is how long a passthrough tunnel waits for the agent's
// first byte before dialing the upstream, whose protocol may speak first.
// A TLS client sends its ClientHello at once, so it is rarely reached.
const serverFirstWait = 200 * time.Millisecond

// dialPassthrough dials a passthrough tunnel's checked addresses and
// records the one reached; nil (with the error recorded) when none answers.
func (s *Server) dialPassthrough(ts *tunnelState, addrs []checkedAddr, wouldDeny func(allowlist.Cause, string)) *trackedConn {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DialTimeout)
	up, err := s.dialAddrs(ctx, addrs, ts.port)
	cancel()
	if err != nil {
		ts.setErr(classify(err).cause)
		return nil
	}
	if up.wd != nil {
		wouldDeny(up.wd.Cause, up.wd.Explain())
	}
	ts.mu.Lock()
	ts.dst = up.addr
	ts.mu.Unlock()
	return newTrackedConn(up, 0)
}

// relay copies both ways until both directions end, half-closing as each
// side finishes so protocols that signal end-of-input with EOF still work.
func relay(client net.Conn, fromClient io.Reader, up net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		copyBuf(up, fromClient)
		closeWrite(up)
	}()
	go func() {
		defer wg.Done()
		copyBuf(client, up)
		closeWrite(client)
	}()
	wg.Wait()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func copyBuf(dst io.Writer, src io.Reader) {
	b := bufPool.Get().(*[]byte)
	defer bufPool.Put(b)
	if _, err := io.CopyBuffer(dst, src, *b); err != nil {
		// A failed side ends both: unblock the other copy.
		if c, ok := dst.(io.Closer); ok {
			c.Close()
		}
		if c, ok := src.(io.Closer); ok {
			c.Close()
		}
	}
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}

// maxClientHello bounds what is buffered before the SNI is known.
const maxClientHello = 64 << 10

// readClientHello reads one TLS ClientHello from br and returns its SNI and
// the exact bytes read, to be replayed upstream (also on error: report mode
// relays what it could not parse). Parsing is done by crypto/tls itself: a
// server handshake is started on a connection that records what it reads and
// discards what it writes, and stopped from GetConfigForClient once the hello
// is parsed.
func readClientHello(br *bufio.Reader) (string, []byte, error) {
	rc := &recordingConn{r: io.LimitReader(br, maxClientHello)}
	var sni string
	errStop := errors.New("stop")
	got := false
	err := tls.Server(rc, &tls.Config{
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			sni, got = chi.ServerName, true
			return nil, errStop
		},
	}).Handshake()
	if !got {
		if err == nil {
			err = errors.New("no ClientHello")
		}
		return "", rc.buf.Bytes(), err
	}
	return sni, rc.buf.Bytes(), nil
}

// recordingConn is a net.Conn that reads from r, keeps a copy of what was
// read, and swallows writes (the alert crypto/tls sends when stopped).
type recordingConn struct {
	r   io.Reader
	buf bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf.Write(p[:n])
	return n, err
}
func (c *recordingConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *recordingConn) Close() error                     { return nil }
func (c *recordingConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *recordingConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *recordingConn) SetDeadline(time.Time) error      { return nil }
func (c *recordingConn) SetReadDeadline(time.Time) error  { return nil }
func (c *recordingConn) SetWriteDeadline(time.Time) error { return nil }

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil
}
