package check

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

func TestNewCmd(t *testing.T) {
	for _, tc := range []struct {
		cli    string
		method string
		file   string
		bottle string
		target string
	}{
		{cli: "https://a.test/", method: "GET", target: "https://a.test/"},
		{cli: "-X POST -f ci.yaml a.test:22", method: "POST", file: "ci.yaml", target: "a.test:22"},
		{cli: "--bottle demo a.test", method: "GET", bottle: "demo", target: "a.test"},
	} {
		fx := cmdtest.New(t)
		var got *Options
		r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"allow"}, strings.Fields(tc.cli)...)
		if r.Code != 0 || got == nil {
			t.Fatalf("%s: %+v", tc.cli, r)
		}
		if got.Method != tc.method || got.File.File != tc.file || got.File.Bottle != tc.bottle || got.Target != tc.target || got.File.StateDir != fx.F.Env.StateDir {
			t.Errorf("%s: %+v", tc.cli, got)
		}
	}
}

func TestCheck(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(cmdtest.Sample)
	tests := []struct {
		name      string
		args      []string
		code      int
		firstWord string
		contains  []string
	}{
		{name: "allowed URL", args: []string{"https://api.example.com/v1/x?token=secret"}, code: 0, firstWord: "allow", contains: []string{"allow[0]"}},
		{name: "denied URL", args: []string{"https://evil.example.net/"}, code: 1, firstWord: "deny", contains: []string{"default", "to allow it: bottle allow add evil.example.net"}},
		{name: "method outside rule", args: []string{"-X", "put", "https://github.com/acme/w"}, code: 1, firstWord: "deny", contains: []string{"not method PUT", "--method PUT --path /acme/w"}},
		{name: "deny rule", args: []string{"--method", "DELETE", "https://github.com/acme/w"}, code: 1, firstWord: "deny", contains: []string{"deny[0]", "bottle allow rm --deny github.com --method DELETE"}},
		{name: "path escape", args: []string{"https://github.com/acme/%2e%2e/other"}, code: 1, firstWord: "deny"},
		{name: "host port tunnel", args: []string{"ssh.example.com:22"}, code: 0, firstWord: "allow", contains: []string{"tunnelled"}},
		{name: "host port default 443", args: []string{"api.example.com"}, code: 0, firstWord: "allow", contains: []string{"intercepted"}},
		{name: "host wrong port", args: []string{"api.example.com:8443"}, code: 1, firstWord: "deny", contains: []string{"--port 8443"}},
		{name: "IP literal", args: []string{"[::1]:443"}, code: 1, firstWord: "deny", contains: []string{"cidr"}},
		{name: "URL with port", args: []string{"http://api.example.com:80/"}, code: 0, firstWord: "allow"},
		{name: "URL without path", args: []string{"https://api.example.com"}, code: 0, firstWord: "allow"},
		{name: "explicit file", args: []string{"--file", "allowlist.yaml", "https://api.example.com"}, code: 0, firstWord: "allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, tt.args...)
			if r.Code != tt.code {
				t.Errorf("exit %d; want %d\nstdout: %s\nstderr: %s", r.Code, tt.code, r.Stdout, r.Stderr)
			}
			if first, _, _ := strings.Cut(r.Stdout, " "); first != tt.firstWord {
				t.Errorf("first word %q; want %q (stdout %q)", first, tt.firstWord, r.Stdout)
			}
			for _, c := range tt.contains {
				if !strings.Contains(r.Stdout, c) {
					t.Errorf("stdout lacks %q:\n%s", c, r.Stdout)
				}
			}
			if strings.Contains(r.Stdout, "secret") {
				t.Errorf("query string echoed: %s", r.Stdout)
			}
		})
	}
}

// TestCheckHintScope: the command a denial suggests edits the allowlist
// that was checked: the same --file, or the same bottle.
func TestCheckHintScope(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(cmdtest.Sample)
	fx.Launch("demo", "docker")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"https://evil.example.net/"}, "to allow it: bottle allow add evil.example.net\n"},
		{[]string{"-f", "allowlist.yaml", "https://evil.example.net/"}, "to allow it: bottle allow add evil.example.net --file allowlist.yaml\n"},
		{[]string{"--bottle", "demo", "https://evil.example.net/"}, "to allow it: bottle allow add evil.example.net --bottle demo\n"},
		{[]string{"--bottle", "demo", "db.example.net:5432"}, "to allow it: bottle allow add db.example.net --port 5432 --passthrough --bottle demo\n"},
	} {
		r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, tc.args...)
		if r.Code != cmdutil.ExitError || !strings.HasSuffix(r.Stdout, tc.want) {
			t.Errorf("%q: %+v; want stdout ending %q", tc.args, r, tc.want)
		}
	}
}

func TestCheckReportMode(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nmode: report\nallow:\n  - host: a.example.com\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "https://b.example.com/")
	if r.Code != cmdutil.ExitError || !strings.Contains(r.Stdout, "mode is report: the sidecar would log this and let it through") {
		t.Errorf("%+v", r)
	}
}

func TestCheckUsageErrors(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(cmdtest.Sample)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "bottle allow check: missing the TARGET"},
		{[]string{"ftp://x.example.com/"}, `scheme "ftp" is not http or https`},
		{[]string{"https://"}, "has no host"},
		{[]string{"https://x.example.com:0/"}, `port "0" is not a port number`},
		{[]string{"http://[::1"}, "is not a URL"},
		{[]string{"x.example.com/path"}, "neither a URL nor HOST[:PORT]; write https://x.example.com/path"},
		{[]string{"x.example.com:99999"}, `port "99999" is not a port number`},
		{[]string{":443"}, "has no host"},
		{[]string{"--file", "missing.yaml", "https://x.example.com"}, "missing.yaml does not exist; create it with 'bottle allow add HOST' or pass --file"},
		{[]string{"--nope", "https://x.example.com"}, "unknown flag: --nope"},
		{[]string{"--bottle", "../x", "https://x.example.com"}, "--bottle: bottle name"},
		{[]string{"--bottle", "x", "--file", "y", "a.test"}, "bottle: give --file or --bottle, not both\nRun 'bottle allow check --help' for usage.\n"},
	} {
		r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, tc.args...)
		if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("version: 1\nallow:\n  - host: \"*\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "-f", "bad.yaml", "https://x.example.com")
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "bad.yaml is not a valid allowlist:\nbad.yaml:3:11:") {
		t.Errorf("invalid file: %+v", r)
	}
	os.Mkdir(filepath.Join(dir, "adir.yaml"), 0o755)
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "-f", "adir.yaml", "https://x.example.com")
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "adir.yaml") {
		t.Errorf("a directory: %+v", r)
	}
}

// TestCheckJSON: --json says the decision with these field names, the
// same reason and hint as the words do, and the exit status is the same as
// without.
func TestCheckJSON(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(cmdtest.Sample)
	for _, tc := range []struct {
		args []string
		code int
		want JSON // without Reason and Hint: those are the text's
	}{
		{[]string{"https://api.example.com/v1?token=secret"}, 0, JSON{Decision: "allow", Rule: "allow[0]", Cause: "allowed"}},
		{[]string{"ssh.example.com:22"}, 0, JSON{Decision: "allow", Rule: "allow[2]", Cause: "allowed", Action: "tunnel"}},
		{[]string{"api.example.com"}, 0, JSON{Decision: "allow", Rule: "allow[0]", Cause: "allowed", Action: "intercept"}},
		{[]string{"https://evil.example.net/x"}, 1, JSON{Decision: "deny", Rule: "default", Cause: "no-rule"}},
		{[]string{"api.example.com:8443"}, 1, JSON{Decision: "deny", Rule: "default", Cause: "port-not-covered"}},
		{[]string{"-X", "DELETE", "https://github.com/acme/w"}, 1, JSON{Decision: "deny", Rule: "deny[0]", Cause: "deny-rule"}},
	} {
		text := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, tc.args...)
		r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, append([]string{"--json"}, tc.args...)...)
		var fields map[string]any
		var got JSON
		if err := json.Unmarshal([]byte(r.Stdout), &fields); err != nil || r.Code != tc.code || text.Code != tc.code || r.Stderr != "" {
			t.Errorf("%q: %v %+v", tc.args, err, r)
			continue
		}
		json.Unmarshal([]byte(r.Stdout), &got)
		first, _, _ := strings.Cut(text.Stdout, "\n")
		_, reason, _ := strings.Cut(first, ": ")
		_, hint, _ := strings.Cut(text.Stdout, "to allow it: ")
		tc.want.Reason, tc.want.Hint = reason, strings.TrimSuffix(hint, "\n")
		if !reflect.DeepEqual(got, tc.want) || (tc.code == 1) != (got.Hint != "") || strings.Contains(r.Stdout, "secret") {
			t.Errorf("%q:\n%s\nwant %+v", tc.args, r.Stdout, tc.want)
		}
		for k := range fields {
			if !slices.Contains([]string{"decision", "rule", "cause", "reason", "hint", "action", "warnings"}, k) {
				t.Errorf("%q: field %q", tc.args, k)
			}
		}
	}
	fx.Dir("version: 1\nmode: report\nallow:\n  - host: a.example.com\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--json", "https://b.example.com/")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != cmdutil.ExitError || got.Decision != "would-deny" || got.Cause != "no-rule" || got.Hint == "" {
		t.Errorf("report mode: %v %+v", err, r)
	}
}

// TestCheckPrivateAddress: a name that resolves on the host to an address
// only a cidr rule allows is warned about, with the command that allows
// it; a public address, a cidr rule that covers it, an address literal and
// --no-resolve give no warning. The names resolve through the fixture's
// table: no real lookup is made.
func TestCheckPrivateAddress(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: \"*.corp.example\"\n  - host: db.corp.example\n    ports: [5432]\n    tls: passthrough\n  - cidr: 10.9.0.0/16\n")
	a := netip.MustParseAddr
	fx.Hosts["git.corp.example"] = []netip.Addr{a("10.20.5.7"), a("10.20.5.7"), a("192.0.2.1")}
	fx.Hosts["db.corp.example"] = []netip.Addr{a("fd00::5")}
	fx.Hosts["ok.corp.example"] = []netip.Addr{a("10.9.1.1")}
	fx.Hosts["pub.corp.example"] = []netip.Addr{a("8.8.8.8")}
	fx.Hosts["lo.corp.example"] = []netip.Addr{a("127.0.0.1")}
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "https://git.corp.example/x")
	want := "warning: on this host, git.corp.example resolves to 10.20.5.7, a private address; only a cidr rule can allow that (cidr: 10.20.5.7/32); to allow it: bottle allow add 10.20.5.7\n" +
		"warning: on this host, git.corp.example resolves to 192.0.2.1, a documentation address; only a cidr rule can allow that (cidr: 192.0.2.1/32); to allow it: bottle allow add 192.0.2.1\n"
	if r.Code != 0 || r.Stderr != want || !strings.HasPrefix(r.Stdout, "allow by allow[0]") {
		t.Errorf("private: %+v\nwant stderr:\n%s", r, want)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "db.corp.example:5432", "--bottle", "x")
	if r.Code != cmdutil.ExitError { // no bottle x
		t.Errorf("--bottle x: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "db.corp.example:5432")
	if !strings.Contains(r.Stderr, "resolves to fd00::5, a unique-local address") || !strings.HasSuffix(r.Stderr, "to allow it: bottle allow add fd00::5 --port 5432 --passthrough\n") {
		t.Errorf("ULA: %+v", r)
	}
	if r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--json", "lo.corp.example"); !strings.Contains(r.Stdout, `"warnings": [`) || !strings.Contains(r.Stdout, "a loopback address") || r.Stderr != "" {
		t.Errorf("--json: %+v", r)
	}
	for _, args := range [][]string{{"ok.corp.example"}, {"pub.corp.example"}, {"nx.corp.example"}, {"10.20.5.7:443"}, {"--no-resolve", "git.corp.example"}} {
		if r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, args...); r.Stderr != "" {
			t.Errorf("%q: %+v", args, r)
		}
	}
}

// TestCheckOrigin: the deciding rule's origin: is named after its id, and
// is "origin" in --json.
func TestCheckOrigin(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.model.example\n    ports: [443]\n    origin: agent claude\n  - host: a.example.com\n")
	r := fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--no-resolve", "https://api.model.example/v1/messages")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "allow by allow[0] (from agent claude): ") {
		t.Errorf("check: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--no-resolve", "https://a.example.com/")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "allow by allow[1]: ") {
		t.Errorf("check without origin: %+v", r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--no-resolve", "--json", "https://api.model.example/")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || got.Origin != "agent claude" || got.Rule != "allow[0]" {
		t.Errorf("check --json: %v %+v", err, r)
	}
	r = fx.Run(NewCmd(fx.F, nil), []string{"allow"}, "--no-resolve", "--json", "https://b.example.com/")
	if strings.Contains(r.Stdout, `"origin"`) {
		t.Errorf("a default decision has an origin: %s", r.Stdout)
	}
}
