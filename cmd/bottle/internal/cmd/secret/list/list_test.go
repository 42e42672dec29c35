package list

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmd/secret/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

const file = `version: 1
dlp: block
allow:
  - host: api.example.com
  - host: git.example.com
  - host: "*.s3.example.com"
credentials:
  - name: model
    hosts: [api.example.com]
    header: x-api-key
    source: env:GOOD
    agent_env: MODEL_KEY
  - name: git
    hosts: [git.example.com]
    basic_user: x-access-token
    source: "command:gh auth token"
  - name: s3
    hosts: ["*.s3.example.com"]
    aws:
      access_key_id: env:GOOD
      secret_access_key: keychain:s3/me
`

// secretValue is what the fake resolver reads for env:GOOD: list must
// never print it.
const secretValue = "value-that-must-not-be-printed"

func listWith(t *testing.T, fx *cmdtest.Fixture, resolve shared.ResolveFunc, args ...string) cmdtest.Result {
	t.Helper()
	return fx.Run(NewCmd(fx.F, func(o *Options) error {
		if resolve != nil {
			o.Resolve = resolve
		}
		return run(context.Background(), o)
	}), []string{"secret"}, args...)
}

func fake(_ context.Context, s allowlist.Source) error {
	v := ""
	if s.String() == "env:GOOD" {
		v = secretValue
	}
	if v == "" {
		return errors.New(s.String() + " is not set; export it")
	}
	return nil
}

func TestList(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir(file)
	r := listWith(t, fx, fake)
	want := `NAME   SENT AS               HOSTS             SOURCE                              AGENT_ENV                                RESOLVES
model  header X-Api-Key      api.example.com   env:GOOD                            MODEL_KEY                                yes
git    basic x-access-token  git.example.com   command:gh auth token               -                                        no
s3     aws                   *.s3.example.com  env:GOOD (access_key_id)            AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY  yes
                                               keychain:s3/me (secret_access_key)                                           no
git: command:gh auth token is not set; export it
s3: keychain:s3/me is not set; export it
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("list: %+v\nwant:\n%s", r, want)
	}
	r = listWith(t, fx, fake, "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 {
		t.Fatalf("--json: %v %+v", err, r)
	}
	if got.File != "allowlist.yaml" || got.DLP != "block" || len(got.Credentials) != 3 {
		t.Fatalf("--json = %+v", got)
	}
	m, g, s3 := got.Credentials[0], got.Credentials[1], got.Credentials[2]
	if m.Kind != "header" || m.Header != "X-Api-Key" || m.Hosts[0] != "api.example.com" || m.AgentEnv[0] != "MODEL_KEY" || !m.Sources[0].Resolves || m.Line != 8 {
		t.Errorf("model = %+v", m)
	}
	if g.Kind != "basic" || g.BasicUser != "x-access-token" || g.Sources[0].Resolves || g.Sources[0].Error != "command:gh auth token is not set; export it" || len(g.AgentEnv) != 0 {
		t.Errorf("git = %+v", g)
	}
	if s3.Kind != "aws" || len(s3.Sources) != 2 || s3.Sources[1].Role != "secret_access_key" || len(s3.AgentEnv) != 2 {
		t.Errorf("s3 = %+v", s3)
	}
	for _, out := range []string{r.Stdout, r.Stderr} {
		if strings.Contains(out, secretValue) {
			t.Errorf("a value was printed: %s", out)
		}
	}
	if !strings.Contains(r.Stdout, `"agent_env": []`) {
		t.Errorf("agent_env of a credential without one is not an empty list:\n%s", r.Stdout)
	}
}

func TestListEmptyAndErrors(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: a.example.com\n")
	r := listWith(t, fx, fake)
	if r.Code != 0 || r.Stdout != "allowlist.yaml has no credentials (add one with bottle secret add SECRET --host HOST … --from SOURCE)\n" {
		t.Errorf("empty: %+v", r)
	}
	if r := listWith(t, fx, fake, "--json"); r.Code != 0 || !strings.Contains(r.Stdout, `"credentials": []`) {
		t.Errorf("empty --json: %+v", r)
	}
	fx.Dir("version: 1\ncredentials:\n  - name: X\n")
	r = listWith(t, fx, fake)
	if r.Code != cmdutil.ExitUsage || !strings.Contains(r.Stderr, "allowlist.yaml:3:11: credentials[0].name \"X\" is not a credential name") {
		t.Errorf("invalid: %+v", r)
	}
	if r := listWith(t, fx, fake, "--bottle", "nothere"); r.Code != cmdutil.ExitError || r.Stderr != "bottle: no bottle named \"nothere\" (see bottle list)\n" {
		t.Errorf("missing bottle: %+v", r)
	}
	if r := listWith(t, fx, fake, "extra"); r.Code != cmdutil.ExitUsage {
		t.Errorf("extra argument: %+v", r)
	}
}

// TestListOrigin: a credential's origin: is an ORIGIN column (once one has
// it) and "origin" in --json.
func TestListOrigin(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\nallow:\n  - host: api.example.com\n  - host: git.example.com\ncredentials:\n  - name: model\n    hosts: [api.example.com]\n    header: x-api-key\n    source: env:GOOD\n    origin: agent claude\n  - name: git\n    hosts: [git.example.com]\n    bearer: true\n    source: env:GOOD\n")
	r := listWith(t, fx, fake)
	want := `NAME   SENT AS           HOSTS            SOURCE    AGENT_ENV  RESOLVES  ORIGIN
model  header X-Api-Key  api.example.com  env:GOOD  -          yes       agent claude
git    bearer            git.example.com  env:GOOD  -          yes       -
`
	if r.Code != 0 || r.Stdout != want {
		t.Errorf("list: %+v\nwant:\n%s", r, want)
	}
	r = listWith(t, fx, fake, "--json")
	var got JSON
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || got.Credentials[0].Origin != "agent claude" || got.Credentials[1].Origin != "" {
		t.Errorf("--json: %v %+v", err, r)
	}
}
