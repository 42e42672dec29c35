package source

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/secret"
)

// key makes a value no test input holds by chance.
func key(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	rand.Read(b)
	return "k-" + hex.EncodeToString(b)
}

func src(s string) allowlist.Source {
	scheme, ref, _ := strings.Cut(s, ":")
	return allowlist.Source{Scheme: scheme, Ref: ref}
}

// script writes an executable sh script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// failure is a source that must not resolve: its error says want, and
// never holds the value the source would have given.
type failure struct {
	name, source string
	want         string
}

func checkFailures(t *testing.T, r *Resolver, value string, cases []failure) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := r.Resolve(context.Background(), src(tc.source))
			if err == nil {
				t.Fatalf("resolved (to %d bytes)", len(v))
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n got %s\nwant %s", err, tc.want)
			}
			if value != "" && strings.Contains(err.Error(), value) {
				t.Errorf("the error holds the value: %s", err)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	k := key(t)
	env := map[string]string{"KEY": k, "EMPTY": "", "TWO": k + "\nmore"}
	r := &Resolver{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}
	if v, err := r.Resolve(context.Background(), src("env:KEY")); err != nil || v != k {
		t.Errorf("env:KEY = %q, %v", v, err)
	}
	checkFailures(t, r, k, []failure{
		{"unset", "env:NOPE", "env:NOPE is not set; export NOPE where you run bottle"},
		{"empty", "env:EMPTY", "env:EMPTY is set but empty; export EMPTY=KEY where you run bottle"},
		{"two_lines", "env:TWO", "env:TWO gave a value with more than one line, which no header or query can carry; make it give the key alone, on one line"},
	})
	// The zero Resolver reads the process's environment.
	t.Setenv("BOTTLE_SOURCE_TEST_KEY", k)
	if v, err := new(Resolver).Resolve(context.Background(), src("env:BOTTLE_SOURCE_TEST_KEY")); err != nil || v != k {
		t.Errorf("zero Resolver: %q, %v", v, err)
	}
}

func TestFile(t *testing.T) {
	home := t.TempDir()
	k := key(t)
	os.WriteFile(filepath.Join(home, "token"), []byte(k+"\n"), 0o600)
	os.WriteFile(filepath.Join(home, "crlf"), []byte(k+"\r\n"), 0o600)
	os.WriteFile(filepath.Join(home, "two"), []byte(k+"\n\n"), 0o600)
	os.WriteFile(filepath.Join(home, "empty"), []byte("\n"), 0o600)
	os.WriteFile(filepath.Join(home, "big"), []byte(strings.Repeat(k, MaxValue/len(k)+1)), 0o600)
	os.Mkdir(filepath.Join(home, "dir"), 0o700)
	r := &Resolver{HomeDir: func() (string, error) { return home, nil }}
	for _, s := range []string{"file:~/token", "file:" + filepath.Join(home, "token"), "file:~/crlf"} {
		if v, err := r.Resolve(context.Background(), src(s)); err != nil || v != k {
			t.Errorf("%s = %q, %v", s, v, err)
		}
	}
	checkFailures(t, r, k, []failure{
		{"missing", "file:~/nope", "file:~/nope names " + home + "/nope, which does not exist; create it, with the key on one line"},
		{"one_newline_only", "file:~/two", "file:~/two gave a value with more than one line, which no header or query can carry; make it give the key alone, on one line"},
		{"empty", "file:~/empty", "file:~/empty gave an empty value; write the key into the file"},
		{"big", "file:~/big", "file:~/big names " + home + "/big, which is larger than 64 KiB; a key is far smaller"},
		{"dir", "file:~/dir", "file:~/dir names " + home + "/dir, which is not a regular file"},
	})
}

func TestCommand(t *testing.T) {
	dir := t.TempDir()
	k := key(t)
	ok := script(t, dir, "ok", `[ "$1" = "auth token" ] && [ "$2" = "it's" ] && [ "$3" = '"q"' ] || { echo "args: $*" >&2; exit 9; }
printf '%s\n' "`+k+`"`)
	script(t, dir, "fail", "printf '%s' '"+k+"'\nprintf 'not logged in\\033[2J\\n  run: gh auth login\\n' >&2\nexit 3\n")
	script(t, dir, "slow", "sleep 5\n")
	script(t, dir, "noisy", "i=0; while [ $i -lt 2000 ]; do printf '%s' '"+k+k+k+"'; i=$((i+1)); done\n")
	script(t, dir, "long", "printf '%0500d' 0 >&2; exit 1\n")
	r := &Resolver{Timeout: 300 * time.Millisecond, LookPath: func(p string) (string, error) {
		if filepath.IsAbs(p) {
			return p, nil
		}
		return filepath.Join(dir, p), nil
	}}
	if v, err := r.Resolve(context.Background(), src(`command:`+ok+` "auth token" 'it'\''s' "\"q\""`)); err != nil || v != k {
		t.Errorf("ok = %q, %v", v, err)
	}
	start := time.Now()
	checkFailures(t, r, k, []failure{
		{"fails_with_stderr_escaped", "command:fail", `command:fail failed: exit status 3: not logged in\x1b[2J run: gh auth login`},
		{"timeout", "command:slow", "command:slow did not finish within 300ms; make it answer without waiting for input (it runs with no terminal)"},
		{"too_much", "command:noisy", "command:noisy printed more than 64 KiB; a key is far smaller"},
		{"stderr_clipped", "command:long", "command:long failed: exit status 1: " + strings.Repeat("0", 400) + "…"},
		{"unquoted", `command:fail 'x`, `command:fail 'x has an unterminated ' quote in its command; quote with ' or " (no shell runs it)`},
	})
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("the timeout did not stop the command: %v", d)
	}
	// The real PATH: a program that is not there.
	checkFailures(t, new(Resolver), "", []failure{
		{"not_found", "command:bottle-no-such-program x", "command:bottle-no-such-program x cannot run bottle-no-such-program: not found on PATH; install it, or give its full path"},
	})
}

// TestKeychain runs a fake security on PATH, which answers like macOS's:
// the password for a service (and account) it has, exit 44 otherwise.
func TestKeychain(t *testing.T) {
	dir := t.TempDir()
	k := key(t)
	log := filepath.Join(dir, "argv")
	script(t, dir, "security", `echo "$*" >> `+log+`
case "$*" in
"find-generic-password -w -s gh") echo `+k+` ;;
"find-generic-password -w -s api -a me/x@example.com") echo `+k+`-2 ;;
"find-generic-password -w -s locked") echo "security: SecKeychainSearchCopyNext: User interaction is not allowed." >&2; exit 36 ;;
*) echo "security: SecKeychainSearchCopyNext: The specified item could not be found in the keychain." >&2; exit 44 ;;
esac`)
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := new(Resolver)
	if v, err := r.Resolve(context.Background(), src("keychain:gh")); err != nil || v != k {
		t.Errorf("keychain:gh = %q, %v", v, err)
	}
	if v, err := r.Resolve(context.Background(), src("keychain:api/me/x@example.com")); err != nil || v != k+"-2" {
		t.Errorf("keychain:api/me/x@example.com = %q, %v", v, err)
	}
	checkFailures(t, r, k, []failure{
		{"not_found", "keychain:nope/me", "keychain:nope/me is not in the keychain (security said the item could not be found); add it with: security add-generic-password -s nope -a me -w"},
		{"locked", "keychain:locked", "keychain:locked failed: exit status 36: security: SecKeychainSearchCopyNext: User interaction is not allowed."},
		{"no_service", "keychain:/me", "keychain:/me names no service; write keychain:SERVICE or keychain:SERVICE/ACCOUNT"},
	})
	argv, _ := os.ReadFile(log)
	if want := "find-generic-password -w -s gh\nfind-generic-password -w -s api -a me/x@example.com\n"; !strings.HasPrefix(string(argv), want) {
		t.Errorf("security was run with:\n%s", argv)
	}
	t.Setenv("PATH", t.TempDir())
	checkFailures(t, r, "", []failure{
		{"no_security", "keychain:gh", "keychain:gh cannot run security: not found on PATH; keychain: sources need macOS's security command; on other systems use env:, file: or command:"},
	})
}

func TestUnknownScheme(t *testing.T) {
	checkFailures(t, new(Resolver), "", []failure{
		{"unknown", "vault:x", "vault:x has an unknown scheme; use env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT]"},
		{"none", "", " no source; give one: env:VAR, file:PATH, command:ARGV or keychain:SERVICE[/ACCOUNT]"},
	})
}

func TestCredential(t *testing.T) {
	k := key(t)
	env := map[string]string{"ANTHROPIC_API_KEY": k, "AWS_ACCESS_KEY_ID": "AKIA" + k, "AWS_SECRET_ACCESS_KEY": k + "s", "AWS_SESSION_TOKEN": k + "t"}
	r := &Resolver{LookupEnv: func(n string) (string, bool) { v, ok := env[n]; return v, ok }}
	ctx := context.Background()

	c := &allowlist.Credential{Name: "anthropic", Kind: allowlist.CredHeader, Header: "X-Api-Key", Source: src("env:ANTHROPIC_API_KEY")}
	if v, err := r.Credential(ctx, c); err != nil || v.Name != "anthropic" || v.Value != k || v.Placeholder != "" || v.AWS != nil {
		t.Errorf("anthropic: %+v, %v", v, err)
	}
	aws := &allowlist.Credential{Name: "aws", Kind: allowlist.CredAWS,
		AccessKeyID: src("env:AWS_ACCESS_KEY_ID"), SecretAccessKey: src("env:AWS_SECRET_ACCESS_KEY"), SessionToken: src("env:AWS_SESSION_TOKEN")}
	v, err := r.Credential(ctx, aws)
	if err != nil || v.Value != "" || v.AWS == nil || *v.AWS != (secret.AWS{AccessKeyID: "AKIA" + k, SecretAccessKey: k + "s", SessionToken: k + "t"}) {
		t.Errorf("aws: %+v %+v, %v", v, v.AWS, err)
	}
	aws.SessionToken = allowlist.Source{}
	if v, err := r.Credential(ctx, aws); err != nil || v.AWS.SessionToken != "" || v.AWS.SecretAccessKey != k+"s" {
		t.Errorf("aws without a token: %+v, %v", v.AWS, err)
	}

	delete(env, "ANTHROPIC_API_KEY")
	_, err = r.Credential(ctx, c)
	if want := "credential anthropic: env:ANTHROPIC_API_KEY is not set; export ANTHROPIC_API_KEY where you run bottle, or change the source with bottle secret add anthropic … --from SOURCE"; err == nil || err.Error() != want {
		t.Errorf("unset:\n got %v\nwant %s", err, want)
	}
	delete(env, "AWS_ACCESS_KEY_ID")
	delete(env, "AWS_SECRET_ACCESS_KEY")
	_, err = r.Credential(ctx, aws)
	want := "credential aws access_key_id: env:AWS_ACCESS_KEY_ID is not set; export AWS_ACCESS_KEY_ID where you run bottle, or change the source of access_key_id in the allowlist\n" +
		"credential aws secret_access_key: env:AWS_SECRET_ACCESS_KEY is not set; export AWS_SECRET_ACCESS_KEY where you run bottle, or change the source of secret_access_key in the allowlist"
	if err == nil || err.Error() != want || strings.Contains(err.Error(), k) {
		t.Errorf("aws unset:\n got %v\nwant %s", err, want)
	}
	// A problem with no fix of its own: the change is the fix.
	dir := t.TempDir()
	c.Source = src("command:" + script(t, dir, "nope", "exit 1\n"))
	if _, err := r.Credential(ctx, c); err == nil || err.Error() != "credential anthropic: command:"+dir+"/nope failed: exit status 1; change the source with bottle secret add anthropic … --from SOURCE" {
		t.Errorf("command: %v", err)
	}
}
