package e2e

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/internal/shquote"
)

// TestWatch: a real bottle with --approvals ask, and `bottle watch` in a
// real terminal (tmux, 160×40). The agent's curl to a host no rule allows
// is held; its pending approval shows on the screen, pinned on top; one key
// (o) allows it once; the held curl completes with the simulated host's
// answer (no retry), the decision is audited as bottle watch's, and the
// request's row is in the table.
func TestWatch(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is missing (apt-get install tmux; .ci/run installs it)")
	}
	w := newWorld(t, "docker")
	w.approvalsPolicy()
	w.launch("watch1", "--approvals", "ask")

	sock := filepath.Join(t.TempDir(), "tmux.sock")
	env := []string{"XDG_STATE_HOME=" + w.state, "NO_COLOR=1", "TERM=xterm-256color"}
	cmd := "exec env " + shquote.Join(append(env, filepath.Join(w.bin, "bottle"), "watch", "watch1"))
	// The session is named as waitPane expects.
	tmux(t, sock, "-f", "/dev/null", "new-session", "-d", "-s", "trust", "-x", "160", "-y", "40", cmd)
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	waitPane(t, sock, "bottle watch · watch1 running")

	run := w.start("watch1", "curl -sS -m 80 https://watched.sim.test/asked 2>&1")
	pane := waitPane(t, sock, "GET watched.sim.test:443/asked")
	for _, want := range []string{"PENDING APPROVALS (1)", "▸ ", "no-rule", "left"} {
		if !strings.Contains(pane, want) {
			t.Errorf("the pending approval lacks %q:\n%s", want, pane)
		}
	}
	if !run.running() {
		out, code := run.wait(t, time.Second)
		t.Fatalf("the curl was not held: exit %d\n%s", code, out)
	}
	tmux(t, sock, "send-keys", "-t", "trust", "o")
	out, code := run.wait(t, 30*time.Second)
	if code != 0 || !strings.Contains(out, "hello from watched.sim.test GET /asked") {
		t.Errorf("the held curl, allowed once: exit %d\n%s", code, out)
	}
	pane = waitPane(t, sock, "allowed ")
	if !strings.Contains(pane, "once") {
		t.Errorf("the status line does not say once:\n%s", pane)
	}
	// The approval's record, and the request's, reach the table; the
	// approval is audited as bottle watch's.
	line := w.waitAudit("watch1", `"kind":"approval"`, `"verdict":"once"`)
	var rec struct {
		Approval struct{ By string } `json:"approval"`
	}
	if json.Unmarshal([]byte(line), &rec) != nil || !strings.HasPrefix(rec.Approval.By, "bottle watch (") {
		t.Errorf("the approval's audit line: %q", line)
	}
	pane = waitPane(t, sock, "by bottle watch (")
	if !strings.Contains(pane, "approval") || !strings.Contains(pane, "watched.sim.test:443") {
		t.Errorf("the table lacks the approval's row:\n%s", pane)
	}
	t.Logf("the screen:\n%s", pane)
}
