package fakebackend

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/recipe"
)

// Recording is one launch against the fake, as the argv golden files of
// the backends render it: the specs Launch really handed the backend, and
// a Normalize that takes out of the rendered text what changes from one
// run to the next.
type Recording struct {
	Fake   *Backend
	Bottle *launcher.Bottle
	// Spec is what was launched.
	Spec launcher.Spec

	replace  []string        // old, new pairs for strings.NewReplacer
	gateways map[string]bool // of the networks the launch created
	port     string          // of the self-test's listener
}

// RecordName is the bottle a Recording launches.
const RecordName = "demo"

// Record launches a bottle the way `bottle launch` does with most options
// set (the default agent image, built with a base; a workspace; a
// variable; limits; upstream DNS and CA; approvals asked; a detached
// command) and returns what it made.
func Record(t *testing.T) *Recording {
	t.Helper()
	return record(t, nil)
}

// RecordAgent is Record with an agent recipe like the built-in claude one
// (an npm package and a run line to install, an environment, a JSON file
// that registers the MCP server, instructions and skills), a prompt and a
// skills directory: the launch of bottle launch --agent.
func RecordAgent(t *testing.T) *Recording {
	t.Helper()
	return record(t, func(s *launcher.Spec, write func(name, data string) string) {
		s.Agent = &recipe.Recipe{
			Name: "claude", File: "builtin:claude.yaml",
			Install:      recipe.Install{NPM: []string{"@anthropic-ai/claude-code"}, Run: []string{"claude --version"}},
			Command:      []string{"claude"},
			Unattended:   []string{"--dangerously-skip-permissions"},
			Env:          []string{"DISABLE_AUTOUPDATER=1"},
			Instructions: "~/.claude/CLAUDE.md",
			Skills:       "~/.claude/skills",
			Files: []recipe.File{{Path: "~/.claude.json",
				Content: `{"mcpServers": {"bottle": {"type": "http", "url": "{mcp_url}"}}, "projects": {"{workspace}": {"hasTrustDialogAccepted": true}}}`}},
			Sum: "0123456789abcdef",
		}
		s.Prompt = write("prompt.md", "Fix the failing tests.\n")
		s.Skills = filepath.Dir(write("skills/review/SKILL.md", "# review\n"))
		s.Skills = filepath.Dir(s.Skills)
	})
}

func record(t *testing.T, modify func(s *launcher.Spec, write func(name, data string) string)) *Recording {
	t.Helper()
	root := t.TempDir()
	write := func(name, data string, mode os.FileMode) string {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spec := launcher.Spec{
		Name:          RecordName,
		Allowlist:     write("allowlist.yaml", "version: 1\nallow:\n  - host: api.example.com\n", 0o644),
		AgentBase:     "debian:trixie-slim",
		Workspace:     filepath.Dir(write("workspace/README", "hello\n", 0o644)),
		Env:           []string{"GIT_AUTHOR_NAME=Ada"},
		UpstreamDNS:   "192.0.2.53:53",
		UpstreamCA:    write("upstream-ca.pem", "-----BEGIN CERTIFICATE-----\n", 0o644),
		SidecarBinary: write("bottle-sidecar", "a static binary", 0o755),
		Limits:        launcher.Limits{Memory: "4g", CPUs: "1.5", Pids: 1024},
		Command:       []string{"sleep", "600"},
		Approvals:     "ask",
	}
	if modify != nil {
		modify(&spec, func(name, data string) string { return write(name, data, 0o644) })
	}
	f := New(t)
	// No host program runs: the host's git config (the agent's identity)
	// is this machine's, not the transcript's.
	l := &launcher.Launcher{Backend: f, StateDir: filepath.Join(root, "state"), Runner: noHost{}}
	b, err := l.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	r := &Recording{Fake: f, Bottle: b, Spec: spec, gateways: f.gateways()}
	r.replace = []string{root, "@TMP@", launcher.Owner(l.StateDir), "@OWNER@"}
	if n, ok := f.Network(b.Internal); ok {
		r.replace = append(r.replace, n.Labels[launcher.LabelLaunch], "@LAUNCH@")
	}
	if r.port = r.listenerPort(); r.port != "" {
		r.replace = append(r.replace, ":"+r.port, ":@PORT@")
	}
	return r
}

// noHost is a launcher.Runner for a launch that needs no host program: it
// runs none, and each fails as if missing.
type noHost struct{}

func (noHost) Run(_ context.Context, c launcher.Cmd) error {
	return &launcher.RunError{Argv: c.Argv, ExitCode: -1, Err: os.ErrNotExist}
}

// What differs between runs, and is not bottle's to pin: random names of
// build contexts and of the self-test's blocked host, and content hashes
// of the images (their inputs have their own tests).
var (
	buildDirRE  = regexp.MustCompile(`bottle-(build|skills)-[0-9]+`)
	tokenRE     = regexp.MustCompile(`bottle-self-test-[0-9a-f]{12}`)
	imageHashRE = regexp.MustCompile(`(bottle-(?:agent|sidecar)):[0-9a-f]{16}`)
)

// Normalize replaces what changes between runs with placeholders: @TMP@
// (the test's temporary directory), @OWNER@, @LAUNCH@ (the launch id),
// @N@ (a build context's random suffix), @TOKEN@ (the self-test's random
// name), @HASH@ (an image's content hash) and @PORT@ (the port of the
// self-test's listener on the host). Transcript also writes @ENV_FILE@ for
// where a backend put a container's environment.
func (r *Recording) Normalize(s string) string {
	s = strings.NewReplacer(r.replace...).Replace(s)
	s = buildDirRE.ReplaceAllString(s, "bottle-$1-@N@")
	s = tokenRE.ReplaceAllString(s, "bottle-self-test-@TOKEN@")
	return imageHashRE.ReplaceAllString(s, "$1:@HASH@")
}

// Container is the spec of the container of role ("sidecar", "agent",
// "probe") as Launch ran it. Who the sidecar runs as depends on who runs
// the test (root hands it the image's unprivileged user, anyone else runs
// it as themselves); that user reads as @SIDECAR_USER@.
func (r *Recording) Container(t *testing.T, role string) launcher.RunSpec {
	t.Helper()
	for _, s := range r.Fake.Runs() {
		if s.Labels[launcher.LabelRole] == role {
			if role == "sidecar" && s.User == expectedSidecarUser() {
				s.User = "@SIDECAR_USER@"
			}
			return s
		}
	}
	t.Fatalf("the launch ran no %s container", role)
	return launcher.RunSpec{}
}

func expectedSidecarUser() string {
	if os.Geteuid() == 0 {
		return "65532:65532"
	}
	return fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
}

// Network is the spec of the network of role ("internal", "egress").
func (r *Recording) Network(t *testing.T, role string) launcher.NetworkSpec {
	t.Helper()
	for _, n := range r.Fake.Creates() {
		if n.Labels[launcher.LabelRole] == role {
			return n
		}
	}
	t.Fatalf("the launch created no %s network", role)
	return launcher.NetworkSpec{}
}

// Builds are the image builds, in order (the sidecar's, then the agent's).
func (r *Recording) Builds() []launcher.BuildSpec { return r.Fake.Builds() }

// Execs are the commands run in the container of role, in order, but for
// the self-test's probes of this machine's own addresses (one each): which
// of those there are depends on the machine. The probes run at once, so
// their order is not the launch's: sort what is rendered of them.
func (r *Recording) Execs(t *testing.T, role string) []launcher.ExecSpec {
	t.Helper()
	name := r.Container(t, role).Name
	drop := map[string]int{}
	for _, a := range machineAddrs() {
		drop[net.JoinHostPort(a.String(), r.port)]++
	}
	var out []launcher.ExecSpec
	for _, e := range r.Fake.Execs() {
		if e.Container != name {
			continue
		}
		if specs, ok := probeBatchOf(e.Spec.Argv); ok {
			var kept []contract.ProbeSpec
			for _, p := range specs {
				if p.Kind == "tcp" && len(p.Args) == 1 && drop[p.Args[0]] > 0 {
					drop[p.Args[0]]--
					continue
				}
				kept = append(kept, p)
			}
			batch, _ := json.Marshal(kept)
			e.Spec.Argv = append(slices.Clone(e.Spec.Argv[:5]), string(batch))
		}
		out = append(out, e.Spec)
	}
	return out
}

// probeBatchOf is the probes of argv when it is a self-test's probe batch.
func probeBatchOf(argv []string) ([]contract.ProbeSpec, bool) {
	if len(argv) != 6 || argv[1] != "probe" || argv[4] != "batch" {
		return nil, false
	}
	var specs []contract.ProbeSpec
	return specs, json.Unmarshal([]byte(argv[5]), &specs) == nil
}

// listenerPort is the port the self-test listened on, read from its probe
// of a gateway.
func (r *Recording) listenerPort() string {
	for _, e := range r.Fake.Execs() {
		specs, _ := probeBatchOf(e.Spec.Argv)
		for _, p := range specs {
			if p.Kind != "tcp" || len(p.Args) != 1 {
				continue
			}
			if h, port, err := net.SplitHostPort(p.Args[0]); err == nil && r.gateways[h] {
				return port
			}
		}
	}
	return ""
}

// machineAddrs are the addresses the launcher's self-test probes on this
// machine: every one but loopback and multicast.
func machineAddrs() []netip.Addr {
	ifaddrs, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, ia := range ifaddrs {
		if p, err := netip.ParsePrefix(ia.String()); err == nil {
			if a := p.Addr().Unmap(); !a.IsLoopback() && !a.IsMulticast() && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// Transcript replays the recorded launch through b, a real backend whose
// Runner is log, and returns every command it ran, normalised, in the
// launch's order; what the launch does at once (the probes, the copies) is
// sorted. Each section is headed by a # line.
func (r *Recording) Transcript(t *testing.T, b launcher.Backend, log *ArgvLog) []byte {
	t.Helper()
	ctx := context.Background()
	var out strings.Builder
	section := func(title string, lines []string) {
		fmt.Fprintf(&out, "# %s\n%s\n", title, strings.Join(lines, "\n"))
	}
	for _, s := range r.Builds() {
		b.Build(ctx, s)
	}
	section("images: the sidecar's, then the agent's", log.take(r))
	b.NetworkCreate(ctx, r.Network(t, "internal"))
	b.NetworkCreate(ctx, r.Network(t, "egress"))
	section("networks: internal, then egress", log.take(r))
	for _, role := range []string{"sidecar", "agent", "probe"} {
		b.Run(ctx, r.Container(t, role))
		section(role, log.take(r))
	}
	section("the agent's environment, in the env file (never on a command line)", r.Container(t, "agent").Env)
	for _, e := range r.Execs(t, "probe") {
		b.Exec(ctx, r.Container(t, "probe").Name, e)
	}
	section("self-test: the probes, in one batch (this machine's own addresses left out)", log.take(r))
	// The copies made at once (between the same two commands) are
	// sorted; each batch goes where it was made among the commands.
	copies := r.Fake.Copies()
	var lines []string
	flush := func(seq int) {
		for len(copies) > 0 && copies[0].Seq <= seq {
			for n := copies[0].Seq; len(copies) > 0 && copies[0].Seq == n; copies = copies[1:] {
				b.CopyIn(ctx, copies[0].Container, copies[0].Src, copies[0].Dst)
			}
			lines = append(lines, slices.Sorted(slices.Values(log.take(r)))...)
		}
	}
	for i, e := range r.Fake.Execs() {
		if e.Container != r.Bottle.Agent {
			continue
		}
		flush(i)
		b.Exec(ctx, r.Bottle.Agent, e.Spec)
		lines = append(lines, log.take(r)...)
	}
	flush(len(r.Fake.Execs()))
	title := "provisioning: the copies at once (sorted), then one script; then the detached command, checked and started"
	if r.Spec.Agent != nil {
		title = "provisioning: the copies at once (sorted), then one script; then the agent recipe's files, prompt and skills, as the agent user; then the detached command, checked and started"
	}
	section(title, lines)
	return []byte(out.String())
}

// ArgvLog is a launcher.Runner that writes down every command, quoted for a
// shell but not redacted (a test has no secrets), and succeeds.
type ArgvLog struct {
	mu    sync.Mutex
	lines []string
}

// Run implements launcher.Runner.
func (a *ArgvLog) Run(_ context.Context, c launcher.Cmd) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, shquote.Join(c.Argv))
	return nil
}

// envFileRE is where launcher.WriteEnvFile put a container's environment.
var envFileRE = regexp.MustCompile(`\S*/bottle-env-[0-9]+/env`)

// take returns the commands written down since the last take, normalised.
func (a *ArgvLog) take(r *Recording) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.lines
	a.lines = nil
	for i, l := range out {
		out[i] = envFileRE.ReplaceAllString(r.Normalize(l), "@ENV_FILE@")
	}
	return out
}
