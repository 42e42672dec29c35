package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"bottle.dev/bottle/ca"
)

// TestSidecarImage runs the sidecar image on a user-defined network with a
// simulated internet behind it, and checks from a second container that an
// allowed name resolves and fetches through the proxy while a blocked name is
// refused by DNS and by the proxy.
func TestSidecarImage(t *testing.T) {
	images(t)
	img, netImg := sidecarTag, fakenetTag

	size, _ := strconv.ParseInt(docker(t, "image", "inspect", "--format", "{{.Size}}", img), 10, 64)
	t.Logf("sidecar image %s: %.1f MB", img, float64(size)/1e6)
	if size > 40e6 {
		t.Errorf("sidecar image is %d bytes", size)
	}
	if user := docker(t, "image", "inspect", "--format", "{{.Config.User}}", img); user != "65532:65532" {
		t.Errorf("image user %q", user)
	}

	netName := uniq("bottle-e2e-img")
	docker(t, "network", "create", "--label", "dev.bottle.e2e=true", netName)
	t.Cleanup(func() { dockerErr("network", "rm", netName) })
	subnet := docker(t, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", netName)

	// The simulated internet, with a test root for its certificates.
	rootDir := t.TempDir()
	root, err := ca.New("e2e-root", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Save(filepath.Join(rootDir, "root")); err != nil {
		t.Fatal(err)
	}
	fakenet := uniq("bottle-e2e-fakenet")
	docker(t, "run", "-d", "--name", fakenet, "--network", netName, "-v", filepath.Join(rootDir, "root")+":/root-ca:ro", netImg)
	t.Cleanup(func() { dockerErr("rm", "-f", fakenet) })
	fakenetIP := docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", fakenet)

	// The sidecar's config dir, owned by the image's unprivileged user.
	cfg := t.TempDir()
	policy := "version: 1\nallow:\n  - host: ok.sim.test\n  # the simulated internet lives on this private network\n  - cidr: " + subnet + "\n    ports: [443]\n"
	os.WriteFile(filepath.Join(cfg, "allowlist.yaml"), []byte(policy), 0o644)
	bottleCA, _ := ca.New("e2e-img", 0)
	if err := bottleCA.Save(filepath.Join(cfg)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(cfg, "upstream-ca.pem"), root.CertPEM(), 0o644)
	for _, f := range []string{"", "allowlist.yaml", "ca.crt", "ca.key", "upstream-ca.pem"} {
		if err := os.Chown(filepath.Join(cfg, f), 65532, 65532); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(cfg, 0o755)
	sidecar := uniq("bottle-e2e-sidecar")
	docker(t, "run", "-d", "--name", sidecar, "--network", netName, "-v", cfg+":/etc/bottle:ro", img,
		"run", "--config-dir", "/etc/bottle", "--proxy-listen", ":3128", "--dns-listen", ":53", "--upstream-dns", fakenetIP+":53", "--bottle", "img")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := dockerErr("logs", sidecar)
			t.Logf("sidecar logs:\n%s", logs)
		}
		dockerErr("rm", "-f", sidecar)
	})
	sidecarIP := docker(t, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", sidecar)

	// The client: the same image, using its probe, with the bottle CA.
	caFile := filepath.Join(t.TempDir(), "bottle-ca.pem")
	os.WriteFile(caFile, bottleCA.CertPEM(), 0o644)
	probe := func(args ...string) (string, int) {
		full := append([]string{"run", "--rm", "--network", netName, "-v", caFile + ":/ca.pem:ro",
			"-e", "HTTPS_PROXY=http://" + sidecarIP + ":3128", "-e", "HTTP_PROXY=http://" + sidecarIP + ":3128",
			"--entrypoint", "/bottle-sidecar", img, "probe", "--timeout", "5s", "--cacert", "/ca.pem"}, args...)
		out, err := dockerErr(full...)
		code := 0
		if err != nil {
			code = -1
			if i := strings.Index(err.Error(), "exit status "); i >= 0 {
				code, _ = strconv.Atoi(strings.Fields(err.Error()[i+len("exit status "):])[0])
			}
		}
		return out, code
	}
	// Wait until the sidecar answers.
	for i := 0; ; i++ {
		if _, code := probe("tcp", sidecarIP+":3128"); code == 0 {
			break
		}
		if i == 20 {
			t.Fatal("sidecar never answered on :3128")
		}
	}
	if out, code := probe("dns", "ok.sim.test", "@"+sidecarIP); code != 0 || !strings.Contains(out, fakenetIP) {
		t.Errorf("allowed name via the sidecar's DNS: %d %q", code, out)
	}
	if out, code := probe("http", "https://ok.sim.test/"); code != 0 || !strings.Contains(out, "HTTP 200") {
		t.Errorf("allowed fetch through the proxy: %d %q", code, out)
	}
	if out, code := probe("dns", "blocked.sim.test", "@"+sidecarIP); code != 5 {
		t.Errorf("blocked name via DNS: %d %q; want 5 (REFUSED)", code, out)
	}
	if out, code := probe("http", "https://blocked.sim.test/"); code != 5 {
		t.Errorf("blocked fetch: %d %q; want 5 (403)", code, out)
	}
	// The refused name never reached the simulated internet's DNS; the
	// allowed one did.
	names := fakenetQueries(t, fakenetIP)
	if strings.Contains(names, "blocked.sim.test") || !strings.Contains(names, "ok.sim.test") {
		t.Errorf("fakenet DNS saw: %s", names)
	}
	audit, _ := dockerErr("logs", sidecar)
	if !strings.Contains(audit, `"kind":"dns"`) || !strings.Contains(audit, `"name":"blocked.sim.test"`) || !strings.Contains(audit, `"host":"ok.sim.test"`) {
		t.Errorf("sidecar audit:\n%s", audit)
	}
}

// fakenetQueries returns the names the simulated internet was asked for.
func fakenetQueries(t testing.TB, ip string) string {
	t.Helper()
	resp, err := http.Get("http://" + ip + "/__dns")
	if err != nil {
		t.Fatalf("fakenet /__dns: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
