package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"bottle.dev/bottle/internal/syncbuf"
	"bottle.dev/bottle/launcher"
)

// TestLifecycle drives a bottle's life through the CLI on the real engine:
// a Dockerfile whose COPY needs its directory as the context; a detached
// command whose output `logs -f` follows to its end and whose exit status
// `list` shows; stop, then list --all, saved logs and rm; a launch killed
// with SIGKILL half way, listed incomplete and removed by cleanup; a
// launch interrupted with SIGINT, which says what it removed and exits
// 130; and prune.
func TestLifecycle(t *testing.T) {
	w := newWorld(t, "docker")
	stateDir := filepath.Join(w.state, "bottle")
	held := func(name string) string {
		t.Helper()
		sel := []string{"--filter", "label=" + launcher.LabelName + "=" + name, "--filter", "label=" + launcher.LabelOwner + "=" + launcher.Owner(stateDir)}
		return strings.TrimSpace(docker(t, append([]string{"ps", "-a", "-q"}, sel...)...) + " " + docker(t, append([]string{"network", "ls", "-q"}, sel...)...))
	}

	// The context: a Dockerfile beside the file it copies.
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM "+baseImage+"\nCOPY tool.txt /opt/tool.txt\n"), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "tool.txt"), []byte("copied from the context\n"), 0o644)

	t.Run("detached_command_and_logs", func(t *testing.T) {
		w.launch("life", "--dockerfile", filepath.Join(ctxDir, "Dockerfile"), "-d", "--",
			"sh", "-c", "cat /opt/tool.txt; sleep 2; echo done; exit 3")
		start := time.Now()
		out, errs, code := w.bottle("logs", "life", "-f")
		if code != 0 || out != "copied from the context\ndone\n" {
			t.Errorf("logs -f: exit %d %q %s", code, out, errs)
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("logs -f took %s to end after the command", took)
		}
		out, _, _ = w.bottle("list")
		if !regexp.MustCompile(`(?m)^life +running +http://\S+ +2 +exited 3: sh -c `).MatchString(out) {
			t.Errorf("list:\n%s", out)
		}
		out, _, _ = w.bottle("list", "--json")
		var sums []launcher.Summary
		if err := json.Unmarshal([]byte(out), &sums); err != nil || len(sums) != 1 || sums[0].Command == nil || sums[0].Command.ExitCode == nil || *sums[0].Command.ExitCode != 3 {
			t.Errorf("list --json: %v\n%s", err, out)
		}
	})

	t.Run("exec_without_terminal_forwards_sigint", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(w.bin, "bottle"), "exec", "life", "--", "sh", "-c",
			`trap 'echo got INT > /tmp/got-int; exit 5' INT; echo started; sleep 30 & wait`)
		cmd.Env = w.env()
		var out syncbuf.Buffer // read while the command writes
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "started") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 130 || time.Since(start) > 15*time.Second {
			t.Errorf("exit %d after %s:\n%s", code, time.Since(start), out.String())
		}
		if got, code := w.sh("life", "cat /tmp/got-int"); code != 0 || got != "got INT\n" {
			t.Errorf("the command in the agent did not get the SIGINT: %d %q", code, got)
		}
	})

	t.Run("base_rebuilt_under_same_name", func(t *testing.T) {
		// A base image rebuilt under its name makes a new agent image,
		// not the stale one tagged by the Dockerfile alone.
		base := uniq("bottle-e2e-base")
		docker(t, "tag", baseImage, base+":1")
		t.Cleanup(func() { dockerErr("rmi", base+":1") })
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+base+":1\n"), 0o644)
		agentImage := func() string {
			t.Helper()
			w.launch("rebase", "--dockerfile", filepath.Join(dir, "Dockerfile"))
			b, err := (&launcher.Launcher{StateDir: stateDir}).Load("rebase")
			if err != nil {
				t.Fatal(err)
			}
			w.bottle("rm", "-f", "rebase")
			t.Cleanup(func() { dockerErr("rmi", b.AgentImage) })
			return b.AgentImage
		}
		first := agentImage()
		next := filepath.Join(t.TempDir(), "Dockerfile")
		os.WriteFile(next, []byte("FROM "+baseImage+"\nRUN echo rebuilt > /etc/rebuilt\n"), 0o644)
		docker(t, "build", "-q", "-t", base+":1", "-f", next, filepath.Dir(next))
		if second := agentImage(); second == first {
			t.Errorf("the base was rebuilt, and the agent image %s was reused", first)
		}
	})

	t.Run("stop_list_all_saved_logs_rm", func(t *testing.T) {
		w.sh("life", "curl -s -o /dev/null https://ok.sim.test/lifecycle")
		if _, errs, code := w.bottle("stop", "life"); code != 0 {
			t.Fatalf("stop: %d %s", code, errs)
		}
		out, _, _ := w.bottle("list")
		if strings.Contains(out, "life") {
			t.Errorf("list shows a stopped bottle:\n%s", out)
		}
		out, _, _ = w.bottle("list", "--all")
		if !regexp.MustCompile(`(?m)^life +stopped +`).MatchString(out) {
			t.Errorf("list --all:\n%s", out)
		}
		if out, errs, code := w.bottle("logs", "life"); code != 0 || out != "copied from the context\ndone\n" {
			t.Errorf("logs of a stopped bottle: %d %q %s", code, out, errs)
		}
		if out, errs, code := w.bottle("logs", "life", "--egress"); code != 0 || !strings.Contains(out, "ok.sim.test:443/lifecycle") {
			t.Errorf("logs --egress of a stopped bottle: %d %q %s", code, out, errs)
		}
		if out, errs, code := w.bottle("rm", "life"); code != 0 || !strings.HasPrefix(out, "removed life ") {
			t.Errorf("rm: %d %q %s", code, out, errs)
		}
		if _, err := os.Stat(filepath.Join(stateDir, "life")); !os.IsNotExist(err) {
			t.Errorf("rm left the state directory: %v", err)
		}
		if _, errs, code := w.bottle("rm", "life"); code != 1 || errs != "bottle: no bottle named \"life\" (see bottle list)\n" {
			t.Errorf("rm again: %d %s", code, errs)
		}
	})

	// midLaunch starts a launch and returns it once its metadata says it is
	// at step (the self-test takes seconds: time to hit it).
	midLaunch := func(t *testing.T, name, step string) (*exec.Cmd, *bytes.Buffer) {
		t.Helper()
		args := []string{"launch", name, "--workspace", ".", "--egress-network", w.net, "--upstream-dns", w.simA + ":53", "--upstream-ca", w.rootPEM}
		cmd := exec.Command(filepath.Join(w.bin, "bottle"), args...)
		cmd.Env, cmd.Dir = w.env(), filepath.Dir(w.policyAt)
		errb := &bytes.Buffer{}
		cmd.Stderr = errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.bottle("stop", name) })
		deadline := time.Now().Add(3 * time.Minute)
		for time.Now().Before(deadline) {
			if b, err := (&launcher.Launcher{StateDir: stateDir}).Load(name); err == nil && b.Step == step {
				return cmd, errb
			}
			time.Sleep(10 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the launch of %s never reached step %s:\n%s", name, step, errb.String())
		return nil, nil
	}

	t.Run("killed_launch_is_incomplete_and_cleaned_up", func(t *testing.T) {
		cmd, _ := midLaunch(t, "killed", "self-test")
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		out, _, _ := w.bottle("list")
		if !regexp.MustCompile(`(?m)^killed +incomplete \(at self-test\) `).MatchString(out) {
			t.Errorf("list after kill -9:\n%s", out)
		}
		if _, errs, code := w.bottle("exec", "killed", "--", "true"); code != 1 || !strings.Contains(errs, "bottle killed is incomplete") {
			t.Errorf("exec: %d %s", code, errs)
		}
		if out, errs, code := w.bottle("cleanup"); code != 0 || !strings.Contains(out, "removing: killed ") {
			t.Errorf("cleanup: %d %s %s", code, out, errs)
		}
		if h := held("killed"); h != "" {
			t.Errorf("cleanup left %s", h)
		}
		if out, _, _ := w.bottle("list", "--all"); !regexp.MustCompile(`(?m)^killed +interrupted \(at self-test\) `).MatchString(out) {
			t.Errorf("list --all after cleanup:\n%s", out)
		}
	})

	t.Run("ctrl_c_mid_launch", func(t *testing.T) {
		// The egress network is the simulated internet's (--egress-network):
		// not the bottle's, so not removed; its internal one is.
		cmd, errb := midLaunch(t, "ctrlc", "self-test")
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		code := -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		stderr := errb.String()
		if code != 130 || !regexp.MustCompile(`\nbottle: interrupted; removed [1-9]\d* containers? and 1 network\n$`).MatchString(stderr) ||
			strings.Contains(stderr, "launch failed") || strings.Contains(stderr, "self-test:") {
			t.Errorf("exit %d after SIGINT:\n%s", code, stderr)
		}
		if h := held("ctrlc"); h != "" {
			t.Errorf("the interrupted launch left %s", h)
		}
		if out, _, _ := w.bottle("list", "--all"); !regexp.MustCompile(`(?m)^ctrlc +interrupted \(at self-test\) `).MatchString(out) {
			t.Errorf("list --all:\n%s", out)
		}
	})

	t.Run("prune", func(t *testing.T) {
		out, errs, code := w.bottle("prune", "--dry-run")
		if code != 0 || !strings.Contains(out, "would remove ctrlc (interrupted (at self-test), just now)") || !strings.Contains(out, "would remove killed ") {
			t.Errorf("prune --dry-run: %d %s %s", code, out, errs)
		}
		if out, errs, code = w.bottle("prune"); code != 0 || !strings.Contains(out, "removed ctrlc ") || !strings.Contains(out, "removed killed ") {
			t.Errorf("prune: %d %s %s", code, out, errs)
		}
		for _, n := range []string{"ctrlc", "killed"} {
			if _, err := os.Stat(filepath.Join(stateDir, n)); !os.IsNotExist(err) {
				t.Errorf("prune left %s's state: %v", n, err)
			}
		}
	})
}
