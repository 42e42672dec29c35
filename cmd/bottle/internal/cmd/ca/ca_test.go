package ca

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// TestInitExport runs both verbs as a user does: mint, then export in each
// form, never the key.
func TestInitExport(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	run := func(args ...string) cmdtest.Result {
		cmd := NewCmd(fx.F)
		for _, c := range cmd.Commands() {
			if c.Name() == args[0] {
				return fx.Run(c, []string{"ca"}, args[1:]...)
			}
		}
		t.Fatalf("no ca %s", args[0])
		return cmdtest.Result{}
	}
	r := run("init", "--dir", "state", "--name", "demo")
	if r.Code != 0 || !strings.Contains(r.Stdout, `created CA "bottle CA for demo" in state`) {
		t.Fatalf("init: %+v", r)
	}
	if st, err := os.Stat(filepath.Join(dir, "state", "ca.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key: %v %v", st, err)
	}
	if r = run("init", "--dir", "state"); r.Code == 0 || !strings.Contains(r.Stderr, "never overwritten") {
		t.Errorf("second init: %+v", r)
	}
	if r = run("init", "--dir", "other"); r.Code != 0 || !strings.Contains(r.Stdout, `"bottle CA for other"`) {
		t.Errorf("init without --name: %+v", r)
	}
	r = run("export", "--dir", "state")
	b, _ := pem.Decode([]byte(r.Stdout))
	if r.Code != 0 || b == nil || b.Type != "CERTIFICATE" || strings.Contains(r.Stdout, "PRIVATE KEY") {
		t.Fatalf("export: %+v", r)
	}
	if cert, err := x509.ParseCertificate(b.Bytes); err != nil || !cert.IsCA {
		t.Fatalf("exported cert: %v", err)
	}
	if r = run("export", "--dir", "state", "--fingerprint"); r.Code != 0 || r.Stdout != "sha256 "+ca.Fingerprint(b.Bytes)+"\n" {
		t.Errorf("fingerprint: %+v", r)
	}
	r = run("export", "--dir", "state", "--der", "--out", "ca.der")
	if der, _ := os.ReadFile(filepath.Join(dir, "ca.der")); r.Code != 0 || string(der) != string(b.Bytes) || r.Stderr != "wrote ca.der\n" {
		t.Errorf("--der --out: %+v", r)
	}
	if st, _ := os.Stat(filepath.Join(dir, "ca.der")); st.Mode().Perm() != 0o644 {
		t.Errorf("exported file mode %v", st.Mode())
	}
	// Export needs only the certificate: it works with the key unreadable.
	os.Chmod(filepath.Join(dir, "state", "ca.key"), 0)
	if r = run("export", "--dir", "state"); r.Code != 0 {
		t.Errorf("export without key access: %+v", r)
	}
	// --bottle finds the bottle's CA in the state directory; a name that is
	// no bottle is said as every verb says it.
	bottle := fx.Launch("demo", "docker")
	if r = run("export", "--bottle", "demo", "--fingerprint"); r.Code != 0 || r.Stdout != "sha256 "+bottle.CAFingerprint+"\n" {
		t.Errorf("--bottle: %+v", r)
	}
	if r = run("export", "--bottle", "nothere"); r.Code != cmdutil.ExitError || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" {
		t.Errorf("--bottle nothere: %+v", r)
	}
	os.Mkdir(filepath.Join(dir, "out"), 0o755)
	if r = run("export", "--dir", "state", "--out", "out"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "writing out") {
		t.Errorf("--out a directory: %+v", r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"init"}, "--dir is required"},
		{[]string{"init", "x"}, "bottle ca init: too many arguments"},
		{[]string{"export"}, "--dir or --bottle is required"},
		{[]string{"export", "--dir", "nothere"}, "nothere"},
		{[]string{"export", "--bottle", "../../evil"}, "--bottle: bottle name"},
		{[]string{"export", "--bottle", "a", "--dir", "b"}, "bottle: give --dir or --bottle, not both\nRun 'bottle ca export --help' for usage.\n"},
		{[]string{"init", "--dir", "x", "--days", "0"}, "--days 0: a CA must be valid for at least one day"},
	} {
		if r = run(tc.args...); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q: %+v; want 2 and %q", tc.args, r, tc.want)
		}
	}
}
