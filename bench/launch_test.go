package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLaunchRows runs the launch benchmark's quick form against a real
// engine (BOTTLE_E2E=1 and BOTTLE_BENCH_AGENT_BASE, the agent base image;
// BOTTLE_BENCH_FULL=1 for the full form)
// and checks what it gives: a warm and a cold total, each with its steps.
// It asserts nothing about the times.
func TestLaunchRows(t *testing.T) {
	base := os.Getenv("BOTTLE_BENCH_AGENT_BASE")
	if os.Getenv("BOTTLE_E2E") == "" || base == "" {
		t.Skip("needs a Docker engine and an agent base: BOTTLE_E2E=1 BOTTLE_BENCH_AGENT_BASE=IMAGE")
	}
	dir := t.TempDir()
	for _, pkg := range []string{"bottle", "bottle-sidecar"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, pkg), "../cmd/"+pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	// BOTTLE_BENCH_FULL=1: the full form (5 warm, 2 cold), as bench/run runs it.
	rows, err := launchRows(filepath.Join(dir, "bottle"), base, "", os.Getenv("BOTTLE_BENCH_FULL") == "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		t.Logf("%-30s %8.0f ms  %s", r.Scenario, r.P50ms, r.Note)
		seen[r.Scenario] = r.P50ms > 0 || strings.Contains(r.Scenario, ":")
	}
	for _, want := range []string{"launch warm", "launch cold", "launch warm: self-test", "launch cold: images"} {
		if !seen[want] {
			t.Errorf("no row %q: %+v", want, rows)
		}
	}
}
