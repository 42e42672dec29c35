package launcher

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
)

// GitIdentity is who the agent's git commits say made them (user.name and
// user.email in the agent's system git config).
type GitIdentity struct {
	Name, Email string
}

// IsZero reports whether no identity was given.
func (g GitIdentity) IsZero() bool { return g.Name == "" && g.Email == "" }

func (g GitIdentity) String() string { return g.Name + " <" + g.Email + ">" }

// Where the agent's git identity came from, as agentGitIdentity found it.
const (
	identityProject = "bottle.yaml"      // Spec.GitIdentity: set, whatever the image has
	identityHost    = "your git config"  // the host's: set when the image has none
	identityDefault = "bottle's default" // gitName, gitEmail: set when the image has none
)

// hostGitTimeout bounds each `git config` run on the host.
const hostGitTimeout = 5 * time.Second

// agentGitIdentity is the identity the agent's commits carry, and where it
// came from: the project's (Spec.GitIdentity), else the host's git config
// (read in the workspace, so that a repository's own identity counts),
// else one that names the bottle.
func (l *Launcher) agentGitIdentity(ctx context.Context, s Spec) (GitIdentity, string) {
	if !s.GitIdentity.IsZero() {
		return s.GitIdentity, identityProject
	}
	if id := l.hostGitIdentity(ctx, s.Workspace); id.Name != "" && id.Email != "" {
		return id, identityHost
	}
	return GitIdentity{Name: gitName(s.Name), Email: gitEmail(s.Name)}, identityDefault
}

// hostGitIdentity reads user.name and user.email with the host's git, in
// dir ("" for the current directory). A git that is missing, fails or
// hangs gives nothing: the identity is a convenience, never a reason for
// a launch to fail.
func (l *Launcher) hostGitIdentity(ctx context.Context, dir string) GitIdentity {
	get := func(key string) string {
		ctx, cancel := context.WithTimeout(ctx, hostGitTimeout)
		defer cancel()
		var out bytes.Buffer
		if err := OrExec(l.Runner).Run(ctx, Cmd{Argv: []string{"git", "config", "--get", key}, Dir: dir, Stdout: &out}); err != nil {
			return ""
		}
		return strings.TrimSpace(out.String())
	}
	return GitIdentity{Name: get("user.name"), Email: get("user.email")}
}

// gitHosts are the hosts of the policy's git entries, in file order, each
// once: the SSH remotes provisioning rewrites to HTTPS. The rewrite is by
// host, so an entry whose path has globs needs no more than one without.
func gitHosts(repos []*allowlist.GitRepo) []string {
	var hosts []string
	for _, g := range repos {
		if !slices.Contains(hosts, g.Host) {
			hosts = append(hosts, g.Host)
		}
	}
	return hosts
}

// gitScript is the provisioning's git part, for a shell running as root
// in the agent, and nothing at all for an image without git. The identity
// from the project is set over the image's; any other only where the
// image has none (without one, git commit fails and the agent's work has
// no author). For each host, the agent's SSH remotes (git@HOST:PATH,
// ssh://git@HOST/PATH) are rewritten to https://HOST/PATH, so that its
// pushes go through the sidecar's git gate and not around it; each rewrite
// is added once however often the script runs. git speaks HTTP/1.1 unless
// the image set http.version.
func gitScript(id GitIdentity, from string, hosts []string) string {
	set := "git config --system user.name " + shquote.Quote(id.Name) + " && git config --system user.email " + shquote.Quote(id.Email)
	var b strings.Builder
	if from == identityProject {
		b.WriteString("if command -v git >/dev/null 2>&1; then\n" + set + "; fi\n")
	} else {
		b.WriteString("if command -v git >/dev/null 2>&1 && ! git config --system user.email >/dev/null 2>&1; then\n" + set + "; fi\n")
	}
	// git over HTTP/1.1, unless the image chose: libcurl before 8.7 (the
	// one of Debian bookworm, 7.88) can resend an HTTP/2 upload without
	// rewinding it when the server ends the connection, and a large push
	// then arrives corrupt (curl#22563). It did through the proxy, whose
	// inner server speaks HTTP/2: the gate refused such pushes as malformed.
	b.WriteString("if command -v git >/dev/null 2>&1 && ! git config --system http.version >/dev/null 2>&1; then\ngit config --system http.version HTTP/1.1; fi\n")
	if len(hosts) == 0 {
		return b.String()
	}
	b.WriteString("if command -v git >/dev/null 2>&1; then\n")
	for _, h := range hosts {
		key := shquote.Quote("url.https://" + h + "/.insteadOf")
		for _, remote := range []string{"git@" + h + ":", "ssh://git@" + h + "/"} {
			v := shquote.Quote(remote)
			fmt.Fprintf(&b, "git config --system --get-all %s | grep -qxF %s || git config --system --add %s %s\n", key, v, key, v)
		}
	}
	b.WriteString("fi\n")
	return b.String()
}

// gitNotes say, in the provisioning's progress, whose identity the agent's
// commits carry, when it is not bottle's default, and which SSH remotes
// go by HTTPS.
func gitNotes(id GitIdentity, from string, hosts []string) []string {
	var notes []string
	switch from {
	case identityProject:
		notes = append(notes, fmt.Sprintf("the agent's git commits carry %s (from %s)", termsafe.Line(id.String()), from))
	case identityHost:
		notes = append(notes, fmt.Sprintf("the agent's git commits carry %s (from %s, unless the image sets one)", termsafe.Line(id.String()), from))
	}
	if len(hosts) > 0 {
		notes = append(notes, fmt.Sprintf("the agent's git remotes git@HOST: and ssh://git@HOST/ go by HTTPS, through the git gate, for %s", strings.Join(hosts, ", ")))
	}
	return notes
}
