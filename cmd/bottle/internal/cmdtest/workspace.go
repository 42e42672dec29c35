package cmdtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"bottle.dev/bottle/launcher"
)

// The real git plays the user and the agent on temporary directories, in
// an environment without the machine's configuration.

// Git runs git in dir as the user (or the agent) and returns its output,
// trimmed; a failure fails the test. Without git on PATH the test is
// skipped.
func (fx *Fixture) Git(dir string, args ...string) string {
	fx.T.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		fx.T.Skip("no git on PATH")
	}
	c := exec.Command("git", args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "HOME="+fx.T.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com")
	out, err := c.CombinedOutput()
	if err != nil {
		fx.T.Fatalf("git %v in %s: %v\n%s", args, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes a file, making its directory.
func (fx *Fixture) Write(path, data string) {
	fx.T.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		fx.T.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		fx.T.Fatal(err)
	}
}

// Repo makes the user's repository: README and main.go in one commit on
// branch main.
func (fx *Fixture) Repo() string {
	fx.T.Helper()
	dir := fx.T.TempDir()
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	fx.Git(dir, "init", "-q", "-b", "main")
	fx.Write(filepath.Join(dir, "README"), "hello\n")
	fx.Write(filepath.Join(dir, "main.go"), "package main\n")
	fx.Git(dir, "add", ".")
	fx.Git(dir, "commit", "-qm", "first")
	return dir
}

// LaunchRepo launches bottle name on backend with workspace dir.
func (fx *Fixture) LaunchRepo(name, backend, dir string) *launcher.Bottle {
	fx.T.Helper()
	return fx.LaunchSpec(backend, launcher.Spec{Name: name, Workspace: dir, Allowlist: fx.Allowlist("version: 1\nallow:\n  - host: api.example.com\n")})
}

// Workspace is where the fake engine keeps the agent's /workspace of
// bottle b: a test changes it as the agent would.
func (fx *Fixture) Workspace(b *launcher.Bottle) string {
	fx.T.Helper()
	return filepath.Join(strings.TrimSpace(fx.Fakert("", "fs", b.Agent)), "workspace")
}
