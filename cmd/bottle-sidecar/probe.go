package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http/httpproxy"

	"bottle.dev/bottle/dnsfwd"
	"bottle.dev/bottle/internal/contract"
)

// The probe's exit codes are the launcher's to read: contract.Probe*.
const (
	probeOK      = contract.ProbeOK
	probeUsage   = contract.ProbeUsage
	probeRefused = contract.ProbeRefused
	probeTimeout = contract.ProbeTimeout
	probeBlocked = contract.ProbeBlocked
	probeError   = contract.ProbeError
)

const probeUsageText = `usage: bottle-sidecar probe [--timeout D] KIND ARGS

  probe tcp HOST:PORT         open a TCP connection
  probe http URL              GET URL through $HTTPS_PROXY / $HTTP_PROXY
  probe dns NAME @SERVER      ask SERVER (HOST[:PORT]) for NAME's A record
  probe batch JSON            run the probes JSON lists (contract.ProbeSpec)
                              all at once; print their results as a JSON
                              array, in order, and exit 0

Exit status: 0 success, 3 refused, 4 timed out or no route, 5 blocked by
bottle's policy, 6 other error, 2 usage.
`

func probeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("probe", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() { fmt.Fprint(stderr, probeUsageText) }
	timeout := fset.Duration("timeout", 3*time.Second, "give up after this long")
	cafile := fset.String("cacert", os.Getenv("SSL_CERT_FILE"), "PEM roots for https (default $SSL_CERT_FILE, else the system roots)")
	if err := fset.Parse(args); err != nil {
		return probeUsage
	}
	rest := fset.Args()
	if len(rest) < 2 {
		fmt.Fprint(stderr, probeUsageText)
		return probeUsage
	}
	if rest[0] == "batch" {
		return probeBatch(ctx, rest[1:], *timeout, *cafile, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// Read the proxy variables now (http.ProxyFromEnvironment caches them
	// for the life of the process).
	proxyFunc := httpproxy.FromEnvironment().ProxyFunc()
	code, msg := probeOne(ctx, rest[0], rest[1:], proxyFunc, *cafile)
	if code == probeUsage {
		fmt.Fprintf(stderr, "bottle-sidecar probe: %s\n%s", msg, probeUsageText)
		return probeUsage
	}
	fmt.Fprintf(stdout, "%s %s\n", contract.ProbeWord(code), msg)
	return code
}

// probeOne runs one probe of kind with args (what follows KIND).
func probeOne(ctx context.Context, kind string, args []string, proxyFunc func(*url.URL) (*url.URL, error), cafile string) (int, string) {
	switch {
	case len(args) == 0:
		return probeUsage, "probe " + kind + ": what to probe is missing"
	case kind == "tcp":
		return probeTCP(ctx, args[0])
	case kind == "http":
		return probeHTTP(ctx, args[0], cafile, proxyFunc)
	case kind == "dns":
		if len(args) != 2 || !strings.HasPrefix(args[1], "@") {
			return probeUsage, "probe dns: want NAME @SERVER"
		}
		return probeDNS(ctx, args[0], strings.TrimPrefix(args[1], "@"))
	}
	return probeUsage, fmt.Sprintf("unknown kind %q", kind)
}

// probeBatch runs the probes of a batch (args: one JSON array of
// contract.ProbeSpec) all at once, each with its own timeout (def when it
// sets none), and prints their results in order. The environment's proxy
// variables play no part: each http probe names its proxy.
func probeBatch(ctx context.Context, args []string, def time.Duration, cafile string, stdout, stderr io.Writer) int {
	var specs []contract.ProbeSpec
	if len(args) != 1 {
		fmt.Fprint(stderr, probeUsageText)
		return probeUsage
	}
	if err := json.Unmarshal([]byte(args[0]), &specs); err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar probe batch: %v\n", err)
		return probeUsage
	}
	results := make([]contract.ProbeResult, len(specs))
	var wg sync.WaitGroup
	for i, p := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, p.Timeout(def))
			defer cancel()
			proxy := (&httpproxy.Config{HTTPProxy: p.Proxy, HTTPSProxy: p.Proxy}).ProxyFunc()
			code, msg := probeOne(ctx, p.Kind, p.Args, proxy, cafile)
			for p.Retry && code == probeRefused && ctx.Err() == nil {
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
					code, msg = probeOne(ctx, p.Kind, p.Args, proxy, cafile)
				}
			}
			results[i] = contract.ProbeResult{Code: code, Msg: msg}
		}()
	}
	wg.Wait()
	out, _ := json.Marshal(results) // plain structs always encode
	fmt.Fprintf(stdout, "%s\n", out)
	return probeOK
}

// classify maps a dial or request error to a probe exit code. ipv6 says
// the target was an IPv6 address.
func classify(err error, ipv6 bool) int {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return probeRefused
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout(),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		return probeTimeout
	case errors.Is(err, syscall.EADDRNOTAVAIL) && ipv6:
		// No IPv6 source address in this namespace: no route. For IPv4 it
		// would mean the local ports ran out, which proves nothing, so it
		// stays an error ("could not prove").
		return probeTimeout
	}
	return probeError
}

// minTry is the least time a TCP probe must have left when it dials for
// its timeout to count: on a bridge an address that exists answers in well
// under a millisecond.
const minTry = 100 * time.Millisecond

// probeTCP connects to addr. A link-local IPv6 address without a zone names
// no interface, so it is tried on every interface of this namespace (the
// self-test probes the host's link-local addresses this way); the best
// outcome for a leak counts: connected, then refused, then an error.
func probeTCP(ctx context.Context, addr string) (int, string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return probeUsage, fmt.Sprintf("%q is not HOST:PORT", addr)
	}
	ip, _ := netip.ParseAddr(host)
	targets := []string{addr}
	if ip.Is6() && ip.IsLinkLocalUnicast() && ip.Zone() == "" {
		targets = nil
		ifs, _ := net.Interfaces()
		for _, ifc := range ifs {
			if ifc.Flags&net.FlagLoopback == 0 && ifc.Flags&net.FlagUp != 0 {
				targets = append(targets, net.JoinHostPort(host+"%"+ifc.Name, port))
			}
		}
		if len(targets) == 0 {
			return probeTimeout, "no interface here can reach link-local " + host
		}
	}
	// All at once: on the wrong interface a link-local address just times
	// out, and that must not use up the time of the right one.
	type result struct {
		code int
		msg  string
	}
	results := make(chan result, len(targets))
	for _, t := range targets {
		go func() {
			// A timeout proves "unreachable" only for a connection that
			// had time to be answered: one tried with (nearly) no time
			// left, its probe scheduled late, proves nothing.
			if dl, ok := ctx.Deadline(); ok && time.Until(dl) < minTry {
				results <- result{probeError, "no time left to try " + t}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", t)
			if err != nil {
				results <- result{classify(err, ip.Is6()), err.Error()}
				return
			}
			c.Close()
			results <- result{probeOK, "connected to " + t}
		}()
	}
	rank := map[int]int{probeTimeout: 0, probeError: 1, probeRefused: 2, probeOK: 3}
	best := result{code: -1}
	for range targets {
		r := <-results
		if r.code == probeOK {
			return r.code, r.msg // the others end with ctx
		}
		if best.code < 0 || rank[r.code] > rank[best.code] {
			best = r
		}
	}
	return best.code, best.msg
}

// probeHTTP gets raw through the proxy proxyFunc says.
func probeHTTP(ctx context.Context, raw, cafile string, proxyFunc func(*url.URL) (*url.URL, error)) (int, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return probeUsage, fmt.Sprintf("%q is not an http(s) URL", raw)
	}
	tr := &http.Transport{
		Proxy:           func(r *http.Request) (*url.URL, error) { return proxyFunc(r.URL) },
		TLSClientConfig: &tls.Config{},
	}
	if cafile != "" {
		pem, err := os.ReadFile(cafile)
		if err != nil {
			return probeError, err.Error()
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return probeError, cafile + ": no certificates"
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		// A CONNECT refused by the proxy surfaces as an error naming 403.
		if strings.Contains(err.Error(), "Forbidden") || strings.Contains(err.Error(), "403") {
			return probeBlocked, err.Error()
		}
		return classify(err, false), err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	// The proxy's 403, on a plain-HTTP request or inside the tunnel it
	// opens to show a refused HTTPS host why (X-Bottle-Denied names the
	// cause): blocked, exactly as a CONNECT refused with 403.
	if resp.StatusCode == http.StatusForbidden && (resp.Header.Get("X-Bottle-Decision") == "deny" || resp.Header.Get("X-Bottle-Denied") != "") {
		return probeBlocked, fmt.Sprintf("403 by rule %s", resp.Header.Get("X-Bottle-Rule"))
	}
	return probeOK, fmt.Sprintf("HTTP %d", resp.StatusCode)
}

func probeDNS(ctx context.Context, name, server string) (int, string) {
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	a, err := dnsfwd.Query(ctx, server, name, "A")
	if err != nil {
		return classify(err, false), err.Error()
	}
	switch a.Rcode {
	case "NOERROR":
		return probeOK, strings.Join(a.Addrs, " ")
	case "REFUSED":
		return probeBlocked, "REFUSED"
	}
	return probeRefused, a.Rcode
}

func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("health", flag.ContinueOnError)
	fset.SetOutput(stderr)
	proxyAddr := fset.String("proxy", "127.0.0.1:3128", "proxy address")
	dnsAddr := fset.String("dns", "127.0.0.1:53", "DNS address; empty: skip")
	timeout := fset.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fset.Parse(args); err != nil {
		return probeUsage
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	ok := true
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+*proxyAddr+"/healthz", nil)
	resp, err := (&http.Transport{Proxy: nil}).RoundTrip(req)
	if err != nil || resp.StatusCode != 200 {
		ok = false
		fmt.Fprintf(stderr, "proxy %s: not healthy: %v\n", *proxyAddr, errOrStatus(err, resp))
	} else {
		resp.Body.Close()
	}
	if *dnsAddr != "" {
		// Any answer will do: a name outside the policy gets REFUSED fast.
		if _, err := dnsfwd.Query(ctx, *dnsAddr, "health.bottle.invalid", "A"); err != nil {
			ok = false
			fmt.Fprintf(stderr, "dns %s: not healthy: %v\n", *dnsAddr, err)
		}
	}
	if !ok {
		return 1
	}
	fmt.Fprintln(stdout, "healthy")
	return 0
}

func errOrStatus(err error, resp *http.Response) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}
