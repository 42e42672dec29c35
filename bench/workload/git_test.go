package workload

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
)

func gitTips(t *testing.T, repo string) (main, next string) {
	t.Helper()
	var out bytes.Buffer
	if err := runGit(context.Background(), &out, "--git-dir", repo, "rev-parse", "refs/heads/main", "refs/heads/next"); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(out.String())
	if len(f) != 2 {
		t.Fatalf("rev-parse said %q", out.String())
	}
	return f[0], f[1]
}

// Prepare is deterministic: the tips are the ones Verify knows.
func TestGitPrepareTips(t *testing.T) {
	sizes := []struct {
		size       Size
		main, next string
	}{{Quick, gitQuickMain, gitQuickNext}}
	// Full writes ~330 MB; run it when the generator changes.
	if os.Getenv("BOTTLE_BENCH_GIT_FULL") != "" {
		sizes = append(sizes, struct {
			size       Size
			main, next string
		}{Full, gitFullMain, gitFullNext})
	}
	for _, s := range sizes {
		dir := t.TempDir()
		start := time.Now()
		if err := prepareGit(dir, s.size); err != nil {
			t.Fatal(err)
		}
		main, next := gitTips(t, filepath.Join(dir, gitRepo))
		t.Logf("size %d: main %s next %s, prepared in %v", s.size, main, next, time.Since(start))
		if main != s.main || next != s.next {
			t.Errorf("size %d: tips main %s next %s, want %s %s (update the constants in git.go if the generator changed)", s.size, main, next, s.main, s.next)
		}
	}
}

// The scenario's scripts clone and fetch from its site, and Verify
// accepts that and refuses a damaged checkout.
func TestGitScenario(t *testing.T) {
	sc := git()
	dir := t.TempDir()
	if err := sc.Prepare(dir, Quick); err != nil {
		t.Fatal(err)
	}
	sites, err := sc.Sites(dir, Quick)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 1 || sites[0].Host != gitHost {
		t.Fatalf("sites %+v, want one for %s", sites, gitHost)
	}
	srv := httptest.NewUnstartedServer(sites[0].Handler)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	home := t.TempDir()
	caFile := filepath.Join(home, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// The scripts name git.bench.test; git itself sends them to the
	// loopback server instead, and trusts its certificate.
	env := append(os.Environ(),
		"HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_SSL_CAINFO="+caFile, "HTTPS_PROXY=", "https_proxy=", "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=url."+srv.URL+"/.insteadOf", "GIT_CONFIG_VALUE_0=https://"+gitHost+"/",
	)
	work := t.TempDir()
	sh := func(name, script string) error {
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	for _, step := range []struct{ name, script string }{{"setup", sc.Setup}, {"run", sc.Run}, {"verify", sc.Verify}} {
		if err := sh(step.name, step.script); err != nil {
			t.Fatal(err)
		}
	}
	// The clone took only main: next's commits came with the fetch.
	var out bytes.Buffer
	if err := runGit(context.Background(), &out, "-C", filepath.Join(work, "clone"), "branch", "-a", "--format=%(refname)"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(out.String()); strings.Join(got, " ") != "refs/heads/main refs/remotes/origin/HEAD refs/remotes/origin/main refs/remotes/origin/next" {
		t.Errorf("refs after the run: %q", got)
	}

	if err := os.Remove(filepath.Join(work, "clone", "blobs", "007.bin")); err != nil {
		t.Fatal(err)
	}
	if err := sh("verify", sc.Verify); err == nil {
		t.Error("verify passed a checkout with a file missing")
	}
	// A second Setup starts afresh.
	if err := sh("setup", sc.Setup); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(work, "clone")); !os.IsNotExist(err) {
		t.Errorf("setup left the old clone: %v", err)
	}
}

func TestGitAllow(t *testing.T) {
	pol, err := allowlist.Parse("git.yaml", []byte("version: 1\nallow:\n"+git().Allow))
	if err != nil {
		t.Fatal(err)
	}
	if d := pol.Decide(allowlist.Request{Scheme: "https", Host: gitHost, Port: 443, Method: "POST", Path: "/" + gitRepo + "/git-upload-pack"}); d.Denied() {
		t.Errorf("git.bench.test upload-pack: %+v", d)
	}
}
