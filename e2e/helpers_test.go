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

// buildImage builds an image from a Dockerfile and a context directory.
func buildImage(t testing.TB, tag, dockerfile, contextDir string) {
	t.Helper()
	docker(t, "build", "-q", "-f", dockerfile, "-t", tag, contextDir)
}

// uniq makes resource names unique per test run.
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano()%1e6)
}
