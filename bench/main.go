// Command bench measures bottle's sidecar against the physical floor (the
// same request made directly) and against peers doing the same job — Squid
// with ssl_bump, mitmproxy, tinyproxy, dnsmasq and unbound — on loopback
// only, in one run, with one client. Run it through bench/run.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"bottle.dev/bottle/ca"
)

type config struct {
	quick    bool
	duration time.Duration
	sidecar  string
	out      string
	peers    map[string]bool
	workdir  string
	only     string // measure only the loopback scenarios whose name contains it
}

// Row is one measurement: a scenario on a subject.
type Row struct {
	Scenario   string  `json:"scenario"`
	Subject    string  `json:"subject"`
	Unit       string  `json:"unit"` // req/s, MB/s, q/s
	Throughput float64 `json:"throughput"`
	P50ms      float64 `json:"p50_ms,omitempty"`
	P99ms      float64 `json:"p99_ms,omitempty"`
	CPUus      float64 `json:"proxy_cpu_us_per_op,omitempty"`
	PeakRSSMB  float64 `json:"proxy_peak_rss_mb,omitempty"`
	FDsBefore  int     `json:"fds_before,omitempty"`
	FDsAfter   int     `json:"fds_after,omitempty"`
	Errors     int64   `json:"errors"`
	Note       string  `json:"note,omitempty"`
	// The cost of each MB scanned, for the DLP rows (wall and CPU time).
	NsPerMB    float64 `json:"ns_per_mb,omitempty"`
	CPUNsPerMB float64 `json:"cpu_ns_per_mb,omitempty"`
	// The real workloads (workloads.go): Throughput is the median wall
	// time in seconds, RunsS every run's, ProxyCPUS the sidecar's CPU
	// seconds per run, Goal the bound on bottle ÷ direct.
	Section   string    `json:"section,omitempty"`
	Key       string    `json:"key,omitempty"`
	RunsS     []float64 `json:"runs_s,omitempty"`
	Goal      float64   `json:"goal,omitempty"`
	ProxyCPUS float64   `json:"proxy_cpu_s,omitempty"`
}

// Report is the JSON file.
type Report struct {
	Date    string            `json:"date"`
	Machine map[string]string `json:"machine"`
	Quick   bool              `json:"quick"`
	Rows    []Row             `json:"rows"`
	Skipped map[string]string `json:"skipped,omitempty"`
}

func main() {
	var c config
	var peers string
	flag.BoolVar(&c.quick, "quick", false, "short runs (a smoke test of the harness)")
	flag.DurationVar(&c.duration, "duration", 0, "length of each closed-loop run (default 4s, --quick 0.5s)")
	flag.StringVar(&c.sidecar, "sidecar", "", "bottle-sidecar binary")
	flag.StringVar(&c.out, "out", "bench-results.json", "JSON results file")
	verify := flag.Bool("verify", false, "exit 1 unless every scenario produced numbers (for CI's smoke test)")
	workloads := flag.Bool("workloads", true, "run the real workloads too (npm, pip, go, git, streaming in a bottle and directly; needs a Docker engine)")
	onlyWorkloads := flag.Bool("only-workloads", false, "run only the real workloads, not the loopback comparison")
	docs := flag.Bool("docs", false, "rewrite the generated region of docs/benchmarks.md with the results")
	var wo wlOptions
	flag.StringVar(&wo.bottle, "bottle", "", "bottle CLI binary, bottle-sidecar beside it (bench/run builds them)")
	flag.StringVar(&wo.simnet, "simnet", "", "static simnet binary (bench/run builds it)")
	flag.StringVar(&wo.keys, "workload-keys", "", "run only these workloads (comma-separated keys: npm, pip, go, git, stream, launch; empty: all)")
	flag.BoolVar(&wo.keep, "keep-workloads", false, "debugging: leave the workloads' network, containers and bottle up when done")
	flag.StringVar(&c.only, "only", "", "measure only the loopback scenarios whose name contains this text (e.g. DNS, keep-alive)")
	flag.StringVar(&peers, "peers", "squid,mitmproxy,tinyproxy,dnsmasq,unbound", "peers to compare with (comma-separated; empty: none)")
	flag.Parse()
	if *docs && c.only != "" {
		fmt.Fprintln(os.Stderr, "bench: --docs rewrites the whole table and needs a whole run; drop --only")
		os.Exit(2)
	}
	if c.duration == 0 {
		c.duration = 4 * time.Second
		if c.quick {
			c.duration = 500 * time.Millisecond
		}
	}
	c.peers = map[string]bool{}
	for _, p := range strings.Split(peers, ",") {
		if p != "" {
			c.peers[p] = true
		}
	}
	if c.sidecar == "" {
		fmt.Fprintln(os.Stderr, "bench: --sidecar is required (bench/run builds it)")
		os.Exit(2)
	}
	var err error
	if c.workdir, err = os.MkdirTemp("", "bottle-bench-"); err != nil {
		fail(err)
	}
	defer os.RemoveAll(c.workdir)
	os.Chmod(c.workdir, 0o755) // squid drops to its own user and must reach its directory
	wo.quick = c.quick
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Quick: c.quick, Skipped: map[string]string{}, Machine: machine()}
	if !*onlyWorkloads {
		if rep, err = run(&c); err != nil {
			fail(err)
		}
	}
	var wlFailed []string
	if *workloads || *onlyWorkloads {
		fmt.Fprintln(os.Stderr, "bench: real workloads")
		rows, failed, err := workloadRows(wo)
		if err != nil {
			fail(fmt.Errorf("workloads: %w", err))
		}
		rep.Rows = append(rep.Rows, rows...)
		wlFailed = failed
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(c.out, append(b, '\n'), 0o644); err != nil {
		fail(err)
	}
	fmt.Print(markdown(rep))
	if *docs {
		if err := writeDocs("docs/benchmarks.md", markdown(rep)); err != nil {
			fail(err)
		}
		fmt.Fprintln(os.Stderr, "bench: docs/benchmarks.md rewritten")
	}
	fmt.Fprintf(os.Stderr, "bench: results in %s\n", c.out)
	if *verify {
		bad := unverified(rep.Rows)
		for n, why := range rep.Skipped {
			bad = append(bad, "peer "+n+" skipped: "+why)
		}
		for _, f := range wlFailed {
			bad = append(bad, "workload "+f)
		}
		if len(bad) > 0 {
			fmt.Fprintf(os.Stderr, "bench: no numbers for:\n  %s\n", strings.Join(bad, "\n  "))
			os.Exit(1)
		}
	}
}

// unverified names the rows that produced no number. A launch row is a
// timing, not a throughput: the launch's total must be above zero, but one
// of its steps may take no time of its own (the agent step, whose container
// starts during the sidecar's); a failed launch is an error of its own.
func unverified(rows []Row) []string {
	var bad []string
	for _, r := range rows {
		if r.Section == "launch" {
			if r.P50ms > 0 || strings.Contains(r.Scenario, ": ") {
				continue
			}
		} else if r.Throughput > 0 && !(r.Errors > 0 && strings.HasPrefix(r.Subject, "bottle")) {
			continue
		}
		bad = append(bad, fmt.Sprintf("%s/%s: %.1f %s, %d errors %s", r.Scenario, r.Subject, r.Throughput, r.Unit, r.Errors, r.Note))
	}
	return bad
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "bench: %v\n", err)
	os.Exit(1)
}

// env is the world of one run: an origin, a DNS stub, a test root.
type env struct {
	c          *config
	root       *ca.CA
	originPort int
	plainPort  int
	stub       string // DNS stub HOST:PORT
	rootPEM    string
	procs      []*exec.Cmd
}

func (e *env) close() {
	for _, p := range e.procs {
		if p.Process != nil {
			p.Process.Kill()
			p.Wait()
		}
	}
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (e *env) start() error {
	var err error
	if e.root, err = ca.New("bench-root", 0); err != nil {
		return err
	}
	e.rootPEM = filepath.Join(e.c.workdir, "root.pem")
	os.WriteFile(e.rootPEM, e.root.CertPEM(), 0o644)
	leaves := ca.NewLeafCache(e.root, 0)
	mux := http.NewServeMux()
	small := strings.Repeat("x", 100)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, small) })
	mux.HandleFunc("/bulk", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
		w.Header().Set("Content-Length", strconv.FormatInt(n, 10))
		buf := make([]byte, 64<<10)
		for n > 0 {
			k := min(n, int64(len(buf)))
			if _, err := w.Write(buf[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	// TLS on every loopback address (127.0.0.1 intercepted, 127.0.0.2
	// tunnelled), with a leaf for the SNI or the address dialled.
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		return err
	}
	e.originPort = ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{GetCertificate: func(chi *tls.ClientHelloInfo) (*tls.Certificate, error) {
		n := chi.ServerName
		if n == "" {
			n, _, _ = net.SplitHostPort(chi.Conn.LocalAddr().String())
		}
		return leaves.Get(n)
	}}, ErrorLog: nil}
	go srv.ServeTLS(ln, "", "")
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.plainPort = pl.Addr().(*net.TCPAddr).Port
	go http.Serve(pl, mux)
	// The DNS stub: every A question answered with 127.0.0.1, with TTL 0
	// (nothing to keep), except under cachedZone: TTL 300, as a real name's
	// would be, for the rows of repeated names.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.stub = pc.LocalAddr().String()
	go (&dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true // a recursive resolver's answer, as forwarders expect
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			var ttl uint32
			if strings.HasSuffix(strings.ToLower(r.Question[0].Name), "."+cachedZone) {
				ttl = 300
			}
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.IPv4(127, 0, 0, 1)})
		}
		w.WriteMsg(m)
	})}).ActivateAndServe()
	return nil
}

// subject is a proxy or resolver under test, or the floor.
type subject struct {
	name  string
	proxy string // host:port of an HTTP proxy, "" for direct
	dns   string // host:port of a resolver
	roots *x509.CertPool
	pid   int
}

func (e *env) spawn(name string, argv []string, dir string) (*exec.Cmd, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	logf, _ := os.Create(filepath.Join(e.c.workdir, name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	e.procs = append(e.procs, cmd)
	return cmd, nil
}

func waitPort(addr string, network string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if network == "udp" {
			m := new(dns.Msg)
			m.SetQuestion("probe.ok.bench.test.", dns.TypeA)
			if _, _, err := (&dns.Client{Timeout: 300 * time.Millisecond}).Exchange(m, addr); err == nil {
				return nil
			}
		} else if c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not start listening on %s", network, addr)
}

func poolOf(pemFile string) *x509.CertPool {
	p := x509.NewCertPool()
	b, _ := os.ReadFile(pemFile)
	p.AppendCertsFromPEM(b)
	return p
}

func (e *env) startBottle() (*subject, error) {
	dir := filepath.Join(e.c.workdir, "bottle")
	os.MkdirAll(dir, 0o700)
	policy := fmt.Sprintf(`version: 1
allow:
  - host: "**.bench.test"
    ports: [%[1]d]
  - cidr: 127.0.0.1/32
    ports: [%[1]d, %[2]d]
  - cidr: 127.0.0.2/32
    ports: [%[1]d]
    tls: passthrough
`, e.originPort, e.plainPort)
	os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte(policy), 0o644)
	bc, err := ca.New("bench", 0)
	if err != nil {
		return nil, err
	}
	bc.Save(dir)
	os.WriteFile(filepath.Join(dir, "upstream-ca.pem"), e.root.CertPEM(), 0o644)
	pp, dp := freePort(), freePort()
	cmd, err := e.spawn("bottle", []string{e.c.sidecar, "run", "--config-dir", dir, "--proxy-listen", fmt.Sprintf("127.0.0.1:%d", pp),
		"--dns-listen", fmt.Sprintf("127.0.0.1:%d", dp), "--upstream-dns", e.stub, "--audit-log", os.DevNull,
		"--mcp-listen="}, dir) // no MCP server: its default port (:3129 on every address) may be taken on the host

	if err != nil {
		return nil, err
	}
	// stdout carries the audit: discard it so the pipe cost is not measured
	cmd.Stdout = io.Discard
	s := &subject{name: "bottle", proxy: fmt.Sprintf("127.0.0.1:%d", pp), dns: fmt.Sprintf("127.0.0.1:%d", dp), roots: poolOf(filepath.Join(dir, "ca.crt")), pid: cmd.Process.Pid}
	if err := waitPort(s.proxy, "tcp"); err != nil {
		return nil, err
	}
	return s, waitPort(s.dns, "udp")
}

func (e *env) startTinyproxy() (*subject, error) {
	dir := filepath.Join(e.c.workdir, "tinyproxy")
	os.MkdirAll(dir, 0o777)
	port := freePort()
	conf := fmt.Sprintf("Port %d\nListen 127.0.0.1\nTimeout 60\nMaxClients 512\nAllow 127.0.0.1\nConnectPort %d\nLogLevel Critical\nLogFile \"%s/log\"\nPidFile \"%s/pid\"\n", port, e.originPort, dir, dir)
	os.WriteFile(filepath.Join(dir, "tinyproxy.conf"), []byte(conf), 0o644)
	cmd, err := e.spawn("tinyproxy", []string{"tinyproxy", "-d", "-c", filepath.Join(dir, "tinyproxy.conf")}, dir)
	if err != nil {
		return nil, err
	}
	s := &subject{name: "tinyproxy", proxy: fmt.Sprintf("127.0.0.1:%d", port), roots: poolOf(e.rootPEM), pid: cmd.Process.Pid}
	return s, waitPort(s.proxy, "tcp")
}

func (e *env) startMitmproxy() (*subject, error) {
	dir := filepath.Join(e.c.workdir, "mitmproxy")
	os.MkdirAll(dir, 0o700)
	port := freePort()
	cmd, err := e.spawn("mitmproxy", []string{"mitmdump", "-q", "--listen-host", "127.0.0.1", "-p", strconv.Itoa(port),
		"--set", "confdir=" + dir, "--set", "ssl_verify_upstream_trusted_ca=" + e.rootPEM, "--set", "connection_strategy=lazy"}, dir)
	if err != nil {
		return nil, err
	}
	s := &subject{name: "mitmproxy", proxy: fmt.Sprintf("127.0.0.1:%d", port), pid: cmd.Process.Pid}
	if err := waitPort(s.proxy, "tcp"); err != nil {
		return nil, err
	}
	s.roots = poolOf(filepath.Join(dir, "mitmproxy-ca-cert.pem"))
	return s, nil
}

func (e *env) startSquid() (*subject, error) {
	dir := filepath.Join(e.c.workdir, "squid")
	os.MkdirAll(dir, 0o777)
	sq, err := ca.New("squid-bench", 0)
	if err != nil {
		return nil, err
	}
	keyDER, _ := x509.MarshalECPrivateKey(sq.Key)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	os.WriteFile(filepath.Join(dir, "ca.pem"), append(sq.CertPEM(), pemKey...), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.crt"), sq.CertPEM(), 0o644)
	certgen := "/usr/lib/squid/security_file_certgen"
	if out, err := exec.Command(certgen, "-c", "-s", filepath.Join(dir, "ssl_db"), "-M", "16MB").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("security_file_certgen: %v %s", err, out)
	}
	exec.Command("chmod", "-R", "a+rwX", dir).Run()
	port := freePort()
	conf := fmt.Sprintf(`http_port 127.0.0.1:%[1]d ssl-bump tls-cert=%[2]s/ca.pem generate-host-certificates=on dynamic_cert_mem_cache_size=16MB
sslcrtd_program %[3]s -s %[2]s/ssl_db -M 16MB
sslcrtd_children 4
acl tunnelled dst 127.0.0.2
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump splice tunnelled
ssl_bump bump all
tls_outgoing_options cafile=%[4]s
acl SSL_ports port %[5]d
acl Safe_ports port %[5]d %[6]d
http_access allow localhost
http_access deny all
cache deny all
cache_mem 8 MB
access_log none
cache_log %[2]s/cache.log
pid_filename %[2]s/squid.pid
coredump_dir %[2]s
shutdown_lifetime 0 seconds
`, port, dir, certgen, e.rootPEM, e.originPort, e.plainPort)
	os.WriteFile(filepath.Join(dir, "squid.conf"), []byte(conf), 0o644)
	cmd, err := e.spawn("squid", []string{"squid", "-N", "-f", filepath.Join(dir, "squid.conf")}, dir)
	if err != nil {
		return nil, err
	}
	s := &subject{name: "squid", proxy: fmt.Sprintf("127.0.0.1:%d", port), roots: poolOf(filepath.Join(dir, "ca.crt")), pid: cmd.Process.Pid}
	if err := waitPort(s.proxy, "tcp"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "cache.log"))
		out, _ := os.ReadFile(filepath.Join(e.c.workdir, "squid.log"))
		return nil, fmt.Errorf("%v: %s %s", err, lastLine(string(log)), firstFatal(string(out)))
	}
	return s, nil
}

func (e *env) startDnsmasq() (*subject, error) {
	port := freePort()
	_, sp, _ := net.SplitHostPort(e.stub)
	cmd, err := e.spawn("dnsmasq", []string{"dnsmasq", "-k", "-p", strconv.Itoa(port), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--server=127.0.0.1#" + sp, "--cache-size=0", "--dns-forward-max=1000", "-u", "root", "--pid-file=" + filepath.Join(e.c.workdir, "dnsmasq.pid")}, e.c.workdir)
	if err != nil {
		return nil, err
	}
	s := &subject{name: "dnsmasq", dns: fmt.Sprintf("127.0.0.1:%d", port), pid: cmd.Process.Pid}
	return s, waitPort(s.dns, "udp")
}

// cachedZone is the stub's zone whose answers have a TTL: the names of the
// rows of repeated names.
const cachedZone = "cached.bench.test."

// startDnsmasqCache is a second dnsmasq, with its cache on (its default
// size), for the rows of repeated names: dnsmasq as most people run it.
func (e *env) startDnsmasqCache() (*subject, error) {
	port := freePort()
	_, sp, _ := net.SplitHostPort(e.stub)
	cmd, err := e.spawn("dnsmasq-cache", []string{"dnsmasq", "-k", "-p", strconv.Itoa(port), "--listen-address=127.0.0.1", "--bind-interfaces",
		"--no-resolv", "--no-hosts", "--server=127.0.0.1#" + sp, "--dns-forward-max=1000", "-u", "root", "--pid-file=" + filepath.Join(e.c.workdir, "dnsmasq-cache.pid")}, e.c.workdir)
	if err != nil {
		return nil, err
	}
	s := &subject{name: "dnsmasq (cache on)", dns: fmt.Sprintf("127.0.0.1:%d", port), pid: cmd.Process.Pid}
	return s, waitPort(s.dns, "udp")
}

func (e *env) startUnbound() (*subject, error) {
	dir := filepath.Join(e.c.workdir, "unbound")
	os.MkdirAll(dir, 0o777)
	port := freePort()
	host, sp, _ := net.SplitHostPort(e.stub)
	conf := fmt.Sprintf(`server:
  interface: 127.0.0.1
  port: %d
  access-control: 127.0.0.0/8 allow
  do-ip6: no
  username: ""
  chroot: ""
  directory: "%s"
  pidfile: "%s/unbound.pid"
  use-syslog: no
  num-threads: 2
  do-not-query-localhost: no
  module-config: "iterator"
  harden-referral-path: no
  local-zone: "test." nodefault
forward-zone:
  name: "."
  forward-addr: %s@%s
`, port, dir, dir, host, sp)
	os.WriteFile(filepath.Join(dir, "unbound.conf"), []byte(conf), 0o644)
	cmd, err := e.spawn("unbound", []string{"unbound", "-d", "-c", filepath.Join(dir, "unbound.conf")}, dir)
	if err != nil {
		return nil, err
	}
	s := &subject{name: "unbound", dns: fmt.Sprintf("127.0.0.1:%d", port), pid: cmd.Process.Pid}
	return s, waitPort(s.dns, "udp")
}

// --- measurement -----------------------------------------------------------

type procStat struct {
	cpu time.Duration
	fds int
}

// readProc reads a subject's CPU time and open FDs. The CPU is that of the
// whole process tree: the process, every live descendant (Squid's
// certificate helpers, any worker a peer forks) and the children they have
// reaped (cutime, cstime), so a peer that does its work in helpers is not
// measured as cheaper than it is. FDs are the main process's.
func readProc(pid int) procStat {
	if pid == 0 {
		return procStat{}
	}
	var st procStat
	stats := map[int][]string{} // pid → the fields of /proc/PID/stat after the command
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) {
			stats[p] = strings.Fields(string(b[i+2:]))
		}
	}
	inTree := func(p int) bool {
		for depth := 0; p > 1 && depth < 64; depth++ {
			if p == pid {
				return true
			}
			f := stats[p]
			if len(f) < 2 {
				return false
			}
			p, _ = strconv.Atoi(f[1]) // ppid
		}
		return false
	}
	var ticks int64
	for p, f := range stats {
		if len(f) < 15 || !inTree(p) {
			continue
		}
		for _, k := range f[11:15] { // utime, stime, cutime, cstime
			n, _ := strconv.ParseInt(k, 10, 64)
			ticks += n
		}
	}
	st.cpu = time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		st.fds = len(ents)
	}
	return st
}

func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseFloat(strings.Fields(l)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// op is one unit of work; it returns bytes moved (for MB/s) and an error.
type op func() (int64, error)

// closedLoop runs op from workers goroutines for d; it returns ops/s, bytes/s
// and errors.
func closedLoop(workers int, d time.Duration, newOp func() op) (float64, float64, int64, string) {
	var n, bytes, errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := newOp()
			for time.Now().Before(deadline) {
				b, err := o()
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				n.Add(1)
				bytes.Add(b)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	msg, _ := firstErr.Load().(string)
	return float64(n.Load()) / el, float64(bytes.Load()) / el, errs.Load(), msg
}

// openLoop fires op at a fixed rate for d (no coordinated omission: a slow
// op does not delay the next start) and returns p50 and p99 in ms.
func openLoop(rate float64, d time.Duration, newOp func() op) (float64, float64) {
	if rate < 1 {
		rate = 1
	}
	interval := time.Duration(float64(time.Second) / rate)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	pool := make(chan op, 64)
	for range 64 {
		pool <- newOp()
	}
	end := time.Now().Add(d)
	for next := time.Now(); next.Before(end); next = next.Add(interval) {
		time.Sleep(time.Until(next))
		o := <-pool
		wg.Add(1)
		go func(scheduled time.Time) {
			defer wg.Done()
			defer func() { pool <- o }()
			if _, err := o(); err == nil {
				mu.Lock()
				lat = append(lat, time.Since(scheduled))
				mu.Unlock()
			}
		}(next)
	}
	wg.Wait()
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000 }
	return ms(0.5), ms(0.99)
}

// transports made for the current measurement; closed before FDs are read.
var (
	trMu       sync.Mutex
	transports []*http.Transport
)

func closeClients() {
	trMu.Lock()
	defer trMu.Unlock()
	for _, t := range transports {
		t.CloseIdleConnections()
	}
	transports = nil
}

func httpClient(s *subject, roots *x509.CertPool, keepAlive bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 64, DisableCompression: true}
	if s.proxy != "" {
		pu, _ := url.Parse("http://" + s.proxy)
		tr.Proxy = http.ProxyURL(pu)
	}
	trMu.Lock()
	transports = append(transports, tr)
	trMu.Unlock()
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func getOp(c *http.Client, u string, want int) op {
	return func() (int64, error) {
		resp, err := c.Get(u)
		if err != nil {
			return 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != want {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return n, err
	}
}

func dnsOp(server string, name func() string, wantRcode int) func() op {
	return func() op {
		c, err := net.Dial("udp", server)
		if err != nil {
			return func() (int64, error) { return 0, err }
		}
		conn := &dns.Conn{Conn: c}
		return func() (int64, error) {
			m := new(dns.Msg)
			m.SetQuestion(name(), dns.TypeA)
			conn.SetDeadline(time.Now().Add(2 * time.Second))
			if err := conn.WriteMsg(m); err != nil {
				return 0, err
			}
			r, err := conn.ReadMsg()
			if err != nil {
				return 0, err
			}
			if r.Id != m.Id {
				return 0, fmt.Errorf("id mismatch")
			}
			if r.Rcode != wantRcode || wantRcode == dns.RcodeSuccess && len(r.Answer) == 0 {
				return 0, fmt.Errorf("rcode %s with %d answers", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			return 0, nil
		}
	}
}

// measure runs a closed loop for the maximum, then an open loop at half of
// it for latency, and reads the subject's CPU, RSS and FDs.
func (e *env) measure(scenario, unit string, s *subject, workers int, newOp func() op) Row {
	if !strings.Contains(scenario, e.c.only) {
		return Row{} // filtered out by --only; add drops it
	}
	closeClients()
	newOp()() // warm: leaves minted, pools filled
	before := readProc(s.pid)
	opsPerS, bytesPerS, errs, firstErr := closedLoop(workers, e.c.duration, newOp)
	mid := readProc(s.pid)
	row := Row{Scenario: scenario, Subject: s.name, Unit: unit, Errors: errs, FDsBefore: before.fds, Note: firstErr}
	row.Throughput = opsPerS
	if unit == "MB/s" {
		row.Throughput = bytesPerS / 1e6
	}
	if ops := opsPerS * e.c.duration.Seconds(); s.pid != 0 && ops > 0 {
		row.CPUus = float64((mid.cpu - before.cpu).Microseconds()) / ops
	}
	if unit != "MB/s" {
		row.P50ms, row.P99ms = openLoop(opsPerS/2, e.c.duration, newOp)
	}
	if s.pid != 0 {
		// Flat FDs after the clients hang up mean no leak (upstream pools
		// may keep a few idle connections).
		closeClients()
		time.Sleep(500 * time.Millisecond)
		row.FDsAfter = readProc(s.pid).fds
		row.PeakRSSMB = peakRSS(s.pid)
	}
	fmt.Fprintf(os.Stderr, "  %-38s %-10s %10.0f %s\n", scenario, s.name, row.Throughput, unit)
	return row
}

func run(c *config) (*Report, error) {
	e := &env{c: c}
	defer e.close()
	if err := e.start(); err != nil {
		return nil, err
	}
	rep := &Report{Date: time.Now().UTC().Format(time.RFC3339), Quick: c.quick, Skipped: map[string]string{}, Machine: machine()}
	floor := &subject{name: "direct (floor)"}
	bottle, err := e.startBottle()
	if err != nil {
		return nil, fmt.Errorf("bottle-sidecar: %w", err)
	}
	peers := map[string]*subject{}
	for name, start := range map[string]func() (*subject, error){
		"squid": e.startSquid, "mitmproxy": e.startMitmproxy, "tinyproxy": e.startTinyproxy, "dnsmasq": e.startDnsmasq, "unbound": e.startUnbound,
	} {
		if !c.peers[name] {
			continue
		}
		if _, err := exec.LookPath(binName(name)); err != nil {
			rep.Skipped[name] = "not installed"
			continue
		}
		s, err := start()
		if err != nil {
			rep.Skipped[name] = err.Error()
			continue
		}
		peers[name] = s
	}
	workers := 16
	bulk := int64(64 << 20)
	if c.quick {
		workers, bulk = 4, 8<<20
	}
	mitm := fmt.Sprintf("https://127.0.0.1:%d/", e.originPort)
	tunnel := fmt.Sprintf("https://127.0.0.2:%d/", e.originPort)
	plain := fmt.Sprintf("http://127.0.0.1:%d/", e.plainPort)
	add := func(r Row) {
		if r.Scenario != "" {
			rep.Rows = append(rep.Rows, r)
		}
	}

	// Tunnel bulk: one stream, MB/s.
	bulkOp := func(s *subject, u string, roots *x509.CertPool) func() op {
		return func() op { return getOp(httpClient(s, roots, true), fmt.Sprintf("%sbulk?n=%d", u, bulk), 200) }
	}
	add(e.measure("TLS bulk download, one stream", "MB/s", floor, 1, bulkOp(floor, tunnel, poolOf(e.rootPEM))))
	add(e.measure("TLS bulk download, one stream", "MB/s", bottle, 1, bulkOp(bottle, tunnel, poolOf(e.rootPEM))))
	for _, n := range []string{"squid", "tinyproxy"} {
		if p := peers[n]; p != nil {
			add(e.measure("TLS bulk download, one stream", "MB/s", p, 1, bulkOp(p, tunnel, poolOf(e.rootPEM))))
		}
	}
	// Small requests, keep-alive and a new connection each.
	for _, ka := range []bool{true, false} {
		scen := "small HTTPS requests, keep-alive"
		if !ka {
			scen = "small HTTPS requests, new connection each"
		}
		small := func(s *subject, roots *x509.CertPool) func() op {
			return func() op { return getOp(httpClient(s, roots, ka), mitm, 200) }
		}
		add(e.measure(scen, "req/s", floor, workers, small(floor, poolOf(e.rootPEM))))
		add(e.measure(scen, "req/s", bottle, workers, small(bottle, bottle.roots)))
		for _, n := range []string{"squid", "mitmproxy"} {
			if p := peers[n]; p != nil {
				add(e.measure(scen, "req/s", p, workers, small(p, p.roots)))
			}
		}
	}
	// First contact: a host never seen before, each time (bottle only: the
	// peers are given addresses, not names).
	var hostN atomic.Int64
	add(e.measure("first contact with a new host (cold mint)", "req/s", bottle, workers/2, func() op {
		c := httpClient(bottle, bottle.roots, false)
		return func() (int64, error) {
			return getOp(c, fmt.Sprintf("https://h%d.bench.test:%d/", hostN.Add(1), e.originPort), 200)()
		}
	}))
	// Plain HTTP forward.
	plainOp := func(s *subject) func() op { return func() op { return getOp(httpClient(s, nil, true), plain, 200) } }
	add(e.measure("plain HTTP forward, keep-alive", "req/s", floor, workers, plainOp(floor)))
	add(e.measure("plain HTTP forward, keep-alive", "req/s", bottle, workers, plainOp(bottle)))
	for _, n := range []string{"squid", "tinyproxy", "mitmproxy"} {
		if p := peers[n]; p != nil {
			add(e.measure("plain HTTP forward, keep-alive", "req/s", p, workers, plainOp(p)))
		}
	}
	// A denied request: answered by the proxy, never dialled.
	add(e.measure("denied plain HTTP request (403)", "req/s", bottle, workers, func() op {
		return getOp(httpClient(bottle, nil, true), fmt.Sprintf("http://denied.example:%d/", e.plainPort), 403)
	}))
	// DNS: a fresh name each query (no cache helps anyone).
	var q atomic.Int64
	allowed := func() string { return fmt.Sprintf("q%d.ok.bench.test.", q.Add(1)) }
	denied := func() string { return fmt.Sprintf("q%d.denied.example.", q.Add(1)) }
	dnsWorkers := workers
	add(e.measure("DNS, allowed name (forwarded)", "q/s", &subject{name: "stub (floor)"}, dnsWorkers, dnsOp(e.stub, allowed, dns.RcodeSuccess)))
	add(e.measure("DNS, allowed name (forwarded)", "q/s", bottle, dnsWorkers, dnsOp(bottle.dns, allowed, dns.RcodeSuccess)))
	for _, n := range []string{"dnsmasq", "unbound"} {
		if p := peers[n]; p != nil {
			add(e.measure("DNS, allowed name (forwarded)", "q/s", p, dnsWorkers, dnsOp(p.dns, allowed, dns.RcodeSuccess)))
		}
	}
	// DNS, repeated: a few names asked over and over, whose answers have a
	// TTL: answered from the cache by bottle, by unbound and by a dnsmasq
	// with its cache on (the one above has it off).
	var rq atomic.Int64
	repeated := func() string { return fmt.Sprintf("r%d.%s", rq.Add(1)%64, cachedZone) }
	const cachedScen = "DNS, allowed name, repeated (cached)"
	add(e.measure(cachedScen, "q/s", &subject{name: "stub (floor)"}, dnsWorkers, dnsOp(e.stub, repeated, dns.RcodeSuccess)))
	add(e.measure(cachedScen, "q/s", bottle, dnsWorkers, dnsOp(bottle.dns, repeated, dns.RcodeSuccess)))
	if peers["dnsmasq"] != nil {
		if p, err := e.startDnsmasqCache(); err != nil {
			rep.Skipped["dnsmasq (cache on)"] = err.Error()
		} else {
			add(e.measure(cachedScen, "q/s", p, dnsWorkers, dnsOp(p.dns, repeated, dns.RcodeSuccess)))
		}
	}
	if p := peers["unbound"]; p != nil {
		add(e.measure(cachedScen, "q/s", p, dnsWorkers, dnsOp(p.dns, repeated, dns.RcodeSuccess)))
	}
	add(e.measure("DNS, denied name (REFUSED)", "q/s", bottle, dnsWorkers, dnsOp(bottle.dns, denied, dns.RcodeRefused)))
	if c.only != "" {
		return rep, nil // --only names loopback scenarios; the DLP rows are not among them
	}
	// Secret pattern detection, in process (what the sidecar adds to each
	// request body it scans).
	rows, err := dlpRows(c.quick, c.duration)
	if err != nil {
		return nil, fmt.Errorf("dlp: %w", err)
	}
	rep.Rows = append(rep.Rows, rows...)
	return rep, nil
}

func binName(peer string) string {
	switch peer {
	case "mitmproxy":
		return "mitmdump"
	}
	return peer
}

func machine() map[string]string {
	m := map[string]string{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": strconv.Itoa(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m["cpu"] = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	for name, argv := range map[string][]string{"squid": {"squid", "-v"}, "mitmproxy": {"mitmdump", "--version"}, "tinyproxy": {"tinyproxy", "-v"},
		"dnsmasq": {"dnsmasq", "--version"}, "unbound": {"unbound", "-V"}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err == nil {
			m[name] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	return m
}

// markdown renders the rows with bottle's ratio to the floor and each peer's
// ratio to bottle, per scenario.
func markdown(r *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bottle benchmark, %s, %s (%s CPUs), %s%s\n\n", r.Date, r.Machine["cpu"], r.Machine["cpus"], r.Machine["go"], map[bool]string{true: ", --quick", false: ""}[r.Quick])
	if slices.ContainsFunc(r.Rows, func(row Row) bool { return row.Section == "" }) { // not with --only-workloads
		b.WriteString("| scenario | subject | throughput | p50 ms | p99 ms | proxy CPU µs/op | peak RSS MB | FDs before→after | ratio | errors |\n")
		b.WriteString("|---|---|---:|---:|---:|---:|---:|---|---|---:|\n")
	}
	by := map[string]map[string]Row{}
	for _, row := range r.Rows {
		if by[row.Scenario] == nil {
			by[row.Scenario] = map[string]Row{}
		}
		by[row.Scenario][row.Subject] = row
	}
	for _, row := range r.Rows {
		if row.Section != "" {
			continue
		}
		ratio := ""
		group := by[row.Scenario]
		switch {
		case row.Subject == "bottle":
			for n, f := range group {
				if strings.Contains(n, "floor") && f.Throughput > 0 {
					ratio = fmt.Sprintf("%.2f× floor", row.Throughput/f.Throughput)
				}
			}
		case !strings.Contains(row.Subject, "floor"):
			if bt, ok := group["bottle"]; ok && bt.Throughput > 0 {
				ratio = fmt.Sprintf("%.2f× bottle", row.Throughput/bt.Throughput)
			}
		}
		fds := ""
		if row.FDsBefore > 0 {
			fds = fmt.Sprintf("%d→%d", row.FDsBefore, row.FDsAfter)
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f %s | %s | %s | %s | %s | %s | %s | %d |\n", row.Scenario, row.Subject, row.Throughput, row.Unit,
			num(row.P50ms), num(row.P99ms), num(row.CPUus), num(row.PeakRSSMB), fds, ratio, row.Errors)
	}
	for _, row := range r.Rows {
		if row.NsPerMB > 0 {
			fmt.Fprintf(&b, "\n%s, %s: %.1f MB/s, %.2f ms per MB (%.2f ms of CPU); %s\n", row.Scenario, row.Subject, row.Throughput,
				row.NsPerMB/1e6, row.CPUNsPerMB/1e6, row.Note)
		}
	}
	for n, why := range r.Skipped {
		fmt.Fprintf(&b, "\nskipped %s: %s\n", n, why)
	}
	b.WriteString(workloadMarkdown(r))
	b.WriteString(targetsMarkdown(r))
	return b.String()
}

func num(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func firstFatal(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "FATAL") || strings.Contains(l, "ERROR") {
			return l
		}
	}
	return lastLine(s)
}
