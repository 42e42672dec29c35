package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"

	"bottle.dev/bottle/internal/contract"
)

// The agent's helpers for clients that do not speak HTTP (ssh, database
// clients): they reach HOST:PORT through the proxy's CONNECT, so the
// allowlist judges them like everything else (a non-HTTP protocol needs a
// `tls: passthrough` rule for HOST and PORT).

const connectUsage = `usage: bottle-probe connect [--proxy URL] HOST:PORT

Opens a tunnel to HOST:PORT through the bottle's proxy (CONNECT) and relays
it to stdin and stdout: an ssh ProxyCommand.

  ssh -o ProxyCommand='bottle-probe connect %h:%p' git@ssh.example.com

The proxy is $HTTPS_PROXY (or $HTTP_PROXY) unless --proxy is given. When
the proxy refuses, its reason and the command that would allow the target
are printed, and the exit status is 5.
`

const forwardUsage = `usage: bottle-probe forward [--listen ADDR] [--proxy URL] LOCALPORT HOST:PORT

Listens on 127.0.0.1:LOCALPORT (or --listen ADDR) and relays each
connection to HOST:PORT through the bottle's proxy (CONNECT): for clients
that take a host and a port but no proxy, such as database clients.

  bottle-probe forward 15432 db.example.com:5432 &
  psql -h 127.0.0.1 -p 15432 -U app

It runs until interrupted. The proxy is $HTTPS_PROXY (or $HTTP_PROXY)
unless --proxy is given.
`

// connectCmd is `bottle-probe connect`.
func connectCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("connect", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { io.WriteString(stderr, connectUsage) }
	proxyFlag := fset.String("proxy", "", "proxy URL (default $HTTPS_PROXY, else $HTTP_PROXY)")
	if err := fset.Parse(args); err != nil || fset.NArg() != 1 {
		if err == nil {
			fset.Usage()
		}
		return contract.ProbeUsage
	}
	target := fset.Arg(0)
	proxyAddr, err := proxyFromEnv(*proxyFlag)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-probe connect: %v\n", err)
		return contract.ProbeUsage
	}
	conn, br, code := dialThrough(ctx, proxyAddr, target, stderr)
	if conn == nil {
		return code
	}
	defer conn.Close()
	relayStdio(conn, br, stdin, stdout)
	return contract.ProbeOK
}

// forwardCmd is `bottle-probe forward`.
func forwardCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("forward", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { io.WriteString(stderr, forwardUsage) }
	listen := fset.String("listen", "", "address to listen on (default 127.0.0.1:LOCALPORT)")
	proxyFlag := fset.String("proxy", "", "proxy URL (default $HTTPS_PROXY, else $HTTP_PROXY)")
	if err := fset.Parse(args); err != nil || fset.NArg() != 2 {
		if err == nil {
			fset.Usage()
		}
		return contract.ProbeUsage
	}
	addr := *listen
	if addr == "" {
		addr = net.JoinHostPort("127.0.0.1", fset.Arg(0))
	}
	target := fset.Arg(1)
	if _, _, err := net.SplitHostPort(target); err != nil {
		fmt.Fprintf(stderr, "bottle-probe forward: %q is not HOST:PORT\n", target)
		return contract.ProbeUsage
	}
	proxyAddr, err := proxyFromEnv(*proxyFlag)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-probe forward: %v\n", err)
		return contract.ProbeUsage
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-probe forward: %v\n", err)
		return contract.ProbeError
	}
	defer ln.Close()
	fmt.Fprintf(stdout, "forwarding %s to %s through %s\n", ln.Addr(), target, proxyAddr)
	go func() { <-ctx.Done(); ln.Close() }()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return contract.ProbeOK
			}
			fmt.Fprintf(stderr, "bottle-probe forward: %v\n", err)
			return contract.ProbeError
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			up, br, _ := dialThrough(ctx, proxyAddr, target, stderr)
			if up == nil {
				return
			}
			defer up.Close()
			relayConns(c, up, br)
		}()
	}
}

// proxyFromEnv returns the proxy's host:port: the flag, else the proxy
// the agent's environment names for https, else for http.
func proxyFromEnv(flagValue string) (string, error) {
	raw := flagValue
	if raw == "" {
		cfg := httpproxy.FromEnvironment()
		raw = cfg.HTTPSProxy
		if raw == "" {
			raw = cfg.HTTPProxy
		}
	}
	if raw == "" {
		return "", errors.New("no proxy: set HTTPS_PROXY (a bottle's agent has it) or pass --proxy URL")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("proxy %q is not a URL like http://HOST:PORT", raw)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "3128"), nil
	}
	return u.Host, nil
}

// dialThrough opens a CONNECT tunnel to target through the proxy. On a
// refusal it prints the proxy's answer (the reason and the hint) and
// returns the probe exit code that says what happened.
func dialThrough(ctx context.Context, proxyAddr, target string, stderr io.Writer) (net.Conn, *bufio.Reader, int) {
	if _, _, err := net.SplitHostPort(target); err != nil {
		fmt.Fprintf(stderr, "bottle-probe: %q is not HOST:PORT\n", target)
		return nil, nil, contract.ProbeUsage
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", proxyAddr)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-probe: cannot reach the proxy %s: %v\n", proxyAddr, err)
		return nil, nil, classify(err, false)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	// The tunnel carries no HTTP: a refusal must come as the CONNECT's
	// 403 (with the reason and the hint printed below), not as a page
	// inside TLS that ssh or a database client would never show.
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s: raw\r\n\r\n", target, target, contract.RawTunnelHeader)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		conn.Close()
		fmt.Fprintf(stderr, "bottle-probe: the proxy did not answer the CONNECT: %v\n", err)
		return nil, nil, contract.ProbeError
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<10))
		conn.Close()
		fmt.Fprintf(stderr, "bottle-probe: the proxy answered %s for %s\n%s", resp.Status, target, body)
		if resp.StatusCode == http.StatusForbidden {
			return nil, nil, contract.ProbeBlocked
		}
		return nil, nil, contract.ProbeError
	}
	conn.SetDeadline(time.Time{})
	return conn, br, contract.ProbeOK
}

// relayStdio copies stdin to the tunnel and the tunnel (what the proxy
// already buffered first) to stdout until both ends are done.
func relayStdio(conn net.Conn, br *bufio.Reader, stdin io.Reader, stdout io.Writer) {
	done := make(chan struct{})
	go func() {
		io.Copy(conn, stdin)
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		close(done)
	}()
	io.Copy(stdout, br)
	// The far end closed: nothing more can be sent; don't wait for stdin.
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
}

// relayConns copies both ways between a local client and the tunnel.
func relayConns(local, up net.Conn, br *bufio.Reader) {
	var wg sync.WaitGroup
	wg.Add(2)
	half := func(c net.Conn) {
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			c.Close()
		}
	}
	go func() { defer wg.Done(); io.Copy(up, local); half(up) }()
	go func() { defer wg.Done(); io.Copy(local, br); half(local) }()
	wg.Wait()
}
