package doctor

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestDoctor(t *testing.T) {
	fx := cmdtest.New(t)
	r := fx.Run(NewCmd(fx.F, nil), nil)
	want := "docker:           ok (engine 20.10.24)\n" +
		"macos-container:  not usable: needs macOS on Apple silicon (this is linux/amd64)\n" +
		"bottle-sidecar:   " + fx.F.SidecarBinary + "\n" +
		"state directory:  " + fx.F.Env.StateDir + "\n"
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("linux, docker up: %+v\nwant:\n%s", r, want)
	}

	fx.Fake.Down = "docker"
	fx.F.Env.Backend = "docker"
	r = fx.Run(NewCmd(fx.F, nil), nil)
	if r.Code != cmdutil.ExitError || r.Stderr != "" ||
		!regexp.MustCompile(`^docker:           not usable: the Docker daemon does not answer \(.*Cannot connect to the Docker daemon.*\); start it \(systemctl start docker, or dockerd &\)\n`).MatchString(r.Stdout) ||
		!regexp.MustCompile(`\nBOTTLE_BACKEND:   docker\n$`).MatchString(r.Stdout) {
		t.Errorf("docker down: %+v", r)
	}

	fx.F.Host = cmdutil.Host{GOOS: "darwin", GOARCH: "arm64"}
	r = fx.Run(NewCmd(fx.F, nil), nil)
	if r.Code != 0 || !regexp.MustCompile(`\nmacos-container:  ok \(the default here\)\n`).MatchString(r.Stdout) {
		t.Errorf("a Mac with container: %+v", r)
	}
	fx.Fake.Down = "container"
	r = fx.Run(NewCmd(fx.F, nil), nil)
	if r.Code != 0 || !regexp.MustCompile(`\nmacos-container:  not usable: the container system service is not running \(stopped\); start it: container system start --enable-kernel-install\n`).MatchString(r.Stdout) {
		t.Errorf("a Mac, container stopped: %+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), nil, "x"); r.Code != cmdutil.ExitUsage {
		t.Errorf("an argument: %+v", r)
	}
	// --json: the same, with these field names; the exit status as without.
	fx.Fake.Down = ""
	r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
	want = `{
  "backends": [
    {
      "name": "docker",
      "ok": true,
      "version": "20.10.24"
    },
    {
      "name": "macos-container",
      "ok": true,
      "version": "VERSION"
    }
  ],
  "state_dir": "` + fx.F.Env.StateDir + `",
  "bottle_backend": "docker",
  "sidecar": {
    "ok": true,
    "path": "` + fx.F.SidecarBinary + `"
  }
}
`
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || len(got.Backends) != 2 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if v := got.Backends[1].Version; !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) || r.Stdout != strings.Replace(want, "VERSION", v, 1) {
		t.Errorf("--json:\n%s\nwant\n%s", r.Stdout, want)
	}
	fx.Fake.Down = "docker"
	fx.F.Host = cmdutil.Host{GOOS: "linux", GOARCH: "amd64"}
	r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
	got = JSON{}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != cmdutil.ExitError || r.Stderr != "" || got.Backends[0].OK || got.Backends[0].Version != "" ||
		!strings.Contains(got.Backends[0].Reason, "the Docker daemon does not answer") || !strings.Contains(r.Stdout, "dockerd &)") || got.Backends[1].Reason != "needs macOS on Apple silicon (this is linux/amd64)" {
		t.Errorf("--json, nothing usable: %v %+v", err, r)
	}
	var ran bool
	if r = fx.Run(NewCmd(fx.F, func(*Options) error { ran = true; return nil }), nil); r.Code != 0 || !ran {
		t.Errorf("runF: %+v", r)
	}
}

// TestDoctorSidecar: doctor says where bottle-sidecar is, or where it
// looked and how to fix it, and exits 1 without one.
func TestDoctorSidecar(t *testing.T) {
	fx := cmdtest.New(t)
	fx.F.SidecarBinary = filepath.Join(t.TempDir(), "nothere")
	r := fx.Run(NewCmd(fx.F, nil), nil)
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stdout, "\nbottle-sidecar:   not found: bottle-sidecar "+fx.F.SidecarBinary+": ") {
		t.Errorf("given, missing: %+v", r)
	}
	// Not given: beside bottle, else a checkout; the test binary has
	// neither, from a directory outside the checkout.
	fx.F.SidecarBinary = ""
	t.Chdir(t.TempDir())
	r = fx.Run(NewCmd(fx.F, nil), nil, "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != cmdutil.ExitError || got.Sidecar.OK ||
		!strings.Contains(got.Sidecar.Reason, "no bottle-sidecar beside bottle (in ") || !strings.Contains(got.Sidecar.Reason, "CGO_ENABLED=0 go build -o ") {
		t.Errorf("none: %v %+v", err, r)
	}
}
