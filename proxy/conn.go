package proxy

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackedConn wraps every accepted client connection: it counts bytes for
// the audit log and, once armed, enforces an idle timeout. The timeout is
// armed only after the connection leaves net/http (a CONNECT hijack), because
// hijacked connections escape http.Server's own timeouts and goproxy sets
// none (goproxy issue #724).
type trackedConn struct {
	net.Conn
	idle    atomic.Int64 // nanoseconds; 0: not armed
	in, out atomic.Int64
	once    sync.Once
	onClose atomic.Pointer[func()]
	lastArm atomic.Int64 // unix nanos of the last deadline set
}

func (c *trackedConn) arm(d time.Duration) {
	c.idle.Store(int64(d))
	c.lastArm.Store(0)
	c.Conn.SetDeadline(time.Now().Add(d))
}

// refresh pushes the deadline forward on activity. Deadlines are moved at
// most once a second to keep the cost off the byte path.
func (c *trackedConn) refresh() {
	idle := c.idle.Load()
	if idle == 0 {
		return
	}
	now := time.Now().UnixNano()
	if now-c.lastArm.Load() < int64(time.Second) {
		return
	}
	c.lastArm.Store(now)
	c.Conn.SetDeadline(time.Unix(0, now+idle))
}

func (c *trackedConn) Read(p []byte) (int, error) {
	c.refresh()
	n, err := c.Conn.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *trackedConn) Write(p []byte) (int, error) {
	c.refresh()
	n, err := c.Conn.Write(p)
	c.out.Add(int64(n))
	return n, err
}

func (c *trackedConn) Close() error {
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

type trackingListener struct {
	net.Listener
	accepted *atomic.Int64
}

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &trackedConn{Conn: c}, nil
}

type connKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

func connFrom(ctx context.Context) *trackedConn {
	c, _ := ctx.Value(connKey{}).(*trackedConn)
	return c
}
