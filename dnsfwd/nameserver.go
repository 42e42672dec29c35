package dnsfwd

import (
	"context"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// nameserver is one upstream resolver: its idle sockets and whether it answers.
type nameserver struct {
	addr string

	mu        sync.Mutex
	idle      []*dns.Conn
	closed    bool
	fails     int       // exchanges in a row that failed or lost a hedge race
	downUntil time.Time // asked last until then
}

// Health: after maxFails failures in a row an upstream is asked last for
// downFor, and again whenever it fails after that until it answers. It is
// still asked when the others fail, which is how it comes back.
const (
	maxFails = 2
	downFor  = 30 * time.Second
	// maxIdlePerUpstream bounds the sockets kept per upstream.
	maxIdlePerUpstream = 64
)

func (u *nameserver) failed(now time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fails++
	if u.fails >= maxFails {
		u.downUntil = now.Add(downFor)
	}
}

func (u *nameserver) answered() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fails, u.downUntil = 0, time.Time{}
}

func (u *nameserver) isDown(now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return now.Before(u.downUntil)
}

// get returns an idle UDP socket to u, or a new one. Idle sockets are
// reused so that an exchange costs no socket()+connect(), which is a large
// share of the cost of one exchange on loopback (CoreDNS's forward plugin
// keeps its sockets for the same reason).
func (u *nameserver) get(ctx context.Context, cl *dns.Client) (*dns.Conn, error) {
	u.mu.Lock()
	if n := len(u.idle); n > 0 {
		c := u.idle[n-1]
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		return c, nil
	}
	u.mu.Unlock()
	return cl.DialContext(ctx, u.addr)
}

func (u *nameserver) put(c *dns.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed || len(u.idle) >= maxIdlePerUpstream {
		c.Close()
		return
	}
	u.idle = append(u.idle, c)
}

func (u *nameserver) close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.closed = true
	for _, c := range u.idle {
		c.Close()
	}
	u.idle = nil
}
