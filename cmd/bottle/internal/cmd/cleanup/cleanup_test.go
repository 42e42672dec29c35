package cleanup

import (
	"encoding/json"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// TestCleanup: only this state directory's labelled resources of bottles
// that are not complete and running are removed; a dry run removes none.
func TestCleanup(t *testing.T) {
	for _, backend := range []string{"docker", "macos-container"} {
		t.Run(backend, func(t *testing.T) {
			fx := cmdtest.New(t)
			fx.F.Env.Backend = backend
			fx.Launch("demo", backend)
			mine := []string{launcher.LabelManaged + "=true", launcher.LabelOwner + "=" + launcher.Owner(fx.F.Env.StateDir)}
			fx.Fakert("", append([]string{"network", "bottle-half-internal", launcher.LabelName + "=half"}, mine...)...)
			fx.Fakert("", "container", "bottle-theirs-agent", "exited", launcher.LabelManaged+"=true", launcher.LabelName+"=theirs", launcher.LabelOwner+"=someoneelse")
			fx.Fakert("", "container", "bottle-half-agent", "exited") // a bottle's name, none of its labels
			before := fx.Fakert("", "state")
			r := fx.Run(NewCmd(fx.F, nil), nil, "--dry-run")
			if r.Code != 0 || r.Stdout != "would remove: half (containers [], networks [bottle-half-internal])\n" {
				t.Errorf("dry run: %+v", r)
			}
			if after := fx.Fakert("", "state"); after != before {
				t.Errorf("a dry run changed the engine:\n%s\nwas:\n%s", after, before)
			}
			r = fx.Run(NewCmd(fx.F, nil), nil)
			if r.Code != 0 || r.Stdout != "removing: half (containers [], networks [bottle-half-internal])\n" {
				t.Errorf("cleanup: %+v", r)
			}
			after := fx.Fakert("", "state", "-resources")
			for _, want := range []string{"bottle-demo-agent", "bottle-demo-sidecar", "bottle-demo-internal", "bottle-theirs-agent", "container bottle-half-agent"} {
				if !strings.Contains(after, want) {
					t.Errorf("%s is gone:\n%s", want, after)
				}
			}
			if strings.Contains(after, "bottle-half-internal") {
				t.Errorf("the half-made bottle's network is still there:\n%s", after)
			}
			if r = fx.Run(NewCmd(fx.F, nil), nil); r.Code != 0 || r.Stdout != "nothing to clean up\n" {
				t.Errorf("again: %+v", r)
			}
		})
	}
}

func TestCleanupErrors(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "podman"
	if r := fx.Run(NewCmd(fx.F, nil), nil); r.Code != cmdutil.ExitUsage {
		t.Errorf("unknown backend: %+v", r)
	}
	var got *Options
	if r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), nil, "--dry-run"); r.Code != 0 || !got.DryRun {
		t.Errorf("%+v", r)
	}
}

// TestCleanupQuietAndJSON: -q prints nothing but errors; --json says what
// was, or would be, removed, with these field names, and what could not.
func TestCleanupQuietAndJSON(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.Env.Backend = "docker"
	fx.Launch("demo", "docker")
	mine := []string{launcher.LabelManaged + "=true", launcher.LabelOwner + "=" + launcher.Owner(fx.F.Env.StateDir)}
	half := func(name string) {
		fx.Fakert("", append([]string{"network", "bottle-" + name + "-internal", launcher.LabelName + "=" + name}, mine...)...)
	}
	half("half")
	half("stuck")
	r := fx.Run(NewCmd(fx.F, nil), nil, "--dry-run", "--json")
	want := `{
  "dry_run": true,
  "bottles": [
    {
      "name": "half",
      "status": "incomplete",
      "containers": [],
      "networks": [
        "bottle-half-internal"
      ],
      "removed": false
    },
    {
      "name": "stuck",
      "status": "incomplete",
      "containers": [],
      "networks": [
        "bottle-stuck-internal"
      ],
      "removed": false
    }
  ]
}
`
	if r.Code != 0 || r.Stdout != want || r.Stderr != "" {
		t.Errorf("--dry-run --json: %+v", r)
	}
	fx.Fake.Fail = "network rm bottle-stuck-internal"
	r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != cmdutil.ExitError || got.DryRun || len(got.Bottles) != 2 ||
		!got.Bottles[0].Removed || got.Bottles[0].Error != "" || got.Bottles[1].Removed || !strings.Contains(got.Bottles[1].Error, "injected failure") ||
		!strings.HasPrefix(r.Stderr, "bottle: stuck: ") {
		t.Errorf("--json with a failure: %v %+v", err, r)
	}
	fx.Fake.Fail = ""
	if r = fx.Run(NewCmd(fx.F, nil), nil, "-q"); r.Code != 0 || r.Stdout+r.Stderr != "" {
		t.Errorf("-q: %+v", r)
	}
	if st := fx.Fakert("", "state", "-resources"); strings.Contains(st, "stuck") {
		t.Errorf("-q did not clean up:\n%s", st)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "--json"); r.Code != 0 || r.Stdout != "{\n  \"dry_run\": false,\n  \"bottles\": []\n}\n" {
		t.Errorf("--json, nothing to do: %+v", r)
	}
	for args, want := range map[string]string{
		"-q --dry-run": "a dry run only prints what it would remove, and -q would print nothing: give one of them",
		"-q --json":    "give --quiet or --json, not both",
	} {
		r := fx.Run(NewCmd(fx.F, nil), nil, strings.Fields(args)...)
		if r.Code != cmdutil.ExitUsage || r.Stderr != "bottle: "+want+"\nRun 'bottle cleanup --help' for usage.\n" {
			t.Errorf("%s: %+v", args, r)
		}
	}
}
