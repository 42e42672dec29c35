package list

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

func TestList(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		t.Run(backend, func(t *testing.T) {
			fx := cmdtest.New(t)
			fx.F.Env.Backend = backend
			if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != 0 || r.Stdout != "no bottles\n" {
				t.Errorf("none: %+v", r)
			}
			if r := fx.Run(NewCmd(fx.F, nil), nil, "--json"); r.Code != 0 || r.Stdout != "[]\n" {
				t.Errorf("none --json: %+v", r)
			}
			fx.Launch("demo", backend)
			// Half of another: its network only.
			fx.Fakert("", "network", "bottle-half-internal", launcher.LabelManaged+"=true", launcher.LabelName+"=half", launcher.LabelOwner+"="+launcher.Owner(fx.F.Env.StateDir))
			// Someone else's bottle, on the same engine.
			fx.Fakert("", "container", "bottle-theirs-agent", "running", launcher.LabelManaged+"=true", launcher.LabelName+"=theirs", launcher.LabelOwner+"=someoneelse")
			r := fx.Run(NewCmd(fx.F, nil), nil)
			want := "NAME  STATUS      PROXY                   CONTAINERS  COMMAND\n" +
				"demo  running     http://172.30.0.2:3128  2           -\n" +
				"half  incomplete                          0           -\n"
			if r.Code != 0 || r.Stdout != want || r.Stderr != "" {
				t.Errorf("list: %+v\nwant:\n%s", r, want)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
			var got []launcher.Summary
			if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got) != 2 || got[0].Name != "demo" || got[0].Status != "running" ||
				len(got[0].Networks) != 2 || got[1].Name != "half" || got[1].Status != "incomplete" || got[1].Networks[0] != "bottle-half-internal" ||
				got[1].Containers == nil {
				t.Errorf("list --json: %v %+v", err, r)
			}
			// A stopped bottle is only shown with --all.
			if _, err := fx.Launcher(backend).Stop(context.Background(), "demo"); err != nil {
				t.Fatal(err)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil)
			if r.Code != 0 || strings.Contains(r.Stdout, "demo") || !strings.Contains(r.Stdout, "half  incomplete") || r.Stderr != "and 1 bottle stopped or failed: bottle list --all\n" {
				t.Errorf("list with a stopped one: %+v", r)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil, "--all")
			if r.Code != 0 || !regexp.MustCompile(`(?m)^demo +stopped +http://172\.30\.0\.2:3128 +0 +-$`).MatchString(r.Stdout) || r.Stderr != "" {
				t.Errorf("list --all: %+v", r)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil, "--all", "--json")
			got = nil
			if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got) != 2 || got[0].Status != "stopped" || got[0].Stopped.IsZero() {
				t.Errorf("list --all --json: %v %+v", err, r)
			}
		})
	}
}

func TestListErrors(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "docker"
	fx.Fake.Fail = "ps"
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != cmdutil.ExitError || r.Stderr == "" {
		t.Errorf("the engine fails: %+v", r)
	}
	fx.F.Env.Backend = "podman"
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != cmdutil.ExitUsage {
		t.Errorf("unknown backend: %+v", r)
	}
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "--json"); r.Code != 0 || !got.JSON {
		t.Errorf("%+v", r)
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "x"); r.Code != cmdutil.ExitUsage {
		t.Errorf("an argument: %+v", r)
	}
}

// TestListRecipe: --json says which agent a bottle runs.
func TestListRecipe(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "docker"
	fx.Launch("plain", "docker")
	b := fx.Launch("fix", "docker")
	path := filepath.Join(b.StateDir, contract.MetadataFile)
	data, _ := os.ReadFile(path)
	var meta map[string]any
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	meta["recipe"] = "claude"
	data, _ = json.Marshal(meta)
	os.WriteFile(path, data, 0o600)
	r := fx.Run(NewCmd(fx.F, nil), nil, "--json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got) != 2 || got[0]["name"] != "fix" || got[0]["recipe"] != "claude" || got[0]["status"] != "running" {
		t.Fatalf("%v %+v", err, r)
	}
	if _, ok := got[1]["recipe"]; ok || got[1]["name"] != "plain" {
		t.Errorf("a bottle without an agent: %v", got[1])
	}
}
