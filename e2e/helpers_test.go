// Package e2e holds bottle's end-to-end tests against a real Docker engine.
// They run when BOTTLE_E2E=1 (as .ci/run sets it); there, a missing engine
// is a failure, not a skip. All traffic stays inside networks and containers
// the tests create.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// repoRoot is the module root (this file lives in e2e/).
func repoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(f))
}

func requireDocker(t testing.TB) {
	t.Helper()
	if os.Getenv("BOTTLE_E2E") == "" {
		t.Skip("end-to-end tests need a Docker engine; run with BOTTLE_E2E=1 (.ci/run does)")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Fatalf("BOTTLE_E2E=1 but no Docker engine answers: %v\n%s", err, out)
	}
}

// docker runs the docker CLI and returns trimmed stdout; failures carry the
// command line, exit status and stderr.
func docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := dockerErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if len(args) > 0 && (args[0] == "run" || args[0] == "create") {
		// Never a registry: a missing image is a clear local error.
		args = append([]string{args[0], "--pull", "never"}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, "docker", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(out.String()), fmt.Errorf("docker %s: %v\n%s%s", strings.Join(args, " "), err, errb.String(), out.String())
	}
	return strings.TrimSpace(out.String()), nil
}

// buildStatic builds a Go package into dir/name with CGO_ENABLED=0.
func buildStatic(t testing.TB, pkg, dir, name string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), pkg)
	cmd.Dir = repoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
}

// The images the suite uses. Every test gets them through images(), which
// builds them once per run of the test binary, so any test passes alone or
// in any order on an engine that has none of them (.ci/run removes them
// before the suite). Nothing is ever pulled: the base comes from
// debootstrap, the rest from it or FROM scratch.
const (
	baseImage       = "bottle-e2e-base:bookworm-node" // scripts/mkbase's: a new tag for a new package list
	sidecarTag      = "bottle-sidecar:e2e"
	fakenetTag      = "bottle-fakenet:e2e"
	fakenetGitTag   = "bottle-e2e-fakenet-git:e2e"
	hostileAgentTag = "bottle-e2e-hostile-agent:e2e"
)

// E2EImages lists every image tag the suite builds (for .ci/run, which
// removes them first); the launcher's own content-tagged bottle-sidecar:*
// and bottle-agent:* images come on top.
var E2EImages = []string{baseImage, sidecarTag, fakenetTag, fakenetGitTag, hostileAgentTag, agentBase}

var (
	imagesOnce sync.Once
	imagesErr  error
)

func images(t testing.TB) {
	t.Helper()
	requireDocker(t)
	imagesOnce.Do(func() { imagesErr = buildImages() })
	if imagesErr != nil {
		t.Fatalf("building the test images: %v", imagesErr)
	}
}

func buildImages() error {
	if out, err := exec.Command("bash", filepath.Join(repoRoot(), "scripts/mkbase"), baseImage).CombinedOutput(); err != nil {
		return fmt.Errorf("scripts/mkbase: %v\n%s", err, out)
	}
	tmp, err := os.MkdirTemp("", "bottle-e2e-images-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	static := func(pkg, dir, name string) error {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return nil
	}
	build := func(tag, dir, dockerfile string) error {
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
			return err
		}
		_, err := dockerErr("build", "-q", "-t", tag, dir)
		return err
	}

	// The sidecar image exactly as the README builds it.
	sc := filepath.Join(tmp, "sidecar")
	os.Mkdir(sc, 0o755)
	if err := static("./cmd/bottle-sidecar", sc, "bottle-sidecar"); err != nil {
		return err
	}
	if _, err := dockerErr("build", "-q", "-f", filepath.Join(repoRoot(), "Dockerfile.sidecar"), "-t", sidecarTag, sc); err != nil {
		return err
	}

	// The simulated internet: FROM scratch, and on the base (for
	// git-http-backend) with a test repository that accepts pushes.
	fn := filepath.Join(tmp, "fakenet")
	os.Mkdir(fn, 0o755)
	if err := static("./e2e/fakenet", fn, "fakenet"); err != nil {
		return err
	}
	if err := build(fakenetTag, fn, "FROM scratch\nCOPY fakenet /fakenet\nENTRYPOINT [\"/fakenet\"]\n"); err != nil {
		return err
	}
	// acme/other.git is a second repository on the same server, which the
	// tests' policies do not name: what a rule too wide would let through.
	repo := filepath.Join(fn, "git", "acme", "widget.git")
	other := filepath.Join(fn, "git", "acme", "other.git")
	work := filepath.Join(tmp, "work")
	for _, c := range [][]string{
		{"git", "init", "-q", "--bare", repo},
		{"git", "-C", repo, "config", "http.receivepack", "true"},
		{"git", "-C", repo, "symbolic-ref", "HEAD", "refs/heads/main"},
		{"git", "init", "-q", "--bare", other},
		{"git", "-C", other, "config", "http.receivepack", "true"},
		{"git", "-C", other, "symbolic-ref", "HEAD", "refs/heads/main"},
		{"git", "init", "-q", "-b", "main", work},
		{"sh", "-c", "cd " + work + " && echo hello > README && git add README && git -c user.email=t@test -c user.name=t commit -qm first && git push -q " + repo + " main && git push -q " + other + " main"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %v\n%s", c, err, out)
		}
	}
	if err := build(fakenetGitTag, fn, "FROM "+baseImage+"\nCOPY fakenet /fakenet\nCOPY git /git\nRUN chmod -R a+rwX /git\nENTRYPOINT [\"/fakenet\"]\n"); err != nil {
		return err
	}

	// A hostile agent image: every tool bottle's launch could run in it as
	// root lies. Its update-ca-certificates swaps bottle-probe for a script
	// that reports "timeout" for everything (how a self-test that trusted the
	// image was fooled), and its sleep (the agent's main process) tries the
	// same the moment the container starts.
	ha := filepath.Join(tmp, "hostile")
	os.Mkdir(ha, 0o755)
	liar := "#!/bin/sh\necho timeout\nexit 4\n"
	os.WriteFile(filepath.Join(ha, "liar"), []byte(liar), 0o755)
	os.WriteFile(filepath.Join(ha, "update-ca-certificates"), []byte("#!/bin/sh\ndate +%s.%N > /tmp/hostile-ran\ncp /opt/liar /usr/local/bin/bottle-probe 2>/dev/null\n"+
		"cat /usr/local/share/ca-certificates/*.crt >> /etc/ssl/certs/ca-certificates.crt\nexit 0\n"), 0o755)
	os.WriteFile(filepath.Join(ha, "sleep"), []byte("#!/bin/sh\nid -u > /tmp/hostile-pid1-uid\ncp /opt/liar /usr/local/bin/bottle-probe 2>/dev/null\nexec /bin/sleep.real \"$@\"\n"), 0o755)
	return build(hostileAgentTag, ha, "FROM "+baseImage+"\nRUN useradd -m agent && mkdir -p /workspace && mv /bin/sleep /bin/sleep.real\n"+
		"COPY liar /opt/liar\nCOPY update-ca-certificates /usr/sbin/update-ca-certificates\nCOPY sleep /bin/sleep\n")
}

// uniq makes resource names unique per test run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
}

// grepLines returns the lines of s that contain sub, for a failure message.
func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
