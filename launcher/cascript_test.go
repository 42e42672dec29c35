package launcher

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/ca"
)

// The CA appended to an image's bundle must parse from it even when the
// bundle's last line has no newline: glued to the last "-----END
// CERTIFICATE-----", neither block would, and the grep check would still
// pass.
func TestCAScriptBundleWithoutFinalNewline(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	root := t.TempDir()
	mint := func() []byte {
		c, err := ca.New("test", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return c.CertPEM()
	}
	caPEM := mint()
	imagePEM := strings.TrimRight(string(mint()), "\n") // the image's own last root
	file := func(p string) string { return filepath.Join(root, p) }
	for _, d := range []string{filepath.Dir(agentCAFile), filepath.Dir(agentCABundle)} {
		os.MkdirAll(file(d), 0o755)
	}
	os.WriteFile(file(agentCAFile), caPEM, 0o644)
	os.WriteFile(file(agentCABundle), []byte(imagePEM), 0o644)
	script := strings.NewReplacer(agentCAFile, file(agentCAFile), agentCABundle, file(agentCABundle),
		"/etc/ssl/certs/", file("/etc/ssl/certs")+"/", "/etc/ca-certificates/update.d", file("/none")).Replace(caScript)
	cmd := exec.Command("sh", "-c", script)
	cmd.Env = []string{"PATH=/nonexistent:/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("caScript: %v: %s", err, out)
	}
	b, _ := os.ReadFile(file(agentCABundle))
	n := 0
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("the bundle holds %d certificates that parse; want 2 (the image's and the bottle CA)", n)
	}
}
