package add

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/cmd/bottle/internal/fakert"
)

const rules = `# team rules
version: 1
allow:
  - host: api.example.com   # the API
  - host: git.example.com
  - host: "*.s3.example.com"
  - host: ssh.example.com
    tls: passthrough
`

func run1(t *testing.T, fx *cmdtest.Fixture, args ...string) cmdtest.Result {
	t.Helper()
	cmd := NewCmd(fx.F, func(o *Options) error {
		o.Resolve = func(_ context.Context, s allowlist.Source) error {
			if s.String() == "env:GOOD" {
				return nil
			}
			return errors.New(s.String() + " is not set")
		}
		return run(context.Background(), o)
	})
	return fx.Run(cmd, []string{"secret"}, args...)
}

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var got *Options
	r := fx.Run(NewCmd(fx.F, func(o *Options) error { got = o; return nil }), []string{"secret"},
		strings.Fields("aws --host a.example.com --host b.example.com --aws --key-id-from env:K --from env:S --token-from env:T --bottle demo")...)
	if r.Code != 0 || got.Name != "aws" || strings.Join(got.Hosts, ",") != "a.example.com,b.example.com" || !got.AWS || got.KeyIDFrom != "env:K" || got.From != "env:S" || got.TokenFrom != "env:T" || got.File.Bottle != "demo" {
		t.Errorf("%+v %+v", r, got)
	}
	spec, err := got.Spec()
	if err != nil || spec.Kind != allowlist.CredAWS || spec.AccessKeyID.Ref != "K" || spec.SecretAccessKey.Ref != "S" || spec.SessionToken.Ref != "T" || spec.Source.Scheme != "" {
		t.Errorf("Spec = %+v, %v", spec, err)
	}
	if a := got.Args(); a != "bottle secret add aws --host a.example.com --host b.example.com --aws --key-id-from env:K --from env:S --token-from env:T" {
		t.Errorf("Args = %s", a)
	}
	for _, args := range [][]string{
		{},
		{"a", "b"},
		{"x", "--host", "a.example.com", "--header", "h", "--bearer", "--from", "env:A"},
		{"x", "--host", "a.example.com", "--from", "env:A", "--bottle", "../evil"},
		{"x", "--host", "a.example.com", "--bearer", "--from", "env:A", "-f", "x", "--bottle", "y"},
		{"x", "--host", "a.example.com", "--bearer", "--from", "env:A", "--live-only"},
	} {
		if r := fx.Run(NewCmd(fx.F, func(*Options) error { t.Errorf("%q ran", args); return nil }), []string{"secret"}, args...); r.Code != cmdutil.ExitUsage {
			t.Errorf("%q: %+v", args, r)
		}
	}
}

// token stands for a secret pasted where its source belongs; made here, so
// that no real-looking secret is in the file.
var token = "tok" + strings.Repeat("aB3x", 10)

func TestSpecRejects(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(rules)
	before, _ := os.ReadFile("allowlist.yaml")
	for _, tc := range []struct {
		args string
		want string
	}{
		{"x --host api.example.com --from env:A", "say how the credential is sent: --header NAME, --bearer, --basic-user USER, --query NAME or --aws"},
		{"x --bearer --from env:A", "name the hosts the credential is sent to with --host"},
		{"x --host api.example.com --bearer", "name where the value comes from with --from SOURCE"},
		{"x --host api.example.com --aws --key-id-from env:K", "--aws needs --from SOURCE, where the secret access key comes from"},
		{"x --host api.example.com --aws --from env:S", "--aws needs --key-id-from SOURCE"},
		{"x --host api.example.com --bearer --from env:A --token-from env:T", "--key-id-from and --token-from apply only with --aws"},
		{"x --host api.example.com --bearer --from A", `--from has no scheme; write env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT], never the secret itself (for the variable A: "env:A")`},
		{"x --host api.example.com --bearer --from " + token, "--from has no scheme"},
		{"x --host api.example.com --bearer --from command:'a", `--from "command:'a" has an unterminated ' quote`},
		{"x --host api.example.com --aws --key-id-from vault:k --from env:S", `--key-id-from "vault:k" has the unknown scheme "vault:"`},
		{"X --host api.example.com --bearer --from env:A", `credential name "X" is not a credential name`},
		{"x --host https://api.example.com/v1 --bearer --from env:A", `--host "https://api.example.com/v1" must be a host name, not a URL`},
		{"x --host api.example.com --header content-length --from env:A", `--header "content-length" is a header the proxy sets itself`},
		{"x --host api.example.com --basic-user a:b --from env:A", `--basic-user "a:b" must not contain ':'`},
		{"x --host api.example.com --bearer --from env:A --agent-env HTTPS_PROXY", `--agent-env "HTTPS_PROXY" is a variable bottle sets itself`},
		{"x --host api.example.com --aws --key-id-from env:K --from env:S --agent-env K", "--agent-env does not apply to an aws credential"},
	} {
		r := run1(t, fx, strings.Fields(tc.args)...)
		if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) || strings.Contains(r.Stderr, token) {
			t.Errorf("%s: exit %d stderr %q; want 2 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	if after, _ := os.ReadFile("allowlist.yaml"); !bytes.Equal(after, before) {
		t.Errorf("a rejected add changed the file")
	}
}

func TestAdd(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(rules)
	r := run1(t, fx, strings.Fields("model --host api.example.com --header x-api-key --from env:GOOD --agent-env MODEL_KEY")...)
	if r.Code != 0 || r.Stdout != "added credential model to allowlist.yaml: header X-Api-Key on api.example.com, from env:GOOD, agent_env MODEL_KEY\n" || r.Stderr != "" {
		t.Fatalf("add: %+v", r)
	}
	data, _ := os.ReadFile("allowlist.yaml")
	want := rules + "credentials:\n  - name: model\n    hosts: [api.example.com]\n    header: x-api-key\n    source: env:GOOD\n    agent_env: MODEL_KEY\n"
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s", data, want)
	}
	r = run1(t, fx, strings.Fields("model --host api.example.com --header X-API-KEY --from env:GOOD --agent-env MODEL_KEY")...)
	if r.Code != 0 || r.Stdout != "nothing changed in allowlist.yaml: it already has this credential (model)\n" {
		t.Errorf("again: %+v", r)
	}
	// A source that does not resolve now is added, with a warning.
	r = run1(t, fx, "git", "--host", "git.example.com", "--basic-user", "x-access-token", "--from", "command:gh auth token")
	if r.Code != 0 || r.Stdout != "added credential git to allowlist.yaml: basic x-access-token on git.example.com, from command:gh auth token\n" ||
		r.Stderr != "warning: credential git does not resolve now: command:gh auth token is not set (bottle launch would stop on it)\n" {
		t.Errorf("unresolved: %+v", r)
	}
	r = run1(t, fx, strings.Fields("s3 --host *.s3.example.com --aws --key-id-from env:GOOD --from env:GOOD --token-from env:T")...)
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "added credential s3 to allowlist.yaml: aws on *.s3.example.com, from access_key_id env:GOOD, secret_access_key env:GOOD, session_token env:T, agent_env AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN\n") {
		t.Errorf("aws: %+v", r)
	}
	// The same name again replaces it where it stands.
	r = run1(t, fx, strings.Fields("model --host api.example.com --bearer --from env:GOOD")...)
	if r.Code != 0 || r.Stdout != "replaced credential model in allowlist.yaml: now bearer on api.example.com, from env:GOOD\n" {
		t.Errorf("replace: %+v", r)
	}
	pol, err := allowlist.Load("allowlist.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range pol.Credentials() {
		names = append(names, c.Name+"="+c.Kind.String())
	}
	if strings.Join(names, " ") != "model=bearer git=basic s3=aws" {
		t.Errorf("credentials: %v", names)
	}
	if data, _ := os.ReadFile("allowlist.yaml"); !strings.Contains(string(data), "# team rules") || !strings.Contains(string(data), "# the API") {
		t.Errorf("comments lost:\n%s", data)
	}
}

// TestAddNeedsTheHostAllowed: the error names the bottle allow command to
// run first, for the same file.
func TestAddNeedsTheHostAllowed(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir(rules)
	for _, tc := range []struct{ args, want string }{
		{"x --host new.example.com --bearer --from env:A", "bottle: allowlist.yaml does not allow new.example.com yet, so no request could carry the credential there; allow it first: bottle allow add new.example.com\n"},
		{"x --host *.example.com --bearer --from env:A --file allowlist.yaml", "bottle: allowlist.yaml does not allow *.example.com yet, so no request could carry the credential there; allow it first: bottle allow add '*.example.com' --file allowlist.yaml\n"},
		{"x --host ssh.example.com --bearer --from env:A", "bottle: allowlist.yaml allows ssh.example.com only through allow[3], with tls: passthrough, and credentials apply only to intercepted hosts (the proxy cannot set a header inside a tunnel it does not open); allow it intercepted first: bottle allow rm 'allow[3]', then bottle allow add ssh.example.com\n"},
		{"x --host x.example.com --bearer --from env:A --file new.yaml", "bottle: new.yaml does not allow x.example.com yet, so no request could carry the credential there; allow it first: bottle allow add x.example.com --file new.yaml\n"},
	} {
		r := run1(t, fx, strings.Fields(tc.args)...)
		if r.Code != cmdutil.ExitError || r.Stderr != tc.want {
			t.Errorf("%s: exit %d stderr %q; want 1 and %q", tc.args, r.Code, r.Stderr, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.yaml")); !os.IsNotExist(err) {
		t.Errorf("a refused add made a file: %v", err)
	}
}

func TestAddConflicts(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(rules)
	if r := run1(t, fx, strings.Fields("a --host api.example.com --bearer --from env:GOOD --agent-env TOKEN")...); r.Code != 0 {
		t.Fatal(r)
	}
	for _, tc := range []struct{ args, want string }{
		{"b --host git.example.com --bearer --from env:GOOD --agent-env TOKEN", `--agent-env TOKEN is already the agent_env of the credential "a"`},
		{"b --host api.example.com --basic-user u --from env:GOOD", `the credential "a" already sets Authorization on api.example.com`},
	} {
		r := run1(t, fx, strings.Fields(tc.args)...)
		if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: %+v; want %q", tc.args, r, tc.want)
		}
	}
	os.WriteFile("allowlist.yaml", []byte("version: 1\ncredentials: 3\n"), 0o644)
	r := run1(t, fx, strings.Fields("b --host git.example.com --bearer --from env:GOOD")...)
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "allowlist.yaml:2:14: credentials must be a list") || !strings.Contains(r.Stderr, "fix the file before editing it") || strings.Contains(r.Stderr, "--help") {
		t.Errorf("broken file: %+v", r)
	}
}

// TestAddBottle: --bottle edits the live allowlist and the launch file,
// hands the sidecar the value and waits until it has it.
func TestAddBottle(t *testing.T) {
	fx := cmdtest.New(t)
	t.Chdir(t.TempDir())
	fx.UserEnv["GOOD"] = "sk-test-good-value-0123456789"
	b := fx.Launch("demo", "docker")
	sidecar := func() chan int {
		done := make(chan int, 1)
		go func() {
			done <- fakert.Run(context.Background(), *fx.Fake, "fakert", []string{"sidecar", b.StateDir, "-credentials", "1"}, nil, &bytes.Buffer{}, &bytes.Buffer{})
		}()
		return done
	}
	if code := <-sidecar(); code != 0 {
		t.Fatalf("the first load: exit %d", code)
	}
	done := sidecar()
	r := run1(t, fx, strings.Fields("model --host api.example.com --header x-api-key --from env:GOOD --agent-env MODEL_KEY --bottle demo")...)
	if r.Code != 0 || <-done != 0 {
		t.Fatalf("%+v", r)
	}
	if !strings.Contains(r.Stdout, "added credential model to the live allowlist of demo (") || !strings.Contains(r.Stdout, "/allowlist.yaml, which demo was launched from: header X-Api-Key") {
		t.Errorf("stdout: %q", r.Stdout)
	}
	if r.Stderr != "the sidecar of demo applied it\nthe sidecar of demo has the value of model; the agent's MODEL_KEY is set at its next launch (the proxy injects the credential without it)\n" {
		t.Errorf("stderr: %q", r.Stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(b.StateDir, "config", "credentials.json")); !strings.Contains(string(data), `"value": "sk-test-good-value-0123456789"`) {
		t.Errorf("the sidecar's credentials file does not have the value")
	}
	if strings.Contains(r.Stdout+r.Stderr, "sk-test-good") {
		t.Errorf("a value was printed: %+v", r)
	}
	if data, _ := os.ReadFile(b.AllowlistSource); !strings.Contains(string(data), "name: model") {
		t.Errorf("launch file:\n%s", data)
	}
	// A host the live allowlist does not allow: the bottle allow to run
	// names the bottle.
	r = run1(t, fx, strings.Fields("x --host new.example.com --bearer --from env:GOOD --bottle demo")...)
	if r.Code != cmdutil.ExitError || !strings.HasSuffix(r.Stderr, "allow it first: bottle allow add new.example.com --bottle demo\n") {
		t.Errorf("not allowed in the live allowlist: %+v", r)
	}
}
