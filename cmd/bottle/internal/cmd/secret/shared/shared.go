// Package shared holds what the `bottle secret` verbs share: the edits of
// a credential in the allowlist `bottle allow` would edit (its --file and
// --bottle), how a credential is described, and how a source is checked
// without its value ever being kept.
package shared

import (
	"context"
	"fmt"
	"strings"

	"bottle.dev/bottle/allowlist"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/project"
	"bottle.dev/bottle/secret/source"
)

// ResolveFunc checks that a source resolves now. It returns no value: the
// secret commands never hold one longer than the check takes, and never
// print one.
type ResolveFunc func(ctx context.Context, s allowlist.Source) error

// NewResolve is the one place the secret commands get their ResolveFunc.
// It is package secret/source (the resolver bottle launch uses), reading
// env: sources from the user's environment as f sees it.
func NewResolve(f *cmdutil.Factory) ResolveFunc {
	r := &source.Resolver{LookupEnv: f.Lookup}
	return func(ctx context.Context, s allowlist.Source) error {
		_, err := r.Resolve(ctx, s)
		return err
	}
}

// AddCredential is allowlist.AddCredential on the source's content.
func AddCredential(src allowshared.Source, data []byte, spec allowlist.CredentialSpec) (allowlist.EditResult, error) {
	if src.Project {
		return allowlist.AddCredentialEmbedded(src.Path, data, spec, project.Keys())
	}
	return allowlist.AddCredential(src.Path, data, spec)
}

// RemoveCredential is allowlist.RemoveCredential on the source's content.
func RemoveCredential(src allowshared.Source, data []byte, name string) (allowlist.EditResult, error) {
	if src.Project {
		return allowlist.RemoveCredentialEmbedded(src.Path, data, name, project.Keys())
	}
	return allowlist.RemoveCredential(src.Path, data, name)
}

// Where is the --file or --bottle a follow-up command needs to edit the
// same allowlist: " --file F", " --bottle NAME" or "".
func Where(o *allowshared.FileOptions) string {
	switch {
	case o.Bottle != "":
		return " --bottle " + shquote.Quote(o.Bottle)
	case o.File != "":
		return " --file " + shquote.Quote(o.File)
	}
	return ""
}

// How says how a credential is sent: "header X-Api-Key", "bearer",
// "basic x-access-token", "query key", "aws".
func How(c *allowlist.Credential) string {
	switch c.Kind {
	case allowlist.CredHeader:
		return "header " + c.Header
	case allowlist.CredBasic:
		return "basic " + c.BasicUser
	case allowlist.CredQuery:
		return "query " + c.Query
	}
	return c.Kind.String()
}

// NamedSource is one source of a credential, with what it is for.
type NamedSource struct {
	Role   string // "value", or for aws "access_key_id", "secret_access_key", "session_token"
	Source allowlist.Source
}

// Sources returns a credential's sources: its one source, or an aws
// credential's two or three.
func Sources(c *allowlist.Credential) []NamedSource {
	if c.Kind != allowlist.CredAWS {
		return []NamedSource{{"value", c.Source}}
	}
	out := []NamedSource{{"access_key_id", c.AccessKeyID}, {"secret_access_key", c.SecretAccessKey}}
	if c.SessionToken.Scheme != "" {
		out = append(out, NamedSource{"session_token", c.SessionToken})
	}
	return out
}

// AgentEnv returns the variables in which the agent gets the credential's
// placeholders.
func AgentEnv(c *allowlist.Credential) []string {
	if c.Kind == allowlist.CredAWS {
		env := []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
		if c.SessionToken.Scheme != "" {
			env = append(env, "AWS_SESSION_TOKEN")
		}
		return env
	}
	if c.AgentEnv == "" {
		return nil
	}
	return []string{c.AgentEnv}
}

// Describe is a credential in one line, without its name: "header
// X-Api-Key on api.anthropic.com, from env:ANTHROPIC_API_KEY, agent_env
// ANTHROPIC_API_KEY".
func Describe(c *allowlist.Credential) string {
	var srcs []string
	for _, s := range Sources(c) {
		if s.Role == "value" {
			srcs = append(srcs, s.Source.String())
		} else {
			srcs = append(srcs, s.Role+" "+s.Source.String())
		}
	}
	line := fmt.Sprintf("%s on %s, from %s", How(c), strings.Join(c.Hosts(), ", "), strings.Join(srcs, ", "))
	if env := AgentEnv(c); len(env) > 0 {
		line += ", agent_env " + strings.Join(env, ", ")
	}
	return line
}
