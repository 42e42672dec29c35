package proxy

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// trackedConn wraps every accepted agent connection (and the upstream side of
// a passthrough tunnel). It counts bytes for the audit log and bounds how long
// the connection may go without traffic, in two ways:
//
//   - a watchdog (idle > 0): the connection is closed once neither a read nor
//     a write has completed for idle. It never touches deadlines, so it cannot
//     fight the ones net/http sets for its own header and keep-alive timeouts;
//     it is what bounds a request body that stalls, a response that stalls,
//     and an upgraded (WebSocket) stream. Hijacked connections escape
//     http.Server's timeouts and goproxy sets none (goproxy issue #724).
//   - a deadline (arm), for the phases the proxy drives itself: from the
//     CONNECT answer to the first byte, the TLS handshake with the agent, and
//     a passthrough relay.
type trackedConn struct {
	net.Conn
	in, out atomic.Int64
	last    atomic.Int64 // unix nanos of the last completed read or write

	idle  time.Duration // watchdog period; 0: no watchdog
	watch *time.Timer

	dl      atomic.Int64 // deadline mode: nanoseconds; 0: off
	lastArm atomic.Int64 // unix nanos of the last deadline set

	closed  atomic.Bool
	idled   atomic.Bool // closed by the watchdog
	once    sync.Once
	onClose atomic.Pointer[func()]
}

func newTrackedConn(c net.Conn, idle time.Duration) *trackedConn {
	tc := &trackedConn{Conn: c, idle: idle}
	tc.last.Store(time.Now().UnixNano())
	if idle > 0 {
		tc.watch = time.AfterFunc(idle, tc.check)
	}
	return tc
}

// check runs when the watchdog fires: close, or sleep for the rest of the
// idle period counted from the last activity.
func (c *trackedConn) check() {
	if c.closed.Load() {
		return
	}
	since := time.Duration(time.Now().UnixNano() - c.last.Load())
	if since >= c.idle {
		c.idled.Store(true)
		c.Close()
		return
	}
	c.watch.Reset(c.idle - since)
}

// arm sets a deadline of d from now, pushed forward by traffic.
func (c *trackedConn) arm(d time.Duration) {
	c.dl.Store(int64(d))
	c.lastArm.Store(0)
	c.Conn.SetDeadline(time.Now().Add(d))
}

// disarm clears the deadline: from here, net/http's timeouts and the
// watchdog bound the connection.
func (c *trackedConn) disarm() {
	c.dl.Store(0)
	c.Conn.SetDeadline(time.Time{})
}

// activity records traffic and pushes an armed deadline forward. Deadlines
// are moved at most once a second to keep the cost off the byte path.
func (c *trackedConn) activity() {
	now := time.Now().UnixNano()
	c.last.Store(now)
	d := c.dl.Load()
	if d == 0 || now-c.lastArm.Load() < int64(time.Second) {
		return
	}
	c.lastArm.Store(now)
	c.Conn.SetDeadline(time.Unix(0, now+d))
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.in.Add(int64(n))
		c.activity()
	}
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.out.Add(int64(n))
		c.activity()
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.closed.Store(true)
	if c.watch != nil {
		c.watch.Stop()
	}
	err := c.Conn.Close()
	c.once.Do(func() {
		if f := c.onClose.Load(); f != nil {
			(*f)()
		}
	})
	return err
}

// CloseWrite and CloseRead keep half-close working through the wrapper.
func (c *trackedConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Close()
}

func (c *trackedConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return nil
}

// prefixConn is an agent connection whose first bytes were already read
// (buffered by net/http with the CONNECT request, or peeked by the proxy):
// reads replay them, then continue from the connection.
type prefixConn struct {
	*trackedConn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// agentListener accepts agent connections: it closes, before reading a byte,
// those from peers outside the configured client ranges, and wraps the rest.
type agentListener struct {
	net.Listener
	s *Server
}

func (l agentListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.s.peerAllowed(c.RemoteAddr()) {
			l.s.refusedPeers.Add(1)
			l.s.log.Debug("connection from outside the client ranges closed", "peer", c.RemoteAddr().String())
			c.Close()
			continue
		}
		l.s.accepted.Add(1)
		return newTrackedConn(c, l.s.cfg.IdleTimeout), nil
	}
}

// peerAllowed: Linux delivers a packet for the sidecar's internal address
// whatever interface it arrives on, so a listener bound to that address is
// still reachable from the egress side; the peer's address is what tells.
func (s *Server) peerAllowed(a net.Addr) bool {
	if len(s.cfg.Clients) == 0 {
		return true
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip := ta.AddrPort().Addr().Unmap()
	for _, p := range s.cfg.Clients {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// tunnelListener hands one intercepted connection to the shared inner
// http.Server: Serve accepts it, then stops (the connection goes on being
// served on its own goroutine). BaseContext gives its requests the tunnel.
type tunnelListener struct {
	c     net.Conn
	ts    *tunnelState
	taken atomic.Bool
}

func (l *tunnelListener) Accept() (net.Conn, error) {
	if l.taken.CompareAndSwap(false, true) {
		return l.c, nil
	}
	return nil, net.ErrClosed
}

func (l *tunnelListener) Close() error   { return nil }
func (l *tunnelListener) Addr() net.Addr { return l.c.LocalAddr() }

type connKey struct{}
type tunnelKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connFrom(ctx context.Context) *trackedConn {
	c, _ := ctx.Value(connKey{}).(*trackedConn)
	return c
}

func tunnelFrom(ctx context.Context) *tunnelState {
	ts, _ := ctx.Value(tunnelKey{}).(*tunnelState)
	return ts
}

// clientIP is an agent address without its port, the unit of the audit
// log's denial budget.
func clientIP(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().String()
	}
	return remote
}
