package launch

import (
	"os"
	"strings"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

// credentialRules bind a credential to api.example.com, whose placeholder
// the agent gets in ANTHROPIC_API_KEY.
const credentialRules = `allow:
  - host: api.example.com
credentials:
  - name: anthropic
    hosts: [api.example.com]
    header: x-api-key
    source: env:TEST_KEY
    agent_env: ANTHROPIC_API_KEY
`

// TestLaunchCredentialVariable: the variable that holds a credential's
// placeholder is refused from -e and from a project's env:, before the
// engine is asked anything; a source that does not resolve stops the
// launch the same way. No value is printed.
func TestLaunchCredentialVariable(t *testing.T) {
	fx := cmdtest.New(t)
	fx.Dir("version: 1\n" + credentialRules)
	fx.Fakert("", "image", "agent:1")
	fx.UserEnv["TEST_KEY"] = "sk-test-value-0123456789"
	fx.UserEnv["ANTHROPIC_API_KEY"] = "sk-test-mine-0123456789"
	want := "-e ANTHROPIC_API_KEY (or env: in bottle.yaml): the agent gets credential anthropic's placeholder in ANTHROPIC_API_KEY, and the sidecar puts the real value on its requests to api.example.com; drop ANTHROPIC_API_KEY from -e and from env in bottle.yaml\n"
	fx.Calls()
	r := fx.Run(NewCmd(fx.F, nil), nil, "demo", "--image", "agent:1", "-e", "ANTHROPIC_API_KEY")
	if r.Code != 1 || !strings.HasSuffix(r.Stderr, want) {
		t.Errorf("-e: %+v", r)
	}
	os.WriteFile("bottle.yaml", []byte("version: 1\nimage: agent:1\nenv:\n  ANTHROPIC_API_KEY:\n"+credentialRules), 0o644)
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--yes")
	if r.Code != 1 || !strings.HasSuffix(r.Stderr, want) {
		t.Errorf("env: in bottle.yaml: %+v", r)
	}
	os.Remove("bottle.yaml")
	delete(fx.UserEnv, "TEST_KEY")
	r = fx.Run(NewCmd(fx.F, nil), nil, "demo", "--image", "agent:1")
	if r.Code != 1 || !strings.HasSuffix(r.Stderr, "credential anthropic: env:TEST_KEY is not set; export TEST_KEY where you run bottle, or change the source with bottle secret add anthropic … --from SOURCE\n") {
		t.Errorf("unset source: %+v", r)
	}
	for _, c := range fx.Calls() {
		if !strings.Contains(c, " ps ") && !strings.Contains(c, "network l") && !strings.Contains(c, "version") && !strings.Contains(c, "image inspect") {
			t.Errorf("the engine was asked to do something: %s", c)
		}
	}
	if strings.Contains(r.Stderr, "sk-test-") {
		t.Error("a value was printed")
	}
}
