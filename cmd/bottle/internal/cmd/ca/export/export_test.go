package export

import (
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/internal/contract"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"ca"}, "--bottle", "demo", "--der", "-o", "x.der")
	if r.Code != 0 || got.Dir != filepath.Join(fx.F.Env.StateDir, "demo", contract.ConfigDir) || !got.DER || got.Out != "x.der" || got.Fingerprint {
		t.Errorf("%+v %+v", r, got)
	}
	r = fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"ca"}, "--dir", "d", "--fingerprint")
	if r.Code != 0 || got.Dir != "d" || !got.Fingerprint {
		t.Errorf("%+v %+v", r, got)
	}
}

func TestExport(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	t.Chdir(dir)
	c, err := ca.New("demo", 0)
	if err != nil || c.Save("state") != nil {
		t.Fatal(err)
	}
	r := fx.Run(NewCmd(fx.F, nil), []string{"ca"}, "--dir", "state")
	b, _ := pem.Decode([]byte(r.Stdout))
	if r.Code != 0 || b == nil || b.Type != "CERTIFICATE" || strings.Contains(r.Stdout, "PRIVATE KEY") {
		t.Fatalf("export: %+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), []string{"ca"}, "--dir", "state", "--fingerprint"); r.Stdout != "sha256 "+c.Fingerprint()+"\n" {
		t.Errorf("fingerprint: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"ca"}, "--dir", "state", "--der", "-o", "ca.der")
	if der, _ := os.ReadFile("ca.der"); r.Code != 0 || string(der) != string(b.Bytes) || r.Stderr != "wrote ca.der\n" {
		t.Errorf("--der --out: %+v", r)
	}
	if st, _ := os.Stat("ca.der"); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode())
	}
	os.Mkdir("out", 0o755)
	if r = fx.Run(NewCmd(fx.F, nil), []string{"ca"}, "--dir", "state", "--out", "out"); r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "writing out") {
		t.Errorf("--out a directory: %+v", r)
	}
	for _, args := range [][]string{{}, {"--dir", "nothere"}, {"--bottle", "../x"}, {"x"}} {
		if r = fx.Run(NewCmd(fx.F, nil), []string{"ca"}, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
}
