package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/approval"
	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/dlp"
	"bottle.dev/bottle/dnsfwd"
	"bottle.dev/bottle/gitgate"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/proxy"
	"bottle.dev/bottle/secret"
	"bottle.dev/bottle/secret/guard"
	"bottle.dev/bottle/secret/sigv4"
	"bottle.dev/bottle/supervise"
)

const (
	// drainTimeout bounds how long SIGTERM waits for requests and tunnels.
	drainTimeout = 10 * time.Second
	// pollInterval is how often allowlist.yaml and credentials.json are
	// checked for changes; a change is in force well within a second.
	pollInterval = 250 * time.Millisecond
)

const runUsage = `usage: bottle-sidecar run --config-dir DIR [flags]

Runs the bottle's egress proxy and DNS forwarder. DIR holds allowlist.yaml,
ca.crt and ca.key (mode 0600), and optionally upstream-ca.pem (extra roots
for upstream TLS) and credentials.json (the values of the allowlist's
credentials, mode 0600). A change to DIR/allowlist.yaml or
DIR/credentials.json, or SIGHUP, reloads them; an invalid file is rejected
and what was in force stays. With --approval-dir, a denial a human may
overrule is held while the host is asked (allowlist approvals: ask, or
--approvals ask); --mcp-listen serves the agent's supervise MCP server
(request_access, why_blocked, list_rules). SIGTERM answers the held
requests, drains for up to 10s and exits 0.

Flags:
`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := contract.ParseRun(args, runUsage, stderr)
	if errors.Is(err, contract.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2 // ParseRun said why
	}
	tuneGC()
	level := slog.LevelInfo
	if o.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	a, err := load(&o, stdout, log)
	if err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar: %v\n", err)
		return 2
	}
	defer a.close()
	a.writeStatus("")
	if err := a.listen(&o); err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar: %v\n", err)
		return 1
	}
	errc := make(chan error, len(a.proxyLns)+len(a.dnsPCs)+len(a.mcpLns))
	for _, ln := range a.proxyLns {
		log.Info("proxy listening", "addr", ln.Addr().String(), "bottle", o.Bottle)
		go func() { errc <- a.proxy.Serve(ln) }()
	}
	for _, ln := range a.mcpLns {
		log.Info("mcp listening", "addr", ln.Addr().String(), "path", contract.MCPPath, "approvals", a.broker != nil)
		go func() { errc <- a.mcp.Serve(ln) }()
	}
	for i, pc := range a.dnsPCs {
		log.Info("dns listening", "addr", pc.LocalAddr().String(), "upstreams", strings.Join(a.upstreams, ","))
		go func() { errc <- a.dns.Serve(pc, a.dnsLns[i]) }()
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go a.watch(wctx, hup)

	select {
	case err := <-errc:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", drainTimeout.String())
	// The held requests are answered (denied, audited) first: they would
	// hold the drain for their whole timeout.
	if a.broker != nil {
		a.broker.Close()
	}
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	if a.mcp != nil {
		wg.Go(func() { logErr(log, "mcp drain", a.mcp.Shutdown(sctx)) })
	}
	go func() { defer wg.Done(); logErr(log, "proxy drain", a.proxy.Shutdown(sctx)) }()
	go func() {
		defer wg.Done()
		if a.dns != nil {
			logErr(log, "dns drain", a.dns.Shutdown(sctx))
		}
	}()
	wg.Wait()
	a.audit.Flush()
	if a.dns != nil {
		st := a.dns.Stats()
		log.Info("dns totals", "allowed", st.Allowed, "denied", st.Denied, "forwarded", st.Forwarded, "failed", st.Failed, "overloaded", st.Overloaded)
	}
	return 0
}

func logErr(log *slog.Logger, what string, err error) {
	if err != nil {
		log.Warn(what+" incomplete", "err", err)
	}
}

// appliance is the running sidecar: proxy, DNS, their listeners and the
// file the policy comes from.
type appliance struct {
	log        *slog.Logger
	policyAt   string
	credsAt    string
	statusFile string
	audit      *audit.Log
	pol        *allowlist.Policy // in force
	proxy      *proxy.Server
	dns        *dnsfwd.Server
	upstreams  []string
	closers    []func()
	broker     *approval.Broker   // nil: no approvals channel (--approval-dir)
	mcp        *supervise.Server  // nil: no MCP server (--mcp-listen "")
	denials    *supervise.Denials // the audit's last denials, for the MCP server
	secrets    atomic.Pointer[guard.Set]

	proxyLns []net.Listener
	mcpLns   []net.Listener
	dnsPCs   []net.PacketConn
	dnsLns   []net.Listener

	mu        sync.Mutex
	lastHash  [32]byte // of the content last read
	applied   [32]byte // of the policy in force
	credsHash [32]byte // of the credentials file last read (zero: none)
	creds     *secret.File
	// polErrs is why the content last read (lastHash) was rejected, ""
	// when it is in force: the status says it again when a credentials
	// file is loaded on its own.
	polErrs   string
	credsOK   bool           // the values of the file last read are in force
	credsErrs string         // why not, naming the file and never a value
	retired   []*secret.File // the files in force before creds, oldest first
}

func (a *appliance) close() {
	for _, c := range a.closers {
		c()
	}
}

// load reads everything from the config dir and flags. Any problem is an
// error that names the file and the fix.
func load(o *contract.RunOptions, stdout io.Writer, log *slog.Logger) (*appliance, error) {
	a := &appliance{log: log, policyAt: filepath.Join(o.ConfigDir, contract.AllowlistFile),
		credsAt: filepath.Join(o.ConfigDir, contract.CredentialsFile), statusFile: o.StatusFile}
	data, err := os.ReadFile(a.policyAt)
	if err != nil {
		return nil, err
	}
	pol, err := allowlist.Parse(a.policyAt, data)
	if err != nil {
		return nil, fmt.Errorf("invalid allowlist:\n%w", err)
	}
	a.lastHash = sha256.Sum256(data)
	a.pol = pol
	creds, credsHash, err := readCredentials(a.credsAt)
	if err != nil {
		return nil, err
	}
	set, err := guard.New(pol.Credentials(), creds)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.credsAt, err)
	}
	a.creds, a.credsHash, a.credsOK = creds, credsHash, true
	a.logSet(set)
	authority, err := ca.Load(o.ConfigDir)
	if err != nil {
		return nil, err
	}
	var roots []*x509.Certificate
	for _, p := range []string{filepath.Join(o.ConfigDir, contract.UpstreamCAFile), o.UpstreamCA} {
		if p == "" {
			continue
		}
		certs, err := readPEMCerts(p)
		if errors.Is(err, fs.ErrNotExist) && p != o.UpstreamCA {
			continue // the config dir's file is optional; --upstream-ca is not
		}
		if err != nil {
			return nil, err
		}
		roots = append(roots, certs...)
	}
	if o.UpstreamDNS != "" {
		for _, u := range strings.Split(o.UpstreamDNS, ",") {
			u = strings.TrimSpace(u)
			if _, _, err := net.SplitHostPort(u); err != nil {
				return nil, fmt.Errorf("--upstream-dns %q: want HOST:PORT[,HOST:PORT], e.g. 10.0.0.2:53", o.UpstreamDNS)
			}
			a.upstreams = append(a.upstreams, u)
		}
	} else {
		// The proxy needs upstreams too, even without the forwarder.
		if a.upstreams, err = dnsfwd.ResolvConfServers(o.ResolvConf); err != nil {
			return nil, fmt.Errorf("no upstream resolvers: %v; pass --upstream-dns", err)
		}
	}
	// The audit goes to one place: the file when there is one (capped and
	// rotated, so an agent cannot fill the disk through it), else stdout.
	sink := stdout
	if o.AuditLog != "" {
		f, err := audit.OpenFile(o.AuditLog, o.AuditMaxBytes, audit.DefaultKeep)
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		sink = f
		a.closers = append(a.closers, func() { f.Close() })
	}
	a.denials = supervise.NewDenials(0)
	al := audit.NewWith(audit.Options{Bottle: o.Bottle}, sink, a.denials)
	a.audit = al
	// One resolver for the proxy and the forwarder: every upstream, one
	// cache, one lookup in flight per question.
	res, err := dnsfwd.NewResolver(dnsfwd.ResolverConfig{Upstreams: a.upstreams, Logger: log})
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { res.Close() })
	// Only the internal network's peers may use the proxy and the DNS: a
	// packet for the internal address is delivered whatever interface it
	// came in on, so a neighbour on the egress side could reach them too.
	var clients []netip.Prefix
	if o.InternalCIDR != "" {
		pfx, err := netip.ParsePrefix(o.InternalCIDR)
		if err != nil {
			return nil, fmt.Errorf("--internal-cidr %q: %v", o.InternalCIDR, err)
		}
		clients = []netip.Prefix{pfx.Masked()}
	}
	det, err := dlp.New()
	if err != nil {
		return nil, fmt.Errorf("dlp: %w", err)
	}
	if err := prepareSpool(o.GitSpool, log); err != nil {
		return nil, err
	}
	selfTest := selfTestName(o.ConfigDir)
	pcfg := proxy.Config{Bottle: o.Bottle, Policy: pol, CA: authority, Audit: al, ExtraRoots: roots, AllowHTTP2: true, Logger: log,
		Resolver: res, Clients: clients, SelfTest: selfTest, Secrets: set, ResignAWS: resignAWS,
		DLP: dlpPatterns{det}, GitSpool: o.GitSpool, GitMaxPack: o.GitMaxPack, ApprovalsFlag: o.Approvals}
	if err := a.openApprovals(o, clients); err != nil {
		return nil, err
	}
	if a.broker != nil {
		pcfg.Approvals = approver{a.broker, a.scrub} // never a nil *Broker in the interface
	}
	if a.proxy, err = proxy.New(pcfg); err != nil {
		return nil, err
	}
	if o.DNSListen != "" {
		dcfg := dnsfwd.Config{Bottle: o.Bottle, Policy: pol, Resolver: res, Audit: al, Logger: log, Clients: clients, SelfTest: selfTest}
		if a.dns, err = dnsfwd.New(dcfg); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// prepareSpool makes the git gate's spool directory, private (0700), when
// it is missing, and removes the pushes a previous run left there (a
// sidecar killed in the middle of one): each may hold a whole push, and
// none will be forwarded now. With no --git-spool, the gate spools in the
// system's temporary directory, which is not the sidecar's own to clean.
func prepareSpool(dir string, log *slog.Logger) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--git-spool %s: %w", dir, err)
	}
	left, err := filepath.Glob(filepath.Join(dir, gitgate.SpoolPattern))
	if err != nil {
		return fmt.Errorf("--git-spool %s: %w", dir, err)
	}
	for _, p := range left {
		if st, err := os.Lstat(p); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("--git-spool %s: removing a push a previous run left: %w", dir, err)
		}
	}
	if len(left) > 0 {
		log.Info("removed the pushes a previous run left in the spool", "dir", dir, "files", len(left))
	}
	return nil
}

// dlpPatterns gives the proxy gitleaks' patterns (package dlp) in the
// proxy's own terms.
type dlpPatterns struct{ d *dlp.Detector }

func (p dlpPatterns) Scan(b []byte) []proxy.Finding {
	var out []proxy.Finding
	for _, f := range p.d.Scan(b) {
		out = append(out, proxy.Finding{RuleID: f.RuleID, Offset: f.Offset})
	}
	return out
}

func (p dlpPatterns) NewReader(r io.Reader, block bool, found func(proxy.Finding)) io.Reader {
	return p.d.NewReader(r, block, func(f dlp.Finding) { found(proxy.Finding{RuleID: f.RuleID, Offset: f.Offset}) })
}

// resignAWS is the proxy's hook for aws credentials: secret/sigv4 verifies
// that the agent signed with the placeholder keys and signs again with the
// real ones. The proxy has set the request's Host to the host it judged
// (and matched against the credential's hosts) before it is called.
func resignAWS(r *http.Request, from, to guard.AWSKeys, now time.Time) error {
	return sigv4.Resign(r, sigv4.Credentials(from), sigv4.Credentials(to), now)
}

// selfTestName says whether a name is the launcher's self-test probe's:
// the one the config directory's contract.SelfTestFile holds, read anew
// each time, so that a name is the self-test's only while the launcher's
// self-test runs (it removes the file before anything of the agent's
// image runs). Only a name with contract.SelfTestPrefix is looked up; the
// agent cannot know the rest of it.
func selfTestName(configDir string) func(string) bool {
	path := filepath.Join(configDir, contract.SelfTestFile)
	return func(name string) bool {
		if !strings.HasPrefix(name, contract.SelfTestPrefix) {
			return false
		}
		data, err := os.ReadFile(path)
		return err == nil && strings.TrimSpace(string(data)) == name
	}
}

// listen binds the proxy, DNS and MCP. With --internal-cidr, each is bound to
// every local address inside that range and to nothing else, so nothing
// listens on the egress side.
func (a *appliance) listen(o *contract.RunOptions) error {
	hosts := []string{""}
	if o.InternalCIDR != "" {
		pfx, err := netip.ParsePrefix(o.InternalCIDR)
		if err != nil {
			return fmt.Errorf("--internal-cidr %q: %v", o.InternalCIDR, err)
		}
		hosts, err = localAddrsIn(pfx)
		if err != nil {
			return err
		}
		if len(hosts) == 0 {
			return fmt.Errorf("--internal-cidr %s: this machine has no address in that range", pfx)
		}
	}
	bind := func(flagAddr, host string) (string, error) {
		h, p, err := net.SplitHostPort(flagAddr)
		if err != nil {
			return "", fmt.Errorf("listen address %q: %v", flagAddr, err)
		}
		if host == "" {
			host = h
		}
		return net.JoinHostPort(host, p), nil
	}
	for _, h := range hosts {
		addr, err := bind(o.ProxyListen, h)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("proxy: %v", err)
		}
		a.proxyLns = append(a.proxyLns, ln)
		a.closers = append(a.closers, func() { ln.Close() })
		if a.mcp != nil {
			if addr, err = bind(o.MCPListen, h); err != nil {
				return err
			}
			ml, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("mcp: %v", err)
			}
			a.mcpLns = append(a.mcpLns, ml)
			a.closers = append(a.closers, func() { ml.Close() })
		}
		if a.dns == nil {
			continue
		}
		if addr, err = bind(o.DNSListen, h); err != nil {
			return err
		}
		pc, tl, err := dnsfwd.ListenUDPAndTCP(addr)
		if err != nil {
			return fmt.Errorf("dns: %v", err)
		}
		a.dnsPCs, a.dnsLns = append(a.dnsPCs, pc), append(a.dnsLns, tl)
		a.closers = append(a.closers, func() { pc.Close(); tl.Close() })
	}
	return nil
}

func localAddrsIn(pfx netip.Prefix) ([]string, error) {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, ia := range ifaddrs {
		p, err := netip.ParsePrefix(ia.String())
		if err != nil {
			continue
		}
		if ad := p.Addr().Unmap(); pfx.Contains(ad) {
			out = append(out, ad.String())
		}
	}
	return out, nil
}

// watch reloads the policy on SIGHUP and whenever allowlist.yaml changes.
func (a *appliance) watch(ctx context.Context, hup <-chan os.Signal) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.reload(true)
		case <-t.C:
			a.reload(false)
		}
	}
}

// reload re-reads the allowlist and the credentials file. A valid
// allowlist replaces the policy of the proxy and the forwarder at once; an
// invalid one is logged with its errors and the policy in force stays. The
// credentials are compiled again whenever either file changes, from the
// policy in force and the last valid credentials file; an invalid
// credentials file is logged (never its content) and the credentials in
// force stay. Unchanged content is not re-read unless forced (SIGHUP).
func (a *appliance) reload(force bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pol, h := a.readPolicy(force)
	credsChanged := a.reloadCredentials(force)
	if pol != nil {
		a.pol = pol
	}
	if pol != nil || credsChanged {
		// The credentials of a new policy are put in force before it is,
		// so that nothing it admits goes out unguarded.
		a.rebuildSecrets()
	}
	if pol == nil {
		if credsChanged {
			// Say what is in force, for `bottle secret refresh`.
			a.writeStatus(a.polErrs)
		}
		return
	}
	a.proxy.SetPolicy(pol)
	if a.dns != nil {
		a.dns.SetPolicy(pol)
	}
	a.applied = h
	a.log.Info("policy reloaded", "file", a.policyAt, "allow", len(pol.Allow()), "deny", len(pol.DenyRules()), "mode", pol.Mode().String(),
		"credentials", len(pol.Credentials()))
	a.writeStatus("")
}

// readPolicy re-reads the allowlist, and returns the new policy with the
// hash of its content, or nil when it is unchanged or invalid.
func (a *appliance) readPolicy(force bool) (*allowlist.Policy, [32]byte) {
	data, err := os.ReadFile(a.policyAt)
	if err != nil {
		if force {
			a.log.Error("policy not reloaded", "file", a.policyAt, "err", err)
		}
		return nil, [32]byte{}
	}
	h := sha256.Sum256(data)
	if h == a.lastHash && !force {
		return nil, h
	}
	a.lastHash = h
	pol, err := allowlist.Parse(a.policyAt, data)
	if err != nil {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%v", err)
		a.log.Error("policy rejected; the previous policy stays in force", "file", a.policyAt, "errors", b.String())
		a.writeStatus(b.String())
		return nil, h
	}
	return pol, h
}

// reloadCredentials re-reads the credentials file, and says whether what
// it holds changed. An absent file holds no credentials.
func (a *appliance) reloadCredentials(force bool) bool {
	creds, h, err := readCredentials(a.credsAt)
	if err != nil {
		if h != a.credsHash || force {
			// The error names the file and what is wrong, never its content.
			a.log.Error("credentials rejected; the previous ones stay in force", "file", a.credsAt, "err", err)
		}
		changed := h != a.credsHash || force
		a.credsHash, a.credsOK, a.credsErrs = h, false, err.Error()+"; the previous values stay in force"
		if changed {
			a.writeStatus(a.polErrs)
		}
		return false
	}
	if h == a.credsHash && !force {
		return false
	}
	a.credsHash = h
	if a.creds != nil {
		// The values before a rotation stay looked for (a token rotated
		// is not always revoked), the last few files' at most.
		a.retired = append(a.retired, a.creds)
		if len(a.retired) > maxRetired {
			a.retired = a.retired[len(a.retired)-maxRetired:]
		}
	}
	a.creds = creds
	a.credsOK, a.credsErrs = true, ""
	return true
}

// maxRetired is how many credentials files before the one in force keep
// their values looked for.
const maxRetired = 4

// rebuildSecrets compiles the credentials of the policy in force with the
// values of the last valid credentials file, and puts them in force.
func (a *appliance) rebuildSecrets() {
	set, err := guard.New(a.pol.Credentials(), a.creds, a.retired...)
	if err != nil && len(a.retired) > 0 {
		// Too many patterns with the old values: the new ones go in force
		// all the same.
		a.log.Warn("the values before the last rotations are no longer looked for", "err", err)
		a.retired = nil
		set, err = guard.New(a.pol.Credentials(), a.creds)
	}
	if err != nil {
		a.log.Error("credentials not reloaded; the previous ones stay in force", "file", a.credsAt, "err", err)
		a.credsOK, a.credsErrs = false, "the credentials could not be compiled: "+err.Error()+"; the previous values stay in force"
		return
	}
	a.proxy.SetSecrets(set)
	a.logSet(set)
}

// logSet says which credentials are in force, and which of the policy's
// are not injected, by name only.
func (a *appliance) logSet(set *guard.Set) {
	a.secrets.Store(set)
	a.log.Info("credentials in force", "file", a.credsAt, "count", set.Len())
	for _, name := range set.Missing() {
		a.log.Warn("credential not injected: the credentials file has no value of its kind for it; run `bottle secret refresh` on the host", "credential", name)
	}
	for _, name := range set.Weak() {
		a.log.Warn("credential value shorter than 8 bytes: it is injected, but not looked for in requests and answers", "credential", name)
	}
}

// readCredentials reads the credentials file at path, and returns it (nil
// when there is none) with the hash of its content (zero when there is
// none).
func readCredentials(path string) (*secret.File, [32]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, [32]byte{}, nil
	}
	if err != nil {
		return nil, [32]byte{}, err
	}
	h := sha256.Sum256(data)
	if len(data) > secret.MaxFileSize {
		return nil, h, fmt.Errorf("%s is larger than %d KiB", path, secret.MaxFileSize>>10)
	}
	f, err := secret.Parse(data)
	clear(data)
	if err != nil {
		return nil, h, fmt.Errorf("%s: %w", path, err)
	}
	return f, h, nil
}

// writeStatus records for the CLI (contract.ReloadStatus) the load of the
// allowlist content last read, which errs says was rejected ("": it is in
// force), and of the credentials file last read. A failure to write is
// logged, never fatal: the policy decision stands either way.
func (a *appliance) writeStatus(errs string) {
	if a.statusFile == "" {
		return
	}
	tried, ok := a.lastHash, errs == ""
	if ok && a.applied == ([32]byte{}) {
		a.applied = tried // the first load
	}
	a.polErrs = errs
	st := contract.ReloadStatus{Time: time.Now().UTC(), Tried: hex.EncodeToString(tried[:]), Applied: hex.EncodeToString(a.applied[:]),
		OK: ok, Errors: errs, Mode: a.pol.Mode().String(), Allow: len(a.pol.Allow()), Deny: len(a.pol.DenyRules()),
		CredentialsOK: a.credsOK, CredentialsError: a.credsErrs}
	if a.credsHash != ([32]byte{}) {
		st.CredentialsTried = hex.EncodeToString(a.credsHash[:])
	}
	if err := contract.WriteStatus(a.statusFile, st); err != nil {
		a.log.Error("could not write the reload status", "file", a.statusFile, "err", err)
	}
}

func readPEMCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM certificates found", path)
	}
	return out, nil
}
