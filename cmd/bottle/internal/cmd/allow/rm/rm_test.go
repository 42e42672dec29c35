package rm

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
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"allow"}, "github.com", "--all", "--deny", "-f", "x.yaml")
	if r.Code != 0 || got.Host != "github.com" || !got.All || !got.Rule.Deny || got.File.File != "x.yaml" {
		t.Errorf("%+v %+v", r, got)
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "remove-me", "--bottle", "a/b"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "--bottle: bottle name") {
		t.Errorf("bad --bottle: %+v", r)
	}
}

func TestRm(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(cmdtest.Sample)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "github.com")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stderr, "allow[1]: github.com ports 80,443 methods GET,POST paths /acme/**") {
		t.Errorf("rm without matching selectors: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "github.com", "-X", "post", "-X", "GET", "--path", "/acme/**")
	if r.Code != 0 || r.Stdout != "removed allow[1] from allowlist.yaml\n" {
		t.Errorf("rm: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "github.com", "--deny", "--all")
	if r.Code != 0 || r.Stdout != "removed deny[0] from allowlist.yaml\n" {
		t.Errorf("rm --deny --all: %+v", r)
	}
	final, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml"))
	if strings.Contains(string(final), "github.com") || !strings.Contains(string(final), "# team rules") || !strings.Contains(string(final), "# the API") {
		t.Errorf("after rm:\n%s", final)
	}
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"a.test", "-f", "nothere.yaml"}, "nothere.yaml does not exist; pass --file", cmdutil.ExitUsage},
		{[]string{"a.test", "--port", "0"}, "--port 0 is not a port", cmdutil.ExitUsage},
		{[]string{"*"}, "*", cmdutil.ExitUsage},
		{[]string{"a.test", "-f", "."}, ".", cmdutil.ExitError},
	} {
		if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, tc.args...); r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q: %+v; want %d and %q", tc.args, r, tc.code, tc.want)
		}
	}
	fx.Dir("version: 1\nallow: [{host: a.test}, {host: b.test}]\n")
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "a.test"); r.Code != 0 || !strings.Contains(r.Stderr, "re-emitted in block style") {
		t.Errorf("flow style: %+v", r)
	}
}

// TestRmInline: rm edits a bottle.yaml's inline rules in place.
func TestRmInline(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	in := "version: 1\nname: widget   # ours\nallow:\n  - host: a.test\n  - host: b.test\nworkspace: .\n"
	os.WriteFile("bottle.yaml", []byte(in), 0o644)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "a.test")
	if r.Code != 0 || r.Stdout != "removed allow[0] from bottle.yaml\n" {
		t.Fatalf("%+v", r)
	}
	if data, _ := os.ReadFile("bottle.yaml"); string(data) != strings.Replace(in, "  - host: a.test\n", "", 1) {
		t.Errorf("bottle.yaml:\n%s", data)
	}
}
