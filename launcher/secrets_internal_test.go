package launcher

import (
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
)

// TestAgentEnvNotOurs: the allowlist refuses, as a credential's agent_env,
// every variable bottle sets in the agent itself (its list and proxyEnv's
// must not drift apart).
func TestAgentEnvNotOurs(t *testing.T) {
	for _, kv := range proxyEnv("http://10.0.0.2:3128", "10.0.0.2", "http://10.0.0.2:3129/mcp") {
		v, _, _ := strings.Cut(kv, "=")
		pol := "version: 1\nallow:\n  - host: api.example.com\ncredentials:\n  - name: a\n    hosts: [api.example.com]\n    bearer: true\n    source: env:K\n    agent_env: " + v + "\n"
		if _, err := allowlist.Parse("allowlist.yaml", []byte(pol)); err == nil {
			t.Errorf("agent_env %s is accepted; bottle sets it for the agent", v)
		}
	}
}
