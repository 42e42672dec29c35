// Package source resolves, on the host, where a credential's value comes
// from (an allowlist.Source): an environment variable, a file, a command's
// output, or macOS's keychain. It runs on the user's machine only, at
// launch and at `bottle secret refresh`; what it returns goes to the
// sidecar's credentials file and nowhere else. Its errors say which source
// failed and how to fix it, and never contain a value.
package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/secret"
)

// DefaultTimeout bounds a command: source (and the keychain's security).
const DefaultTimeout = 10 * time.Second

// MaxValue bounds a value: what a file: source reads, what a command:
// source may print. Tokens and keys are far smaller.
const MaxValue = 64 << 10

// maxStderr is how much of a failed command's stderr an error shows.
const maxStderr = 400

// Resolver resolves sources. Its zero value works: the process's
// environment, DefaultTimeout, programs from PATH, the user's home.
type Resolver struct {
	// LookupEnv reads an env: source's variable. Nil: os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Timeout bounds a command: source and the keychain's security
	// command. 0: DefaultTimeout.
	Timeout time.Duration
	// LookPath finds a command's program. Nil: exec.LookPath.
	LookPath func(string) (string, error)
	// HomeDir is where a file: source's ~ points. Nil: os.UserHomeDir.
	HomeDir func() (string, error)
}

// Error is a source that did not resolve: which one, what went wrong, and
// what to do about it. It never holds the value.
type Error struct {
	Source  allowlist.Source
	Problem string // what went wrong, after the source: "is not set"
	Fix     string // what to do, or ""

	notFound bool // security said the keychain has no such item
}

func (e *Error) Error() string {
	msg := termsafe.Line(e.Source.String()) + " " + e.Problem
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return DefaultTimeout
}

// Resolve returns the value s points at. An empty value, or one that could
// not go into a header (a control character, a line break inside), is an
// error; so is a scheme it does not know.
func (r *Resolver) Resolve(ctx context.Context, s allowlist.Source) (string, error) {
	var v string
	var err error
	switch s.Scheme {
	case "env":
		v, err = r.env(s)
	case "file":
		v, err = r.file(s)
	case "command":
		v, err = r.command(ctx, s)
	case "keychain":
		v, err = r.keychain(ctx, s)
	case "":
		return "", &Error{Source: s, Problem: "no source", Fix: "give one: env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT]"}
	default:
		return "", &Error{Source: s, Problem: "has an unknown scheme", Fix: "use env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT]"}
	}
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", &Error{Source: s, Problem: "gave an empty value", Fix: emptyFix(s)}
	}
	if i := strings.IndexFunc(v, isControl); i >= 0 {
		what := "a control character"
		if c := v[i]; c == '\n' || c == '\r' {
			what = "more than one line"
		}
		return "", &Error{Source: s, Problem: "gave a value with " + what + ", which no header or query can carry", Fix: "make it give the key alone, on one line"}
	}
	return v, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func emptyFix(s allowlist.Source) string {
	switch s.Scheme {
	case "env":
		return "export " + s.Ref + "=KEY where you run bottle"
	case "file":
		return "write the key into the file"
	}
	return ""
}

// env reads a variable of the user's environment.
func (r *Resolver) env(s allowlist.Source) (string, error) {
	lookup := r.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(s.Ref)
	switch {
	case !ok:
		return "", &Error{Source: s, Problem: "is not set", Fix: "export " + s.Ref + " where you run bottle"}
	case v == "":
		return "", &Error{Source: s, Problem: "is set but empty", Fix: "export " + s.Ref + "=KEY where you run bottle"}
	}
	return v, nil
}

// file reads a file (~ is the user's home), at most MaxValue bytes, less
// one trailing line break.
func (r *Resolver) file(s allowlist.Source) (string, error) {
	p, err := r.expand(s.Ref)
	if err != nil {
		return "", &Error{Source: s, Problem: "cannot be found: " + err.Error()}
	}
	st, err := os.Stat(p)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", &Error{Source: s, Problem: "names " + termsafe.Line(p) + ", which does not exist", Fix: "create it, with the key on one line"}
	case err != nil:
		return "", &Error{Source: s, Problem: "cannot be read: " + termsafe.Line(err.Error())}
	case !st.Mode().IsRegular():
		// A FIFO would hang the launch; a directory has no value.
		return "", &Error{Source: s, Problem: "names " + termsafe.Line(p) + ", which is not a regular file"}
	case st.Size() > MaxValue:
		return "", &Error{Source: s, Problem: fmt.Sprintf("names %s, which is larger than %d KiB; a key is far smaller", termsafe.Line(p), MaxValue>>10)}
	}
	f, err := os.Open(p)
	if err != nil {
		return "", &Error{Source: s, Problem: "cannot be read: " + termsafe.Line(err.Error())}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxValue+1))
	if err != nil {
		return "", &Error{Source: s, Problem: "cannot be read: " + termsafe.Line(err.Error())}
	}
	if len(data) > MaxValue {
		return "", &Error{Source: s, Problem: fmt.Sprintf("names %s, which is larger than %d KiB; a key is far smaller", termsafe.Line(p), MaxValue>>10)}
	}
	return trimNewline(string(data)), nil
}

// expand makes ~ and ~/… the user's home.
func (r *Resolver) expand(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home := r.HomeDir
	if home == nil {
		home = os.UserHomeDir
	}
	h, err := home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, strings.TrimPrefix(p, "~")), nil
}

// trimNewline drops one trailing line break (\n or \r\n): what echo and
// editors leave at the end.
func trimNewline(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return strings.TrimSuffix(s, "\r")
}

// command runs ARGV without a shell, under the timeout, and takes its
// standard output, less one trailing line break.
func (r *Resolver) command(ctx context.Context, s allowlist.Source) (string, error) {
	// Split as the allowlist checked it: one reading of the words.
	argv, err := s.Argv()
	if err != nil {
		return "", &Error{Source: s, Problem: err.Error(), Fix: "quote with ' or \" (no shell runs it)"}
	}
	return r.run(ctx, s, argv)
}

// keychain asks macOS's security command for a generic password.
func (r *Resolver) keychain(ctx context.Context, s allowlist.Source) (string, error) {
	// As the allowlist reads it: the account is what follows the first /.
	service, account, _ := strings.Cut(s.Ref, "/")
	if service == "" {
		return "", &Error{Source: s, Problem: "names no service", Fix: "write keychain:SERVICE or keychain:SERVICE/ACCOUNT"}
	}
	argv := []string{"security", "find-generic-password", "-w", "-s", service}
	if account != "" {
		argv = append(argv, "-a", account)
	}
	v, err := r.run(ctx, s, argv)
	var e *Error
	if errors.As(err, &e) && e.notFound {
		e.Problem = "is not in the keychain (security said the item could not be found)"
		add := "security add-generic-password -s " + shquote.Quote(service)
		if account != "" {
			add += " -a " + shquote.Quote(account)
		}
		e.Fix = "add it with: " + add + " -w"
	}
	return v, err
}

// securityNotFound is security's exit status for an item the keychain does
// not have (errSecItemNotFound).
const securityNotFound = 44

// run runs argv under the timeout and returns its standard output, less
// one trailing line break. Its standard input is empty; its standard error
// is shown, clipped and escaped, when it fails.
func (r *Resolver) run(ctx context.Context, s allowlist.Source, argv []string) (string, error) {
	look := r.LookPath
	if look == nil {
		look = exec.LookPath
	}
	prog, err := look(argv[0])
	if err != nil {
		fix := "install it, or give its full path"
		if s.Scheme == "keychain" {
			fix = "keychain: sources need macOS's security command; on other systems use env:, file: or command:"
		}
		return "", &Error{Source: s, Problem: "cannot run " + termsafe.Line(argv[0]) + ": not found on PATH", Fix: fix}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, argv[1:]...)
	cmd.WaitDelay = time.Second // a child that keeps stdout open does not hang us
	var out, errb limitedBuffer
	out.limit, errb.limit = MaxValue, 4<<10
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return "", &Error{Source: s, Problem: fmt.Sprintf("did not finish within %s%s", r.timeout(), stderrNote(errb.Bytes())),
			Fix: "make it answer without waiting for input (it runs with no terminal)"}
	case ctx.Err() != nil:
		return "", ctx.Err()
	case err != nil:
		e := &Error{Source: s, Problem: "failed: " + exitWords(err) + stderrNote(errb.Bytes())}
		var ee *exec.ExitError
		e.notFound = errors.As(err, &ee) && ee.ExitCode() == securityNotFound
		return "", e
	case out.over:
		return "", &Error{Source: s, Problem: fmt.Sprintf("printed more than %d KiB; a key is far smaller", MaxValue>>10)}
	}
	return trimNewline(out.String()), nil
}

// exitWords says how a command ended, as a person reads it.
func exitWords(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() >= 0 {
			return fmt.Sprintf("exit status %d", ee.ExitCode())
		}
		return ee.ProcessState.String()
	}
	return termsafe.Line(err.Error())
}

// stderrNote is a failed command's standard error for an error message:
// one line, clipped, its controls escaped.
func stderrNote(stderr []byte) string {
	s := strings.TrimSpace(string(stderr))
	if s == "" {
		return ""
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxStderr {
		s = s[:maxStderr] + "…"
	}
	return ": " + termsafe.Line(s)
}

// limitedBuffer keeps the first limit bytes written to it, and says
// whether more came. (It has no ReadFrom, so io.Copy goes through Write.)
type limitedBuffer struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) Bytes() []byte  { return b.buf.Bytes() }
func (b *limitedBuffer) String() string { return b.buf.String() }

// Credential resolves every source of credential c (an aws credential has
// two or three) into its value, without placeholders: the caller makes
// those, or keeps the ones the agent has. Its error names the credential,
// each source that failed and the fix, and never holds a value.
func (r *Resolver) Credential(ctx context.Context, c *allowlist.Credential) (secret.Value, error) {
	v := secret.Value{Name: c.Name}
	if c.Kind != allowlist.CredAWS {
		val, err := r.Resolve(ctx, c.Source)
		if err != nil {
			return secret.Value{}, credError(c, "", err)
		}
		v.Value = val
		return v, nil
	}
	aws := &secret.AWS{}
	var errs []error
	for _, k := range []struct {
		field string
		src   allowlist.Source
		dst   *string
	}{
		{"access_key_id", c.AccessKeyID, &aws.AccessKeyID},
		{"secret_access_key", c.SecretAccessKey, &aws.SecretAccessKey},
		{"session_token", c.SessionToken, &aws.SessionToken},
	} {
		if k.src.Scheme == "" && k.field == "session_token" {
			continue // optional
		}
		val, err := r.Resolve(ctx, k.src)
		if err != nil {
			errs = append(errs, credError(c, k.field, err))
			continue
		}
		*k.dst = val
	}
	if err := errors.Join(errs...); err != nil {
		return secret.Value{}, err
	}
	v.AWS = aws
	return v, nil
}

// credError says which credential (and which of its keys) did not
// resolve, and how else to give it.
func credError(c *allowlist.Credential, field string, err error) error {
	what := "credential " + c.Name
	if field != "" {
		what += " " + field
	}
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%s: %w", what, err)
	}
	change := "change the source with bottle secret add " + c.Name + " … --from SOURCE"
	if c.Kind == allowlist.CredAWS {
		change = "change the source of " + field + " in the allowlist"
	}
	if e.Fix == "" {
		return fmt.Errorf("%s: %w; %s", what, err, change)
	}
	return fmt.Errorf("%s: %w, or %s", what, err, change)
}
