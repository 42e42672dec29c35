package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// gitPolicy declares one repository of the simulated internet's private
// git server, pushable under refs/heads/agent/ only, signed in to with the
// forge credential (the server's password); a passthrough rule lets ssh
// reach the same host, which the git gate must refuse.
const gitPolicy = `version: 1
allow:
  - host: forge.sim.test
    ports: [22]
    tls: passthrough
  # The simulated internet lives on a private network (see e2ePolicy).
  - cidr: {{SIMA}}/32
    ports: [443, 22]
git:
  - repo: forge.sim.test/private-git/acme/widget
    push: ["refs/heads/agent/**"]
    credential: forge
credentials:
  - name: forge
    hosts: [forge.sim.test]
    basic_user: x-access-token
    source: env:E2E_FORGE_TOKEN
`

// gitRepoURL is the declared repository, as the agent clones it.
const gitRepoURL = "https://forge.sim.test/private-git/acme/widget.git"

// awsKeyID is a fresh key id of the shape gitleaks' aws-access-token rule
// finds (AKIA and 16 of A-Z, 2-7), made at test time: none is written in
// the source.
func awsKeyID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, 16)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "AKIA" + string(b)
}

// TestGitGate: a real bottle whose policy declares one repository of the
// simulated internet's git server (which wants the real password, for
// pushes too). The agent clones and fetches it holding no password; other
// repositories of the server stay out of reach; it pushes under
// refs/heads/agent/, and every other push is refused the way git shows a
// server's refusal, before anything reaches the server: a ref outside
// push:, a deletion, a cloud key three commits deep, the bottle's own
// credential base64-encoded. Its SSH remotes go by HTTPS, through the
// gate; ssh to the repository's host is refused; a 100 MB push goes
// through with the sidecar's memory bounded. One bottle for all of it.
func TestGitGate(t *testing.T) {
	pass := e2eValue(t, "forge")
	w := newWorld(t, "docker", "--git-password", pass)
	o := origin{t: t, ip: w.simA}
	t.Setenv("E2E_FORGE_TOKEN", pass)
	// The host's git identity, as the launch finds it in the workspace.
	hostConfig := filepath.Join(t.TempDir(), "gitconfig")
	os.WriteFile(hostConfig, []byte("[user]\n\tname = Ada E2E\n\temail = ada@e2e.example.com\n"), 0o644)
	w.extraEnv = []string{"GIT_CONFIG_GLOBAL=" + hostConfig, "GIT_CONFIG_NOSYSTEM=1"}
	os.WriteFile(w.policyAt, []byte(strings.ReplaceAll(gitPolicy, "{{SIMA}}", w.simA)), 0o644)
	const name = "gitgate"
	w.launch(name)
	sidecar := "bottle-" + name + "-sidecar"
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+pass))

	// agent runs a script in the agent with git's prompts off, and logs
	// what git said.
	agent := func(t *testing.T, script, stdin string) (string, int) {
		t.Helper()
		out, code := w.execIn(name, "export GIT_TERMINAL_PROMPT=0; cd /tmp\n"+script, stdin)
		t.Logf("exit %d:\n%s", code, out)
		return out, code
	}
	refs := func() map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(o.do("GET", "/__git-refs?repo=acme/widget.git", ""))), "\n") {
			if id, ref, ok := strings.Cut(l, " "); ok {
				m[ref] = id
			}
		}
		return m
	}
	// pushes are the receive-pack requests the server got.
	pushes := func() []originRequest {
		var out []originRequest
		for _, r := range o.requests() {
			if strings.HasSuffix(r.Path, "/git-receive-pack") {
				out = append(out, r)
			}
		}
		return out
	}
	// refused checks a push that the gate refused: git's own line for it,
	// with the reason, and nothing sent to the server.
	refused := func(t *testing.T, out string, code int, line string, before map[string]string) {
		t.Helper()
		if code == 0 || !strings.Contains(out, line+" (bottle: ") {
			t.Errorf("want a refusal %q… (exit %d):\n%s", line+" (bottle: ", code, out)
		}
		if got := refs(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("the server's refs changed: %v, were %v", got, before)
		}
		if p := pushes(); len(p) > 0 {
			t.Errorf("a refused push reached the server: %d requests to %s", len(p), p[0].Path)
		}
	}
	lastLine := func(s string) string {
		lines := strings.Split(strings.TrimSpace(s), "\n")
		return strings.TrimSpace(lines[len(lines)-1])
	}

	t.Run("provisioned_rewrites_and_identity", func(t *testing.T) {
		out, code := agent(t, "git config --system --get-all url.https://forge.sim.test/.insteadOf; git config user.name; git config user.email; git config http.version", "")
		if want := "git@forge.sim.test:\nssh://git@forge.sim.test/\nAda E2E\nada@e2e.example.com\nHTTP/1.1\n"; code != 0 || out != want {
			t.Errorf("got %q; want %q", out, want)
		}
	})
	if !t.Run("clone_without_the_password", func(t *testing.T) {
		o.clear()
		out, code := agent(t, "set -e; rm -rf w; git clone -q "+gitRepoURL+" w; cat w/README", "")
		if code != 0 || !strings.Contains(out, "hello") {
			t.Fatalf("clone: exit %d\n%s", code, out)
		}
		// The server got the real password, on every request…
		n := 0
		for _, r := range o.requests() {
			if strings.HasPrefix(r.Path, "/private-git/acme/widget.git/") {
				n++
				if a := r.Headers["Authorization"]; len(a) != 1 || a[0] != auth {
					t.Errorf("%s %s came without the real password", r.Method, r.Path)
				}
			}
		}
		if n < 2 {
			t.Errorf("the server saw %d requests of the clone", n)
		}
		// … and the agent holds none of it.
		out, _ = agent(t, "env; cat /etc/gitconfig ~/.gitconfig ~/.git-credentials w/.git/config 2>/dev/null; true", "")
		if found := findIn(strings.NewReader(out), []string{pass, auth}); len(found) > 0 {
			t.Errorf("the agent holds the password")
		}
	}) {
		t.FailNow()
	}
	t.Run("other_repository_on_the_host_denied", func(t *testing.T) {
		o.clear()
		out, code := agent(t, "git clone -q https://forge.sim.test/private-git/acme/other.git other 2>&1", "")
		if code == 0 || !strings.Contains(out, "403") {
			t.Errorf("clone of a repository not declared: exit %d\n%s", code, out)
		}
		for _, r := range o.requests() {
			if strings.Contains(r.Path, "other.git") {
				t.Errorf("the server got %s %s", r.Method, r.Path)
			}
		}
	})

	var pushed string
	t.Run("push_to_an_allowed_ref", func(t *testing.T) {
		o.clear()
		out, code := agent(t, `set -e; cd w; echo agent work > agent.txt; git add agent.txt; git commit -qm "agent: work"
git push origin HEAD:refs/heads/agent/x 2>&1; git rev-parse HEAD`, "")
		pushed = lastLine(out)
		if code != 0 || !strings.Contains(out, "HEAD -> agent/x") {
			t.Fatalf("push: exit %d\n%s", code, out)
		}
		if got := refs()["refs/heads/agent/x"]; got != pushed {
			t.Errorf("the server's agent/x is %q; want %s", got, pushed)
		}
		p := pushes()
		if len(p) != 1 || len(p[0].Headers["Authorization"]) != 1 || p[0].Headers["Authorization"][0] != auth {
			t.Errorf("the push reached the server %d times, or without the real password", len(p))
		}
		if w.waitAudit(name, `"kind":"git-push"`, `"refs/heads/agent/x"`) == "" {
			t.Errorf("no git-push audit line for agent/x")
		}
	})
	t.Run("fetch_sees_the_push", func(t *testing.T) {
		out, code := agent(t, "set -e; rm -rf w2; git clone -q "+gitRepoURL+" w2; cd w2; git fetch -q origin agent/x; git rev-parse FETCH_HEAD", "")
		if code != 0 || pushed == "" || lastLine(out) != pushed {
			t.Errorf("fetched %q; want %s (exit %d)", lastLine(out), pushed, code)
		}
	})
	t.Run("push_to_main_refused", func(t *testing.T) {
		before := refs()
		o.clear()
		out, code := agent(t, `set -e; cd w; echo onto main >> README; git commit -qam "agent: onto main"
git push origin main 2>&1`, "")
		refused(t, out, code, " ! [remote rejected] main -> main", before)
	})
	t.Run("cloud_key_three_commits_deep_refused", func(t *testing.T) {
		key := awsKeyID()
		before := refs()
		o.clear()
		out, code := agent(t, `set -e; cd w; git checkout -q -b leak origin/main; mkdir -p config
{ echo "region = eu-west-1"; echo "aws_access_key_id = $(cat)"; } > config/aws.env
git add config; git commit -qm "add the config"
echo 1 > one; git add one; git commit -qm one
echo 2 > two; git add two; git commit -qm two
git push origin HEAD:refs/heads/agent/leak 2>&1`, key)
		refused(t, out, code, " ! [remote rejected] HEAD -> agent/leak", before)
		if !strings.Contains(out, "config/aws.env") {
			t.Errorf("the refusal does not name the file:\n%s", out)
		}
		audit, _ := os.ReadFile(filepath.Join(w.state, "bottle", name, "logs", "egress.jsonl"))
		logs, _ := dockerErr("logs", sidecar)
		if found := findIn(strings.NewReader(out+string(audit)+logs), []string{key}); len(found) > 0 {
			t.Errorf("the key was printed, audited or logged")
		}
	})
	t.Run("credential_base64_refused", func(t *testing.T) {
		encoded := base64.StdEncoding.EncodeToString([]byte(pass))
		before := refs()
		o.clear()
		out, code := agent(t, `set -e; cd w; git checkout -q -b notes origin/main; cat > notes.txt
git add notes.txt; git commit -qm notes; git push origin HEAD:refs/heads/agent/notes 2>&1`, "the token, for later: "+encoded+"\n")
		refused(t, out, code, " ! [remote rejected] HEAD -> agent/notes", before)
		if !strings.Contains(out, "remote: bottle: push blocked: the value of credential forge in notes.txt:1 (commit ") {
			t.Errorf("the refusal does not name the credential and the file:\n%s", out)
		}
		if found := findIn(strings.NewReader(out), []string{pass, encoded}); len(found) > 0 {
			t.Errorf("the refusal holds the value")
		}
	})
	t.Run("ref_deletion_refused", func(t *testing.T) {
		before := refs()
		if before["refs/heads/agent/x"] == "" {
			t.Fatalf("no agent/x to delete: %v", before)
		}
		o.clear()
		out, code := agent(t, "cd w; git push origin :refs/heads/agent/x 2>&1", "")
		refused(t, out, code, " ! [remote rejected] agent/x", before)
	})
	t.Run("ssh_remote_goes_by_https", func(t *testing.T) {
		o.clear()
		out, code := agent(t, `set -e; rm -rf s; git clone -q git@forge.sim.test:private-git/acme/widget.git s; cd s
git ls-remote --get-url origin; echo ssh > ssh.txt; git add ssh.txt; git commit -qm "agent: by ssh remote"
git push -q origin HEAD:refs/heads/agent/ssh 2>&1; git rev-parse HEAD`, "")
		if code != 0 || !strings.Contains(out, gitRepoURL+"\n") {
			t.Fatalf("exit %d\n%s", code, out)
		}
		if got := refs()["refs/heads/agent/ssh"]; got == "" || got != lastLine(out) {
			t.Errorf("the server's agent/ssh is %q; want %s", got, lastLine(out))
		}
		if p := pushes(); len(p) != 1 {
			t.Errorf("the push did not go by HTTPS to the server (%d receive-packs)", len(p))
		}
	})
	t.Run("ssh_to_the_repository_host_refused", func(t *testing.T) {
		out, code := agent(t, `ssh -o ProxyCommand='bottle-probe connect %h:%p' -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR git@forge.sim.test true 2>&1`, "")
		if code == 0 || !strings.Contains(out, "403") || !strings.Contains(out, "https://forge.sim.test/") {
			t.Errorf("ssh to the repository's host: exit %d\n%s", code, out)
		}
	})
	t.Run("100MB_push_with_the_sidecar_memory_bounded", func(t *testing.T) {
		mem := watchMemory(t, sidecar)
		start := time.Now()
		out, code := agent(t, `set -e; cd w; git checkout -q -b big origin/main; head -c 100M /dev/urandom > big.bin
git add big.bin; git commit -qm "agent: 100 MB"; git push -q origin HEAD:refs/heads/agent/big 2>&1; git rev-parse HEAD`, "")
		anon, total, how := mem.stop()
		t.Logf("sidecar peak memory: %d MiB (%s; with the page cache of the spool %d MiB); the push took %.1fs", anon>>20, how, total>>20, time.Since(start).Seconds())
		if code != 0 {
			t.Fatalf("push: exit %d\n%s", code, out)
		}
		if got := refs()["refs/heads/agent/big"]; got != lastLine(out) {
			t.Errorf("the server's agent/big is %q; want %s", got, lastLine(out))
		}
		// Under the size of the one blob: a gate that held it whole (or
		// the pack) would go over. The sidecar idles at about 25 MiB.
		if anon == 0 || anon >= 96<<20 {
			t.Errorf("the sidecar's peak memory is %d MiB; want some, under 96 (less than the 100 MB blob)", anon>>20)
		}
		if st := docker(t, "inspect", "--format", "{{.State.Running}} {{.State.OOMKilled}} {{.RestartCount}}", sidecar); st != "true false 0" {
			t.Errorf("the sidecar: running, OOM-killed, restarts: %s", st)
		}
		// The gate had the pack in hand: it audited the push, whole.
		line := w.waitAudit(name, `"kind":"git-push"`, `"refs/heads/agent/big"`)
		var rec struct {
			Git struct {
				Bytes int64 `json:"pack_bytes"`
			} `json:"git"`
		}
		if json.Unmarshal([]byte(line), &rec); rec.Git.Bytes < 100<<20 {
			t.Errorf("the gate's account of the push: %s", line)
		}
	})
}

// memoryWatch samples a container's memory while a test runs.
type memoryWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	anon int64 // the peak of anonymous memory sampled (the heap, not the page cache)
	peak func() int64
	how  string
}

// watchMemory samples container's memory every 50 ms from its cgroup (v2:
// memory.stat's anon; v1: its rss), and reads the cgroup's own peak
// (page cache included) at the end; without a cgroup to read, it asks
// docker stats.
func watchMemory(t *testing.T, container string) *memoryWatch {
	t.Helper()
	m := &memoryWatch{done: make(chan struct{})}
	pid := docker(t, "inspect", "--format", "{{.State.Pid}}", container)
	dir, v2 := cgroupDir(pid)
	sample := func() int64 { return dockerStatsMemory(container) }
	m.how, m.peak = "docker stats", func() int64 { return 0 }
	if dir != "" {
		stat, peakFile, key := "memory.stat", "memory.peak", "anon"
		m.how = "cgroup v2 anon"
		if !v2 {
			peakFile, key, m.how = "memory.max_usage_in_bytes", "total_rss", "cgroup v1 rss"
		}
		sample = func() int64 { return statValue(filepath.Join(dir, stat), key) }
		m.peak = func() int64 {
			b, _ := os.ReadFile(filepath.Join(dir, peakFile))
			n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return n
		}
	}
	every := 50 * time.Millisecond
	if dir == "" {
		every = 0 // docker stats takes its own second
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			m.anon = max(m.anon, sample())
			select {
			case <-m.done:
				return
			case <-time.After(every):
			}
		}
	}()
	return m
}

// stop ends the sampling: the peak sampled, the cgroup's peak, and how it
// was measured.
func (m *memoryWatch) stop() (anon, total int64, how string) {
	close(m.done)
	m.wg.Wait()
	return m.anon, m.peak(), m.how
}

// cgroupDir is the memory cgroup of process pid on this machine, and
// whether it is cgroup v2; "" when it cannot be found.
func cgroupDir(pid string) (string, bool) {
	f, err := os.Open("/proc/" + pid + "/cgroup")
	if err != nil {
		return "", false
	}
	defer f.Close()
	var v1, v2 string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case strings.Contains(","+parts[1]+",", ",memory,"):
			v1 = parts[2]
		}
	}
	if v1 != "" {
		if d := filepath.Join("/sys/fs/cgroup/memory", v1); fileExists(filepath.Join(d, "memory.stat")) {
			return d, false
		}
	}
	if v2 != "" {
		if d := filepath.Join("/sys/fs/cgroup", v2); fileExists(filepath.Join(d, "memory.stat")) {
			return d, true
		}
	}
	return "", false
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// statValue is key's value in a cgroup memory.stat file (0 when absent).
func statValue(path, key string) int64 {
	data, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == key {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// dockerStatsMemory is a container's memory use as docker stats shows it
// (without the page cache), in bytes.
func dockerStatsMemory(container string) int64 {
	out, err := dockerErr("stats", "--no-stream", "--format", "{{.MemUsage}}", container)
	if err != nil {
		return 0
	}
	used, _, _ := strings.Cut(out, "/")
	used = strings.TrimSpace(used)
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
		if num, ok := strings.CutSuffix(used, u.suffix); ok {
			f, _ := strconv.ParseFloat(num, 64)
			return int64(f * u.mult)
		}
	}
	return 0
}
