package cli

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/ca"
)

func TestCAInitExport(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "ca", "init", "--dir", "state", "--name", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, `created CA "bottle CA for demo"`) {
		t.Fatalf("init: %+v", r)
	}
	st, err := os.Stat(filepath.Join(dir, "state", "ca.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key: %v %v", st, err)
	}
	r = run(t, dir, "ca", "init", "--dir", "state")
	if r.code == 0 || !strings.Contains(r.stderr, "never overwritten") {
		t.Errorf("second init: %+v", r)
	}

	r = run(t, dir, "ca", "export", "--dir", "state")
	b, _ := pem.Decode([]byte(r.stdout))
	if r.code != 0 || b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("export: %+v", r)
	}
	if strings.Contains(r.stdout, "PRIVATE KEY") {
		t.Fatal("export printed the key")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil || !cert.IsCA {
		t.Fatalf("exported cert: %v", err)
	}

	r = run(t, dir, "ca", "export", "--dir", "state", "--fingerprint")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "sha256 "+ca.Fingerprint(b.Bytes) {
		t.Errorf("fingerprint: %+v", r)
	}
	r = run(t, dir, "ca", "export", "--dir", "state", "--der", "--out", "ca.der")
	der, _ := os.ReadFile(filepath.Join(dir, "ca.der"))
	if r.code != 0 || string(der) != string(b.Bytes) {
		t.Errorf("--der --out: %+v", r)
	}

	// Export needs only the certificate: it works with the key unreadable.
	os.Chmod(filepath.Join(dir, "state", "ca.key"), 0)
	if r = run(t, dir, "ca", "export", "--dir", "state"); r.code != 0 {
		t.Errorf("export without key access: %+v", r)
	}

	for _, args := range [][]string{
		{"ca", "init"},
		{"ca", "export"},
		{"ca", "export", "--dir", "nothere"},
		{"ca", "init", "--dir", "x", "--days", "0"},
	} {
		if r = run(t, dir, args...); r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%q: %+v", args, r)
		}
	}
}
