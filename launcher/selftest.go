package launcher

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/contract"
)

// Exit codes of `bottle-sidecar probe`.
const (
	probeOK      = contract.ProbeOK
	probeUsage   = contract.ProbeUsage
	probeRefused = contract.ProbeRefused
	probeTimeout = contract.ProbeTimeout
	probeBlocked = contract.ProbeBlocked
)

// probeBinary is the sidecar image's binary, which the self-test runs.
const probeBinary = "/bottle-sidecar"

type probe struct {
	what string // for failures: what the probe was to show, or (leak) the address it tried
	// proved is the line it prints when it passes: the fact it proved,
	// with the address ("unreachable: the sidecar's egress address
	// 10.2.0.2:3128").
	proved string
	spec   contract.ProbeSpec
	// want: the exit codes that pass; nil: any exit of the probe itself
	// (report mode, where the audit is the proof).
	want []int
	// leak marks a probe whose success means the agent got around the sidecar.
	leak bool
}

// The self-test's timeouts. A leak probe proves "unreachable" by timing
// out: on these bridges an address that exists answers in well under a
// millisecond, and one that is not routed fails at once, so half a second
// is hundreds of times what an answer takes. A probe of what must answer (the proxy, the sidecar's DNS) ends
// as soon as it does, and has longer on a loaded machine. The forwarded
// lookup may time out (the upstream need not answer), so it has the
// short one too.
const (
	leakTimeout   = 500 * time.Millisecond
	answerTimeout = 5 * time.Second
)

// ms is d in whole milliseconds, for a ProbeSpec.
func ms(d time.Duration) int { return int(d / time.Millisecond) }

// SelfTest proves that the proxy and DNS answer and enforce the policy, and
// that nothing else is reachable from the agent's network: not the
// sidecar's egress address, not the networks' gateways, not any address of
// the host. Any path around the sidecar is an error that says what leaked.
//
// Nothing the agent's image controls takes part: the probes run in a
// container of bottle's own sidecar image that shares the agent's network
// namespace (on a backend that cannot share one, it sits on the agent's
// network with the agent's restrictions), and nothing from the agent image
// has run as root yet.
//
// In report mode the sidecar lets what it would deny through, so the proof
// there is the audit: the refusals the probes provoke must be logged as
// would-deny.
//
// It returns what it proved, one line a fact with its address, in the
// order of the probes (also when it fails: what did pass).
func (l *Launcher) SelfTest(ctx context.Context, b *Bottle, internal, egress NetworkInfo, pol *allowlist.Policy) ([]string, error) {
	return l.selfTest(ctx, b, internal, egress, pol, nil, nil)
}

// proberName is the self-test's probe container.
func proberName(b *Bottle) string { return "bottle-" + b.Name + "-probe" }

// runProber starts the self-test's probe container: bottle's own sidecar
// image, in the agent's network namespace (which must exist: the agent
// runs), unprivileged, idle until the probes are run in it.
func (l *Launcher) runProber(ctx context.Context, b *Bottle) error {
	err := l.Backend.Run(ctx, RunSpec{
		Name: proberName(b), Image: b.SidecarImage, NetworkOf: b.Agent, Networks: []string{b.Internal},
		CapDrop: []string{"NET_ADMIN", "NET_RAW"}, User: "65532:65532", Labels: l.labels(b.Name, "probe"),
		Cmd: []string{"idle"},
	})
	if err != nil {
		return fmt.Errorf("starting the self-test's probe container: %w", err)
	}
	return nil
}

// selfTest is SelfTest. With started, the probe container is being
// started already (runProber, beside the sidecar), and started says how
// that went; with bg, the probe container is removed in the background
// once the verdict is in (bg.Wait waits for it), so that the launch goes
// on to provisioning meanwhile.
func (l *Launcher) selfTest(ctx context.Context, b *Bottle, internal, egress NetworkInfo, pol *allowlist.Policy, started <-chan error, bg *sync.WaitGroup) ([]string, error) {
	prober := proberName(b)
	var err error
	if started != nil {
		err = <-started
	} else {
		err = l.runProber(ctx, b)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		remove := func() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			l.Backend.Remove(rctx, prober)
		}
		if bg == nil {
			remove()
			return
		}
		bg.Add(1)
		go func() {
			defer bg.Done()
			remove()
		}()
	}()
	reached := &atomic.Int64{}
	hostPort, closeListeners, err := listenEverywhere(reached)
	if err != nil {
		return nil, fmt.Errorf("self-test listener: %w", err)
	}
	defer closeListeners()

	report := pol.Mode() == allowlist.Report
	token := randomToken()
	blockedName := contract.SelfTestPrefix + token + ".invalid" // outside any allowlist; unique to this launch
	closeWindow, err := l.openSelfTestWindow(b.Name, blockedName)
	if err != nil {
		return nil, err
	}
	defer closeWindow()
	enforced := func(codes ...int) []int {
		if report {
			return nil
		}
		return codes
	}
	proxyAddr := net.JoinHostPort(b.SidecarIP, fmt.Sprint(contract.ProxyPort))
	dnsAddr := net.JoinHostPort(b.SidecarIP, fmt.Sprint(contract.DNSPort))
	blockedURL := "http://" + blockedName + "/"
	// What the refusals prove: in report mode the sidecar lets them
	// through, and the audit is the proof (reportModeAudited).
	dnsRefused := fmt.Sprintf("refused: the DNS lookup of %s (REFUSED from the sidecar's DNS at %s)", blockedName, dnsAddr)
	proxyRefused := fmt.Sprintf("blocked: %s (403 from the proxy at %s)", blockedURL, proxyAddr)
	if report {
		dnsRefused = fmt.Sprintf("let through (report mode): the DNS lookup of %s at %s", blockedName, dnsAddr)
		proxyRefused = fmt.Sprintf("let through (report mode): %s through the proxy at %s", blockedURL, proxyAddr)
	}
	// The probes of the sidecar retry while it refuses: the launch goes
	// on as soon as its container runs, and it may not listen yet.
	probes := []probe{
		{what: "the proxy answers", proved: "answers: the proxy at " + proxyAddr + " (GET /healthz)",
			spec: contract.ProbeSpec{Kind: "http", Args: []string{"http://" + proxyAddr + "/healthz"}, TimeoutMS: ms(answerTimeout), Retry: true}, want: []int{probeOK}},
		{what: "the sidecar's DNS refuses a name outside the allowlist", proved: dnsRefused,
			spec: contract.ProbeSpec{Kind: "dns", Args: []string{blockedName, "@" + b.SidecarIP}, TimeoutMS: ms(answerTimeout), Retry: true}, want: enforced(probeBlocked)},
		{what: "the proxy refuses a host outside the allowlist", proved: proxyRefused,
			spec: contract.ProbeSpec{Kind: "http", Args: []string{blockedURL}, Proxy: b.ProxyURL, TimeoutMS: ms(answerTimeout), Retry: true}, want: enforced(probeBlocked)},
	}
	if host := firstExactHost(pol); host != "" {
		// Allowed: the sidecar does not refuse it (the upstream may still
		// fail to answer; that is not a leak).
		probes = append(probes, probe{what: "the sidecar's DNS forwards allowed name " + host,
			proved: fmt.Sprintf("forwarded: the DNS lookup of %s, which the allowlist allows (not refused by the sidecar's DNS at %s)", host, dnsAddr),
			spec:   contract.ProbeSpec{Kind: "dns", Args: []string{host, "@" + b.SidecarIP}, TimeoutMS: ms(leakTimeout)}, want: []int{probeOK, probeRefused, probeTimeout}})
	}
	// Each address the agent must not reach: the proof is a connection that
	// times out (no route), where a listener of ours answers (hostPort) or
	// the sidecar serves.
	blocked := func(what, addr string) probe {
		what += " " + addr
		return probe{what: what, proved: "unreachable: " + what, spec: contract.ProbeSpec{Kind: "tcp", Args: []string{addr}, TimeoutMS: ms(leakTimeout)},
			want: []int{probeTimeout}, leak: true}
	}
	if b.SidecarEgress != "" {
		for _, p := range []int{contract.ProxyPort, contract.DNSPort, contract.MCPPort} {
			probes = append(probes, blocked("the sidecar's egress address", net.JoinHostPort(b.SidecarEgress, fmt.Sprint(p))))
		}
	}
	for _, gw := range []struct{ net, addr string }{{"internal", internal.Gateway}, {"egress", egress.Gateway}} {
		if gw.addr != "" {
			probes = append(probes, blocked("the "+gw.net+" network's gateway", net.JoinHostPort(gw.addr, hostPort)))
		}
	}
	for _, a := range hostAddrs() {
		probes = append(probes, blocked("the host's address", net.JoinHostPort(a.String(), hostPort)))
	}

	// All the probes in one exec, at once: the wall time is the longest
	// probe's (a leak probe's second), not one exec each.
	results := runProbes(ctx, l.Backend, prober, probes)
	var proved, leaks, failures []string
	for i, r := range results {
		p := probes[i]
		ok := p.want == nil && r.Code >= 0 && r.Code != probeUsage
		for _, w := range p.want {
			ok = ok || r.Code == w
		}
		switch {
		case ok:
			proved = append(proved, p.proved)
		case p.leak && (r.Code == probeOK || r.Code == probeRefused):
			leaks = append(leaks, fmt.Sprintf("the agent reached %s (%s)", p.what, r.Msg))
		case p.leak:
			// Some other error (say, the probe could not run): not proven.
			failures = append(failures, fmt.Sprintf("could not prove %s is unreachable (exit %d: %s)", p.what, r.Code, r.Msg))
		default:
			failures = append(failures, fmt.Sprintf("%s: exit %d (%s)", p.what, r.Code, r.Msg))
		}
	}
	if n := reached.Load(); n > 0 {
		leaks = append(leaks, fmt.Sprintf("the host's self-test listener accepted %d connection(s) from the agent", n))
	}
	if len(leaks) > 0 {
		return proved, &SelfTestError{fmt.Sprintf("self-test: the bottle leaks, so it was torn down:\n  %s", strings.Join(append(leaks, failures...), "\n  "))}
	}
	if report && len(failures) == 0 {
		logged, missing := l.reportModeAudited(ctx, b.Name, blockedName)
		proved, failures = append(proved, logged...), missing
	}
	if err := closeWindow(); err != nil {
		failures = append(failures, err.Error())
	}
	if len(failures) > 0 {
		return proved, &SelfTestError{fmt.Sprintf("self-test failed, so the bottle was torn down:\n  %s", strings.Join(failures, "\n  "))}
	}
	return proved, nil
}

// runProbes runs probes in one exec of `bottle-sidecar probe batch` in
// container prober, and returns one result a probe, in order. A batch
// that cannot run, or whose output is not exactly its results, gives
// every probe the result "could not run" (code -1): nothing is proven,
// and the self-test fails closed.
func runProbes(ctx context.Context, be Backend, prober string, probes []probe) []contract.ProbeResult {
	specs := make([]contract.ProbeSpec, len(probes))
	for i, p := range probes {
		specs[i] = p.spec
	}
	batch, err := json.Marshal(specs)
	var out, errOut bytes.Buffer
	if err == nil {
		// The engine's own timeout covers the exec; the probes' bound the batch.
		err = be.Exec(ctx, prober, ExecSpec{Argv: []string{probeBinary, "probe", "--timeout", leakTimeout.String(), "batch", string(batch)},
			Stdout: &out, Stderr: &errOut})
	}
	var results []contract.ProbeResult
	if err == nil {
		results, err = contract.ParseProbeResults(bytes.TrimSpace(out.Bytes()), len(probes))
	}
	if err != nil {
		msg := oneLine(strings.TrimSpace(errOut.String() + " " + Brief(err)))
		results = make([]contract.ProbeResult, len(probes))
		for i := range results {
			results[i] = contract.ProbeResult{Code: -1, Msg: "the probe could not run: " + msg}
		}
	}
	return results
}

// openSelfTestWindow names the self-test's probe name to the sidecar
// (contract.SelfTestFile, in the config directory: mounted into the
// sidecar, never into the agent), which marks its audit lines about that
// name as the self-test's while the file is there. The returned function
// removes it; SelfTest calls it before its verdict, so nothing from the
// agent's image ever runs while the window is open.
func (l *Launcher) openSelfTestWindow(bottle, name string) (func() error, error) {
	path := filepath.Join(l.ConfigDir(bottle), contract.SelfTestFile)
	// Readable by the sidecar's user, which is not this one when bottle
	// runs as root; the directory (0700) keeps everyone else out.
	if err := os.WriteFile(path, []byte(name+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("self-test: %w", err)
	}
	return func() error {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("could not close the self-test's audit window: %w", err)
		}
		return nil
	}, nil
}

// SelfTestError is the self-test's verdict against a bottle: what leaked,
// or what could not be proven. (An engine that fails to run the probes is
// an error of its own kind.)
type SelfTestError struct{ msg string }

func (e *SelfTestError) Error() string { return e.msg }

// reportModeAudited checks, in report mode, that the sidecar logged the
// self-test's DNS query and request for name as would-deny: what it found
// (the lines SelfTest prints), and what it did not (failures).
func (l *Launcher) reportModeAudited(ctx context.Context, bottle, name string) (logged, missing []string) {
	audit := filepath.Join(l.LogDir(bottle), contract.AuditFile)
	want := map[string]string{
		"dns":     "the sidecar's DNS logs a name outside the allowlist as would-deny",
		"request": "the proxy logs a host outside the allowlist as would-deny",
	}
	proved := map[string]string{
		"dns":     fmt.Sprintf("logged: the DNS lookup of %s as would-deny, in %s", name, audit),
		"request": fmt.Sprintf("logged: the request for http://%s/ as would-deny, in %s", name, audit),
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		for _, kind := range auditedWouldDeny(audit, name) {
			delete(want, kind)
		}
		if len(want) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, kind := range []string{"dns", "request"} {
		if what, ok := want[kind]; ok {
			missing = append(missing, what+": no such line in the audit within 3s")
		} else {
			logged = append(logged, proved[kind])
		}
	}
	return logged, missing
}

// auditedWouldDeny returns the kinds of the would-deny audit lines about
// name (as a host or a DNS name).
func auditedWouldDeny(path, name string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var kinds []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), []byte(name)) {
			continue
		}
		var rec struct{ Kind, Host, Name, Decision string }
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Decision == "would-deny" && (rec.Host == name || rec.Name == name) {
			kinds = append(kinds, rec.Kind)
		}
	}
	return kinds
}

// randomToken is 12 hex digits no one can guess: the self-test's blocked
// name, a launch's id.
func randomToken() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// listenEverywhere listens on one port on every IPv4 and IPv6 address of
// this machine, so that "unreachable" is proven against a port that would
// answer; reached counts what connects.
func listenEverywhere(reached *atomic.Int64) (string, func(), error) {
	ln4, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		return "", nil, err
	}
	port := fmt.Sprint(ln4.Addr().(*net.TCPAddr).Port)
	lns := []net.Listener{ln4}
	// The same port on IPv6 when the host has IPv6 (best effort: the port
	// may be taken there, and then another is not the port probed).
	if ln6, err := net.Listen("tcp6", "[::]:"+port); err == nil {
		lns = append(lns, ln6)
	}
	for _, ln := range lns {
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
	}
	return port, func() {
		for _, ln := range lns {
			ln.Close()
		}
	}, nil
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

// hostAddrs lists this machine's addresses the agent could try (for the
// self-test): IPv4 and IPv6, link-local included (the probe tries those on
// every interface of the agent's namespace), but not loopback (that is the
// agent's own).
func hostAddrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range interfaceAddrs() {
		if !a.IsLoopback() && !a.IsMulticast() && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}
