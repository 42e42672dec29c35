package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// agentBase is the agent base of the agent recipe tests: Debian trixie
// with Node.js 20 (Gemini CLI needs it; bookworm's 18 fails) and npm (the
// recipes' install step), made by scripts/mkbase like the suite's base.
const agentBase = "bottle-e2e-base:trixie-npm"

var (
	agentBaseOnce sync.Once
	agentBaseErr  error
)

// agentBaseImage builds agentBase once per run of the test binary (an
// existing image is kept: mkbase caches by tag).
func agentBaseImage(t testing.TB) {
	t.Helper()
	requireDocker(t)
	agentBaseOnce.Do(func() {
		out, err := exec.Command("bash", filepath.Join(repoRoot(), "scripts/mkbase"), agentBase, "trixie", "npm").CombinedOutput()
		if err != nil {
			agentBaseErr = fmt.Errorf("scripts/mkbase %s trixie npm: %v\n%s", agentBase, err, out)
		}
	})
	if agentBaseErr != nil {
		t.Fatal(agentBaseErr)
	}
}
