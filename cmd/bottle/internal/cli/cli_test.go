package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

const sample = `# team rules
version: 1
allow:
  - host: api.example.com   # the API
  - host: github.com
    methods: [GET, POST]
    paths: ["/acme/**"]
  - host: ssh.example.com
    ports: [22]
    tls: passthrough
deny:
  - host: github.com
    methods: [DELETE]
`

type result struct {
	code           int
	stdout, stderr string
}

// run executes the CLI in dir with args, as a user would.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, &IOStreams{In: strings.NewReader(""), Out: &out, Err: &errb}, Build{Version: "v0.0.0-test"})
	return result{code, out.String(), errb.String()}
}

func writeSample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAllowCheck(t *testing.T) {
	dir := writeSample(t)
	tests := []struct {
		name      string
		args      []string
		code      int
		firstWord string
		contains  []string
	}{
		{name: "allowed URL", args: []string{"allow", "check", "https://api.example.com/v1/x?token=secret"}, code: 0, firstWord: "allow", contains: []string{"allow[0]"}},
		{name: "denied URL", args: []string{"allow", "check", "https://evil.example.net/"}, code: 1, firstWord: "deny", contains: []string{"default", "to allow it: bottle allow add evil.example.net"}},
		{name: "method outside rule", args: []string{"allow", "check", "-X", "put", "https://github.com/acme/w"}, code: 1, firstWord: "deny", contains: []string{"not method PUT", "--method PUT --path /acme/w"}},
		{name: "deny rule", args: []string{"allow", "check", "--method", "DELETE", "https://github.com/acme/w"}, code: 1, firstWord: "deny", contains: []string{"deny[0]", "bottle allow rm --deny github.com --method DELETE"}},
		{name: "path escape", args: []string{"allow", "check", "https://github.com/acme/%2e%2e/other"}, code: 1, firstWord: "deny"},
		{name: "host port tunnel", args: []string{"allow", "check", "ssh.example.com:22"}, code: 0, firstWord: "allow", contains: []string{"tunnelled"}},
		{name: "host port default 443", args: []string{"allow", "check", "api.example.com"}, code: 0, firstWord: "allow", contains: []string{"intercepted"}},
		{name: "host wrong port", args: []string{"allow", "check", "api.example.com:8443"}, code: 1, firstWord: "deny", contains: []string{"--port 8443"}},
		{name: "IP literal", args: []string{"allow", "check", "[::1]:443"}, code: 1, firstWord: "deny", contains: []string{"cidr"}},
		{name: "explicit file", args: []string{"allow", "check", "--file", "allowlist.yaml", "https://api.example.com"}, code: 0, firstWord: "allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, dir, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d; want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if first, _, _ := strings.Cut(r.stdout, " "); first != tt.firstWord {
				t.Errorf("first word %q; want %q (stdout %q)", first, tt.firstWord, r.stdout)
			}
			for _, c := range tt.contains {
				if !strings.Contains(r.stdout, c) {
					t.Errorf("stdout lacks %q:\n%s", c, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "secret") {
				t.Errorf("query string echoed: %s", r.stdout)
			}
		})
	}
}

func TestAllowCheckUsageErrors(t *testing.T) {
	dir := writeSample(t)
	for _, args := range [][]string{
		{"allow", "check"},
		{"allow", "check", "ftp://x.example.com/"},
		{"allow", "check", "x.example.com/path"},
		{"allow", "check", "x.example.com:99999"},
		{"allow", "check", "--file", "missing.yaml", "https://x.example.com"},
		{"allow", "check", "--nope", "https://x.example.com"},
	} {
		r := run(t, dir, args...)
		if r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 with a message", args, r.code, r.stderr)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("version: 1\nallow:\n  - host: \"*\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, dir, "allow", "check", "-f", "bad.yaml", "https://x.example.com")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "bad.yaml:3:11:") {
		t.Errorf("invalid file: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestAllowValidate(t *testing.T) {
	dir := writeSample(t)
	r := run(t, dir, "allow", "validate", "allowlist.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "valid (3 allow, 1 deny rules") {
		t.Errorf("valid file: %+v", r)
	}
	r = run(t, dir, "allow", "validate") // default file
	if r.code != 0 {
		t.Errorf("default file: %+v", r)
	}
	bad := "version: 2\nallow:\n  - host: \"*github.com\"\n    ports: [0]\n"
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(bad), 0o644)
	r = run(t, dir, "allow", "validate", "bad.yaml")
	want := `bad.yaml:1:10: version 2 is not supported; use ` + "`version: 1`" + `
bad.yaml:3:11: allow[0].host "*github.com" has a wildcard inside the name; wildcards must be a whole leading label; use "*.github.com"
bad.yaml:4:13: allow[0].ports: 0 is not a port number; use a number from 1 to 65535
`
	if r.code != ExitUsage || r.stderr != want || r.stdout != "" {
		t.Errorf("invalid file: exit %d\nstderr:\n%s\nwant:\n%s", r.code, r.stderr, want)
	}
	r = run(t, dir, "allow", "validate", "nothere.yaml")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "nothere.yaml does not exist") {
		t.Errorf("missing file: %+v", r)
	}
}

func TestAllowAddRmList(t *testing.T) {
	dir := writeSample(t)
	path := filepath.Join(dir, "allowlist.yaml")

	r := run(t, dir, "allow", "add", "pypi.org")
	if r.code != 0 || !strings.Contains(r.stdout, "added allow[3]: pypi.org ports 80,443") {
		t.Fatalf("add: %+v", r)
	}
	data, _ := os.ReadFile(path)
	want := strings.Replace(sample, "    tls: passthrough\n", "    tls: passthrough\n  - host: pypi.org\n", 1)
	if string(data) != want {
		t.Errorf("file after add:\n%s\nwant:\n%s", data, want)
	}

	r = run(t, dir, "allow", "add", "PyPI.org.")
	if r.code != 0 || !strings.Contains(r.stdout, "already has this rule (allow[3]); nothing changed") {
		t.Errorf("re-add: %+v", r)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Errorf("no-op add changed the file")
	}

	r = run(t, dir, "allow", "add", "ssh.github.com", "-p", "22", "-p", "443", "--passthrough")
	if r.code != 0 || !strings.Contains(r.stdout, "ssh.github.com ports 22,443 (tls passthrough)") {
		t.Errorf("add passthrough: %+v", r)
	}
	r = run(t, dir, "allow", "add", "gist.github.com", "--deny")
	if r.code != 0 || !strings.Contains(r.stdout, "added deny[1]: gist.github.com all ports") {
		t.Errorf("add deny: %+v", r)
	}
	r = run(t, dir, "allow", "check", "https://gist.github.com/")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "deny by deny[1]") {
		t.Errorf("check after deny add: %+v", r)
	}

	r = run(t, dir, "allow", "list", "--json")
	var got listJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || r.code != 0 {
		t.Fatalf("list --json: %v %+v", err, r)
	}
	if len(got.Rules) != 7 || got.Mode != "enforce" || got.Rules[4].Host != "ssh.github.com" || got.Rules[4].TLS != "passthrough" || got.Rules[6].List != "deny" {
		t.Errorf("list --json = %+v", got)
	}
	r = run(t, dir, "allow", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "RULE") || !strings.Contains(r.stdout, "ssh.github.com") || !strings.Contains(r.stdout, "passthrough") {
		t.Errorf("list: %+v", r)
	}

	r = run(t, dir, "allow", "rm", "github.com")
	if r.code != 1 || !strings.Contains(r.stderr, "allow[1]: host github.com methods GET,POST paths /acme/**") {
		t.Errorf("rm without matching selectors: %+v", r)
	}
	r = run(t, dir, "allow", "rm", "github.com", "-X", "post", "-X", "GET", "--path", "/acme/**")
	if r.code != 0 || !strings.Contains(r.stdout, "removed allow[1]") {
		t.Errorf("rm: %+v", r)
	}
	r = run(t, dir, "allow", "rm", "gist.github.com", "--deny")
	if r.code != 0 {
		t.Errorf("rm --deny: %+v", r)
	}
	r = run(t, dir, "allow", "check", "https://github.com/acme/x")
	if r.code != 1 {
		t.Errorf("check after rm: %+v", r)
	}
	final, _ := os.ReadFile(path)
	if !strings.Contains(string(final), "# team rules") || !strings.Contains(string(final), "# the API") {
		t.Errorf("comments lost:\n%s", final)
	}
}

func TestAllowAddCreatesFile(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "allow", "add", "*.example.com", "--file", "new.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "created new.yaml with allow[0]: *.example.com") {
		t.Fatalf("add to new file: %+v", r)
	}
	r = run(t, dir, "allow", "check", "-f", "new.yaml", "https://a.example.com/")
	if r.code != 0 {
		t.Errorf("check: %+v", r)
	}
}

func TestAllowAddRejects(t *testing.T) {
	dir := writeSample(t)
	before, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml"))
	for _, args := range [][]string{
		{"allow", "add", "*"},
		{"allow", "add", "*.com"},
		{"allow", "add", "x.example.com", "--port", "70000"},
		{"allow", "add", "x.example.com", "--method", "FETCH"},
		{"allow", "add", "x.example.com", "--passthrough", "--path", "/a"},
		{"allow", "add"},
	} {
		r := run(t, dir, args...)
		if r.code != ExitUsage || r.stderr == "" {
			t.Errorf("%q: exit %d stderr %q; want 2", args, r.code, r.stderr)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml"))
	if string(after) != string(before) {
		t.Errorf("a rejected add changed the file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left behind: %v", entries)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "bottle v0.0.0-test") {
		t.Errorf("version: %+v", r)
	}
	r = run(t, dir, "version", "--json")
	var v versionInfo
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Version != "v0.0.0-test" || v.Go == "" {
		t.Errorf("version --json: %v %+v", err, r)
	}
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		r = run(t, dir, "completion", sh)
		if r.code != 0 || !strings.Contains(r.stdout, "bottle") || len(r.stdout) < 500 {
			t.Errorf("completion %s: exit %d, %d bytes", sh, r.code, len(r.stdout))
		}
	}
	r = run(t, dir, "completion", "tcsh")
	if r.code != ExitUsage {
		t.Errorf("completion tcsh: %+v", r)
	}
	r = run(t, dir, "frobnicate")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "unknown command") {
		t.Errorf("unknown command: %+v", r)
	}
}

// TestEveryCommandTeaches: every command has a short description and
// examples in its help.
func TestEveryCommandTeaches(t *testing.T) {
	root := NewRoot(&IOStreams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, Build{})
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		n++
		if c.Short == "" || strings.TrimSpace(c.Example) == "" {
			t.Errorf("%q lacks Short or Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	if n < 9 {
		t.Errorf("walked only %d commands", n)
	}
}

func TestAllowAddSNIOptional(t *testing.T) {
	dir := t.TempDir()
	r := run(t, dir, "allow", "add", "ssh.example.test", "-p", "22", "--passthrough", "--sni-optional")
	if r.code != 0 || !strings.Contains(r.stdout, "(tls passthrough, sni optional)") {
		t.Fatalf("add: %+v", r)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "allowlist.yaml")); !strings.Contains(string(data), "    sni: optional\n") {
		t.Errorf("file:\n%s", data)
	}
	r = run(t, dir, "allow", "list", "--json")
	if !strings.Contains(r.stdout, `"sni": "optional"`) {
		t.Errorf("list --json: %s", r.stdout)
	}
	if r := run(t, dir, "allow", "add", "x.test", "--sni-optional"); r.code != ExitUsage || !strings.Contains(r.stderr, "only with --passthrough") {
		t.Errorf("without --passthrough: %+v", r)
	}
}
