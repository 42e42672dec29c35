package main

import (
	"strings"
	"testing"
)

func TestTargetsMarkdown(t *testing.T) {
	r := &Report{Rows: []Row{
		{Scenario: "small HTTPS requests, keep-alive", Subject: "bottle", Unit: "req/s", Throughput: 9000, CPUus: 60},
		{Scenario: "small HTTPS requests, keep-alive", Subject: "squid", Unit: "req/s", Throughput: 5000, CPUus: 100},
		{Scenario: "small HTTPS requests, keep-alive", Subject: "mitmproxy", Unit: "req/s", Throughput: 900},
		{Scenario: "npm install", Subject: "direct", Section: "workloads", Key: "npm", Throughput: 4, Goal: 1.15},
		{Scenario: "npm install", Subject: "bottle", Section: "workloads", Key: "npm", Throughput: 5, Goal: 1.15},
		{Scenario: "stream, inter-chunk latency", Subject: "bottle − direct", Section: "stream", P50ms: 0.3, P99ms: 1.5, Goal: 2},
		{Scenario: "launch warm", Subject: "bottle", P50ms: 1800},
	}}
	md := targetsMarkdown(r)
	for _, want := range []string{
		"| MITM keep-alive ≥ 1.5× Squid ssl_bump's request rate | 1.80× (9000 vs 5000 req/s; 60 vs 100 µs of CPU per op) | met |",
		"| MITM keep-alive ≥ 15× mitmproxy's request rate | 10.00× (9000 vs 900 req/s) | **not met** |",
		"| npm in a bottle ≤ 1.15× direct | 1.25× (5.00 s vs 4.00 s) | **not met** |",
		"| model-API streaming: added p99 latency per chunk ≤ 2 ms | 1.50 ms (p50 0.30 ms) | met |",
		"| warm `bottle launch` under 2 s | 1.80 s (median) | met |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("targets table lacks %q:\n%s", want, md)
		}
	}
	// A target the run has no rows for is left out, not reported met.
	for _, absent := range []string{"cold", "git", "dnsmasq", "tunnel bulk"} {
		if strings.Contains(md, absent) {
			t.Errorf("targets table mentions %q, which the run did not measure:\n%s", absent, md)
		}
	}
	if got := targetsMarkdown(&Report{}); got != "" {
		t.Errorf("no rows: %q, want nothing", got)
	}
}

func TestUnverified(t *testing.T) {
	rows := []Row{
		{Scenario: "launch warm", Subject: "bottle", Section: "launch", P50ms: 1700},
		{Scenario: "launch warm: agent", Subject: "bottle", Section: "launch"}, // overlaps the sidecar step
		{Scenario: "small HTTPS requests, keep-alive", Subject: "bottle", Throughput: 9000},
		{Scenario: "launch cold", Subject: "bottle", Section: "launch"},                  // no time: failed
		{Scenario: "npm install", Subject: "direct", Section: "workloads"},               // no time: failed
		{Scenario: "plain HTTP forward", Subject: "bottle", Throughput: 9000, Errors: 3}, // errors
	}
	bad := unverified(rows)
	if len(bad) != 3 || !strings.HasPrefix(bad[0], "launch cold/") || !strings.HasPrefix(bad[1], "npm install/") || !strings.HasPrefix(bad[2], "plain HTTP forward/") {
		t.Errorf("unverified = %q, want the cold launch, the npm row and the row with errors", bad)
	}
}

func TestAlternate(t *testing.T) {
	var order []string
	alternate(3, func(s string) { order = append(order, s) })
	if got := strings.Join(order, " "); got != "direct bottle bottle direct direct bottle" {
		t.Errorf("alternate(3) ran %q, want each side first in turn", got)
	}
}
