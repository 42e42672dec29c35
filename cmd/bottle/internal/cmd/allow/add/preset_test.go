package add

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/preset"
)

// npmAt is a machine whose npm is configured with registry.
func npmAt(registry string) *preset.Env {
	return &preset.Env{
		LookPath: func(file string) (string, error) {
			if file == "npm" {
				return "/fake/npm", nil
			}
			return "", errors.New("not found")
		},
		Output: func(_ context.Context, argv []string) ([]byte, error) {
			if strings.Join(argv, " ") != "npm config get registry" {
				return nil, errors.New("unexpected " + strings.Join(argv, " "))
			}
			return []byte(registry + "\n"), nil
		},
		Getenv: func(string) string { return "" },
	}
}

// addPreset runs `bottle allow add ARGS` on the machine env.
func addPreset(t *testing.T, fx *cmdtest.Fixture, env *preset.Env, args ...string) cmdtest.Result {
	t.Helper()
	return fx.Run(NewCmd(fx.F, func(o *Options) error {
		o.PresetEnv = env
		return runPresets(context.Background(), o)
	}), []string{"allow"}, args...)
}

func TestAddPreset(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(cmdtest.Sample)
	path := filepath.Join(dir, "allowlist.yaml")
	env := npmAt("https://registry.example.com/")
	r := addPreset(t, fx, env, "--preset", "pypi", "--preset", "npm")
	want := `added the rules of preset pypi to allowlist.yaml:
  allow[3]: pypi.org ports 443 methods GET,HEAD
  allow[4]: files.pythonhosted.org ports 443 methods GET,HEAD
added the rules of preset npm to allowlist.yaml:
  allow[5]: registry.example.com ports 443 methods GET,HEAD
  allow[6]: registry.example.com ports 443 methods POST paths /-/npm/v1/security/**
`
	if r.Code != 0 || r.Stdout != want || r.Stderr != "preset npm: `npm config get registry`: https://registry.example.com/\n" {
		t.Fatalf("add --preset: %+v\nwant:\n%s", r, want)
	}
	data, _ := os.ReadFile(path)
	pol, err := allowlist.Parse("allowlist.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for i, origin := range []string{"", "", "", "preset pypi", "preset pypi", "preset npm", "preset npm"} {
		if got := pol.Allow()[i].Origin; got != origin {
			t.Errorf("allow[%d].Origin = %q; want %q", i, got, origin)
		}
	}
	if !strings.HasPrefix(string(data), "# team rules\n") || !strings.Contains(string(data), "# the API") {
		t.Errorf("comments lost:\n%s", data)
	}

	// Again: nothing to add, and it says so; the file is not touched.
	r = addPreset(t, fx, env, "--preset", "npm,pypi")
	want = `nothing changed in allowlist.yaml: it already has every rule of preset npm (allow[5], allow[6])
nothing changed in allowlist.yaml: it already has every rule of preset pypi (allow[3], allow[4])
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("again: %+v\nwant:\n%s", r, want)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Errorf("a second run changed the file:\n%s", again)
	}

	// A rule already there is kept; the rest are added.
	fx.Dir("version: 1\nallow:\n  - host: github.com\n    ports: [443]\n    methods: [GET, HEAD]\n")
	r = addPreset(t, fx, nil, "--preset", "github")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "added the rules of preset github to allowlist.yaml:\n  allow[1]: github.com ports 443 methods POST paths /*/*/git-upload-pack\n") ||
		!strings.HasSuffix(r.Stdout, "  (already there: allow[0])\n") {
		t.Errorf("github over a rule of the file: %+v", r)
	}
}

func TestAddPresetCreatesFile(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	r := addPreset(t, fx, nil, "--preset", "crates", "--file", "new.yaml")
	want := `created new.yaml with the rules of preset crates:
  allow[0]: index.crates.io ports 443 methods GET,HEAD
  allow[1]: static.crates.io ports 443 methods GET,HEAD
  allow[2]: crates.io ports 443 methods GET,HEAD paths /api/v1/**
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("%+v\nwant:\n%s", r, want)
	}
	if _, err := allowlist.Load("new.yaml"); err != nil {
		t.Error(err)
	}
}

// TestAddPresetRegistry: --registry names the registry instead of the
// configuration, which is not read.
func TestAddPresetRegistry(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\n")
	r := addPreset(t, fx, &preset.Env{}, "--preset", "pypi", "--registry", "https://pypi.example.com/simple")
	if r.Code != 0 || r.Stdout != "added the rules of preset pypi to allowlist.yaml:\n  allow[0]: pypi.example.com ports 443 methods GET,HEAD\n" || r.Stderr != "preset pypi: --registry https://pypi.example.com/simple\n" {
		t.Errorf("%+v", r)
	}
}

// TestAddPresetNotConfigured: a preset whose tool is not there fails
// before anything is written, saying what was looked at and the fix.
func TestAddPresetNotConfigured(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir("version: 1\n")
	env := &preset.Env{LookPath: func(string) (string, error) { return "", errors.New("no") }, Output: func(context.Context, []string) ([]byte, error) { return nil, errors.New("no") },
		Getenv: func(string) string { return "" }, Home: dir}
	r := addPreset(t, fx, env, "--preset", "pypi,npm")
	want := "bottle: preset npm: no npm registry found: npm is not on PATH, $NPM_CONFIG_REGISTRY is not set, " + filepath.Join(dir, ".npmrc") + " does not exist; name the registry instead: bottle allow add --preset npm --registry https://registry.example.com\n"
	if r.Code != cmdutil.ExitError || r.Stderr != want {
		t.Errorf("%+v\nwant:\n%s", r, want)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml")); string(data) != "version: 1\n" {
		t.Errorf("the file was written:\n%s", data)
	}
}

func TestAddPresetUsage(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\n")
	for _, tc := range []struct{ args, want string }{
		{"--preset pypi a.example.com", `bottle allow add: --preset adds the preset's own rules; give no HOST with it (["a.example.com"])`},
		{"--preset pip", `no preset "pip"; the presets are pypi, npm, crates, go, github, debian`},
		{"--preset pypi --port 8443", "--preset writes the preset's own rules; --port, --method"},
		{"a.example.com --registry https://r.example.com", "--registry names the registry of a preset; use it with --preset"},
		{"--preset pypi,npm --registry https://r.example.com", "--registry names the registry of one preset"},
		{"--preset github --registry https://r.example.com", "--registry names the registry of one preset"},
		{"", "bottle allow add: missing the HOST to allow (or --preset NAME)"},
	} {
		r := fx.Run(NewCmd(fx.F, func(*Options) error { t.Errorf("%s ran", tc.args); return nil }), []string{"allow"}, strings.Fields(tc.args)...)
		if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: %+v; want %q", tc.args, r, tc.want)
		}
	}
}

// TestAddPresetBottle: with --bottle, the preset goes into the live
// allowlist and the file the bottle was launched from, like any add.
func TestAddPresetBottle(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	b := fx.Launch("demo", "docker")
	var got *Options
	fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"allow"}, "--preset", "pypi", "--bottle", "demo", "--live-only")
	got.PresetEnv = &preset.Env{}
	got.File.Wait = 1 // the fake sidecar is not running: no confirmation
	err := runPresets(context.Background(), got)
	if err == nil || !strings.Contains(err.Error(), "the file was written, but the sidecar of demo did not confirm it") {
		t.Errorf("live: %v", err)
	}
	live, _ := os.ReadFile(filepath.Join(b.StateDir, contract.ConfigDir, contract.AllowlistFile))
	if !strings.Contains(string(live), "origin: preset pypi") {
		t.Errorf("the live allowlist:\n%s", live)
	}
}
