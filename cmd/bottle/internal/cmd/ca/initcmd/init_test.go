package initcmd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"ca"}, "--dir", "d", "--name", "n", "--days", "30")
	if r.Code != 0 || got.Dir != "d" || got.Name != "n" || got.Days != 30 {
		t.Errorf("%+v %+v", r, got)
	}
	r = fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"ca"}, "--dir", "d")
	if r.Code != 0 || got.Days != 365 {
		t.Errorf("default days: %+v", got)
	}
}

func TestInit(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	r := fx.Run(NewCmd(fx.F, nil), []string{"ca"}, "--dir", "my-bottle", "--days", "2")
	if r.Code != 0 || !strings.Contains(r.Stdout, `created CA "bottle CA for my-bottle" in my-bottle (valid until `) ||
		!strings.Contains(r.Stdout, "  key:         "+filepath.Join("my-bottle", "ca.key")+" (mode 0600)\n") {
		t.Errorf("%+v", r)
	}
	if st, err := os.Stat(filepath.Join("my-bottle", "ca.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key: %v", err)
	}
	os.WriteFile("afile", nil, 0o644)
	if r := fx.Run(NewCmd(fx.F, nil), []string{"ca"}, "--dir", "afile"); r.Code != cmdutil.ExitError {
		t.Errorf("--dir a file: %+v", r)
	}
}
