package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bottle.dev/bottle/e2e/fakemodel"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/recipe"
)

// agentPolicy is the bottle's own allowlist: nothing of the fake agent's.
// Its API host and credential come from the recipe alone.
const agentPolicy = `version: 1
allow:
  - host: ok.sim.test
  # The simulated internet lives on a private network (see e2ePolicy).
  - cidr: {{SIMA}}/32
    ports: [80, 443]
`

// fakeRecipe is the test's agent recipe, written in the project's
// .bottle/agents/fake.yaml: the fake agent installed from an npm package
// tarball ({{TARBALL}}, served by the test), its model API's host (POST
// to its paths only) and its key, bound to that host.
const fakeRecipe = `version: 1
name: fake
description: e2e/fakeagent, a test program standing in for an agent CLI
install:
  npm: ["{{TARBALL}}"]
  run: ["fakeagent --version"]
command: [fakeagent]
unattended: [--unattended]
env:
  ` + fakemodel.BaseURLVar + `: https://model.sim.test/fakemodel/v1
allow:
  - host: model.sim.test
    methods: [POST]
    paths: ["/fakemodel/**"]
credentials:
  - name: fakemodel
    hosts: [model.sim.test]
    header: x-api-key
    source: env:E2E_FAKEAGENT_KEY
    agent_env: ` + fakemodel.KeyVar + `
instructions: ~/` + fakemodel.InstructionsFile + `
skills: ~/` + fakemodel.SkillsDir + `
files:
  - path: ~/.fakeagent/mcp.json
    content: '{"mcpServers": {"bottle": {"type": "http", "url": "{mcp_url}"}}}'
`

// npmPackage is the fake agent as an npm package tarball: package.json
// whose bin is a shell wrapper that runs the static binary beside it.
func npmPackage(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	buildStatic(t, "./e2e/fakeagent", dir, "fakeagent")
	bin, err := os.ReadFile(filepath.Join(dir, "fakeagent"))
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"package/package.json", 0o644, []byte(`{"name": "fakeagent", "version": "1.0.0", "description": "bottle's e2e stand-in for an agent CLI", "license": "Apache-2.0", "bin": {"fakeagent": "bin/fakeagent"}, "os": ["linux"]}` + "\n")},
		// npm links bin/fakeagent into its bin directory: the wrapper
		// finds the binary through the link.
		{"package/bin/fakeagent", 0o755, []byte("#!/bin/sh\nexec \"$(dirname \"$(readlink -f \"$0\")\")/../lib/fakeagent\" \"$@\"\n")},
		{"package/lib/fakeagent", 0o755, bin},
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// tarballServer serves one file at /NAME to the docker build, on the
// default bridge network's gateway (a build's RUN steps are on that
// network), and counts the requests for it.
type tarballServer struct {
	URL   string
	mu    sync.Mutex
	hits  int
	other []string // requests for anything else
}

func serveTarball(t *testing.T, name string, data []byte) *tarballServer {
	t.Helper()
	gw := bridgeGateway(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatalf("listening on the docker bridge's gateway %s: %v", gw, err)
	}
	s := &tarballServer{URL: "http://" + ln.Addr().String() + "/" + name}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.URL.Path != "/"+name || r.Method != http.MethodGet {
			s.other = append(s.other, r.Method+" "+r.URL.Path)
			http.NotFound(w, r)
			return
		}
		s.hits++
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

// bridgeGateway is the host's address on Docker's default bridge network:
// its IPAM gateway, or (an engine that configured none says nothing
// there) the first IPv4 address of the bridge's interface.
func bridgeGateway(t *testing.T) string {
	t.Helper()
	gw := docker(t, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "bridge")
	if ip := net.ParseIP(gw); ip != nil {
		return ip.String()
	}
	dev := docker(t, "network", "inspect", "--format", `{{index .Options "com.docker.network.bridge.name"}}`, "bridge")
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatalf("the default bridge network's interface %q: %v", dev, err)
	}
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Fatalf("the default bridge network's interface %s has no IPv4 address", dev)
	return ""
}

func (s *tarballServer) count() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits, append([]string(nil), s.other...)
}

// running is a bottle CLI command in progress, its stdout read line by
// line as it comes.
type running struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	out   strings.Builder
	errb  bytes.Buffer
	lines chan string // every stdout line, as it arrives; closed at EOF
	code  int
}

// startBottle starts the bottle CLI with args without waiting for it.
func (w *world) startBottle(args ...string) *running {
	w.t.Helper()
	r := &running{lines: make(chan string, 1024)}
	r.cmd = exec.Command(filepath.Join(w.bin, "bottle"), args...)
	r.cmd.Env, r.cmd.Dir = w.env(), filepath.Dir(w.policyAt)
	r.cmd.Stderr = &lockedWriter{mu: &r.mu, w: &r.errb}
	stdout, err := r.cmd.StdoutPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() {
		defer close(r.lines)
		br := bufio.NewReader(stdout)
		for {
			l, err := br.ReadString('\n')
			r.mu.Lock()
			r.out.WriteString(l)
			r.mu.Unlock()
			if l != "" {
				select {
				case r.lines <- strings.TrimSuffix(l, "\n"):
				default: // nobody is waiting for that many
				}
			}
			if err != nil {
				return
			}
		}
	}()
	w.t.Cleanup(func() { r.cmd.Process.Kill() })
	return r
}

// waitLine waits for a stdout line equal to want; false when stdout ended
// or the time ran out first.
func (r *running) waitLine(want string, d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				return false
			}
			if l == want {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// wait waits for the command to end and returns its stdout, stderr and
// exit status.
func (r *running) wait(t *testing.T) (string, string, int) {
	t.Helper()
	for range r.lines { // stdout's EOF first, then the exit status
	}
	err := r.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", r.cmd.Args, err)
	}
	stdout, stderr := r.snapshot()
	return stdout, stderr, r.code
}

func (r *running) snapshot() (string, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String(), r.errb.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAgentRecipe proves the whole path of an agent recipe with
// e2e/fakeagent standing in for an agent CLI: a recipe in the project
// installs it from an npm package tarball at image build time (once: a
// second bottle with the same recipe reuses the image), adds its API host
// and credential to the bottle's policy (shown with their origin), gives
// the agent the placeholder of its key while the fake model API gets the
// real one, copies the prompt file and the skills directory where the
// recipe says, registers the supervise MCP server in the agent's own
// configuration, and runs it headless: its output streams to the user's
// terminal and into the bottle's log, and its exit status is bottle's.
func TestAgentRecipe(t *testing.T) {
	w := newWorld(t, "docker")
	// The recipe layer goes over the default agent image on the agent
	// base that has npm (on one without, the layer installs Debian's).
	agentBaseImage(t)
	w.extraEnv = append(w.extraEnv, "BOTTLE_AGENT_BASE="+agentBase)
	o := origin{t: t, ip: w.simA}
	key := e2eValue(t, "model")
	t.Setenv("E2E_FAKEAGENT_KEY", key)
	proj := filepath.Dir(w.policyAt)
	os.WriteFile(w.policyAt, []byte(strings.ReplaceAll(agentPolicy, "{{SIMA}}", w.simA)), 0o644)

	tarball := serveTarball(t, "fakeagent-1.0.0.tgz", npmPackage(t))
	recipeAt := filepath.Join(proj, ".bottle", "agents", "fake.yaml")
	os.MkdirAll(filepath.Dir(recipeAt), 0o755)
	if err := os.WriteFile(recipeAt, []byte(strings.ReplaceAll(fakeRecipe, "{{TARBALL}}", tarball.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The prompt file and the skills, from outside the workspace.
	host := t.TempDir()
	promptFile := filepath.Join(host, "PROMPT.md")
	promptText := "# House rules\nRun the tests before you say done.\n"
	os.WriteFile(promptFile, []byte(promptText), 0o644)
	skillsDir := filepath.Join(host, "skills")
	os.MkdirAll(filepath.Join(skillsDir, "review"), 0o755)
	os.WriteFile(filepath.Join(skillsDir, "review", "SKILL.md"), []byte("---\nname: review\n---\nReview the diff.\n"), 0o644)
	os.WriteFile(filepath.Join(skillsDir, "commit.md"), []byte("Write good commit messages.\n"), 0o644)
	skills := []string{"commit.md", "review/SKILL.md"}

	// The agent images this test makes (the recipe's tarball URL, and so
	// its tag, is new each run) go when it ends, after the bottles.
	t.Cleanup(func() {
		for _, n := range []string{"fa1", "fa2"} {
			b, err := os.ReadFile(filepath.Join(w.state, "bottle", n, "bottle.json"))
			var meta struct {
				AgentImage string `json:"agent_image"`
			}
			if err == nil && json.Unmarshal(b, &meta) == nil && strings.HasPrefix(meta.AgentImage, "bottle-agent:") {
				dockerErr("rmi", meta.AgentImage)
			}
		}
	})

	launchArgs := func(name string, extra ...string) []string {
		// --yes: the recipe came with the project, and is approved as
		// the project file would be.
		return append([]string{"launch", name, "--yes", "--workspace", ".", "--egress-network", w.net,
			"--upstream-dns", w.simA + ":53", "--upstream-ca", w.rootPEM}, extra...)
	}
	prompt := "fix the failing tests, then exit 3"
	want := fakemodel.Chunks(fakemodel.Request{Prompt: prompt, Instructions: promptText, Skills: skills})

	// The first launch builds the image, and the agent holds its answer
	// after the first chunk (fakemodel.HoldVar), so that the test looks
	// at it running.
	run := w.startBottle(append(launchArgs("fa1", "--agent", "fake", "--prompt", promptFile, "--skills", skillsDir,
		"-e", fakemodel.HoldVar+"=1", "--"), "-p", prompt)...)
	t.Cleanup(func() { w.bottle("stop", "fa1") })
	if !run.waitLine(want[0], 20*time.Minute) {
		run.cmd.Process.Kill()
		stdout, stderr, code := run.wait(t)
		t.Fatalf("the agent's first chunk never reached the terminal (exit %d):\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdoutHeld, _ := run.snapshot()

	var placeholder string
	t.Run("placeholder_in_the_running_agent", func(t *testing.T) {
		// The rest of the answer is held: the first chunk was streamed.
		if strings.Contains(stdoutHeld, want[1]) {
			t.Errorf("the second chunk is there while the model holds it:\n%s", stdoutHeld)
		}
		env, code := w.sh("fa1", "env")
		m := regexp.MustCompile(`(?m)^` + fakemodel.KeyVar + `=(bottle-secret-[a-z0-9-]+)$`).FindStringSubmatch(env)
		if m == nil {
			t.Fatalf("exit %d: the agent's %s is not a placeholder:\n%s", code, fakemodel.KeyVar, env)
		}
		placeholder = m[1]
		// Every process of the agent's the agent user can read, the fake
		// agent's among them (mid-answer), by its environment.
		procs, _ := w.sh("fa1", `for p in /proc/[0-9]*; do c=$(tr '\0' ' ' < $p/cmdline 2>/dev/null) || continue
case "$c" in *fakeagent*--unattended*) echo "AGENT $c";; esac
tr '\0' '\n' < $p/environ 2>/dev/null; echo; done`)
		if !strings.Contains(procs, "AGENT ") || !strings.Contains(procs, "\n"+fakemodel.KeyVar+"="+placeholder+"\n") {
			t.Errorf("no fake agent process with the placeholder:\n%s", grepLines(procs, "AGENT"))
		}
		if strings.Contains(env, key) || strings.Contains(procs, key) {
			t.Error("the agent's environment holds the real key")
		}
		// And as root, from outside: every process in the container.
		all := docker(t, "exec", "bottle-fa1-agent", "sh", "-c", "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'")
		if !strings.Contains(all, fakemodel.KeyVar+"="+placeholder+"\n") || strings.Contains(all, key) {
			t.Errorf("the agent container's processes: placeholder there %v, real key there %v",
				strings.Contains(all, placeholder), strings.Contains(all, key))
		}
		inspect, _ := dockerErr("inspect", "bottle-fa1-agent")
		if strings.Contains(inspect, key) {
			t.Error("the agent container's configuration holds the real key")
		}
	})

	o.do("POST", fakemodel.ReleasePath, "")
	stdout, stderr, code := run.wait(t)
	if code != 3 {
		t.Errorf("bottle launch exited %d; the agent asked for 3\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, key) {
		t.Error("the launch printed the real key")
	}
	hits, other := tarball.count()
	if hits == 0 {
		t.Errorf("the tarball was never fetched (other requests: %q); launch:\n%s", other, stderr)
	}

	t.Run("output_streamed_to_the_terminal", func(t *testing.T) {
		for _, s := range []string{
			"fakeagent: prompt " + strconv.Quote(prompt) + "\n",
			"fakeagent: key from " + fakemodel.KeyVar + ": " + strconv.Itoa(len(placeholder)) + " bytes, a bottle placeholder\n",
			"fakeagent: instructions /home/agent/" + fakemodel.InstructionsFile + ": " + strconv.Quote(promptText) + "\n",
			"fakeagent: skill commit.md\nfakeagent: skill review/SKILL.md\n",
			strings.Join(want, "\n") + "\n",
			"fakeagent: wrote /workspace/" + fakemodel.OutputFile + "\n",
			"fakeagent: exit 3\n",
		} {
			if !strings.Contains(stdout, s) {
				t.Errorf("stdout lacks %q:\n%s", s, stdout)
			}
		}
	})
	t.Run("real_key_at_the_model_api", func(t *testing.T) {
		n := 0
		for _, r := range o.requests() {
			if strings.Contains(r.String(), placeholder) {
				t.Errorf("the simulated internet was sent the placeholder: %s", r)
			}
			if r.Host != "model.sim.test" || r.Path != fakemodel.Path {
				continue
			}
			n++
			if got := r.Headers[fakemodel.KeyHeader]; len(got) != 1 || got[0] != key {
				t.Errorf("the model API got %s %q, not the real key", fakemodel.KeyHeader, got)
			}
		}
		if n != 1 {
			t.Errorf("%d requests to the model API; want 1", n)
		}
	})
	t.Run("prompt_skills_and_workspace_file", func(t *testing.T) {
		out, code := w.sh("fa1", "cat ~/"+fakemodel.InstructionsFile)
		if code != 0 || out != promptText {
			t.Errorf("instructions: exit %d %q", code, out)
		}
		out, code = w.sh("fa1", "cd ~/"+fakemodel.SkillsDir+" && find . -type f | sort && cat review/SKILL.md")
		if code != 0 || out != "./commit.md\n./review/SKILL.md\n---\nname: review\n---\nReview the diff.\n" {
			t.Errorf("skills: exit %d %q", code, out)
		}
		out, code = w.sh("fa1", "cat /workspace/"+fakemodel.OutputFile)
		if code != 0 || out != strings.Join(want, "\n")+"\n" {
			t.Errorf("%s: exit %d %q", fakemodel.OutputFile, code, out)
		}
	})
	t.Run("supervise_mcp_registered", func(t *testing.T) {
		out, code := w.sh("fa1", `echo "$MCP_SUPERVISE_URL"; cat ~/.fakeagent/mcp.json`)
		url, file, _ := strings.Cut(out, "\n")
		var cfg struct {
			MCPServers map[string]struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"mcpServers"`
		}
		if err := json.Unmarshal([]byte(file), &cfg); code != 0 || err != nil {
			t.Fatalf("exit %d, %v:\n%s", code, err, out)
		}
		if !strings.HasPrefix(url, "http://") || cfg.MCPServers["bottle"].URL != url || cfg.MCPServers["bottle"].Type != "http" {
			t.Errorf("MCP_SUPERVISE_URL %q; registration %+v", url, cfg)
		}
	})
	t.Run("output_in_the_bottles_log", func(t *testing.T) {
		out, errs, code := w.bottle("logs", "fa1")
		if code != 0 || !strings.Contains(out, strings.Join(want, "\n")+"\n") {
			t.Errorf("bottle logs fa1: exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("allow_list_shows_the_recipes_rule", func(t *testing.T) {
		out, errs, code := w.bottle("allow", "list", "--bottle", "fa1")
		if code != 0 || !strings.Contains(grepLines(out, "model.sim.test"), "agent fake") {
			t.Errorf("allow list --bottle fa1: exit %d\n%s%s", code, out, errs)
		}
		// The rule is the recipe's, as it wrote it: its paths only.
		got, _ := w.sh("fa1", "curl -sS -m 10 -o /dev/null -w '%{http_code}' -X POST https://model.sim.test/other")
		if got != "403" {
			t.Errorf("POST model.sim.test/other: %q; want 403", got)
		}
	})

	// The second bottle, with the same recipe named by its path: the
	// install step is cached, and the tarball not fetched again.
	t.Cleanup(func() { w.bottle("stop", "fa2") })
	t.Run("install_step_cached", func(t *testing.T) {
		stdout, stderr, code := w.bottle(append(launchArgs("fa2", "--agent", recipeAt, "--"), "-p", "say hello")...)
		if code != 0 || !strings.Contains(stdout, "fake-model chunk 1/3: heard say hello\n") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if again, other := tarball.count(); again != hits || len(other) != 0 {
			t.Errorf("the tarball was fetched %d times by the first launch and %d by both (other requests: %q)", hits, again, other)
		}
		if !strings.Contains(stderr, "agent fake: "+tarball.URL+", 1 run line (cached)") {
			t.Errorf("the second launch does not say the agent image was cached:\n%s", stderr)
		}
	})
	t.Run("shell_opens_the_agent_in_a_terminal", func(t *testing.T) {
		shellOpensTheAgent(t, w, "fa2", []string{"fake-model chunk 1/3: heard say hi, then exit 4"})
	})
}

// shellOpensTheAgent: `bottle shell NAME` of a bottle launched with an
// agent opens the agent, in a real terminal (tmux), as a person sees it:
// the line that says so, the agent's own prompt, its answer to what they
// type, and its exit status as bottle's.
func shellOpensTheAgent(t *testing.T, w *world, name string, want []string) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is missing (apt-get install tmux; .ci/run installs it)")
	}
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	var env []string
	for _, kv := range w.env() {
		if k, _, _ := strings.Cut(kv, "="); k == "XDG_STATE_HOME" || k == "BOTTLE_BACKEND" || k == "PATH" {
			env = append(env, shquote.Quote(kv))
		}
	}
	cmd := "cd " + shquote.Quote(filepath.Dir(w.policyAt)) + " && env " + strings.Join(env, " ") + " " +
		shquote.Quote(filepath.Join(w.bin, "bottle")) + " shell " + name + "; echo EXITED=$?; sleep 60"
	tmux(t, sock, "new-session", "-d", "-s", "trust", "-x", "160", "-y", "40", cmd)
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	pane := waitPane(t, sock, "fakeagent>") // capture-pane drops the trailing space
	if !strings.Contains(pane, "fake in bottle "+name+"; for a shell: bottle exec "+name+" -- bash") {
		t.Errorf("bottle shell does not say it opens the agent:\n%s", pane)
	}
	tmux(t, sock, "send-keys", "-t", "trust", "say hi, then exit 4", "Enter")
	pane = waitPane(t, sock, "EXITED=")
	for _, s := range append(want, "fakeagent: exit 4", "EXITED=4") {
		if !strings.Contains(pane, s) {
			t.Errorf("the terminal lacks %q:\n%s", s, pane)
		}
	}
}

// TestFakeRecipeParses: the test's recipe is a valid one, with what the
// fake agent documents (no Docker needed).
func TestFakeRecipeParses(t *testing.T) {
	r, err := recipe.Parse("fake.yaml", []byte(strings.ReplaceAll(fakeRecipe, "{{TARBALL}}", "http://192.0.2.1:8080/fakeagent-1.0.0.tgz")))
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "fake" || strings.Join(r.Argv([]string{"-p", "x"}), " ") != "fakeagent --unattended -p x" ||
		r.Instructions != "~/"+fakemodel.InstructionsFile || r.Skills != "~/"+fakemodel.SkillsDir ||
		len(r.Install.NPM) != 1 || !strings.Contains(string(r.Policy), "agent_env: "+fakemodel.KeyVar) {
		t.Errorf("%+v\n%s", r, r.Policy)
	}
}
