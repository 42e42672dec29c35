package presets

import (
	"context"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/preset"
)

func presets(t *testing.T, fx *cmdtest.Fixture, env *preset.Env, args ...string) cmdtest.Result {
	t.Helper()
	return fx.Run(NewCmd(fx.F, func(o *Options) error {
		o.PresetEnv = env
		return run(context.Background(), o)
	}), []string{"allow"}, args...)
}

func TestPresets(t *testing.T) {
	fx := cmdtest.New(t)
	r := presets(t, fx, &preset.Env{}, "github", "pypi")
	want := `github: GitHub: git clone and fetch over https (no push: use bottle git add), the REST API read-only, release and archive downloads, raw files
  github.com ports 443 methods GET,HEAD
  github.com ports 443 methods POST paths /*/*/git-upload-pack
  api.github.com ports 443 methods GET,HEAD
  codeload.github.com ports 443 methods GET,HEAD
  objects.githubusercontent.com ports 443 methods GET,HEAD
  release-assets.githubusercontent.com ports 443 methods GET,HEAD
  raw.githubusercontent.com ports 443 methods GET,HEAD

pypi: Python packages from PyPI (pip, uv, poetry): the index and the files
  pypi.org ports 443 methods GET,HEAD
  files.pythonhosted.org ports 443 methods GET,HEAD
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("%+v\nwant:\n%s", r, want)
	}
	r = presets(t, fx, &preset.Env{}, "go", "--registry", "https://goproxy.example.com")
	if r.Code != 0 || !strings.Contains(r.Stdout, "  goproxy.example.com ports 443 methods GET,HEAD\n  (from --registry https://goproxy.example.com)\n") {
		t.Errorf("--registry: %+v", r)
	}
	// A preset named and not configured here: exit 1, saying why.
	r = presets(t, fx, &preset.Env{}, "npm")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stdout, "  (none here: preset npm: no npm registry found: ") {
		t.Errorf("npm not configured: %+v", r)
	}
	// Every preset: exit 0 whatever is configured.
	if r = presets(t, fx, &preset.Env{AptDir: t.TempDir()}); r.Code != 0 || strings.Count(r.Stdout, "(none here: ") != 3 {
		t.Errorf("all: %+v", r)
	}
}

func TestPresetsUsage(t *testing.T) {
	fx := cmdtest.New(t)
	for _, args := range [][]string{{"pip"}, {"--registry", "https://r.example.com"}, {"npm", "go", "--registry", "https://r.example.com"}} {
		if r := fx.Run(NewCmd(fx.F, func(*Options) error { t.Errorf("%q ran", args); return nil }), []string{"allow"}, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
}
