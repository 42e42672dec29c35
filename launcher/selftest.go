package launcher

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"bottle.dev/bottle/allowlist"
)

// Exit codes of `bottle-sidecar probe` (see cmd/bottle-sidecar/probe.go).
const (
	probeOK      = 0
	probeRefused = 3
	probeTimeout = 4
	probeBlocked = 5
)

type probe struct {
	what string   // for messages
	argv []string // after "bottle-probe probe --timeout 2s"
	env  []string
	// want: the exit codes that pass.
	want []int
	// leak marks a probe whose success means the agent got around the sidecar.
	leak bool
}

// SelfTest proves, from inside the agent, that the proxy and DNS answer and
// enforce the policy, and that nothing else is reachable: not the sidecar's
// egress address, not the networks' gateways, not any address of the host.
// Any path around the sidecar is an error that says what leaked.
func (l *Launcher) SelfTest(ctx context.Context, b *Bottle, internal, egress NetworkInfo, pol *allowlist.Policy) error {
	// Something listening on every host address, so that "unreachable" is
	// proven against a port that would answer.
	ln, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return fmt.Errorf("self-test listener: %w", err)
	}
	defer ln.Close()
	var reached atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			reached.Add(1)
			c.Close()
		}
	}()
	hostPort := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	noProxy := []string{"HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy="}

	probes := []probe{
		{what: "the proxy answers", argv: []string{"http", fmt.Sprintf("http://%s:%d/healthz", b.SidecarIP, ProxyPort)}, env: noProxy, want: []int{probeOK}},
		{what: "the sidecar's DNS refuses a name outside the allowlist", argv: []string{"dns", "bottle-self-test.invalid", "@" + b.SidecarIP}, want: []int{probeBlocked}},
		{what: "the proxy refuses a host outside the allowlist", argv: []string{"http", "http://bottle-self-test.invalid/"}, want: []int{probeBlocked}},
	}
	if host := firstExactHost(pol); host != "" {
		// Allowed: the sidecar does not refuse it (the upstream may still
		// fail to answer; that is not a leak).
		probes = append(probes, probe{what: "the sidecar's DNS forwards allowed name " + host, argv: []string{"dns", host, "@" + b.SidecarIP}, want: []int{probeOK, probeRefused, probeTimeout}})
	}
	blocked := func(what, addr string) probe {
		return probe{what: what, argv: []string{"tcp", addr}, env: noProxy, want: []int{probeTimeout}, leak: true}
	}
	if b.SidecarEgress != "" {
		for _, p := range []int{ProxyPort, DNSPort} {
			probes = append(probes, blocked("the sidecar's egress address", fmt.Sprintf("%s:%d", b.SidecarEgress, p)))
		}
	}
	for _, gw := range []string{internal.Gateway, egress.Gateway} {
		if gw != "" {
			probes = append(probes, blocked("gateway "+gw, net.JoinHostPort(gw, hostPort)))
		}
	}
	for _, a := range hostAddrs() {
		probes = append(probes, blocked("host address "+a.String(), net.JoinHostPort(a.String(), hostPort)))
	}

	type result struct {
		p    probe
		code int
		out  string
	}
	results := make([]result, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			// One second: on these bridges an address that exists answers in
			// well under a millisecond.
			argv := append([]string{agentProbe, "probe", "--timeout", "1s"}, p.argv...)
			err := l.Backend.Exec(ctx, b.Agent, ExecSpec{User: "0", Argv: argv, Env: p.env, Stdout: &out, Stderr: &out})
			code := 0
			if err != nil {
				code = ExitCode(err)
			}
			results[i] = result{p, code, strings.TrimSpace(out.String())}
		}()
	}
	wg.Wait()
	var leaks, failures []string
	for _, r := range results {
		ok := false
		for _, w := range r.p.want {
			ok = ok || r.code == w
		}
		switch {
		case ok:
			l.note("ok: %s (%s)", r.p.what, strings.Join(r.p.argv, " "))
		case r.p.leak && (r.code == probeOK || r.code == probeRefused):
			leaks = append(leaks, fmt.Sprintf("the agent reached %s (%s: %s)", r.p.what, strings.Join(r.p.argv, " "), r.out))
		case r.p.leak:
			// Some other error (say, the probe could not run): not proven.
			failures = append(failures, fmt.Sprintf("could not prove %s is unreachable (exit %d: %s)", r.p.what, r.code, r.out))
		default:
			failures = append(failures, fmt.Sprintf("%s: exit %d (%s)", r.p.what, r.code, r.out))
		}
	}
	if n := reached.Load(); n > 0 {
		leaks = append(leaks, fmt.Sprintf("the host's self-test listener accepted %d connection(s) from the agent", n))
	}
	if len(leaks) > 0 {
		return fmt.Errorf("self-test: the bottle leaks, so it was torn down:\n  %s", strings.Join(append(leaks, failures...), "\n  "))
	}
	if len(failures) > 0 {
		return fmt.Errorf("self-test failed, so the bottle was torn down:\n  %s", strings.Join(failures, "\n  "))
	}
	return nil
}

func firstExactHost(pol *allowlist.Policy) string {
	for _, r := range pol.Allow() {
		if h := r.HostPattern(); h != "" && !strings.HasPrefix(h, "*") {
			return h
		}
	}
	return ""
}

func interfaceAddrs() []netip.Addr {
	ifaddrs, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
