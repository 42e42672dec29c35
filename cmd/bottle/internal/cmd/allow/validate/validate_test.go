package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	for _, tc := range []struct {
		args []string
		file string
		code int
	}{
		{args: nil, file: ""},
		{args: []string{"a.yaml"}, file: "a.yaml"},
		{args: []string{"--file", "a.yaml", "a.yaml"}, file: "a.yaml"},
		{args: []string{"--file", "a.yaml", "b.yaml"}, code: cmdutil.ExitUsage},
		{args: []string{"a.yaml", "b.yaml"}, code: cmdutil.ExitUsage},
	} {
		fx := cmdtest.New(t)
		var got *Options
		r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"allow"}, tc.args...)
		if r.Code != tc.code || tc.code == 0 && (got == nil || got.File.File != tc.file) {
			t.Errorf("%q: %+v %+v", tc.args, r, got)
		}
	}
}

func TestValidate(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(cmdtest.Sample)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "allowlist.yaml")
	if r.Code != 0 || r.Stdout != "allowlist.yaml: valid (3 allow, 1 deny rules; mode enforce)\n" {
		t.Errorf("valid file: %+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}); r.Code != 0 { // the default file
		t.Errorf("default file: %+v", r)
	}
	bad := "version: 2\nallow:\n  - host: \"*github.com\"\n    ports: [0]\n"
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644)
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "bad.yaml")
	want := `bad.yaml:1:10: version 2 is not supported; use ` + "`version: 1`" + `
bad.yaml:3:11: allow[0].host "*github.com" has a wildcard inside the name; wildcards must be a whole leading label; use "*.github.com"
bad.yaml:4:13: allow[0].ports: 0 is not a port number; use a number from 1 to 65535
`
	if r.Code != cmdutil.ExitUsage || r.Stderr != want || r.Stdout != "" {
		t.Errorf("invalid file: exit %d\nstderr:\n%s\nwant:\n%s", r.Code, r.Stderr, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "nothere.yaml")
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "nothere.yaml does not exist") {
		t.Errorf("missing file: %+v", r)
	}
	os.Mkdir(filepath.Join(dir, "adir.yaml"), 0o755)
	if r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "adir.yaml"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "adir.yaml") {
		t.Errorf("a directory: %+v", r)
	}
}

// TestValidateProject: a bottle.yaml is checked whole, its own keys and
// its inline rules, every problem at once; the file it names is checked
// as an allowlist.
func TestValidateProject(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	os.WriteFile("bottle.yaml", []byte("version: 1\nname: Widget\nallow:\n  - host: \"*github.com\"\n"), 0o644)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"})
	if r.Code != cmdutil.ExitUsage || !strings.HasPrefix(r.Stderr, "bottle.yaml:2:7: ") || !strings.Contains(r.Stderr, "\nbottle.yaml:4:11: allow[0].host \"*github.com\" has a wildcard inside the name") {
		t.Errorf("invalid bottle.yaml: %+v", r)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nname: widget\nallow:\n  - host: a.test\n"), 0o644)
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "bottle.yaml"); r.Code != 0 || r.Stdout != "bottle.yaml: valid (1 allow, 0 deny rules; mode enforce)\n" {
		t.Errorf("valid bottle.yaml: %+v", r)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nallowlist: rules.yaml\n"), 0o644)
	os.WriteFile("rules.yaml", []byte("version: 1\nallow:\n  - host: a.test\n    ports: [0]\n"), 0o644)
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}); r.Code != cmdutil.ExitUsage || r.Stderr != "rules.yaml:4:13: allow[0].ports: 0 is not a port number; use a number from 1 to 65535\n" {
		t.Errorf("the file it names: %+v", r)
	}
}
