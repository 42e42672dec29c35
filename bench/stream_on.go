package main

// The model-API streaming scenario (workload.Stream()): its client, built
// static, runs in the direct container and in the bottle's agent against the
// SSE origin of the simulated internet; the rows are what the bottle adds to
// the time to first byte and to each chunk's lateness (workload.Added), with
// the sidecar's peak RSS and CPU.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"bottle.dev/bottle/bench/workload"
)

func streamAllow() string { return workload.Stream().Allow }

const streamClientInAgent = "/tmp/bench-streamclient"

func (e *wlEnv) streamRows(ctx context.Context) ([]Row, []string, error) {
	s := workload.Stream()
	size := map[bool]workload.Size{true: workload.Quick, false: workload.Full}[e.o.quick]
	sites, err := s.Sites(size)
	if err != nil || len(sites) == 0 {
		return nil, nil, fmt.Errorf("%s: sites: %v", s.Key, err)
	}
	bin := filepath.Join(e.dir, "streamclient")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, s.Client)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, nil, fmt.Errorf("go build %s: %v\n%s", s.Client, err, out)
	}
	for _, c := range []string{e.direct, "bottle-" + e.bottle + "-agent"} {
		if _, err := docker(ctx, "cp", bin, c+":"+streamClientInAgent); err != nil {
			return nil, nil, err
		}
	}
	args := s.Args("https://"+sites[0].Host, size)
	runs := 3
	if e.o.quick {
		runs = 1
	}
	pid := e.sidecarPID(ctx)
	if pid != 0 {
		os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	}
	var direct, bottle workload.StreamResult
	var cpu time.Duration
	var failed []string
	add := func(into *workload.StreamResult, subject, out string, err error) {
		var r workload.StreamResult
		if jerr := json.Unmarshal([]byte(lastJSONLine(out)), &r); jerr != nil || err != nil {
			failed = append(failed, fmt.Sprintf("%s %s: %v %v: %s", s.Key, subject, err, jerr, tailLines(out, 5)))
			return
		}
		if r.Errors > 0 || r.Streams == 0 {
			failed = append(failed, fmt.Sprintf("%s %s: %d streams complete, %d failed", s.Key, subject, r.Streams, r.Errors))
		}
		into.Streams += r.Streams
		into.Errors += r.Errors
		into.TTFBms = append(into.TTFBms, r.TTFBms...)
		into.GapMS = append(into.GapMS, r.GapMS...)
		fmt.Fprintf(os.Stderr, "  %-30s %-7s %d streams, %d chunks\n", s.Name, subject, r.Streams, len(r.GapMS))
	}
	one := func(subject string) {
		if subject == "direct" {
			dargs := append([]string{"exec", "-u", "agent"}, directEnv()...)
			out, err := docker(ctx, append(append(dargs, e.direct, streamClientInAgent), args...)...)
			add(&direct, subject, out, err)
			return
		}
		before := readProc(pid)
		out, err := e.bottleCmd(ctx, append([]string{"exec", e.bottle, "--", streamClientInAgent}, args...)...)
		cpu += readProc(pid).cpu - before.cpu
		add(&bottle, subject, out, err)
	}
	alternate(runs, one)
	ttfb50, ttfb99, gap50, gap99 := workload.Added(direct, bottle)
	note := strings.Join(failed, "; ")
	row := func(what string, p50, p99 float64) Row {
		r := Row{Scenario: s.Name + ", " + what, Subject: "bottle − direct", Unit: "streams", Throughput: float64(bottle.Streams),
			Errors: int64(bottle.Errors + direct.Errors), Section: "stream", Key: s.Key, Goal: 2, Note: note,
			P50ms: finite(p50), P99ms: finite(p99)}
		if pid != 0 {
			r.PeakRSSMB = peakRSS(pid)
			r.ProxyCPUS = cpu.Seconds() / float64(runs)
		}
		return r
	}
	return []Row{row("time to first byte", ttfb50, ttfb99), row("inter-chunk latency", gap50, gap99)}, failed, nil
}

func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// lastJSONLine is the client's result: its last line that is a JSON object.
func lastJSONLine(out string) string {
	l := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(l) - 1; i >= 0; i-- {
		if strings.HasPrefix(strings.TrimSpace(l[i]), "{") {
			return l[i]
		}
	}
	return ""
}
