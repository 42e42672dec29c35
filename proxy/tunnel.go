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
	"net/http"
	"sync"
	"time"

	"bottle.dev/bottle/allowlist"
)

// tunnel serves a CONNECT allowed by a `tls: passthrough` rule: check where
// the name resolves before answering, then read the ClientHello and check
// its SNI against the CONNECT host, then relay bytes without looking inside.
func (s *Server) tunnel(req *http.Request, client net.Conn, tc *trackedConn, host string, port uint16, d allowlist.Decision) {
	start := time.Now()
	if tc != nil {
		ts := &tunnelState{host: host, port: port, conn: tc, passthrough: true}
		s.track(ts)
		defer s.untrack(ts)
	}
	defer client.Close()
	rec := &Record{Bottle: s.cfg.Bottle, Kind: "tunnel", Client: req.RemoteAddr, Host: host, Port: port,
		Decision: decisionWord(d.Allowed, d.WouldDeny), Rule: d.Rule, Reason: d.Reason}
	defer func() {
		rec.Duration = ms(time.Since(start))
		if tc != nil {
			rec.BytesIn, rec.BytesOut = tc.in.Load(), tc.out.Load()
		}
		s.audit(rec)
	}()
	if tc != nil {
		tc.arm(s.cfg.TLSHandshakeTimeout)
	}
	ctx, cancel := context.WithTimeout(req.Context(), s.cfg.DialTimeout)
	defer cancel()

	addrs, wd, err := s.resolveChecked(ctx, host, port)
	var de *dstDeniedError
	switch {
	case errors.As(err, &de):
		rec.Decision, rec.Rule, rec.Reason, rec.Status = "deny", de.decision.Rule, de.decision.Reason, http.StatusForbidden
		s.denyResponse(req, "CONNECT", host, port, "", de.decision, "").Write(client)
		return
	case err != nil:
		rec.Status, rec.Error = http.StatusBadGateway, upstreamError(err)
		textResponse(req, http.StatusBadGateway, "bottle: could not reach "+joinHostPort(host, port)+": "+rec.Error+"\n").Write(client)
		return
	case wd != nil:
		rec.Decision, rec.Reason = "would-deny", wd.Reason
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}

	// The agent speaks first in TLS. Read its ClientHello (bounded by the
	// handshake timeout armed above) without answering it.
	br := bufio.NewReaderSize(client, 4096)
	first, err := br.Peek(1)
	if err != nil {
		rec.Error = "no data from the agent"
		return
	}
	var hello []byte
	if first[0] == 0x16 { // TLS handshake record
		sni, raw, err := readClientHello(br)
		if err != nil {
			rec.Decision, rec.Reason, rec.Error = "deny", "the agent sent a malformed TLS ClientHello", err.Error()
			return
		}
		if sni != "" && !sameName(sni, host) {
			rec.Decision = "deny"
			rec.Reason = fmt.Sprintf("TLS SNI %q differs from the CONNECT host %s; connection closed", sni, host)
			return
		}
		hello = raw
	}
	// Not TLS (ssh, a database protocol): the name and port were checked at
	// CONNECT and the address above, and there is no SNI to check.

	up, err := s.dialAddrs(ctx, addrs, port)
	if err != nil {
		rec.Error = upstreamError(err)
		return
	}
	upc := &trackedConn{Conn: up}
	defer upc.Close()
	rec.DstIP = addrOf(up.RemoteAddr())
	if tc != nil {
		tc.arm(s.cfg.IdleTimeout)
	}
	upc.arm(s.cfg.IdleTimeout)
	if len(hello) > 0 {
		if _, err := upc.Write(hello); err != nil {
			rec.Error = upstreamError(err)
			return
		}
	}
	relay(client, br, upc)
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

func addrOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().String()
	}
	return ""
}

// maxClientHello bounds what is buffered before the SNI is known.
const maxClientHello = 64 << 10

// readClientHello reads one TLS ClientHello from br and returns its SNI and
// the exact bytes read, to be replayed upstream. Parsing is done by
// crypto/tls itself: a server handshake is started on a connection that
// records what it reads and discards what it writes, and stopped from
// GetConfigForClient once the hello is parsed.
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
		return "", nil, err
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
