package main

import (
	"fmt"
	"strings"
)

// A target is one of the bounds the project holds itself to (issue 17 and
// the ones before it), judged from the rows of one run. The table is part
// of the generated region of docs/benchmarks.md, so what it says is what
// the run measured, never edited by hand.
type target struct {
	what string
	// judge returns what was measured and whether it meets the target;
	// ok is false with measured "" when the run has no rows for it.
	judge func(rows []Row) (measured string, met bool)
}

// find is the row of scenario and subject, if the run has it.
func find(rows []Row, scenario, subject string) (Row, bool) {
	for _, r := range rows {
		if r.Scenario == scenario && r.Subject == subject {
			return r, true
		}
	}
	return Row{}, false
}

// ratioTarget: bottle's throughput against another subject's in one
// scenario, at least min (the other over bottle when inverse).
func ratioTarget(what, scenario, other string, min float64) target {
	return target{what, func(rows []Row) (string, bool) {
		b, ok1 := find(rows, scenario, "bottle")
		o, ok2 := find(rows, scenario, other)
		if !ok1 || !ok2 || o.Throughput == 0 {
			return "", false
		}
		x := b.Throughput / o.Throughput
		m := fmt.Sprintf("%.2f× (%.0f vs %.0f %s", x, b.Throughput, o.Throughput, b.Unit)
		if b.CPUus > 0 && o.CPUus > 0 {
			m += fmt.Sprintf("; %.0f vs %.0f µs of CPU per op", b.CPUus, o.CPUus)
		}
		return m + ")", x >= min
	}}
}

// wallTarget: a real workload's bottle ÷ direct, at most its goal.
func wallTarget(key string) target {
	what := fmt.Sprintf("%s in a bottle ≤ %.2f× direct", key, goalOf(key))
	return target{what, func(rows []Row) (string, bool) {
		var d, b *Row
		for i := range rows {
			r := &rows[i]
			if r.Section == "workloads" && r.Key == key {
				if r.Subject == "direct" {
					d = r
				} else {
					b = r
				}
			}
		}
		if d == nil || b == nil || d.Throughput == 0 {
			return "", false
		}
		x := b.Throughput / d.Throughput
		return fmt.Sprintf("%.2f× (%.2f s vs %.2f s)", x, b.Throughput, d.Throughput), x <= b.Goal
	}}
}

// launchTarget: the median of a launch kind, under limit ms.
func launchTarget(kind string, limit float64) target {
	what := fmt.Sprintf("%s `bottle launch` under %.0f s", kind, limit/1000)
	return target{what, func(rows []Row) (string, bool) {
		r, ok := find(rows, "launch "+kind, "bottle")
		if !ok || r.P50ms == 0 {
			return "", false
		}
		return fmt.Sprintf("%.2f s (median)", r.P50ms/1000), r.P50ms < limit
	}}
}

var targets = []target{
	ratioTarget("tunnel bulk ≥ 0.8× direct", "TLS bulk download, one stream", "direct (floor)", 0.8),
	ratioTarget("MITM keep-alive ≥ 1.5× Squid ssl_bump's request rate", "small HTTPS requests, keep-alive", "squid", 1.5),
	ratioTarget("MITM keep-alive ≥ 15× mitmproxy's request rate", "small HTTPS requests, keep-alive", "mitmproxy", 15),
	ratioTarget("DNS, allowed names, ≥ dnsmasq's rate (names never asked before, dnsmasq's cache off)", "DNS, allowed name (forwarded)", "dnsmasq", 1),
	ratioTarget("DNS, repeated names, ≥ dnsmasq's rate (both caching)", "DNS, allowed name, repeated (cached)", "dnsmasq (cache on)", 1),
	wallTarget("npm"),
	wallTarget("pip"),
	wallTarget("gomod"),
	wallTarget("git"),
	{"model-API streaming: added p99 latency per chunk ≤ 2 ms", func(rows []Row) (string, bool) {
		for _, r := range rows {
			if r.Section == "stream" && strings.Contains(r.Scenario, "chunk") {
				return fmt.Sprintf("%.2f ms (p50 %.2f ms)", r.P99ms, r.P50ms), r.P99ms <= 2
			}
		}
		return "", false
	}},
	launchTarget("warm", 2000),
	launchTarget("cold", 6000),
}

// targetsMarkdown is the table of every target the run has rows for.
func targetsMarkdown(r *Report) string {
	var b strings.Builder
	for _, t := range targets {
		m, ok := t.judge(r.Rows)
		if m == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nAgainst the targets, in this run:\n\n| target | measured | |\n|---|---|---|\n")
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.what, m, map[bool]string{true: "met", false: "**not met**"}[ok])
	}
	return b.String()
}
