package main

// The real workloads (bench/workload): each scenario run with the same
// client in the same agent image twice in one run — in a plain container on
// the simulated internet's network ("direct"), and in a real bottle — and
// reported as bottle ÷ direct, with the sidecar's peak RSS and CPU.
//
// The simulated internet is one container (bench/simnet) on an egress
// network the harness creates, with every site's name as a network alias:
// the engine's own DNS resolves them for the direct container and for the
// bottle's sidecar alike (no --upstream-dns), as a user's bottle resolves
// the real names. Every container and network the harness makes carries the
// label dev.bottle.bench=true and is removed when it ends, failed or not.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"bottle.dev/bottle/bench/workload"
	"bottle.dev/bottle/ca"
)

const (
	// benchBase is the agent image the workloads run in (and simnet's
	// base): the e2e suite's trixie base with npm, plus pip, venv and Go.
	benchBase = "bottle-bench-base:workloads"
	// e2eNPMBase is what it is built FROM (scripts/mkbase builds it).
	e2eNPMBase = "bottle-e2e-base:trixie-npm"
	simnetTag  = "bottle-bench-simnet:run"
	benchLabel = "dev.bottle.bench=true"
	// The bundle the agent image's tools read (the bottle's own env points
	// every tool at it; the direct container gets the same variables).
	agentBundle = "/etc/ssl/certs/ca-certificates.crt"
)

// benchBaseDockerfile: one apt-get layer over the npm base. The apt
// sources inside that image already name the machine's mirror (mkbase).
const benchBaseDockerfile = `FROM ` + e2eNPMBase + `
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip python3-venv golang-go >/dev/null && rm -rf /var/lib/apt/lists/*
`

// goals are the issue's: bottle ÷ direct at most this.
func goalOf(key string) float64 {
	if key == "git" {
		return 1.1
	}
	return 1.15
}

type wlOptions struct {
	quick  bool
	bottle string // the bottle CLI; bottle-sidecar lies beside it
	simnet string // static simnet binary
	keep   bool   // leave the world up when done (debugging)
	keys   string // comma-separated keys of the workloads to run; "": all
}

// wants says whether the workload with key is to run (--workload-keys).
func (o wlOptions) wants(key string) bool {
	return o.keys == "" || slices.Contains(strings.Split(o.keys, ","), key)
}

// wlEnv is one run's world on the engine.
type wlEnv struct {
	o       wlOptions
	dir     string // host working directory
	id      string // suffix of every name made
	net     string
	simnet  string // container
	direct  string // container
	bottle  string // bottle name
	rootPEM string
	state   string // XDG_STATE_HOME of the bottle CLI
	cleanup []func()
}

func docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// ensureBenchBase builds the bench base when it is missing: first the npm
// base (scripts/mkbase, from the machine's Debian mirror), then the one
// apt-get layer. A file lock keeps two builders (two helpers, or the
// harness and a person) from building it at once.
func ensureBenchBase(ctx context.Context) error {
	if _, err := docker(ctx, "image", "inspect", benchBase); err == nil {
		return nil
	}
	lf, err := os.OpenFile("/tmp/bench-base.lock", os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	if _, err := docker(ctx, "image", "inspect", benchBase); err == nil {
		return nil // built while we waited
	}
	if _, err := docker(ctx, "image", "inspect", e2eNPMBase); err != nil {
		fmt.Fprintf(os.Stderr, "bench: building %s (scripts/mkbase, a few minutes)\n", e2eNPMBase)
		out, err := exec.CommandContext(ctx, "bash", "scripts/mkbase", e2eNPMBase, "trixie", "npm").CombinedOutput()
		if err != nil {
			return fmt.Errorf("bash scripts/mkbase %s trixie npm: %v\n%s", e2eNPMBase, err, out)
		}
	}
	fmt.Fprintf(os.Stderr, "bench: building %s (a minute or two)\n", benchBase)
	return dockerBuild(ctx, benchBase, map[string][]byte{"Dockerfile": []byte(benchBaseDockerfile)})
}

func dockerBuild(ctx context.Context, tag string, files map[string][]byte) error {
	dir, err := os.MkdirTemp("", "bottle-bench-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			return err
		}
	}
	// No label on the image: containers inherit an image's labels, and
	// benchLabel marks only what this harness run made.
	_, err = docker(ctx, "build", "-q", "-t", tag, dir)
	return err
}

func (e *wlEnv) close() {
	for i := len(e.cleanup) - 1; i >= 0; i-- {
		e.cleanup[i]()
	}
}

// start makes the test root, prepares every scenario, and starts the
// simulated internet, the bottle and the direct container.
func (e *wlEnv) start(ctx context.Context, scenarios []workload.Scenario) error {
	size := "full"
	if e.o.quick {
		size = "quick"
	}
	sz := map[bool]workload.Size{true: workload.Quick, false: workload.Full}[e.o.quick]
	root, err := ca.New("bench-sim-root", 0)
	if err != nil {
		return err
	}
	rootDir := filepath.Join(e.dir, "root")
	if err := root.Save(rootDir); err != nil {
		return err
	}
	os.Chmod(rootDir, 0o755)
	e.rootPEM = filepath.Join(rootDir, ca.CertFile)
	data := filepath.Join(e.dir, "data")
	var allow strings.Builder
	allow.WriteString("version: 1\nallow:\n")
	for _, s := range scenarios {
		t0 := time.Now()
		if err := s.Prepare(filepath.Join(data, s.Key), sz); err != nil {
			return fmt.Errorf("%s: prepare: %w", s.Key, err)
		}
		fmt.Fprintf(os.Stderr, "  prepared %-8s in %.1fs\n", s.Key, time.Since(t0).Seconds())
		allow.WriteString(s.Allow)
	}
	allow.WriteString(streamAllow())
	exec.Command("chmod", "-R", "a+rX", data).Run()

	if err := ensureBenchBase(ctx); err != nil {
		return err
	}
	bin, err := os.ReadFile(e.o.simnet)
	if err != nil {
		return fmt.Errorf("simnet binary: %w", err)
	}
	if err := dockerBuild(ctx, simnetTag, map[string][]byte{"simnet": bin,
		"Dockerfile": []byte("FROM " + benchBase + "\nCOPY simnet /simnet\nENTRYPOINT [\"/simnet\"]\n")}); err != nil {
		return err
	}

	e.net = "bottle-bench-egress-" + e.id
	if _, err := docker(ctx, "network", "create", "--label", benchLabel, e.net); err != nil {
		return err
	}
	e.cleanup = append(e.cleanup, func() { docker(context.Background(), "network", "rm", e.net) })

	e.simnet = "bottle-bench-simnet-" + e.id
	args := []string{"run", "-d", "--name", e.simnet, "--label", benchLabel, "--network", e.net}
	hosts, err := exec.CommandContext(ctx, e.o.simnet, "--hosts").Output()
	if err != nil {
		return fmt.Errorf("%s --hosts: %w", e.o.simnet, err)
	}
	for _, h := range strings.Fields(string(hosts)) {
		args = append(args, "--network-alias", h)
	}
	args = append(args, "-v", rootDir+":/root-ca:ro", "-v", data+":/data:ro", simnetTag, "--size", size)
	if _, err := docker(ctx, args...); err != nil {
		return err
	}
	e.cleanup = append(e.cleanup, func() { docker(context.Background(), "rm", "-f", e.simnet) })
	if err := e.waitSimnet(ctx); err != nil {
		return err
	}
	// The simulated internet lives on a private network, which the sidecar
	// reaches only through a cidr rule (a real registry's address is public).
	ip, err := docker(ctx, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", e.simnet)
	if err != nil {
		return err
	}
	fmt.Fprintf(&allow, "  - cidr: %s/32\n    ports: [443]\n", ip)
	policy := filepath.Join(e.dir, "allowlist.yaml")
	if err := os.WriteFile(policy, []byte(allow.String()), 0o644); err != nil {
		return err
	}

	// The bottle: the engine's DNS (no --upstream-dns), the test root
	// trusted upstream, the scenarios' rules.
	e.bottle = "benchwl" + e.id
	e.state = filepath.Join(e.dir, "state")
	t0 := time.Now()
	if _, err := e.bottleCmd(ctx, "launch", e.bottle, "--no-project", "--egress-network", e.net, "--upstream-ca", e.rootPEM,
		"--allowlist", policy, "-d", "-q"); err != nil {
		e.bottleCmd(context.Background(), "stop", e.bottle)
		return err
	}
	fmt.Fprintf(os.Stderr, "  bottle launched in %.1fs\n", time.Since(t0).Seconds())
	e.cleanup = append(e.cleanup, func() {
		e.bottleCmd(context.Background(), "stop", e.bottle)
		e.bottleCmd(context.Background(), "rm", e.bottle)
	})

	// The direct container: the bottle's own agent image, the test root in
	// its bundle (installed before anything is timed).
	image, err := docker(ctx, "inspect", "--format", "{{.Config.Image}}", "bottle-"+e.bottle+"-agent")
	if err != nil {
		return err
	}
	e.direct = "bottle-bench-direct-" + e.id
	if _, err := docker(ctx, "run", "-d", "--name", e.direct, "--label", benchLabel, "--network", e.net,
		"-v", e.rootPEM+":/bench-root.pem:ro", image, "sleep", "infinity"); err != nil {
		return err
	}
	e.cleanup = append(e.cleanup, func() { docker(context.Background(), "rm", "-f", e.direct) })
	if _, err := docker(ctx, "exec", "-u", "0", e.direct, "sh", "-c", "cat /bench-root.pem >> "+agentBundle); err != nil {
		return err
	}
	return nil
}

func (e *wlEnv) waitSimnet(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		logs, _ := exec.CommandContext(ctx, "docker", "logs", e.simnet).CombinedOutput()
		if bytes.Contains(logs, []byte("simnet: serving")) {
			return nil
		}
		if running, _ := docker(ctx, "inspect", "--format", "{{.State.Running}}", e.simnet); running == "false" {
			return fmt.Errorf("simnet exited: %s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("simnet did not start in 60s")
}

func (e *wlEnv) bottleCmd(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, e.o.bottle, args...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+e.state, "BOTTLE_AGENT_BASE="+benchBase, "BOTTLE_BACKEND=docker")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("bottle %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()+out.String()))
	}
	return out.String(), nil
}

// script is one run of a scenario: Setup (untimed) in a fresh directory,
// Run timed inside the container (so the engine's exec is not counted),
// then Verify; the markers are read back from the output.
func script(s workload.Scenario) string {
	return `d=$(mktemp -d /tmp/bench-` + s.Key + `.XXXXXX) && cd "$d" || exit 90
(
` + s.Setup + `
) >setup.log 2>&1 || { echo "BENCH-SETUP-FAILED"; tail -20 setup.log; exit 91; }
t0=$(date +%s%N)
(
` + s.Run + `
) >run.log 2>&1
rc=$?
t1=$(date +%s%N)
echo "BENCH-WALL-NS $((t1 - t0)) $rc"
[ "$rc" = 0 ] || tail -20 run.log
(
` + s.Verify + `
) >verify.log 2>&1
v=$?
echo "BENCH-VERIFY $v"
[ "$v" = 0 ] || tail -20 verify.log
cd / && rm -rf "$d"
`
}

// result of one run.
type wlResult struct {
	wall   time.Duration
	ok     bool // Run and Verify exited 0
	detail string
}

func parseRun(out string) wlResult {
	var r wlResult
	runOK, verOK := false, false
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "BENCH-WALL-NS":
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			r.wall = time.Duration(ns)
			runOK = f[2] == "0"
		case len(f) == 2 && f[0] == "BENCH-VERIFY":
			verOK = f[1] == "0"
		}
	}
	r.ok = runOK && verOK
	if !r.ok {
		r.detail = tailLines(out, 30)
	}
	return r
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// directEnv is what the bottle's agent gets for its CA bundle, without the
// proxy: the same tools read the same bundle in both.
func directEnv() []string {
	var a []string
	for _, v := range []string{"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"} {
		a = append(a, "-e", v+"="+agentBundle)
	}
	return a
}

func (e *wlEnv) runDirect(ctx context.Context, s workload.Scenario) wlResult {
	args := append([]string{"exec", "-u", "agent", "-w", "/workspace"}, directEnv()...)
	out, err := docker(ctx, append(args, e.direct, "sh", "-c", script(s))...)
	r := parseRun(out)
	if err != nil && r.ok {
		r.ok, r.detail = false, err.Error()
	}
	return r
}

func (e *wlEnv) runBottle(ctx context.Context, s workload.Scenario) wlResult {
	out, err := e.bottleCmd(ctx, "exec", e.bottle, "--", "sh", "-c", script(s))
	r := parseRun(out)
	if err != nil && r.ok {
		r.ok, r.detail = false, err.Error()
	}
	if !r.ok && r.detail == "" && err != nil {
		r.detail = err.Error()
	}
	return r
}

// sidecarPID is the sidecar's process on the host (its container's init).
func (e *wlEnv) sidecarPID(ctx context.Context) int {
	s, err := docker(ctx, "inspect", "--format", "{{.State.Pid}}", "bottle-"+e.bottle+"-sidecar")
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(s)
	return pid
}

// alternate runs one for "direct" and "bottle" runs times each, taking
// turns at going first, so that neither side always runs warm.
func alternate(runs int, one func(subject string)) {
	for i := range runs {
		if i%2 == 0 {
			one("direct")
			one("bottle")
		} else {
			one("bottle")
			one("direct")
		}
	}
}

func medianDuration(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// workloadRows runs every scenario that has landed (a scenario with no
// Prepare is a placeholder and is left out) and returns its rows and the
// scenarios whose Verify failed.
func workloadRows(o wlOptions) ([]Row, []string, error) {
	// Ctrl-C or SIGTERM stops the engine commands; what was made is still
	// removed (the cleanups run on a context of their own).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := docker(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		return nil, nil, fmt.Errorf("the workloads need a Docker engine: %w", err)
	}
	var scenarios []workload.Scenario
	for _, s := range workload.All() {
		if s.Prepare != nil && o.wants(s.Key) {
			scenarios = append(scenarios, s)
		}
	}
	b := make([]byte, 3)
	rand.Read(b)
	dir, err := os.MkdirTemp("", "bottle-bench-wl-")
	if err != nil {
		return nil, nil, err
	}
	os.Chmod(dir, 0o755)
	e := &wlEnv{o: o, dir: dir, id: hex.EncodeToString(b)}
	if o.keep {
		// For debugging: the world stays up (remove it with
		// docker rm -f / bottle stop as printed).
		defer func() {
			fmt.Fprintf(os.Stderr, "bench: kept: network %s, containers %s %s, bottle %s (XDG_STATE_HOME=%s), dir %s\n", e.net, e.simnet, e.direct, e.bottle, e.state, e.dir)
		}()
	} else {
		defer os.RemoveAll(dir)
		defer e.close()
	}
	t0 := time.Now()
	if err := e.start(ctx, scenarios); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(os.Stderr, "  workloads' world up in %.1fs\n", time.Since(t0).Seconds())
	runs := 3
	if o.quick {
		runs = 1
	}
	var rows []Row
	var failed []string
	for _, s := range scenarios {
		pid := e.sidecarPID(ctx)
		if pid != 0 {
			os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
		}
		var direct, bottle []time.Duration
		var cpu time.Duration
		var notes []string
		ok := true
		one := func(subject string) {
			var r wlResult
			if subject == "direct" {
				r = e.runDirect(ctx, s)
				direct = append(direct, r.wall)
			} else {
				before := readProc(pid)
				r = e.runBottle(ctx, s)
				cpu += readProc(pid).cpu - before.cpu
				bottle = append(bottle, r.wall)
			}
			fmt.Fprintf(os.Stderr, "  %-30s %-7s %6.2fs %s\n", s.Name, subject, r.wall.Seconds(), map[bool]string{true: "ok", false: "FAILED " + r.detail}[r.ok])
			if !r.ok {
				ok = false
				notes = append(notes, subject+": "+r.detail)
			}
		}
		alternate(runs, func(subject string) {
			if ctx.Err() == nil {
				one(subject)
			}
		})
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("interrupted: %w", ctx.Err())
		}
		if !ok {
			failed = append(failed, s.Key+": "+strings.Join(notes, "; "))
		}
		d, bt := medianDuration(direct), medianDuration(bottle)
		row := func(subject string, wall time.Duration, all []time.Duration) Row {
			var secs []float64
			for _, w := range all {
				secs = append(secs, w.Seconds())
			}
			return Row{Scenario: s.Name, Subject: subject, Unit: "s", Throughput: wall.Seconds(), Section: "workloads",
				Key: s.Key, RunsS: secs, Goal: goalOf(s.Key), Note: strings.Join(notes, "; ")}
		}
		rows = append(rows, row("direct", d, direct))
		br := row("bottle", bt, bottle)
		if pid != 0 {
			br.PeakRSSMB = peakRSS(pid)
			br.ProxyCPUS = cpu.Seconds() / float64(len(bottle))
		}
		rows = append(rows, br)
	}
	if ctx.Err() != nil {
		return nil, nil, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	// The streaming scenario (stream_on.go; a no-op until it lands).
	if o.wants("stream") {
		srows, sfailed, err := e.streamRows(ctx)
		if err != nil {
			return nil, nil, err
		}
		rows = append(rows, srows...)
		failed = append(failed, sfailed...)
	}
	if !o.wants("launch") {
		return rows, failed, nil
	}
	// Launch timings (LAUNCH's launchRows, through launchcall_on.go; a
	// no-op until bench/launch.go lands), on the same egress network.
	lrows, err := e.launchRows()
	if err != nil {
		return nil, nil, fmt.Errorf("launch: %w", err)
	}
	for _, r := range lrows {
		r.Section = "launch"
		rows = append(rows, r)
	}
	return rows, failed, nil
}

// workloadMarkdown is the workloads' table: median wall time of each, the
// ratio against the goal, and what the sidecar spent.
func workloadMarkdown(r *Report) string {
	var b strings.Builder
	type pair struct{ d, b *Row }
	var order []string
	pairs := map[string]*pair{}
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Section != "workloads" {
			continue
		}
		p := pairs[row.Scenario]
		if p == nil {
			p = &pair{}
			pairs[row.Scenario] = p
			order = append(order, row.Scenario)
		}
		if row.Subject == "direct" {
			p.d = row
		} else {
			p.b = row
		}
	}
	if len(order) > 0 {
		b.WriteString("\nReal workloads (bench/workload), median of each side's runs, bottle and direct alternating in one run:\n\n")
		b.WriteString("| workload | wall s direct | wall s bottle | bottle ÷ direct | goal | sidecar peak RSS MB | sidecar CPU s | verified |\n")
		b.WriteString("|---|---:|---:|---:|---|---:|---:|---|\n")
	}
	for _, name := range order {
		p := pairs[name]
		if p.d == nil || p.b == nil {
			continue
		}
		ratio, met := "", ""
		if p.d.Throughput > 0 {
			x := p.b.Throughput / p.d.Throughput
			ratio = fmt.Sprintf("%.2f×", x)
			met = "met"
			if x > p.b.Goal {
				met = "**not met**"
			}
		}
		verified := "yes"
		if p.b.Note != "" || p.d.Note != "" {
			verified = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %s | ≤ %.2f× %s | %s | %s | %s |\n", name, p.d.Throughput, p.b.Throughput, ratio, p.b.Goal, met,
			num(p.b.PeakRSSMB), num(p.b.ProxyCPUS), verified)
	}
	for i, row := range r.Rows {
		if row.Section != "stream" {
			continue
		}
		if i == 0 || r.Rows[i-1].Section != "stream" {
			b.WriteString("\nModel-API streaming: what the bottle adds (bottle's quantile − direct's, ms; negative is noise), against the goal of ≤ 2 ms at p99:\n\n")
			b.WriteString("| scenario | added p50 ms | added p99 ms | goal | streams complete | errors | sidecar peak RSS MB | sidecar CPU s |\n")
			b.WriteString("|---|---:|---:|---|---:|---:|---:|---:|\n")
		}
		met := "met"
		if row.P99ms > row.Goal {
			met = "**not met**"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | ≤ %.0f ms %s | %.0f | %d | %s | %s |\n", row.Scenario, row.P50ms, row.P99ms, row.Goal, met,
			row.Throughput, row.Errors, num(row.PeakRSSMB), num(row.ProxyCPUS))
	}
	for i, row := range r.Rows {
		if row.Section != "launch" {
			continue
		}
		if i == 0 || r.Rows[i-1].Section != "launch" {
			b.WriteString("\nbottle launch, step by step (ms):\n\n| launch | ms | note |\n|---|---:|---|\n")
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s |\n", row.Scenario, row.P50ms, row.Note)
	}
	return b.String()
}

// writeDocs replaces the region between the markers of docs/benchmarks.md
// with the report, the machine and the commit.
func writeDocs(path, report string) error {
	const begin, end = "<!-- bench/run: begin -->", "<!-- bench/run: end -->"
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q region to rewrite", path, begin, end)
	}
	commit, _ := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	osRel := ""
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				osRel = strings.Trim(v, `"`)
			}
		}
	}
	var mem string
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			mem = fmt.Sprintf(", %.0f GiB", kb/(1<<20))
		}
	}
	region := fmt.Sprintf("%s\nGenerated by `bench/run --docs` at commit %s on %s%s. Expect ±10–20 %% between runs.\n\n%s\n%s",
		begin, strings.TrimSpace(string(commit)), osRel, mem, strings.TrimSpace(report), end)
	return os.WriteFile(path, []byte(s[:i]+region+s[j+len(end):]), 0o644)
}
