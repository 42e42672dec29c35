package e2e

import (
	"flag"
	"fmt"
	"os"
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

// TestMain starts building agentBase in the background when the whole
// suite runs (no -run): a debootstrap and an apt-get of a few minutes, most
// of them waiting on the mirror, that the suite's first tests would
// otherwise wait for in turn. The agent recipe tests come late in the run
// (by their files' names) and find it built, or wait for the rest.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("BOTTLE_E2E") != "" && flag.Lookup("test.run").Value.String() == "" {
		go agentBaseOnce.Do(buildAgentBase)
	}
	os.Exit(m.Run())
}

// agentBaseImage builds agentBase once per run of the test binary (an
// existing image is kept: mkbase caches by tag).
func agentBaseImage(t testing.TB) {
	t.Helper()
	requireDocker(t)
	agentBaseOnce.Do(buildAgentBase)
	if agentBaseErr != nil {
		t.Fatal(agentBaseErr)
	}
}

func buildAgentBase() {
	out, err := exec.Command("bash", filepath.Join(repoRoot(), "scripts/mkbase"), agentBase, "trixie", "npm").CombinedOutput()
	if err != nil {
		agentBaseErr = fmt.Errorf("scripts/mkbase %s trixie npm: %v\n%s", agentBase, err, out)
	}
}
