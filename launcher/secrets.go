package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/secret"
	"bottle.dev/bottle/secret/source"
)

// The variables an aws credential gives the agent, holding placeholders:
// the AWS CLI and SDKs sign with them, and the sidecar signs again with the
// real keys.
const (
	awsKeyIDVar  = "AWS_ACCESS_KEY_ID"
	awsSecretVar = "AWS_SECRET_ACCESS_KEY"
	awsTokenVar  = "AWS_SESSION_TOKEN"
)

// resolver is how sources are resolved (Launcher.Secrets, else the
// process's environment and PATH).
func (l *Launcher) resolver() *source.Resolver {
	if l.Secrets != nil {
		return l.Secrets
	}
	return &source.Resolver{}
}

// CredentialsPath is bottle name's credentials file: the resolved values
// of its allowlist's credentials, which only its sidecar reads.
func (l *Launcher) CredentialsPath(name string) string {
	return filepath.Join(l.ConfigDir(name), contract.CredentialsFile)
}

// agentVars are the variables of the agent's environment that credential c
// fills with placeholders: its agent_env, or the AWS variables (all three,
// so that no real session token is mixed with placeholder keys).
func agentVars(c *allowlist.Credential) []string {
	if c.Kind == allowlist.CredAWS {
		return []string{awsKeyIDVar, awsSecretVar, awsTokenVar}
	}
	if c.AgentEnv != "" {
		return []string{c.AgentEnv}
	}
	return nil
}

// checkCredentialEnv refuses a variable of env (-e, a project's env:) that
// a credential fills with its placeholder: the agent would get the user's
// value there, or the placeholder would be lost. (The allowlist itself
// refuses an agent_env that bottle sets, such as HTTPS_PROXY.)
func checkCredentialEnv(pol *allowlist.Policy, env []string) error {
	return checkCredentialEnvOf(pol, env, userEnv)
}

// envOrigin says, in checkCredentialEnvOf's errors, where a variable was
// given (a format of the variable) and how to take it away (another).
type envOrigin struct{ given, drop string }

// userEnv is the user's -e and bottle.yaml's env:.
var userEnv = envOrigin{given: "-e %s (or env: in bottle.yaml)", drop: "drop %s from -e and from env in bottle.yaml"}

// checkCredentialEnvOf is checkCredentialEnv for variables given in from.
func checkCredentialEnvOf(pol *allowlist.Policy, env []string, from envOrigin) error {
	given := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		given[k] = true
	}
	var errs []error
	for _, c := range pol.Credentials() {
		hosts := strings.Join(c.Hosts(), ", ")
		vars := agentVars(c)
		for _, v := range vars {
			if given[v] {
				errs = append(errs, fmt.Errorf("%s: the agent gets credential %s's placeholder in %s, and the sidecar puts the real value on its requests to %s; %s",
					fmt.Sprintf(from.given, v), c.Name, v, hosts, fmt.Sprintf(from.drop, v)))
			}
		}
		// The variable a source reads holds the real value: the agent
		// must not get it under any name.
		for _, src := range []allowlist.Source{c.Source, c.AccessKeyID, c.SecretAccessKey, c.SessionToken} {
			if src.Scheme != "env" || !given[src.Ref] || slices.Contains(vars, src.Ref) {
				continue
			}
			instead := "give the agent a placeholder with agent_env: " + src.Ref + " in the credential"
			if len(vars) > 0 {
				instead = "the agent has its placeholder in " + strings.Join(vars, ", ")
			}
			errs = append(errs, fmt.Errorf("%s: %s holds the real value of credential %s (its source is %s), which the agent must never hold; %s (%s)",
				fmt.Sprintf(from.given, src.Ref), src.Ref, c.Name, src, fmt.Sprintf(from.drop, "it"), instead))
		}
	}
	return errors.Join(errs...)
}

// resolveCredentials resolves every credential of pol on the host, and
// gives each its placeholders: those of old (the credentials file the
// running agent's placeholders came from) when it has the credential in
// the same shape, else new ones. Every credential that does not resolve is
// said, with its source and the fix; the error never holds a value.
func (l *Launcher) resolveCredentials(ctx context.Context, pol *allowlist.Policy, old *secret.File) (*secret.File, error) {
	f := &secret.File{Version: secret.Version, Credentials: []secret.Value{}}
	var errs []error
	for _, c := range pol.Credentials() {
		v, err := l.resolver().Credential(ctx, c)
		if err != nil {
			if c.Origin != "" {
				// An agent recipe's credential: say which agent needs it
				// (a credential of the same name in the user's allowlist
				// is taken instead of the recipe's).
				err = fmt.Errorf("%s: %w", termsafe.Line(c.Origin), err)
			}
			errs = append(errs, err)
			continue
		}
		var prev *secret.Value
		if old != nil {
			prev, _ = old.Lookup(c.Name)
		}
		placeholders(&v, prev)
		f.Credentials = append(f.Credentials, v)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return nil, &CredentialError{Errs: errs}
	}
	return f, nil
}

// CredentialError is credentials of an allowlist that did not resolve:
// each says which credential, which source and the fix.
type CredentialError struct{ Errs []error }

func (e *CredentialError) Error() string {
	var lines []string
	for _, err := range e.Errs {
		lines = append(lines, err.Error())
	}
	if len(lines) == 1 {
		return lines[0]
	}
	return "credentials of the allowlist did not resolve:\n  " + strings.Join(lines, "\n  ")
}

func (e *CredentialError) Unwrap() []error { return e.Errs }

// placeholders gives v the placeholders of prev when prev is the same
// credential in the same shape (the agent holds them already), and new
// ones for what prev lacks.
func placeholders(v, prev *secret.Value) {
	if prev != nil && (prev.AWS == nil) == (v.AWS == nil) {
		v.Placeholder = prev.Placeholder
		if v.AWS != nil {
			v.AWS.PlaceholderKeyID = prev.AWS.PlaceholderKeyID
			if v.AWS.SessionToken != "" {
				v.AWS.PlaceholderToken = prev.AWS.PlaceholderToken
			}
		}
	}
	if v.Placeholder == "" {
		v.Placeholder = secret.NewPlaceholder(v.Name)
	}
	if v.AWS != nil {
		if v.AWS.PlaceholderKeyID == "" {
			v.AWS.PlaceholderKeyID = secret.NewAWSKeyID()
		}
		if v.AWS.SessionToken != "" && v.AWS.PlaceholderToken == "" {
			v.AWS.PlaceholderToken = secret.NewPlaceholder(v.Name)
		}
	}
}

// credentialEnv is what the agent's environment gets for the credentials
// of pol: each agent_env with its placeholder, and an aws credential's
// variables with theirs. Values never.
func credentialEnv(pol *allowlist.Policy, f *secret.File) []string {
	var env []string
	for _, c := range pol.Credentials() {
		v, ok := f.Lookup(c.Name)
		if !ok {
			continue
		}
		switch {
		case v.AWS != nil:
			env = append(env, awsKeyIDVar+"="+v.AWS.PlaceholderKeyID, awsSecretVar+"="+v.Placeholder)
			if v.AWS.PlaceholderToken != "" {
				env = append(env, awsTokenVar+"="+v.AWS.PlaceholderToken)
			}
		case c.AgentEnv != "":
			env = append(env, c.AgentEnv+"="+v.Placeholder)
		}
	}
	return env
}

// writeCredentials replaces bottle name's credentials file with f so that
// the sidecar, which polls it, reads either the old file or the new one:
// a temporary file beside it, mode 0600 and the sidecar's owner from the
// start (the values are never readable by anyone else, not for a moment),
// renamed over it.
func (l *Launcher) writeCredentials(name string, f *secret.File) error {
	_, err := l.writeCredentialsHash(name, f)
	return err
}

// writeCredentialsHash is writeCredentials, and returns the hash of what
// it wrote (contract.Hash), which the sidecar's status names once it has
// read it.
func (l *Launcher) writeCredentialsHash(name string, f *secret.File) (string, error) {
	data, err := f.Marshal()
	if err != nil {
		return "", err
	}
	data = append(data, '\n')
	hash := contract.Hash(data)
	defer clear(data)
	path := l.CredentialsPath(name)
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+contract.CredentialsFile+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	err = tmp.Chmod(0o600)
	if err == nil {
		if uid, gid, ok := sidecarOwner(); ok {
			err = tmp.Chown(uid, gid)
		}
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("writing the credentials file of %s: %w", name, err)
	}
	return hash, nil
}

// removeCredentials removes bottle name's credentials file: a bottle that
// no longer runs keeps no value on disk (its next launch resolves them
// again).
func (l *Launcher) removeCredentials(name string) {
	os.Remove(l.CredentialsPath(name))
}

// credentialNote is what the launch says of the credentials it resolved:
// names, hosts and variables, never a value.
func credentialNote(pol *allowlist.Policy) string {
	var parts []string
	for _, c := range pol.Credentials() {
		p := c.Name + " for " + strings.Join(c.Hosts(), ", ")
		if vars := agentVars(c); len(vars) > 0 {
			p += " (placeholder in " + strings.Join(vars, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return "credentials: " + strings.Join(parts, "; ") + "; the agent holds placeholders, and the sidecar puts the values on requests to those hosts"
}

// Refreshed is what RefreshSecrets did, by credential name.
type Refreshed struct {
	// Refreshed were resolved again; the agent's placeholders stay.
	Refreshed []string
	// Added are new in the allowlist since the file was written: they got
	// placeholders of their own.
	Added []string
	// Dropped were in the file but are no longer in the allowlist.
	Dropped []string
	// NotInAgent are variables that hold a placeholder of an added
	// credential, which the running agent's environment does not have (a
	// container's environment is fixed when it starts).
	NotInAgent []string
	// Hash is that of the credentials file written (contract.Hash): the
	// sidecar's status names it once the values are in force
	// (CredentialsApplied).
	Hash string
}

// RefreshSecrets resolves the sources of the credentials of bottle name's
// live allowlist again, and rewrites its credentials file (atomically,
// 0600, the sidecar's), which its sidecar reloads: rotation without a
// restart. The placeholders the agent holds stay; a credential new to the
// allowlist gets new ones. When a source does not resolve, nothing is
// written and the sidecar keeps the values it has.
func (l *Launcher) RefreshSecrets(ctx context.Context, name string) (*Refreshed, error) {
	b, err := l.Load(name)
	if err != nil {
		return nil, err
	}
	if err := l.CheckUsable(b); err != nil {
		return nil, err
	}
	polPath := filepath.Join(l.ConfigDir(name), contract.AllowlistFile)
	data, err := os.ReadFile(polPath)
	if err != nil {
		return nil, fmt.Errorf("the live allowlist of %s: %w", name, err)
	}
	pol, err := allowlist.Parse(polPath, data)
	if err != nil {
		return nil, fmt.Errorf("the live allowlist of %s is not valid (the sidecar keeps the policy it has):\n%w", name, err)
	}
	old, err := secret.Read(l.CredentialsPath(name))
	switch {
	case errors.Is(err, os.ErrNotExist):
		old = &secret.File{}
	case err != nil:
		return nil, err
	}
	f, err := l.resolveCredentials(ctx, pol, old)
	if err != nil {
		return nil, err
	}
	res := &Refreshed{}
	for _, c := range pol.Credentials() {
		if _, ok := old.Lookup(c.Name); ok {
			res.Refreshed = append(res.Refreshed, c.Name)
			continue
		}
		res.Added = append(res.Added, c.Name)
		res.NotInAgent = append(res.NotInAgent, agentVars(c)...)
	}
	for _, v := range old.Credentials {
		if !slices.ContainsFunc(pol.Credentials(), func(c *allowlist.Credential) bool { return c.Name == v.Name }) {
			res.Dropped = append(res.Dropped, v.Name)
		}
	}
	if res.Hash, err = l.writeCredentialsHash(name, f); err != nil {
		return nil, err
	}
	// A stop that ran meanwhile removed the file before this wrote it
	// again: a bottle that no longer runs keeps no value on disk.
	if b, err := l.Load(name); err != nil || !b.Stopped.IsZero() {
		l.removeCredentials(name)
		return nil, fmt.Errorf("bottle %s was stopped during the refresh; its values were not kept", name)
	}
	return res, nil
}

// CredentialsApplied waits until bottle name's sidecar says, in its status
// file, that it has read the credentials file of the given hash, and
// returns nil once those values are in force: the agent's next request
// carries them. A file the sidecar rejected is its error; no answer within
// wait is an error that says where to look.
func (l *Launcher) CredentialsApplied(ctx context.Context, name, hash string, wait time.Duration) error {
	err := l.WaitStatus(ctx, name, wait, func(st contract.ReloadStatus) (bool, error) {
		if st.CredentialsTried != hash {
			return false, nil
		}
		if !st.CredentialsOK {
			return true, fmt.Errorf("the sidecar of %s did not take the new values: %s", name, st.CredentialsError)
		}
		return true, nil
	})
	if errors.Is(err, ErrNotConfirmed) {
		return fmt.Errorf("the credentials were written, but the sidecar of %s did not confirm them within %s; is the bottle running? (bottle list; its log: bottle logs %s --sidecar)", name, wait, name)
	}
	return err
}

// ErrNotConfirmed is WaitStatus's error when the sidecar did not say what
// was waited for in time.
var ErrNotConfirmed = errors.New("the sidecar did not confirm")

// WaitStatus reads bottle name's sidecar status file (contract.ReloadStatus:
// in the sidecar's state, which the agent cannot write) until done says it
// shows what was waited for, and returns done's error. It gives up with
// ErrNotConfirmed after wait, and with ctx's error when ctx ends.
func (l *Launcher) WaitStatus(ctx context.Context, name string, wait time.Duration, done func(contract.ReloadStatus) (bool, error)) error {
	statusPath := filepath.Join(l.LogDir(name), contract.StatusFile)
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	// The sidecar writes the file once it has read what it watches; there
	// is no other signal to wait on, so look again every 50ms.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if st, err := contract.ReadStatus(statusPath); err == nil {
			if ok, err := done(st); ok {
				return err
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return ErrNotConfirmed
		}
	}
}
