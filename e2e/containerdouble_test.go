package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestContainerDouble: the double answers like Apple's CLI for the cases
// bottle handles: Apple's messages, exit status 1.
func TestContainerDouble(t *testing.T) {
	images(t)
	dir := t.TempDir()
	buildStatic(t, "./e2e/containerdouble", dir, "container")
	c := func(args ...string) (string, int) {
		out, err := exec.Command(filepath.Join(dir, "container"), args...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return string(out), code
	}
	if out, code := c("--version"); code != 0 || !strings.HasPrefix(out, "container CLI version 1.") {
		t.Errorf("--version: %d %q", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect", "bottle-e2e-nothere"}, "container not found: bottle-e2e-nothere"},
		{[]string{"network", "inspect", "bottle-e2e-nothere"}, "network not found: bottle-e2e-nothere"},
		{[]string{"network", "create", "Bad_Name"}, "invalid network name"},
		{[]string{"network", "create", "--label", "Dev.Bottle=x", "bottle-e2e-x"}, "invalid label key"},
		{[]string{"run", "-d", "--name", "x", baseImage}, "must be 2 to 63 characters"},
		{[]string{"stop", "--all"}, "refuses --all"},
	} {
		out, code := c(tc.args...)
		if code != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d %q; want 1 and %q", tc.args, code, out, tc.want)
		}
	}
	// A network in use cannot be deleted.
	n := uniq("bottle-e2e-dbl")
	if out, code := c("network", "create", "--internal", "--label", "dev.bottle.e2e=true", n); code != 0 || strings.TrimSpace(out) != n {
		t.Fatalf("network create: %d %q", code, out)
	}
	t.Cleanup(func() { c("network", "delete", n) })
	ctr := uniq("bottle-e2e-dblc")
	if out, code := c("run", "-d", "--progress", "none", "--name", ctr, "--network", n, "--entrypoint", "sleep", baseImage, "infinity"); code != 0 {
		t.Fatalf("run: %d %s", code, out)
	}
	t.Cleanup(func() { c("delete", "--force", ctr) })
	if out, code := c("network", "delete", n); code != 1 || !strings.Contains(out, "referring containers") {
		t.Errorf("delete in-use network: %d %q", code, out)
	}
	out, code := c("inspect", ctr)
	if code != 0 || !strings.Contains(out, `"ipv4Address" : "`) || !strings.Contains(out, `\/`) {
		t.Errorf("inspect: %d\n%s", code, out)
	}
	if out, code := c("network", "inspect", n); code != 0 || !strings.Contains(out, `"mode" : "hostOnly"`) {
		t.Errorf("network inspect: %d\n%s", code, out)
	}
}
