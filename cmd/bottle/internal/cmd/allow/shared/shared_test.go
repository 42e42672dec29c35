package shared

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/launcher"
)

func TestPath(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, tc := range []struct {
		o    FileOptions
		want string
	}{
		{FileOptions{}, "allowlist.yaml"},
		{FileOptions{File: "x.yaml"}, "x.yaml"},
		{FileOptions{Bottle: "demo", StateDir: "/s/bottle"}, filepath.Join("/s/bottle/demo", contract.ConfigDir, contract.AllowlistFile)},
	} {
		if got := tc.o.Path(); got != tc.want {
			t.Errorf("%+v: %s; want %s", tc.o, got, tc.want)
		}
	}
	if err := (&FileOptions{Bottle: "../x"}).Check(); !cmdutil.IsUsage(err) {
		t.Errorf("Check(../x) = %v", err)
	}
}

// TestSource: without --file, bottle allow works on what bottle launch
// would read: the allowlist bottle.yaml names, its inline rules, else
// allowlist.yaml; --file follows a project file the same way.
func TestSource(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	write := func(name, content string) {
		t.Helper()
		os.MkdirAll(filepath.Dir(name), 0o755)
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const inline = "version: 1\nname: widget\nallow:\n  - host: a.test\n"
	outside := filepath.Join(t.TempDir(), "rules.yaml")
	for _, tc := range []struct {
		name  string
		files map[string]string
		o     FileOptions
		want  Source
		str   string
	}{
		{name: "nothing here", want: Source{Path: "allowlist.yaml"}, str: "allowlist.yaml"},
		{name: "bottle.yaml names a file", files: map[string]string{"bottle.yaml": "version: 1\nallowlist: team/rules.yaml\n"},
			want: Source{Path: "team/rules.yaml", Via: "bottle.yaml"}, str: "team/rules.yaml (named by bottle.yaml)"},
		{name: "bottle.yaml names a file outside", files: map[string]string{"bottle.yaml": "version: 1\nallowlist: " + outside + "\n"},
			want: Source{Path: outside, Via: "bottle.yaml"}},
		{name: "inline rules", files: map[string]string{"bottle.yaml": inline}, want: Source{Path: "bottle.yaml", Project: true}, str: "bottle.yaml"},
		{name: "no rules at all", files: map[string]string{"bottle.yaml": "version: 1\nname: widget\n"}, want: Source{Path: "allowlist.yaml"}},
		{name: "--file wins", files: map[string]string{"bottle.yaml": inline}, o: FileOptions{File: "x.yaml"}, want: Source{Path: "x.yaml"}},
		{name: "--file of a project elsewhere", files: map[string]string{"sub/bottle.yaml": inline}, o: FileOptions{File: "sub/bottle.yaml"}, want: Source{Path: "sub/bottle.yaml", Project: true}},
		{name: "--file of a project by its keys", files: map[string]string{"ci.yaml": inline}, o: FileOptions{File: "ci.yaml"}, want: Source{Path: "ci.yaml", Project: true}},
		{name: "--file of a project without rules", files: map[string]string{"sub/bottle.yaml": "version: 1\n"}, o: FileOptions{File: "sub/bottle.yaml"}, want: Source{Path: "sub/allowlist.yaml"}},
		{name: "--bottle", files: map[string]string{"bottle.yaml": inline}, o: FileOptions{Bottle: "demo", StateDir: "/s/bottle"},
			want: Source{Path: filepath.Join("/s/bottle/demo", contract.ConfigDir, contract.AllowlistFile), Bottle: "demo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range []string{"bottle.yaml", "sub", "ci.yaml"} {
				os.RemoveAll(f)
			}
			for name, content := range tc.files {
				write(name, content)
			}
			got, err := tc.o.Source()
			if err != nil || got != tc.want {
				t.Errorf("%+v, %v; want %+v", got, err, tc.want)
			}
			if tc.str != "" && got.String() != tc.str {
				t.Errorf("String() = %q; want %q", got.String(), tc.str)
			}
		})
	}
	os.RemoveAll("sub")
	write("bottle.yaml", "version: 1\nname: Widget\nallow:\n  - host: \"*\"\n")
	_, err := (&FileOptions{}).Source()
	var el allowlist.ErrorList
	if !cmdutil.IsUsage(err) || !errors.As(err, &el) || !strings.Contains(err.Error(), "bottle.yaml is not valid:\nbottle.yaml:2:7: ") || !strings.Contains(err.Error(), "bottle.yaml:4:11: allow[0].host") {
		t.Errorf("an invalid bottle.yaml: %v", err)
	}
}

// TestAppliedCancelled: Ctrl-C ends the wait at once.
func TestAppliedCancelled(t *testing.T) {
	dir := t.TempDir()
	l := &launcher.Launcher{StateDir: dir}
	if err := os.MkdirAll(l.LogDir("demo"), 0o700); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(launcher.Bottle{Name: "demo", Backend: "docker"})
	if err := os.WriteFile(filepath.Join(dir, "demo", contract.MetadataFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ios, _, _ := cmdutil.Test("")
	start := time.Now()
	err := (&FileOptions{Bottle: "demo", StateDir: dir, Wait: time.Hour}).Applied(ctx, ios, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "did not confirm it within 1h0m0s") || time.Since(start) > time.Minute {
		t.Errorf("%v after %s", err, time.Since(start))
	}
}

func TestRuleSpec(t *testing.T) {
	f := RuleFlags{Ports: []string{"22", "https"}, Methods: []string{"GET"}, Deny: true}
	s, _, err := f.Spec("a.test")
	if err != nil || s.Host != "a.test" || len(s.Ports) != 2 || s.Ports[1] != 443 || !s.Deny {
		t.Errorf("%+v %v", s, err)
	}
	for _, p := range []string{"65536", "0", "gopher"} {
		if _, _, err := (&RuleFlags{Ports: []string{p}}).Spec("a.test"); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), "--port") {
			t.Errorf("port %s: %v", p, err)
		}
	}
}

// TestRuleSpecTargets: add and rm take the target as people type it; what
// the target and the flags say must agree, and mistakes are told in terms
// of arguments and flags.
func TestRuleSpecTargets(t *testing.T) {
	for _, tc := range []struct {
		target string
		flags  RuleFlags
		want   string // RuleSpec.Args
		note   string
	}{
		{target: "api.example.com", want: "api.example.com"},
		{target: "https://api.example.com/v1", want: "api.example.com --path '/v1/**'"},
		{target: "https://api.example.com/v1/", want: "api.example.com --path '/v1/**'"},
		{target: "https://api.example.com/v1/**", want: "api.example.com --path '/v1/**'"},
		{target: "https://api.example.com/", want: "api.example.com"},
		{target: "https://api.example.com", want: "api.example.com"},
		{target: "https://api.example.com:443/x", want: "api.example.com --path '/x/**'"},
		{target: "http://api.example.com:8080", want: "api.example.com --port 8080"},
		{target: "https://api.example.com/v1?key=1", want: "api.example.com --path '/v1/**'", note: "not the query"},
		{target: "postgres://db.example.com/app", want: "", note: ""},
		{target: "postgres://db.example.com", want: "db.example.com --port 5432"},
		{target: "ssh://git.example.com:2222", want: "git.example.com --port 2222"},
		{target: "db.example.com:5432", want: "db.example.com --port 5432"},
		{target: "db.example.com:postgres", want: "db.example.com --port 5432"},
		{target: "db.example.com:5432", flags: RuleFlags{Ports: []string{"5432"}}, want: "db.example.com --port 5432"},
		{target: "[2001:db8::1]:22", want: "2001:db8::1 --port 22"},
		{target: "10.20.5.7", want: "10.20.5.7"},
		{target: "10.20.0.0/16", flags: RuleFlags{Ports: []string{"postgres"}}, want: "10.20.0.0/16 --port 5432"},
		{target: "fd00::/8", want: "fd00::/8"},
		{target: "ssh.example.com", flags: RuleFlags{Ports: []string{"ssh", "https"}, Passthrough: true}, want: "ssh.example.com --port 22 --port 443 --passthrough"},
	} {
		s, notes, err := tc.flags.Spec(tc.target)
		if tc.want == "" {
			if !cmdutil.IsUsage(err) {
				t.Errorf("%s: %+v %v; want a usage error", tc.target, s, err)
			}
			continue
		}
		if err != nil || s.Args() != tc.want {
			t.Errorf("%s %+v: %q %v; want %q", tc.target, tc.flags, s.Args(), err, tc.want)
		}
		if got := strings.Join(notes, "\n"); tc.note == "" && got != "" || !strings.Contains(got, tc.note) {
			t.Errorf("%s: notes %q; want %q", tc.target, got, tc.note)
		}
	}
	for _, tc := range []struct {
		target string
		flags  RuleFlags
		want   string
	}{
		{"db.example.com:5432", RuleFlags{Ports: []string{"22"}}, "give the port once"},
		{"https://api.example.com/v1", RuleFlags{Paths: []string{"/v2/**"}}, "give the path once"},
		{"api.example.com/v1", RuleFlags{}, "write its scheme (https://api.example.com/v1)"},
		{"gopher://h.example.com", RuleFlags{}, "scheme \"gopher\""},
		{"h.example.com:gopher", RuleFlags{}, "is not a port"},
		{"https:///x", RuleFlags{}, "has no host"},
		{":22", RuleFlags{}, "is not HOST or HOST:PORT"},
	} {
		if _, _, err := tc.flags.Spec(tc.target); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.target, err, tc.want)
		}
	}
	if !IsRuleID("allow[12]") || !IsRuleID("deny[0]") || IsRuleID("allow[x]") || IsRuleID("xallow[1]") {
		t.Error("IsRuleID")
	}
	again := "bottle allow add db.example.com --port 5432"
	if n := InterceptedPortNote(allowlist.RuleSpec{Host: "db.example.com", Ports: []uint16{5432}}, again); !strings.Contains(n, "port 5432 is intercepted") || !strings.HasSuffix(n, again+" --passthrough") {
		t.Errorf("note %q", n)
	}
	for _, s := range []allowlist.RuleSpec{{Ports: []uint16{443}}, {}, {Ports: []uint16{22}, Passthrough: true}, {Ports: []uint16{22}, Deny: true}} {
		if n := InterceptedPortNote(s, again); n != "" {
			t.Errorf("%+v: note %q", s, n)
		}
	}
}

func TestRuleLineAndJSON(t *testing.T) {
	pol, err := allowlist.Parse("a.yaml", []byte(`version: 1
allow:
  - host: a.test
  - host: gh.test
    methods: [GET]
    paths: ["/x/**"]
  - host: ssh.test
    ports: [22]
    tls: passthrough
    sni: optional
  - cidr: 10.0.0.0/8
    ports: [5432]
deny:
  - host: b.test
`))
	if err != nil {
		t.Fatal(err)
	}
	rules := append(pol.Allow(), pol.DenyRules()...)
	want := []string{
		"allow[0]: a.test ports 80,443",
		"allow[1]: gh.test ports 80,443 methods GET paths /x/**",
		"allow[2]: ssh.test ports 22 (tls passthrough, sni optional)",
		"allow[3]: 10.0.0.0/8 ports 5432",
		"deny[0]: b.test all ports",
	}
	for i, r := range rules {
		if got := RuleLine(r); got != want[i] {
			t.Errorf("RuleLine = %q; want %q", got, want[i])
		}
	}
	j := ToJSON(rules[2])
	if j.TLS != "passthrough" || j.SNI != "optional" || j.List != "allow" || j.Line != 7 {
		t.Errorf("%+v", j)
	}
	if j := ToJSON(rules[4]); j.List != "deny" || j.TLS != "" || j.Ports != nil {
		t.Errorf("%+v", j)
	}
	if j := ToJSON(rules[3]); j.CIDR != "10.0.0.0/8" || j.Host != "" || j.TLS != "intercept" {
		t.Errorf("%+v", j)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("version: 1\nallow:\n  - host: a.test\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 9\n"), 0o644)
	if pol, err := (&FileOptions{File: good}).Load(); err != nil || len(pol.Allow()) != 1 {
		t.Errorf("good: %v", err)
	}
	for file, want := range map[string]string{
		bad:                           "bad.yaml is not a valid allowlist:\n",
		filepath.Join(dir, "no.yaml"): "no.yaml does not exist; create it with 'bottle allow add HOST' or pass --file",
		dir:                           "is a directory",
	} {
		if _, err := (&FileOptions{File: file}).Load(); !cmdutil.IsUsage(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", file, err, want)
		}
	}
}

func TestApplied(t *testing.T) {
	dir := t.TempDir()
	l := &launcher.Launcher{StateDir: dir}
	os.MkdirAll(l.LogDir("demo"), 0o700)
	data, _ := json.Marshal(launcher.Bottle{Name: "demo", Backend: "docker"})
	os.WriteFile(filepath.Join(dir, "demo", contract.MetadataFile), data, 0o600)
	status := filepath.Join(l.LogDir("demo"), contract.StatusFile)
	o := &FileOptions{Bottle: "demo", StateDir: dir, Wait: time.Hour}
	ios, _, errb := cmdutil.Test("")
	contract.WriteStatus(status, contract.ReloadStatus{Tried: contract.Hash([]byte("new")), OK: true})
	if err := o.Applied(context.Background(), ios, []byte("new")); err != nil || errb.String() != "the sidecar of demo applied it\n" {
		t.Errorf("applied: %v %q", err, errb)
	}
	contract.WriteStatus(status, contract.ReloadStatus{Tried: contract.Hash([]byte("newer")), Errors: "a.yaml:1:1: no\n"})
	if err := o.Applied(context.Background(), ios, []byte("newer")); err == nil || err.Error() != "the sidecar of demo rejected the new file and keeps the previous policy:\na.yaml:1:1: no" {
		t.Errorf("rejected: %v", err)
	}
	if err := (&FileOptions{}).Applied(context.Background(), ios, nil); err != nil {
		t.Errorf("without --bottle: %v", err)
	}
}

// TestFlags: the shared flags parse into the options, --file and --bottle
// exclude each other, and a bad --bottle name stops the command before it
// runs.
func TestFlags(t *testing.T) {
	var fo FileOptions
	var rf RuleFlags
	ran := false
	cmd := &cobra.Command{Use: "x", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
	fo.AddFlags(cmd)
	rf.AddFlags(cmd)
	cmd.SetArgs([]string{"--bottle", "demo", "-p", "22", "-X", "get", "--path", "/a/**", "--passthrough", "--sni-optional", "--deny"})
	if err := cmd.Execute(); err != nil || !ran {
		t.Fatalf("%v %v", err, ran)
	}
	if fo.Bottle != "demo" || len(rf.Ports) != 1 || rf.Ports[0] != "22" || rf.Methods[0] != "get" || rf.Paths[0] != "/a/**" || !rf.Passthrough || !rf.SNIOptional || !rf.Deny {
		t.Errorf("%+v %+v", fo, rf)
	}
	ran = false
	cmd.SetArgs([]string{"--bottle", "../../evil"})
	if err := cmd.Execute(); !cmdutil.IsUsage(err) || ran {
		t.Errorf("a bad name: %v (ran %v)", err, ran)
	}
	cmd.SetArgs([]string{"--bottle", "demo", "--file", "x.yaml"})
	if err := cmd.Execute(); err == nil {
		t.Error("--file with --bottle accepted")
	}
}
