package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmux runs tmux on its own socket, so a test never touches a user's
// sessions.
func tmux(t *testing.T, sock string, args ...string) string {
	t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// waitPane polls the pane until it shows want.
func waitPane(t *testing.T, sock, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pane := tmux(t, sock, "capture-pane", "-p", "-t", "trust")
		if strings.Contains(pane, want) {
			return pane
		}
		if time.Now().After(deadline) {
			t.Fatalf("the terminal never showed %q:\n%s", want, pane)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestProjectFileAskedInATerminal: a bottle.yaml that came with a
// repository is shown to the person at the terminal, and used only once
// they say yes; the answer is remembered for that version of the file.
func TestProjectFileAskedInATerminal(t *testing.T) {
	requireDocker(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is missing (apt-get install tmux; .ci/run installs it)")
	}
	bin := t.TempDir()
	buildStatic(t, "./cmd/bottle", bin, "bottle")
	proj, state := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(proj, "bottle.yaml"), []byte("version: 1\nname: widget\nallowlist: missing.yaml\nenv:\n  BOTTLE_E2E_TOKEN:\nworkspace: .\n"), 0o644)
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	cmd := "cd " + proj + " && XDG_STATE_HOME=" + state + " BOTTLE_E2E_TOKEN=x " + filepath.Join(bin, "bottle") + " launch --backend docker; echo EXITED=$?; sleep 60"
	tmux(t, sock, "new-session", "-d", "-s", "trust", "-x", "160", "-y", "40", cmd)
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })

	pane := waitPane(t, sock, "Use this project file? [y/N]")
	for _, want := range []string{"bottle.yaml is new or has changed", "name:       widget", "BOTTLE_E2E_TOKEN — taken from your environment", "workspace:  " + proj} {
		if !strings.Contains(pane, want) {
			t.Errorf("the prompt lacks %q:\n%s", want, pane)
		}
	}
	tmux(t, sock, "send-keys", "-t", "trust", "y", "Enter")
	// Approved: the launch goes on, and stops at the missing allowlist.
	pane = waitPane(t, sock, "EXITED=")
	if !strings.Contains(pane, "missing.yaml") || !strings.Contains(pane, "the agent gets these variables from your environment: BOTTLE_E2E_TOKEN") {
		t.Errorf("after yes:\n%s", pane)
	}
	if data, err := os.ReadFile(filepath.Join(state, "bottle", "trusted-projects")); err != nil || len(strings.Fields(string(data))) != 1 {
		t.Errorf("the approval was not kept: %q %v", data, err)
	}
}
