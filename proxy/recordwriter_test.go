package proxy

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// writesConn records each Write it gets.
type writesConn struct {
	net.Conn
	writes chan []byte
}

func (c *writesConn) Write(p []byte) (int, error) {
	c.writes <- bytes.Clone(p)
	return len(p), nil
}

func (c *writesConn) Close() error { return nil }

func TestRecordWriter(t *testing.T) {
	c := &writesConn{writes: make(chan []byte, 16)}
	w := &recordWriter{Conn: c}
	next := func() []byte {
		select {
		case p := <-c.writes:
			return p
		case <-time.After(10 * time.Second):
			t.Fatal("nothing written")
			return nil
		}
	}
	none := func() {
		select {
		case p := <-c.writes:
			t.Fatalf("unexpected write of %d bytes", len(p))
		default:
		}
	}

	// A small record goes out at once, alone.
	w.Write([]byte("event"))
	if p := next(); string(p) != "event" {
		t.Fatalf("got %q", p)
	}
	// A full record is held and goes out with the small one after it.
	full := bytes.Repeat([]byte{'x'}, recordLarge+17)
	w.Write(full)
	none()
	w.Write([]byte("tail"))
	if p := next(); len(p) != len(full)+4 || string(p[len(full):]) != "tail" {
		t.Fatalf("got %d bytes", len(p))
	}
	// Held records never grow past the buffer.
	for range 4 {
		w.Write(full)
	}
	if p := next(); len(p) != 3*len(full) {
		t.Fatalf("a write of %d bytes", len(p))
	}
	// What is held goes out when nothing follows it, and on Close.
	if p := next(); len(p) != len(full) {
		t.Fatalf("got %d bytes", len(p))
	}
	w.Write(full)
	if p := next(); len(p) != len(full) {
		t.Fatalf("got %d bytes", len(p))
	}
	w.timer.Stop()
	w.Write(full)
	w.Close()
	if p := next(); len(p) != len(full) {
		t.Fatalf("got %d bytes on close", len(p))
	}
}
