package add

import (
	"os"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"git"},
		"git.example.com/acme/widget", "--push", "refs/heads/agent/**", "--push", "refs/tags/*", "--delete", "--credential", "forge", "--scan", "report", "--gitleaks-allow", "-f", "x.yaml")
	if r.Code != 0 || got.Repo != "git.example.com/acme/widget" || strings.Join(got.Push, " ") != "refs/heads/agent/** refs/tags/*" || !got.Delete ||
		got.Credential != "forge" || got.Scan != "report" || !got.GitleaksAllow || got.File.File != "x.yaml" {
		t.Fatalf("%+v %+v", r, got)
	}
	spec, err := got.Spec()
	if err != nil || spec.Scan != allowlist.GitScanReport || spec.Repo != got.Repo {
		t.Errorf("Spec = %+v, %v", spec, err)
	}
	if a := got.Args(); a != "bottle git add git.example.com/acme/widget --push 'refs/heads/agent/**' --push 'refs/tags/*' --delete --credential forge --scan report --gitleaks-allow" {
		t.Errorf("Args = %s", a)
	}
	if r := fx.Run(NewCmd(fx.F, nil), []string{"git"}); r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "missing the REPO") {
		t.Errorf("no REPO: %+v", r)
	}
}

// TestAddCreates: a first add creates the file, and the entry parses.
func TestAddCreates(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("")
	os.Remove("allowlist.yaml")
	r := fx.Run(NewCmd(fx.F, nil), []string{"git"}, "git.example.com/acme/widget.git", "--push", "refs/heads/agent/**")
	want := "created allowlist.yaml with git[0]: git.example.com/acme/widget push refs/heads/agent/** scan block\n" +
		"  implies git[0]: git.example.com ports 443 methods GET,POST paths /acme/widget/info/refs,…\n"
	if r.Code != 0 || r.Stdout != want {
		t.Fatalf("add: %+v", r)
	}
	pol, err := allowlist.Load("allowlist.yaml")
	if err != nil || len(pol.Git()) != 1 || pol.Git()[0].Push[0] != "refs/heads/agent/**" {
		t.Errorf("file: %v %v", pol, err)
	}
}
