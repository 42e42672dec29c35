package workload

import (
	"os"
	"os/exec"
	"testing"
)

// lookTool finds a client the scenario tests run for real (npm, pip's
// python, go). Without it a test is skipped on a developer's machine, but
// fails where the suite must prove everything (.ci/run sets BOTTLE_E2E):
// a skip there would report a client never run as passing.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("BOTTLE_E2E") != "" {
		t.Fatalf("%s is not on PATH, and this test must run here (BOTTLE_E2E is set): install %s", name, name)
	}
	t.Skipf("%s is not on PATH: %v", name, err)
	return ""
}
