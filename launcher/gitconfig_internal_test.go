package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
)

// TestGitHosts: one rewrite per host, in file order, whether the entry's
// path has globs or not.
func TestGitHosts(t *testing.T) {
	got := gitHosts([]*allowlist.GitRepo{
		{Host: "git.example.com", Path: "acme/widget"},
		{Host: "forge.example.org", Path: "acme/*"},
		{Host: "git.example.com", Path: "acme/**"},
	})
	if !slices.Equal(got, []string{"git.example.com", "forge.example.org"}) {
		t.Errorf("gitHosts = %q", got)
	}
	if got := gitHosts(nil); got != nil {
		t.Errorf("no entries: %q", got)
	}
}

// TestGitScriptRewrites: the script's lines exactly, then the script run
// by a real sh and git (twice: it adds nothing the second time), after
// which git expands the agent's SSH remotes of the declared hosts to
// HTTPS, and leaves other hosts' alone.
func TestGitScriptRewrites(t *testing.T) {
	script := gitScript(GitIdentity{Name: "bottle agent (demo)", Email: "agent@demo.bottle.invalid"}, identityDefault, []string{"git.example.com", "forge.example.org"})
	want := `if command -v git >/dev/null 2>&1 && ! git config --system user.email >/dev/null 2>&1; then
git config --system user.name 'bottle agent (demo)' && git config --system user.email agent@demo.bottle.invalid; fi
if command -v git >/dev/null 2>&1 && ! git config --system http.version >/dev/null 2>&1; then
git config --system http.version HTTP/1.1; fi
if command -v git >/dev/null 2>&1; then
git config --system --get-all url.https://git.example.com/.insteadOf | grep -qxF git@git.example.com: || git config --system --add url.https://git.example.com/.insteadOf git@git.example.com:
git config --system --get-all url.https://git.example.com/.insteadOf | grep -qxF ssh://git@git.example.com/ || git config --system --add url.https://git.example.com/.insteadOf ssh://git@git.example.com/
git config --system --get-all url.https://forge.example.org/.insteadOf | grep -qxF git@forge.example.org: || git config --system --add url.https://forge.example.org/.insteadOf git@forge.example.org:
git config --system --get-all url.https://forge.example.org/.insteadOf | grep -qxF ssh://git@forge.example.org/ || git config --system --add url.https://forge.example.org/.insteadOf ssh://git@forge.example.org/
fi
`
	if script != want {
		t.Errorf("script:\n%s\nwant:\n%s", script, want)
	}

	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git here to run the script with")
	}
	dir := t.TempDir()
	system := filepath.Join(dir, "gitconfig")
	env := append(os.Environ(), "GIT_CONFIG_SYSTEM="+system, "GIT_CONFIG_GLOBAL=/dev/null", "HOME="+dir)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for range 2 {
		cmd := exec.Command("sh", "-c", "set -e\n"+script)
		cmd.Env, cmd.Dir = env, dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the script: %v\n%s", err, out)
		}
	}
	if got := git("config", "--system", "--get-all", "url.https://git.example.com/.insteadOf"); got != "git@git.example.com:\nssh://git@git.example.com/" {
		t.Errorf("after two runs, the rewrites are %q", got)
	}
	if got := git("config", "--system", "user.name"); got != "bottle agent (demo)" {
		t.Errorf("user.name %q", got)
	}
	if got := git("config", "--system", "http.version"); got != "HTTP/1.1" {
		t.Errorf("http.version %q", got)
	}
	for remote, want := range map[string]string{
		"git@git.example.com:acme/widget.git":       "https://git.example.com/acme/widget.git",
		"ssh://git@git.example.com/acme/widget.git": "https://git.example.com/acme/widget.git",
		"git@forge.example.org:acme/tool":           "https://forge.example.org/acme/tool",
		"git@other.example.com:acme/widget.git":     "git@other.example.com:acme/widget.git",
		"https://git.example.com/acme/widget.git":   "https://git.example.com/acme/widget.git",
	} {
		if got := git("ls-remote", "--get-url", remote); got != want {
			t.Errorf("%s goes to %s; want %s", remote, got, want)
		}
	}
	// An identity the image set stays, unless the project gives one.
	git("config", "--system", "user.email", "image@example.com")
	cmd := exec.Command("sh", "-c", "set -e\n"+gitScript(GitIdentity{Name: "Ada", Email: "ada@example.com"}, identityHost, nil))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := git("config", "--system", "user.email"); got != "image@example.com" {
		t.Errorf("the host's identity replaced the image's: %q", got)
	}
	cmd = exec.Command("sh", "-c", "set -e\n"+gitScript(GitIdentity{Name: "Widget Bot", Email: "bot@example.com"}, identityProject, nil))
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got := git("config", "--system", "user.email"); got != "bot@example.com" {
		t.Errorf("the project's identity did not replace the image's: %q", got)
	}
}
