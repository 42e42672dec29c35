package allowlist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/golden"
)

func mustSource(t *testing.T, s string) Source {
	t.Helper()
	src, err := ParseSource(s)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestCredentialEditGolden adds and removes credentials in the files in
// testdata/edit and compares the result byte for byte with NAME.golden.
func TestCredentialEditGolden(t *testing.T) {
	projectKeys := []string{"name", "image", "env", "workspace", "command", "memory"}
	bearer := CredentialSpec{Name: "models", Hosts: []string{"*.example.org"}, Kind: CredBearer, Source: mustSource(t, "keychain:models/me")}
	query := CredentialSpec{Name: "maps", Hosts: []string{"api.anthropic.com"}, Kind: CredQuery, Query: "key", Source: mustSource(t, "file:~/.maps key")}
	aws := CredentialSpec{Name: "aws", Hosts: []string{"s3.example.com"}, Kind: CredAWS,
		AccessKeyID: mustSource(t, "env:AWS_ACCESS_KEY_ID"), SecretAccessKey: mustSource(t, "command:op read 'op://v/aws/secret'"), SessionToken: mustSource(t, "env:AWS_SESSION_TOKEN")}
	replace := CredentialSpec{Name: "anthropic", Hosts: []string{"api.anthropic.com"}, Kind: CredBearer, Source: mustSource(t, "env:MODEL_KEY"), AgentEnv: "MODEL_KEY"}
	header := CredentialSpec{Name: "anthropic", Hosts: []string{"api.anthropic.com"}, Kind: CredHeader, Header: "x-api-key", Source: mustSource(t, "env:ANTHROPIC_API_KEY"), AgentEnv: "ANTHROPIC_API_KEY"}
	tests := []struct {
		name      string
		in        string
		add       *CredentialSpec
		rm        string
		rewritten bool
		replaced  string
		extra     []string
	}{
		{name: "cred-add-append", in: "credentials.yaml", add: &bearer},
		{name: "cred-add-replace", in: "credentials.yaml", add: &replace, replaced: "anthropic"},
		{name: "cred-add-new-section", in: "commented.yaml", add: &query},
		{name: "cred-add-empty-section", in: "credentials-empty.yaml", add: &aws},
		{name: "cred-add-flow", in: "credentials-flow.yaml", add: &header, rewritten: true, replaced: "anthropic"},
		{name: "cred-add-embedded", in: "project-credentials.yaml", add: &header, extra: projectKeys},
		{name: "cred-rm-first", in: "credentials.yaml", rm: "anthropic"},
		{name: "cred-rm-last", in: "credentials.yaml", rm: "github"},
		{name: "cred-rm-flow", in: "credentials-flow.yaml", rm: "anthropic", rewritten: true},
		{name: "cred-add-crlf-zero-indent", in: "credentials-crlf.yaml", add: &CredentialSpec{Name: "b", Hosts: []string{"a.example.com"}, Kind: CredQuery, Query: "k", Source: mustSource(t, "env:B")}},
		{name: "cred-replace-crlf-zero-indent", in: "credentials-crlf.yaml", add: &CredentialSpec{Name: "a", Hosts: []string{"a.example.com"}, Kind: CredHeader, Header: "x-a", Source: mustSource(t, "env:A")}, replaced: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata/edit", tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var res EditResult
			switch {
			case tt.add != nil && tt.extra != nil:
				res, err = AddCredentialEmbedded(tt.in, in, *tt.add, tt.extra)
			case tt.add != nil:
				res, err = AddCredential(tt.in, in, *tt.add)
			case tt.extra != nil:
				res, err = RemoveCredentialEmbedded(tt.in, in, tt.rm, tt.extra)
			default:
				res, err = RemoveCredential(tt.in, in, tt.rm)
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Rewritten != tt.rewritten || res.Replaced != tt.replaced {
				t.Errorf("Rewritten, Replaced = %v, %q; want %v, %q", res.Rewritten, res.Replaced, tt.rewritten, tt.replaced)
			}
			if tt.rm != "" && (len(res.Removed) != 1 || res.Removed[0] != tt.rm) {
				t.Errorf("Removed = %v; want %s", res.Removed, tt.rm)
			}
			golden.Check(t, filepath.Join("testdata/edit", tt.name+".golden"), res.Data)
			pol, err := ParseEmbedded(tt.in, res.Data, tt.extra)
			if err != nil {
				t.Fatal(err)
			}
			var found *Credential
			for _, c := range pol.Credentials() {
				if c.Name == tt.rm {
					t.Errorf("%s still in the file", tt.rm)
				}
				if tt.add != nil && c.Name == tt.add.Name {
					found = c
				}
			}
			if tt.add != nil {
				if found == nil || found.Kind != tt.add.Kind {
					t.Fatalf("added credential not found: %+v", found)
				}
				// Adding it again changes nothing.
				again, err := AddCredentialEmbedded(tt.in, res.Data, *tt.add, tt.extra)
				if err != nil || again.Existing != tt.add.Name || again.Data != nil {
					t.Errorf("adding it again = %+v, %v; want a no-op", again, err)
				}
			}
			// Every comment of the input survives, except the removed or
			// replaced entry's own (and the fallback's layout may move them).
			if !tt.rewritten {
				for _, line := range strings.Split(string(in), "\n") {
					if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line, "nowhere else") {
						if !strings.Contains(string(res.Data), strings.TrimSpace(line[i:])) {
							t.Errorf("comment %q lost", line[i:])
						}
					}
				}
			}
		})
	}
}

func TestAddCredentialErrors(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/credentials.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := mustSource(t, "env:T")
	for _, tt := range []struct {
		spec CredentialSpec
		err  string
	}{
		{CredentialSpec{Name: "Bad", Hosts: []string{"github.com"}, Kind: CredBearer, Source: env}, `credential name "Bad" is not a credential name`},
		{CredentialSpec{Name: "x", Kind: CredBearer, Source: env}, "name the hosts the secret is sent to with --host"},
		{CredentialSpec{Name: "x", Hosts: []string{"https://github.com/"}, Kind: CredBearer, Source: env}, `--host "https://github.com/" must be a host name, not a URL`},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Source: env}, "say how the secret is sent: --header NAME, --bearer"},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredHeader, Header: "host", Source: env}, `--header "host" is a header the proxy sets itself`},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredBasic, BasicUser: "a:b", Source: env}, `--basic-user "a:b" must not contain ':'`},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredQuery, Source: env}, `--query "" is empty`},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredBearer}, "--from has no scheme"},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredBearer, Source: env, AgentEnv: "NO_PROXY"}, `--agent-env "NO_PROXY" is a variable bottle sets itself`},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredAWS, SecretAccessKey: env}, "the access key id's source has no scheme"},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredAWS, AccessKeyID: env, SecretAccessKey: env, AgentEnv: "X"}, "--agent-env does not apply to an aws credential"},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredHeader, Header: "x-b", Source: env, AgentEnv: "ANTHROPIC_API_KEY"}, `--agent-env ANTHROPIC_API_KEY is already the agent_env of the credential "anthropic"`},
		{CredentialSpec{Name: "x", Hosts: []string{"github.com"}, Kind: CredBearer, Source: env}, `the credential "github" already sets Authorization on github.com`},
		{CredentialSpec{Name: "x", Hosts: []string{"api.example.com"}, Kind: CredBearer, Source: env}, "host api.example.com is not allowed yet, so no request could carry the secret there; run `bottle allow add api.example.com` first"},
		{CredentialSpec{Name: "x", Hosts: []string{"**.example.org"}, Kind: CredBearer, Source: env}, "run `bottle allow add '**.example.org'` first"},
	} {
		_, err := AddCredential("c.yaml", in, tt.spec)
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("AddCredential(%+v) = %v; want an error containing %q", tt.spec, err, tt.err)
		}
	}
	// A host behind a passthrough rule only.
	pass := []byte("version: 1\nallow:\n  - host: git.example.com\n    tls: passthrough\n")
	_, err = AddCredential("c.yaml", pass, CredentialSpec{Name: "x", Hosts: []string{"git.example.com"}, Kind: CredBearer, Source: env})
	var hn *HostNotAllowedError
	if !errors.As(err, &hn) || hn.Host != "git.example.com" || hn.Passthrough != "allow[0]" || !strings.Contains(err.Error(), "credentials apply only to intercepted hosts") {
		t.Errorf("passthrough host: %v", err)
	}
	// A new file: no allow rule yet.
	_, err = AddCredential("new.yaml", nil, CredentialSpec{Name: "x", Hosts: []string{"a.example.com"}, Kind: CredBearer, Source: env})
	if !errors.As(err, &hn) || hn.Host != "a.example.com" || hn.Passthrough != "" {
		t.Errorf("new file: %v", err)
	}
	// Replacing an entry is judged without it: the same agent_env is fine.
	res, err := AddCredential("c.yaml", in, CredentialSpec{Name: "anthropic", Hosts: []string{"api.anthropic.com"}, Kind: CredBearer, Source: env, AgentEnv: "ANTHROPIC_API_KEY"})
	if err != nil || res.Replaced != "anthropic" {
		t.Errorf("replace with its own agent_env: %+v, %v", res, err)
	}
	// A second aws credential.
	awsFile := []byte("version: 1\nallow:\n  - host: a.example.com\n  - host: b.example.com\ncredentials:\n  - name: aws\n    hosts: [a.example.com]\n    aws: {access_key_id: env:A, secret_access_key: env:B}\n")
	_, err = AddCredential("c.yaml", awsFile, CredentialSpec{Name: "aws2", Hosts: []string{"b.example.com"}, Kind: CredAWS, AccessKeyID: env, SecretAccessKey: env})
	if err == nil || !strings.Contains(err.Error(), `the aws credential "aws" is already declared`) {
		t.Errorf("second aws: %v", err)
	}
	// A broken file is not edited.
	_, err = AddCredential("c.yaml", []byte("version: 1\ncredentials: 3\n"), CredentialSpec{Name: "x", Hosts: []string{"a.example.com"}, Kind: CredBearer, Source: env})
	if err == nil || !strings.Contains(err.Error(), "fix the file before editing it") {
		t.Errorf("broken file: %v", err)
	}
}

func TestRemoveCredentialErrors(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/credentials.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = RemoveCredential("c.yaml", in, "nope")
	if !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), `c.yaml: no credential named "nope"; the credentials are anthropic, github`) {
		t.Errorf("RemoveCredential(nope) = %v", err)
	}
	_, err = RemoveCredential("c.yaml", []byte("version: 1\n"), "nope")
	if !errors.Is(err, ErrNoMatch) || !strings.Contains(err.Error(), "it has no credentials") {
		t.Errorf("RemoveCredential in a file without credentials = %v", err)
	}
	// An anchor another entry uses is not removed.
	aliased := []byte("version: 1\nallow:\n  - host: a.example.com\ncredentials:\n  - name: a\n    hosts: &h [a.example.com]\n    bearer: true\n    source: env:A\n  - name: b\n    hosts: *h\n    header: x-b\n    source: env:B\n")
	if _, err := RemoveCredential("c.yaml", aliased, "a"); err == nil || !strings.Contains(err.Error(), "*h stands for a value in credentials[0]") {
		t.Errorf("removing an anchor in use: %v", err)
	}
	if res, err := RemoveCredential("c.yaml", aliased, "b"); err != nil || strings.Contains(string(res.Data), "x-b") {
		t.Errorf("removing the alias user: %v\n%s", err, res.Data)
	}
}

// TestAllowEditKeepsCredentials: removing the allow rule a credential
// needs, or making it passthrough, is refused with a message that names
// the credential's host, not as an internal error.
func TestAllowEditKeepsCredentials(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/credentials.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Remove("c.yaml", in, RuleSpec{Host: "github.com"}, false)
	if err == nil || strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "credential github is bound to github.com, and no allow rule would admit it") || !strings.Contains(err.Error(), "bottle secret rm github") {
		t.Errorf("removing a credential's rule: %v", err)
	}
	_, err = Add("c.yaml", in, RuleSpec{Host: "github.com", Passthrough: true})
	if err == nil || strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "allow[3] would tunnel it with tls: passthrough") {
		t.Errorf("making a credential's host passthrough: %v", err)
	}
}
