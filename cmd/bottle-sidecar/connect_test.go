package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/internal/syncbuf"
)

// echoServer answers each connection with a banner, then echoes.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "SSH-2.0-echo\r\n")
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

const tunnelPolicy = `version: 1
allow:
  - host: ssh.test
    ports: [%[1]d]
    tls: passthrough
  - cidr: 127.0.0.1/32
    ports: [%[1]d]
`

// TestConnectThroughProxy: the ssh ProxyCommand helper reaches an allowed
// passthrough target through the real proxy, and a refused one gets the
// proxy's reason and exit 5: the helper asks for a raw tunnel, so a port
// an intercepting rule names (the cidr rule's) is refused on the CONNECT,
// not answered inside a TLS the ssh client would never speak.
func TestConnectThroughProxy(t *testing.T) {
	port := echoServer(t)
	sc := startSidecar(t, fmt.Sprintf(tunnelPolicy, port))
	var out, errb bytes.Buffer
	code := connectCmd(context.Background(), []string{"--proxy", "http://" + sc.proxy, fmt.Sprintf("ssh.test:%d", port)},
		strings.NewReader("hello through the tunnel\n"), &out, &errb)
	if code != 0 || out.String() != "SSH-2.0-echo\r\nhello through the tunnel\n" {
		t.Errorf("exit %d: %q %s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code = connectCmd(context.Background(), []string{"--proxy", sc.proxy, fmt.Sprintf("other.test:%d", port)}, strings.NewReader(""), &out, &errb)
	if code != 5 || !strings.Contains(errb.String(), "403") || !strings.Contains(errb.String(), "bottle allow add other.test") || out.Len() != 0 {
		t.Errorf("refused: exit %d: %q %q", code, out.String(), errb.String())
	}
	t.Setenv("HTTPS_PROXY", "")
	t.Setenv("HTTP_PROXY", "")
	if code := connectCmd(context.Background(), []string{"x.test:22"}, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "HTTPS_PROXY") {
		t.Errorf("no proxy: %d %s", code, errb.String())
	}
}

// TestForwardThroughProxy: a local port relays each connection through the
// proxy, for clients that take a host and port but no proxy.
func TestForwardThroughProxy(t *testing.T) {
	port := echoServer(t)
	sc := startSidecar(t, fmt.Sprintf(tunnelPolicy, port))
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	local := free.Addr().(*net.TCPAddr).Port
	free.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var out, errb syncbuf.Buffer
	go func() {
		done <- forwardCmd(ctx, []string{"--proxy", sc.proxy, fmt.Sprint(local), fmt.Sprintf("ssh.test:%d", port)}, &out, &errb)
	}()
	var c net.Conn
	for i := 0; ; i++ {
		var err error
		if c, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", local)); err == nil {
			break
		}
		if i == 100 {
			t.Fatalf("forward never listened: %v %s", err, errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range 2 { // two requests on one connection, like a client's session
		if i == 0 {
			line, _ := bufio.NewReader(io.LimitReader(c, 14)).ReadString('\n')
			if line != "SSH-2.0-echo\r\n" {
				t.Fatalf("banner %q", line)
			}
		}
		msg := fmt.Sprintf("query %d\n", i)
		io.WriteString(c, msg)
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Errorf("echo %q %v", buf, err)
		}
	}
	c.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("forward exited %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "forwarding 127.0.0.1:") {
		t.Errorf("stdout %q", out.String())
	}
}
