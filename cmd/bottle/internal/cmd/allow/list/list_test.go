package list

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"allow"}, "--json", "-f", "x.yaml")
	if r.Code != 0 || !got.JSON || got.File.File != "x.yaml" {
		t.Errorf("%+v %+v", r, got)
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "extra"); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, `bottle allow list: too many arguments (["extra"]); it takes no arguments`) {
		t.Errorf("extra argument: %+v", r)
	}
}

func TestList(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(cmdtest.Sample + "  - cidr: 10.20.0.0/16\n    ports: [5432]\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"})
	want := `RULE      TARGET           PORTS   METHODS   PATHS     TLS          LINE
allow[0]  api.example.com  80,443  any       any       intercept    4
allow[1]  github.com       80,443  GET,POST  /acme/**  intercept    5
allow[2]  ssh.example.com  22      any       any       passthrough  8
deny[0]   github.com       any     DELETE    any       -            12
deny[1]   10.20.0.0/16     5432    any       any       -            14
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("list: exit %d\n%s\nwant:\n%s", r.Code, r.Stdout, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 {
		t.Fatalf("list --json: %v %+v", err, r)
	}
	if len(got.Rules) != 5 || got.Mode != "enforce" || got.File != "allowlist.yaml" || got.Rules[2].TLS != "passthrough" || got.Rules[2].SNI != "required" ||
		got.Rules[3].List != "deny" || got.Rules[4].CIDR != "10.20.0.0/16" || got.Rules[1].Paths[0] != "/acme/**" || got.Rules[0].Ports[1] != 443 || !got.Rules[0].DefaultPorts {
		t.Errorf("list --json = %+v", got)
	}
}

func TestListEmptyAndReport(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nmode: report\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"})
	if r.Code != 0 || r.Stdout != "allowlist.yaml has no rules: everything is denied (mode: report)\n" {
		t.Errorf("empty: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"rules": []`) {
		t.Errorf("empty --json: %+v", r)
	}
	fx.Dir("version: 1\nmode: report\nallow:\n  - host: a.test\n")
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"})
	if r.Code != 0 || !strings.HasSuffix(r.Stdout, "mode: report (denials are logged, not enforced)\n") {
		t.Errorf("report: %+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "-f", "nothere.yaml"); r.Code != cmdutil.ExitUsage {
		t.Errorf("missing: %+v", r)
	}
}

// TestListProject: `allow list -f bottle.yaml` lists its inline rules (a
// plain allowlist parse would stop at its first project key), and a
// bottle.yaml here is followed to the file it names.
func TestListProject(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	os.WriteFile("bottle.yaml", []byte("version: 1\nname: widget\nenv:\n  A: b\nallow:\n  - host: a.test\n"), 0o644)
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "-f", "bottle.yaml", "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || got.File != "bottle.yaml" || len(got.Rules) != 1 || got.Rules[0].Host != "a.test" || got.Rules[0].Line != 6 {
		t.Errorf("-f bottle.yaml: %+v %v", r, err)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nallowlist: rules.yaml\n"), 0o644)
	os.WriteFile("rules.yaml", []byte("version: 1\n"), 0o644)
	if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}); r.Code != 0 || r.Stdout != "rules.yaml (named by bottle.yaml) has no rules: everything is denied (mode: enforce)\n" {
		t.Errorf("the file bottle.yaml names: %+v", r)
	}
}

// TestListOrigin: a rule's origin: is an ORIGIN column (shown once a rule
// has one) and "origin" in --json, left out for a rule without one.
func TestListOrigin(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.model.example\n    ports: [443]\n    origin: agent claude\n  - host: a.example.com\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"})
	want := `RULE      TARGET             PORTS   METHODS  PATHS  TLS        LINE  ORIGIN
allow[0]  api.model.example  443     any      any    intercept  3     agent claude
allow[1]  a.example.com      80,443  any      any    intercept  6     -
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("list: exit %d\n%s\nwant:\n%s", r.Code, r.Stdout, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 {
		t.Fatalf("list --json: %v %+v", err, r)
	}
	if got.Rules[0].Origin != "agent claude" || got.Rules[1].Origin != "" || strings.Count(r.Stdout, `"origin"`) != 1 {
		t.Errorf("list --json:\n%s", r.Stdout)
	}
}
