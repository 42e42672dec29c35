package workload

import (
	"encoding/json"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNPMInstall runs the scenario's own Setup, Run and Verify with the
// host's npm against the registry on a loopback TLS server: the registry
// URL is the only one npm is given, its CA the only extra root.
func TestNPMInstall(t *testing.T) {
	lookTool(t, "npm")
	s := npm()
	data := t.TempDir()
	if err := s.Prepare(data, Quick); err != nil {
		t.Fatal(err)
	}
	sites, err := s.Sites(data, Quick)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 1 || sites[0].Host != NPMHost {
		t.Fatalf("sites = %v", sites)
	}
	srv := httptest.NewTLSServer(sites[0].Handler)
	defer srv.Close()
	cafile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(cafile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)

	work, home := t.TempDir(), t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	sh := func(script string) string {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir, cmd.Env = work, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s\n%s", err, out, script)
		}
		return string(out)
	}
	sh(s.Setup)
	rc, err := os.ReadFile(filepath.Join(work, ".npmrc"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rc), "registry=https://"+NPMHost+"/\n") {
		t.Fatalf(".npmrc does not name the simulated registry:\n%s", rc)
	}
	rc = []byte(strings.Replace(string(rc), "https://"+NPMHost+"/", srv.URL+"/", 1) + "cafile=" + cafile + "\n")
	os.WriteFile(filepath.Join(work, ".npmrc"), rc, 0o644)
	sh(s.Run)
	if out := sh(s.Verify); !strings.Contains(out, "20 packages installed") {
		t.Errorf("verify said %q, want 20 packages", out)
	}
	// The lock file records each tarball with its integrity, from the
	// server npm was given.
	var lock struct {
		Packages map[string]struct{ Resolved, Integrity string }
	}
	b, _ := os.ReadFile(filepath.Join(work, "package-lock.json"))
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatal(err)
	}
	n := 0
	for p, v := range lock.Packages {
		if p == "" {
			continue
		}
		n++
		if !strings.HasPrefix(v.Resolved, srv.URL+"/") || !strings.HasPrefix(v.Integrity, "sha512-") {
			t.Errorf("%s: resolved %q integrity %q", p, v.Resolved, v.Integrity)
		}
	}
	if n != npmCount(Quick) {
		t.Errorf("lock has %d packages, want %d", n, npmCount(Quick))
	}

	// Verify fails when a package is missing.
	os.RemoveAll(filepath.Join(work, "node_modules", npmName(7)))
	cmd := exec.Command("sh", "-c", s.Verify)
	cmd.Dir, cmd.Env = work, env
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("verify passed with a package removed: %s", out)
	}
}

// TestNPMPrepareDeterministic: two preparations give the same bytes.
func TestNPMPrepareDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if err := prepareNPM(a, Quick); err != nil {
		t.Fatal(err)
	}
	prepareNPM(b, Quick)
	for _, f := range []string{"bench-pkg-003.json", "tarballs/bench-pkg-003-1.0.0.tgz"} {
		x, _ := os.ReadFile(filepath.Join(a, "npm", f))
		y, _ := os.ReadFile(filepath.Join(b, "npm", f))
		if len(x) == 0 || string(x) != string(y) {
			t.Errorf("%s differs between two preparations", f)
		}
	}
}
