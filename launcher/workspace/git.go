// Package workspace gets an agent's work out of its bottle: it records on
// the host what was copied into /workspace at launch (the baseline), takes
// the agent's /workspace as copied out of the bottle, checks it, compares
// the two with the host's own git, and brings the changes to the host as a
// patch, as files in a directory, or as a branch of the repository the
// workspace came from.
//
// The agent is root in its container and controls everything in
// /workspace, its .git included. So nothing here ever runs git with the
// agent's .git as the repository, or reads the agent's config, hooks or
// attributes drivers: the agent's files are read as plain data, its object
// database is used only through verification (see Branch), and every git
// command runs in repositories bottle made, under an environment without
// the user's or the system's configuration (Git).
package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
)

// Git runs the host's git. Every command gets an environment of its own:
// no GIT_* variable of the caller (GIT_DIR, GIT_WORK_TREE, GIT_CONFIG_* …),
// no system or global configuration, no HOME (so no ~/.gitconfig, no
// ~/.config/git/attributes or ignore), no pager, prompt or transport; and
// settings on its command line that keep git from running anything: no
// hooks, no fsmonitor, no automatic gc or maintenance.
type Git struct {
	// Path is the git program; "" is git on PATH.
	Path string
	// Home is an empty directory that stands in for HOME. Required.
	Home string
	// Env is the environment git starts from before it is cleaned; nil
	// is this process's.
	Env []string
}

// safety are the settings every command runs with. They override any
// repository's config (bottle's own repositories have none of these
// anyway; the host's repository is the user's, but nothing of it should
// run either).
var safety = []string{
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.fsmonitor=false",
	"-c", "core.untrackedCache=false",
	"-c", "core.splitIndex=false",
	"-c", "core.sparseCheckout=false",
	"-c", "index.sparse=false",
	"-c", "core.attributesFile=/dev/null",
	"-c", "core.excludesFile=/dev/null",
	"-c", "core.autocrlf=false",
	"-c", "core.safecrlf=false",
	"-c", "core.symlinks=true",
	"-c", "core.quotePath=true",
	"-c", "gc.auto=0",
	"-c", "maintenance.auto=false",
	"-c", "protocol.allow=never",
	"-c", "advice.addEmbeddedRepo=false",
	"-c", "color.ui=false",
}

// where are the variables that say which repository, index or objects git
// uses: never the caller's.
var where = []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
	"GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM"}

// environ is the environment of a git command. With userConfig (for the
// user's identity alone), the user's own configuration stays.
func (g *Git) environ(extra []string, userConfig bool) []string {
	base := g.Env
	if base == nil {
		base = os.Environ()
	}
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case slices.Contains(where, k):
			continue
		case userConfig:
		case strings.HasPrefix(k, "GIT_"), k == "HOME", k == "XDG_CONFIG_HOME", k == "PAGER", k == "EDITOR", k == "VISUAL", k == "PREFIX":
			continue
		}
		env = append(env, kv)
	}
	if userConfig {
		return append(env, extra...)
	}
	env = append(env,
		"HOME="+g.Home, "XDG_CONFIG_HOME="+g.Home,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ATTR_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "GIT_PAGER=cat", "PAGER=cat",
		"GIT_NO_REPLACE_OBJECTS=1", "GIT_OPTIONAL_LOCKS=0", "GIT_ALLOW_PROTOCOL=none",
		"GIT_NO_LAZY_FETCH=1")
	return append(env, extra...)
}

// cmd is one git command.
type cmd struct {
	args   []string
	dir    string    // working directory; "" is Home
	env    []string  // K=V on top of the clean environment (GIT_DIR, GIT_INDEX_FILE …)
	stdin  io.Reader // nil: none
	stdout io.Writer // nil: collected and returned
	// userConfig keeps the user's own configuration (for their identity).
	userConfig bool
}

// Error is a git command that failed: what ran, how it ended, what it said
// (escaped: it may quote the agent's file names).
type Error struct {
	Args   []string
	Code   int
	Stderr string
	Err    error
}

func (e *Error) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = e.Err.Error()
	}
	return fmt.Sprintf("`%s` failed (exit %d): %s", shquote.Join(append([]string{"git"}, e.Args...)), e.Code, termsafe.Escape(msg))
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNoGit is returned when there is no git program to run.
var ErrNoGit = errors.New("git is not installed (bottle diff and bottle pull use the host's git): install git")

// run runs c and returns its stdout (when c.stdout is nil), trimmed of a
// final newline.
func (g *Git) run(ctx context.Context, c cmd) (string, error) {
	bin := g.Path
	if bin == "" {
		bin = "git"
	}
	if g.Home == "" {
		return "", errors.New("workspace.Git: no Home")
	}
	args := append(append([]string{}, safety...), c.args...)
	x := exec.CommandContext(ctx, bin, args...)
	x.WaitDelay = 5 * time.Second
	x.Env = g.environ(c.env, c.userConfig)
	x.Dir = c.dir
	if x.Dir == "" {
		x.Dir = g.Home
	}
	x.Stdin = c.stdin
	var out, errb bytes.Buffer
	x.Stdout = &out
	if c.stdout != nil {
		x.Stdout = c.stdout
	}
	x.Stderr = &limitedBuffer{b: &errb, n: 64 << 10}
	err := x.Run()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", ErrNoGit
		}
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", &Error{Args: c.args, Code: code, Stderr: errb.String(), Err: err}
	}
	return strings.TrimSuffix(out.String(), "\n"), nil
}

// limitedBuffer keeps the first n bytes written to it: what a failing git
// says about a hostile tree may be long.
type limitedBuffer struct {
	b *bytes.Buffer
	n int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.n - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// repo is a git directory bottle runs commands in.
type repo struct {
	g   *Git
	dir string // the git directory
}

func (r repo) run(ctx context.Context, c cmd) (string, error) {
	c.env = append([]string{"GIT_DIR=" + r.dir}, c.env...)
	return r.g.run(ctx, c)
}

// git runs args in r and returns the output.
func (r repo) git(ctx context.Context, args ...string) (string, error) {
	return r.run(ctx, cmd{args: args})
}

// initBare makes an empty bare repository of bottle's own at dir: no
// template (no sample hooks, no info/exclude), the object format given
// ("" for git's default), no attribute that converts (noConversions).
func (g *Git) initBare(ctx context.Context, dir, format string) (repo, error) {
	args := []string{"init", "--bare", "--quiet", "--template="}
	if format != "" {
		args = append(args, "--object-format="+format)
	}
	if _, err := g.run(ctx, cmd{args: append(args, dir)}); err != nil {
		return repo{}, err
	}
	info := filepath.Join(dir, "info")
	if err := os.MkdirAll(info, 0o700); err != nil {
		return repo{}, err
	}
	if err := os.WriteFile(filepath.Join(info, "attributes"), []byte(noConversions), 0o600); err != nil {
		return repo{}, err
	}
	return repo{g: g, dir: dir}, nil
}

// noConversions are the attributes of every repository bottle makes: its
// info/attributes, which outrank every .gitattributes of a work tree (the
// agent's, the workspace's), unset for every path each attribute by which
// git would change a file's bytes as it reads or writes it (text and eol,
// working-tree-encoding, ident, a filter) or pick a driver for it (diff's
// textconv, merge). So git stores each file as its bytes are, and what
// bottle diff shows is what a pull writes.
const noConversions = "* -text -crlf !eol !working-tree-encoding -ident !filter !diff !merge\n"

// emptyTree is the id of the empty tree in r.
func (r repo) emptyTree(ctx context.Context) (string, error) {
	return r.run(ctx, cmd{args: []string{"hash-object", "-t", "tree", "-w", "--stdin"}, stdin: strings.NewReader("")})
}
