package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/e2e/fakeapi"
	"bottle.dev/bottle/recipe"
)

// realAgents are the real agent CLIs TestRealAgents runs, each with the
// built-in recipe of its name, the words after -- for one headless turn,
// the text its fake API answers every turn with (e2e/fakeapi, which
// e2e/fakenet serves), and where that API reads the key.
var realAgents = []struct {
	name   string   // the built-in recipe
	args   []string // after --
	text   string   // the fake API's every answer
	host   string   // the API host the recipe's credential is bound to
	path   string   // the path of the turn's request there
	header string   // the header the key arrives in, canonical
	bearer bool     // the header is "Bearer KEY"
}{
	{"claude", []string{"-p", "say hi"}, fakeapi.ClaudeText, fakeapi.AnthropicHost, "/v1/messages", "X-Api-Key", false},
	{"codex", []string{"exec", "say hi"}, fakeapi.CodexText, fakeapi.OpenAIHost, "/v1/responses", "Authorization", true},
	{"gemini", []string{"-p", "say hi"}, fakeapi.GeminiText, fakeapi.GeminiHost, "/v1beta/models/", "X-Goog-Api-Key", false},
}

// TestRealAgentRecipes: each built-in recipe's credential goes in the
// header its CLI sends the key in (measured with fakenet's TestRealCLIs),
// so the sidecar replaces the placeholder there (no Docker needed).
func TestRealAgentRecipes(t *testing.T) {
	for _, a := range realAgents {
		c := recipeCredential(t, a.name, a.host)
		if a.bearer && c.Kind != allowlist.CredBearer || !a.bearer && (c.Kind != allowlist.CredHeader || c.Header != a.header) {
			t.Errorf("%s: the credential is sent as %s %q; the CLI sends %s (bearer %v)", a.name, c.Kind, c.Header, a.header, a.bearer)
		}
	}
}

// providerZones are the real domains fakenet answers DNS for in this test
// (--also): inside the test's own network only, so the built-in recipes'
// rules and credentials name their real hosts and nothing reaches them.
const providerZones = "anthropic.com,openai.com,googleapis.com"

// TestRealAgents runs Claude Code, OpenAI Codex CLI and Gemini CLI, each
// installed from the package registry this machine reaches by its built-in
// recipe, headless in a real bottle against a fake API that speaks its
// provider's protocol for one turn, on the simulated internet under the
// API's real name: bottle's exit status is the agent's (0), its output
// reaches the terminal with the fake's text, the fake API got the real
// key, and the agent only ever had the placeholder.
func TestRealAgents(t *testing.T) {
	w := newWorld(t, "docker", "--also", providerZones)
	agentBaseImage(t)
	// Gemini CLI needs Node.js 20: the trixie base for all three.
	w.extraEnv = append(w.extraEnv, "BOTTLE_AGENT_BASE="+agentBase)
	upstreamCA := upstreamBundle(t, w.rootPEM)
	o := origin{t: t, ip: w.simA}
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "README.md"), []byte("the workspace of the real agents\n"), 0o644)

	for _, a := range realAgents {
		t.Run(a.name, func(t *testing.T) {
			cred := recipeCredential(t, a.name, a.host)
			key := e2eValue(t, a.name)
			w.extraEnv = append(w.extraEnv, cred.Source.Ref+"="+key)
			o.clear()
			name := uniq("ra-" + a.name)
			// The agent's image goes when the test ends, after the bottle
			// (cleanups run last first): its tag hashes the install step,
			// the --upstream-ca bundle with this run's test root among it,
			// so no later run would use it, and each holds hundreds of MB.
			t.Cleanup(func() { removeAgentImage(w, name) })
			args := append([]string{"launch", name, "--agent", a.name, "--workspace", ws, "--egress-network", w.net,
				"--upstream-dns", w.simA + ":53", "--upstream-ca", upstreamCA, "--"}, a.args...)
			start := time.Now()
			stdout, stderr, code := w.bottleLong(30*time.Minute, args...)
			t.Cleanup(func() { w.bottle("stop", name) })
			// How long the first launch takes is mostly building the
			// agent's image (its npm install); CI's budget wants to know.
			t.Logf("bottle launch --agent %s: %.0fs, exit %d\n%s", a.name, time.Since(start).Seconds(), code, grepLines(stderr, "agent"))
			if code != 0 {
				t.Fatalf("bottle launch --agent %s exited %d\nstdout:\n%s\nstderr:\n%s", a.name, code, stdout, stderr)
			}
			t.Logf("the agent's output:\n%s", stdout)
			// What the agent needed of its API, the recipe's rules let
			// through: nothing to its host was refused.
			for _, e := range logEgress(t, w, name) {
				if e["host"] == a.host && e["decision"] != "allow" {
					t.Errorf("the proxy refused the agent a request to its API: %v", e)
				}
			}
			if !strings.Contains(stdout, a.text) {
				t.Errorf("the agent's output lacks %q:\n%s\nstderr:\n%s", a.text, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, key) {
				t.Error("the launch printed the real key")
			}
			if logs, errs, code := w.bottle("logs", name); code != 0 || !strings.Contains(logs, a.text) {
				t.Errorf("bottle logs %s: exit %d, without %q:\n%s%s", name, code, a.text, logs, errs)
			}

			// The agent has the placeholder, and nowhere the key.
			env, _ := w.sh(name, "env")
			m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(cred.AgentEnv) + `=(bottle-secret-[a-z0-9-]+)$`).FindStringSubmatch(env)
			if m == nil {
				t.Fatalf("the agent's %s is not a placeholder:\n%s", cred.AgentEnv, grepLines(env, cred.AgentEnv))
			}
			placeholder := m[1]
			if strings.Contains(env, key) {
				t.Error("the agent's environment holds the real key")
			}
			if inspect, _ := dockerErr("inspect", "bottle-"+name+"-agent"); strings.Contains(inspect, key) {
				t.Error("the agent container's configuration holds the real key")
			}

			// The fake API got the real key on the turn's request, and
			// the simulated internet never the placeholder.
			want := key
			if a.bearer {
				want = "Bearer " + key
			}
			turns := 0
			for _, r := range o.requests() {
				if strings.Contains(r.String(), placeholder) {
					t.Errorf("the simulated internet was sent the placeholder: %s", r)
				}
				if r.Host != a.host || !strings.HasPrefix(r.Path, a.path) || r.Method != "POST" {
					continue
				}
				turns++
				if got := r.Headers[a.header]; len(got) != 1 || got[0] != want {
					t.Errorf("%s %s got %s of %d bytes, not the real key", r.Method, r.Path, a.header, len(strings.Join(got, "")))
				}
			}
			if turns == 0 {
				t.Errorf("no POST %s%s* reached the fake API; requests: %v", a.host, a.path, o.requests())
			}
		})
	}
}

// removeAgentImage removes the image bottle name's agent ran from.
func removeAgentImage(w *world, name string) {
	b, err := os.ReadFile(filepath.Join(w.state, "bottle", name, "bottle.json"))
	var meta struct {
		AgentImage string `json:"agent_image"`
	}
	if err == nil && json.Unmarshal(b, &meta) == nil && strings.HasPrefix(meta.AgentImage, "bottle-agent:") {
		dockerErr("rmi", meta.AgentImage)
	}
}

// logEgress logs what the bottle's proxy decided for each of the agent's
// requests (which hosts the CLI tried beyond its API, and were refused),
// and returns the audit lines.
func logEgress(t *testing.T, w *world, name string) []map[string]any {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(w.state, "bottle", name, "logs", "egress.jsonl"))
	var b strings.Builder
	var all []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(l), &e) != nil {
			continue
		}
		all = append(all, e)
		for _, k := range []string{"decision", "cause", "method", "host", "path", "status"} {
			if v, ok := e[k]; ok {
				fmt.Fprintf(&b, "%s=%v ", k, v)
			}
		}
		b.WriteString("\n")
	}
	t.Logf("egress of %s:\n%s", name, b.String())
	return all
}

// recipeCredential is the built-in recipe's credential bound to host:
// which host variable the test sets (its source, env:VAR), which the
// agent gets the placeholder in.
func recipeCredential(t *testing.T, name, host string) allowlist.Credential {
	t.Helper()
	r, err := recipe.Find(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := allowlist.Parse(r.File, r.Policy)
	if err != nil {
		t.Fatalf("the %s recipe's policy: %v", name, err)
	}
	for _, c := range p.Credentials() {
		if c.Source.Scheme == "env" && c.AgentEnv != "" && c.Matches(host) {
			return *c
		}
	}
	t.Fatalf("the %s recipe has no credential from env: for %s, with an agent variable:\n%s", name, host, r.Policy)
	return allowlist.Credential{}
}

// upstreamBundle writes the PEM bottle launch gets as --upstream-ca: the
// simulated internet's test root (the fake APIs' certificates), and this
// machine's own trust store, read from the machine: the agent image's
// npm install reaches the package registry through this machine's
// network, which may present certificates of a root only that store has.
func upstreamBundle(t *testing.T, rootPEM string) string {
	t.Helper()
	root, err := os.ReadFile(rootPEM)
	if err != nil {
		t.Fatal(err)
	}
	system, from := systemRoots()
	if system == nil {
		t.Fatal("no system trust store on this machine (SSL_CERT_FILE, or the usual bundle files); the agent image's npm install needs it")
	}
	t.Logf("--upstream-ca: the test root and %s", from)
	path := filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(path, append(append(root, '\n'), system...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// systemRoots reads this machine's trust store: SSL_CERT_FILE, else the
// first bundle of the places Go's crypto/x509 looks on Linux.
func systemRoots() ([]byte, string) {
	files := []string{
		"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo
		"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL
		"/etc/ssl/ca-bundle.pem",                            // OpenSUSE
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
		"/etc/ssl/cert.pem",                                 // Alpine
	}
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("BEGIN CERTIFICATE")) {
			return b, f
		}
	}
	return nil, ""
}

// bottleLong is w.bottle with its own timeout: a first launch of a real
// agent builds an image of hundreds of MB.
func (w *world) bottleLong(d time.Duration, args ...string) (string, string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.bin, "bottle"), args...)
	cmd.Env = w.env()
	cmd.Dir = filepath.Dir(w.policyAt)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("bottle %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}
