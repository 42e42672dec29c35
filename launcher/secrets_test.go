package launcher_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/syncbuf"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/launcher/internal/fakebackend"
	"bottle.dev/bottle/secret"
	"bottle.dev/bottle/secret/source"
)

// credPolicy has one credential of each shape the agent sees: a header
// with agent_env, Basic auth for git over HTTPS from a file, and AWS keys.
const credPolicy = `version: 1
allow:
  - host: api.example.com
  - host: git.example.com
  - host: "*.amazonaws.com"
credentials:
  - name: anthropic
    hosts: [api.example.com]
    header: x-api-key
    source: env:TEST_ANTHROPIC_KEY
    agent_env: ANTHROPIC_API_KEY
  - name: github
    hosts: [git.example.com]
    basic_user: x-access-token
    source: file:%s
    agent_env: GITHUB_TOKEN
  - name: aws
    hosts: ["*.amazonaws.com"]
    aws:
      access_key_id: env:TEST_AWS_ID
      secret_access_key: env:TEST_AWS_SECRET
      session_token: env:TEST_AWS_TOKEN
`

// credFixture is a launcher whose allowlist is credPolicy, whose sources
// read env (a map the test changes) and a file, with values made now.
type credFixture struct {
	l    *launcher.Launcher
	f    *fakebackend.Backend
	s    launcher.Spec
	env  map[string]string
	file string // the github token's file
}

func randomValue(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func newCredFixture(t *testing.T) *credFixture {
	t.Helper()
	l, f, s := setup(t)
	fx := &credFixture{l: l, f: f, s: s, file: filepath.Join(t.TempDir(), "gh-token")}
	fx.rotate()
	os.WriteFile(s.Allowlist, []byte(fmt.Sprintf(credPolicy, fx.file)), 0o644)
	l.Secrets = &source.Resolver{LookupEnv: func(n string) (string, bool) { v, ok := fx.env[n]; return v, ok }}
	return fx
}

// rotate gives every source a new value.
func (fx *credFixture) rotate() {
	fx.env = map[string]string{
		"TEST_ANTHROPIC_KEY": randomValue("sk-test-"), "TEST_AWS_ID": randomValue("AKIATEST"),
		"TEST_AWS_SECRET": randomValue("aws-secret-"), "TEST_AWS_TOKEN": randomValue("aws-token-"),
	}
	os.WriteFile(fx.file, []byte(randomValue("ghp_test")+"\n"), 0o600)
}

// values are the real values the sources give now.
func (fx *credFixture) values(t *testing.T) []string {
	gh, err := os.ReadFile(fx.file)
	if err != nil {
		t.Fatal(err)
	}
	return []string{fx.env["TEST_ANTHROPIC_KEY"], strings.TrimSpace(string(gh)), fx.env["TEST_AWS_ID"], fx.env["TEST_AWS_SECRET"], fx.env["TEST_AWS_TOKEN"]}
}

func readCredentials(t *testing.T, l *launcher.Launcher) *secret.File {
	t.Helper()
	p := l.CredentialsPath("demo")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v", p, st.Mode().Perm())
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 && (sys.Uid != 65532 || sys.Gid != 65532) {
		t.Errorf("%s belongs to %d:%d, not the sidecar's user", p, sys.Uid, sys.Gid)
	}
	f, err := secret.Read(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// noValue fails the test when any of values is anywhere bottle put
// something: the state directory but for the credentials file, the
// engine's record of every container, exec, copy, build and call, the
// agent's file system, and what the launch printed.
func noValue(t *testing.T, fx *credFixture, printed string, values []string) {
	t.Helper()
	var where []string
	look := func(what string, data []byte) {
		for _, v := range values {
			if bytes.Contains(data, []byte(v)) {
				where = append(where, what)
			}
		}
	}
	creds := fx.l.CredentialsPath("demo")
	swept := 0
	walk := func(root string) {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || p == creds {
				return nil
			}
			data, _ := os.ReadFile(p)
			swept++
			look(p, data)
			return nil
		})
	}
	walk(fx.l.StateDir)
	walk(fx.f.Root("bottle-demo-agent"))
	if swept < 5 {
		t.Fatalf("only %d files swept: the sweep is looking in the wrong place", swept)
	}
	look("the engine's containers", fmt.Appendf(nil, "%+v", fx.f.Runs()))
	look("the engine's execs", fmt.Appendf(nil, "%+v", fx.f.Execs()))
	look("the engine's copies", fmt.Appendf(nil, "%+v", fx.f.Copies()))
	look("the engine's builds", fmt.Appendf(nil, "%+v", fx.f.Builds()))
	look("the engine's calls", []byte(strings.Join(fx.f.Calls(), "\n")))
	look("the launch's output", []byte(printed))
	if len(where) > 0 {
		t.Errorf("a credential's value is in: %s", strings.Join(where, ", "))
	}
}

func agentEnv(t *testing.T, f *fakebackend.Backend) map[string]string {
	t.Helper()
	agent, ok := f.Container("bottle-demo-agent")
	if !ok {
		t.Fatal("no agent")
	}
	env := map[string]string{}
	for _, kv := range agent.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// TestLaunchCredentials: the launch resolves every credential on the host
// and writes them for the sidecar alone (0600, its owner); the agent gets
// placeholders in its variables; no value is anywhere else.
func TestLaunchCredentials(t *testing.T) {
	fx := newCredFixture(t)
	var out syncbuf.Buffer
	fx.l.Progress = &out
	if _, err := fx.l.Launch(context.Background(), fx.s); err != nil {
		t.Fatal(err)
	}
	values := fx.values(t)
	f := readCredentials(t, fx.l)
	if len(f.Credentials) != 3 {
		t.Fatalf("credentials file: %d credentials", len(f.Credentials))
	}
	anthropic, _ := f.Lookup("anthropic")
	github, _ := f.Lookup("github")
	aws, _ := f.Lookup("aws")
	if anthropic.Value != values[0] || github.Value != values[1] || aws.AWS == nil ||
		aws.AWS.AccessKeyID != values[2] || aws.AWS.SecretAccessKey != values[3] || aws.AWS.SessionToken != values[4] {
		t.Error("the credentials file does not hold the sources' values")
	}
	for _, p := range []string{anthropic.Placeholder, github.Placeholder, aws.Placeholder, aws.AWS.PlaceholderToken} {
		if !secret.IsPlaceholder(p) {
			t.Errorf("%q is not a placeholder", p)
		}
	}
	if !strings.HasPrefix(aws.AWS.PlaceholderKeyID, "BOTTLE") || len(aws.AWS.PlaceholderKeyID) != 20 {
		t.Errorf("AWS key id placeholder %q", aws.AWS.PlaceholderKeyID)
	}
	env := agentEnv(t, fx.f)
	for k, want := range map[string]string{"ANTHROPIC_API_KEY": anthropic.Placeholder, "GITHUB_TOKEN": github.Placeholder,
		"AWS_ACCESS_KEY_ID": aws.AWS.PlaceholderKeyID, "AWS_SECRET_ACCESS_KEY": aws.Placeholder, "AWS_SESSION_TOKEN": aws.AWS.PlaceholderToken} {
		if env[k] != want {
			t.Errorf("the agent's %s = %q; want its placeholder %q", k, env[k], want)
		}
	}
	if !strings.Contains(out.String(), "      credentials: anthropic for api.example.com (placeholder in ANTHROPIC_API_KEY); github for git.example.com (placeholder in GITHUB_TOKEN); aws for *.amazonaws.com (placeholder in AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)") {
		t.Errorf("the launch does not say what the agent holds:\n%s", out.String())
	}
	noValue(t, fx, out.String(), values)

	// Stopped, the bottle keeps no value on disk.
	if _, err := fx.l.Stop(context.Background(), "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fx.l.CredentialsPath("demo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the credentials file outlived the bottle: %v", err)
	}
}

// TestLaunchCredentialNotResolved: a source that does not resolve stops
// the launch before anything is made, with every credential that failed,
// its source and the fix; no value is said.
func TestLaunchCredentialNotResolved(t *testing.T) {
	fx := newCredFixture(t)
	values := fx.values(t)
	delete(fx.env, "TEST_ANTHROPIC_KEY")
	os.Remove(fx.file)
	_, err := fx.l.Launch(context.Background(), fx.s)
	want := "credentials of the allowlist did not resolve:\n" +
		"  credential anthropic: env:TEST_ANTHROPIC_KEY is not set; export TEST_ANTHROPIC_KEY where you run bottle, or change the source with bottle secret add anthropic … --from SOURCE\n" +
		"  credential github: file:" + fx.file + " names " + fx.file + ", which does not exist; create it, with the key on one line, or change the source with bottle secret add github … --from SOURCE"
	if err == nil || err.Error() != want {
		t.Fatalf("launch:\n got %v\nwant %s", err, want)
	}
	var ce *launcher.CredentialError
	if !errors.As(err, &ce) || len(ce.Errs) != 2 {
		t.Errorf("not a CredentialError of 2: %#v", err)
	}
	if st := fx.f.State(); st != "" {
		t.Errorf("the engine holds:\n%s", st)
	}
	if slices.ContainsFunc(fx.f.Calls(), func(c string) bool { return strings.HasPrefix(c, "NetworkCreate") || strings.HasPrefix(c, "Build") }) {
		t.Errorf("the launch went on: %q", fx.f.Calls())
	}
	if _, err := os.Stat(fx.l.Dir("demo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a state directory was made: %v", err)
	}
	for _, v := range values {
		if strings.Contains(err.Error(), v) {
			t.Error("the error holds a value")
		}
	}
}

// TestLaunchFailureDropsCredentials: a launch that fails after the
// credentials file was written removes it with the rest.
func TestLaunchFailureDropsCredentials(t *testing.T) {
	for _, call := range []string{"NetworkCreate bottle-demo-internal", "Run bottle-demo-agent"} {
		t.Run(call, func(t *testing.T) {
			fx := newCredFixture(t)
			fx.f.FailAt = call
			if _, err := fx.l.Launch(context.Background(), fx.s); err == nil {
				t.Fatal("the launch succeeded")
			}
			if _, err := os.Stat(fx.l.CredentialsPath("demo")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the credentials file is left: %v", err)
			}
		})
	}
}

// TestLaunchRefusesCredentialVariables: -e (or a project's env:) may not
// set a variable a credential fills with its placeholder.
func TestLaunchRefusesCredentialVariables(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"ANTHROPIC_API_KEY", "-e ANTHROPIC_API_KEY (or env: in bottle.yaml): the agent gets credential anthropic's placeholder in ANTHROPIC_API_KEY, and the sidecar puts the real value on its requests to api.example.com; drop ANTHROPIC_API_KEY from -e and from env in bottle.yaml"},
		{"TEST_ANTHROPIC_KEY", "-e TEST_ANTHROPIC_KEY (or env: in bottle.yaml): TEST_ANTHROPIC_KEY holds the real value of credential anthropic (its source is env:TEST_ANTHROPIC_KEY), which the agent must never hold; drop it from -e and from env in bottle.yaml (the agent has its placeholder in ANTHROPIC_API_KEY)"},
		{"AWS_SESSION_TOKEN", "-e AWS_SESSION_TOKEN (or env: in bottle.yaml): the agent gets credential aws's placeholder in AWS_SESSION_TOKEN, and the sidecar puts the real value on its requests to *.amazonaws.com; drop AWS_SESSION_TOKEN from -e and from env in bottle.yaml"},
	} {
		fx := newCredFixture(t)
		fx.s.Env = []string{"OTHER=1", tc.env + "=v"}
		if _, err := fx.l.Launch(context.Background(), fx.s); err == nil || err.Error() != tc.want {
			t.Errorf("-e %s:\n got %v\nwant %s", tc.env, err, tc.want)
		}
		if len(fx.f.Calls()) > 0 {
			t.Errorf("-e %s: the engine was called: %q", tc.env, fx.f.Calls())
		}
	}
}

// TestLaunchWithoutCredentials: an allowlist without credentials writes an
// empty credentials file (an earlier launch's values never stay), and the
// agent's environment is as it was.
func TestLaunchWithoutCredentials(t *testing.T) {
	l, f, s := setup(t)
	os.MkdirAll(l.ConfigDir("demo"), 0o700)
	os.WriteFile(l.CredentialsPath("demo"), []byte(`{"version":1,"credentials":[{"name":"old","placeholder":"p","value":"stale"}]}`), 0o600)
	if _, err := l.Launch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if cf := readCredentials(t, l); len(cf.Credentials) != 0 {
		t.Errorf("credentials: %+v", cf.Credentials)
	}
	for k := range agentEnv(t, f) {
		if strings.HasPrefix(k, "AWS_") && k != "AWS_CA_BUNDLE" {
			t.Errorf("the agent has %s", k)
		}
	}
}

// TestRefreshSecrets: a refresh resolves the sources again and rewrites
// the file, keeping the placeholders the agent holds; a credential new to
// the live allowlist gets placeholders of its own (and is said not to be
// in the agent's environment), one removed is dropped; a source that
// fails changes nothing.
func TestRefreshSecrets(t *testing.T) {
	fx := newCredFixture(t)
	ctx := context.Background()
	if _, err := fx.l.Launch(ctx, fx.s); err != nil {
		t.Fatal(err)
	}
	before := readCredentials(t, fx.l)
	fx.rotate()
	res, err := fx.l.RefreshSecrets(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Refreshed, ",") != "anthropic,github,aws" || len(res.Added)+len(res.Dropped)+len(res.NotInAgent) != 0 {
		t.Errorf("refreshed: %+v", res)
	}
	after := readCredentials(t, fx.l)
	values := fx.values(t)
	a, _ := after.Lookup("anthropic")
	g, _ := after.Lookup("github")
	w, _ := after.Lookup("aws")
	if a.Value != values[0] || g.Value != values[1] || w.AWS.AccessKeyID != values[2] || w.AWS.SecretAccessKey != values[3] || w.AWS.SessionToken != values[4] {
		t.Error("the file does not hold the new values")
	}
	for i, v := range before.Credentials {
		n := after.Credentials[i]
		if n.Placeholder != v.Placeholder || (v.AWS != nil && (n.AWS.PlaceholderKeyID != v.AWS.PlaceholderKeyID || n.AWS.PlaceholderToken != v.AWS.PlaceholderToken)) {
			t.Errorf("%s: the placeholders changed", v.Name)
		}
	}
	noValue(t, fx, "", values)

	// The live allowlist changed: anthropic gone, openai new.
	live := filepath.Join(fx.l.ConfigDir("demo"), contract.AllowlistFile)
	data, _ := os.ReadFile(live)
	pol := strings.Replace(string(data), "  - name: anthropic\n", "  - name: openai\n", 1)
	pol = strings.Replace(pol, "agent_env: ANTHROPIC_API_KEY", "agent_env: OPENAI_API_KEY", 1)
	os.WriteFile(live, []byte(pol), 0o600)
	res, err = fx.l.RefreshSecrets(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Refreshed, ",") != "github,aws" || strings.Join(res.Added, ",") != "openai" || strings.Join(res.Dropped, ",") != "anthropic" || strings.Join(res.NotInAgent, ",") != "OPENAI_API_KEY" {
		t.Errorf("refreshed: %+v", res)
	}
	cf := readCredentials(t, fx.l)
	if o, ok := cf.Lookup("openai"); !ok || !secret.IsPlaceholder(o.Placeholder) || o.Placeholder == a.Placeholder || o.Value != values[0] {
		t.Errorf("openai: %+v", o)
	}
	if _, ok := cf.Lookup("anthropic"); ok {
		t.Error("anthropic is still in the file")
	}

	// A source that fails: nothing is written.
	prev, _ := os.ReadFile(fx.l.CredentialsPath("demo"))
	delete(fx.env, "TEST_AWS_TOKEN")
	if _, err := fx.l.RefreshSecrets(ctx, "demo"); err == nil || !strings.HasPrefix(err.Error(), "credential aws session_token: env:TEST_AWS_TOKEN is not set;") {
		t.Errorf("refresh with a source unset: %v", err)
	}
	if now, _ := os.ReadFile(fx.l.CredentialsPath("demo")); !bytes.Equal(now, prev) {
		t.Error("a failed refresh changed the file")
	}
	entries, _ := os.ReadDir(fx.l.ConfigDir("demo"))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("left in the config: %s", e.Name())
		}
	}

	// A stopped bottle has nothing to refresh.
	if _, err := fx.l.Stop(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.l.RefreshSecrets(ctx, "demo"); err == nil || !strings.Contains(err.Error(), "was stopped") {
		t.Errorf("refresh of a stopped bottle: %v", err)
	}
	if _, err := fx.l.RefreshSecrets(ctx, "nope"); !errors.Is(err, launcher.ErrNoBottle) {
		t.Errorf("refresh of no bottle: %v", err)
	}
}

// TestRefreshRacingStop: a stop that runs while a refresh resolves its
// sources (here: from inside the resolution) leaves no credentials file
// behind, and the refresh says why it kept nothing.
func TestRefreshRacingStop(t *testing.T) {
	fx := newCredFixture(t)
	ctx := context.Background()
	if _, err := fx.l.Launch(ctx, fx.s); err != nil {
		t.Fatal(err)
	}
	stopped := false
	fx.l.Secrets = &source.Resolver{LookupEnv: func(n string) (string, bool) {
		if !stopped {
			stopped = true
			if _, err := fx.l.Stop(ctx, "demo"); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
		v, ok := fx.env[n]
		return v, ok
	}}
	_, err := fx.l.RefreshSecrets(ctx, "demo")
	if err == nil || err.Error() != "bottle demo was stopped during the refresh; its values were not kept" {
		t.Errorf("refresh racing a stop: %v", err)
	}
	if _, err := os.Stat(fx.l.CredentialsPath("demo")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the credentials file of a stopped bottle: %v", err)
	}
}
