// Package shared is the host's side of the approvals channel (package
// approval), for every command that decides a held request: `bottle
// approve`, `bottle deny` and `bottle watch`. It finds which bottle holds
// a request, writes the rules of an "always" into that bottle's live
// allowlist with the editor of `bottle allow add --bottle`, and then
// writes the decision the sidecar acts on.
package shared

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"bottle.dev/bottle/approval"
	allowshared "bottle.dev/bottle/cmd/bottle/internal/cmd/allow/shared"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// PendingRequest is a request held by one bottle's sidecar, as Pending
// lists it. (The contract called it Pending too; Go has one name for the
// function and the type.)
type PendingRequest struct {
	Bottle string `json:"bottle"`
	approval.Request
}

// ErrTooLate is the error of a --once for a request that timed out: the
// agent already got its 403, and nothing is waiting to be let through.
var ErrTooLate = errors.New("too late")

// Pending lists the requests held for bottle, or for every bottle of
// stateDir when bottle is "", oldest first. A bottle name that names no
// bottle is launcher's NoBottleError.
func Pending(stateDir, bottle string) ([]PendingRequest, error) {
	l := &launcher.Launcher{StateDir: stateDir}
	names := []string{bottle}
	if bottle == "" {
		names = bottleNames(l)
	} else if _, err := l.Load(bottle); err != nil {
		return nil, err
	}
	var out []PendingRequest
	for _, name := range names {
		reqs, err := approval.List(l.ApprovalsDir(name))
		if err != nil {
			return nil, fmt.Errorf("the approvals of %s: %w", name, err)
		}
		for _, q := range reqs {
			out = append(out, PendingRequest{Bottle: name, Request: q})
		}
	}
	slices.SortStableFunc(out, func(a, b PendingRequest) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// bottleNames are the bottles of l's state directory.
func bottleNames(l *launcher.Launcher) []string {
	entries, err := os.ReadDir(l.StateDir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() || launcher.ValidName(e.Name()) != nil {
			continue
		}
		if _, err := l.Load(e.Name()); err == nil {
			names = append(names, e.Name())
		}
	}
	return names
}

// Find returns the bottle whose sidecar holds request id, and the
// request. An id that is not an approval id is a usage error; one that no
// bottle holds wraps approval.ErrNotFound, with what to do.
func Find(stateDir, id string) (string, approval.Request, error) {
	if !approval.ValidID(id) {
		return "", approval.Request{}, cmdutil.UsageErrorf("%q is not an approval id (%d hex digits, as bottle approvals lists them)", id, approval.IDLen)
	}
	l := &launcher.Launcher{StateDir: stateDir}
	for _, name := range bottleNames(l) {
		q, err := approval.Get(l.ApprovalsDir(name), id)
		switch {
		case err == nil:
			return name, q, nil
		case !errors.Is(err, approval.ErrNotFound):
			return "", approval.Request{}, err
		}
	}
	return "", approval.Request{}, fmt.Errorf("no pending approval %s: it was decided already, or expired more than %s ago (bottle approvals lists those that are pending): %w",
		id, approval.Linger, approval.ErrNotFound)
}

// Decider decides held requests. Out and Err get what the allowlist
// editor says when an "always" writes its rules (which files, whether the
// sidecar applied them); nil discards it.
type Decider struct {
	StateDir string
	IO       *cmdutil.IOStreams
	// Wait is how long an "always" waits for the sidecar to apply the new
	// allowlist; zero is the editor's default.
	Wait time.Duration
}

// Decide is Decider.Decide with what the editor says discarded: for
// callers that show the outcome themselves (bottle watch).
func Decide(ctx context.Context, stateDir, id string, v approval.Verdict, by, note string) (bottle string, q approval.Request, err error) {
	return Decider{StateDir: stateDir}.Decide(ctx, id, v, by, note)
}

// Decide answers request id with v: it finds the bottle that holds it,
// for Always first writes the request's rules (q.Always) into the
// bottle's live allowlist and the file it was launched from, the way
// `bottle allow add --bottle NAME` does, and waits for the sidecar to
// apply them; then it writes the decision, which the sidecar acts on.
// Once for a request that timed out is ErrTooLate: nothing waits any
// more, and --host or --always allow it next time. by says who decided,
// through what (By); note goes back to an agent that asked through MCP.
func (d Decider) Decide(ctx context.Context, id string, v approval.Verdict, by, note string) (bottle string, q approval.Request, err error) {
	if !v.Valid() {
		return "", q, fmt.Errorf("verdict %q is not one of once, host, always, deny", v)
	}
	bottle, q, err = Find(d.StateDir, id)
	if err != nil {
		return "", q, err
	}
	if v == approval.Once && q.State == approval.StateExpired {
		return bottle, q, fmt.Errorf("%w: the request timed out at %s and the agent got the 403; use --host or --always to allow it next time (bottle approve %s --host)",
			ErrTooLate, q.Expires.Local().Format("15:04:05"), id)
	}
	if v == approval.Always {
		if err := d.writeRules(ctx, bottle, q); err != nil {
			return bottle, q, fmt.Errorf("%w\nthe request is still held (until %s): nothing was decided", err, q.Expires.Local().Format("15:04:05"))
		}
	}
	l := &launcher.Launcher{StateDir: d.StateDir}
	err = approval.Decide(l.ApprovalsDir(bottle), approval.Decision{ID: id, Verdict: v, By: by, Note: note})
	if errors.Is(err, approval.ErrNotFound) {
		// The sidecar gave up on it (or removed it) while we were at it.
		err = fmt.Errorf("approval %s of %s is gone: it was decided or expired meanwhile: %w", id, bottle, err)
	}
	return bottle, q, err
}

// writeRules adds q's rules to the live allowlist of bottle, and to the
// file it was launched from, in one edit of each, with the allowlist
// editor; a rule already there is left as it is.
func (d Decider) writeRules(ctx context.Context, bottle string, q approval.Request) error {
	if len(q.Always) == 0 {
		return fmt.Errorf("approval %s has no rule to write (the sidecar named none); allow it with --host, or bottle allow add --bottle %s", q.ID, bottle)
	}
	ios := d.IO
	if ios == nil {
		ios = &cmdutil.IOStreams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard}
	}
	fo := allowshared.FileOptions{Bottle: bottle, StateDir: d.StateDir, Wait: d.Wait}
	again := q.Command
	if again == "" {
		again = "bottle allow add " + q.Always[0].Args()
	}
	return fo.Edit(ctx, ios, again, func(src allowshared.Source, data []byte, exists bool) ([]byte, error) {
		changed := false
		for _, spec := range q.Always {
			res, err := src.Add(data, spec)
			if err != nil {
				return nil, fmt.Errorf("the rule for %s: %w", spec.Host, err)
			}
			if res.Existing != "" {
				fmt.Fprintf(ios.Out, "nothing changed in %s: it already has this rule (%s)\n", src, res.Existing)
				continue
			}
			pol, err := src.Parse(res.Data)
			if err != nil {
				return nil, err
			}
			list := pol.Allow()
			if spec.Deny {
				list = pol.DenyRules()
			}
			fmt.Fprintf(ios.Out, "added %s to %s\n", allowshared.RuleLine(list[len(list)-1]), src)
			data, changed = res.Data, true
		}
		if !changed {
			return nil, nil
		}
		return data, nil
	})
}

// By is who decided, through what, as a Decision and the audit record it:
// "bottle approve (alice)". The user is the one this process runs as.
func By(tool string) string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if name == "" {
		name = fmt.Sprintf("uid %d", os.Getuid())
	}
	return tool + " (" + name + ")"
}

// Describe says what q asked for, in one line: "GET
// https://api.example.com/v1/x", "CONNECT 10.0.0.7:5432". Host and path
// come from the agent; they are made safe for a terminal.
func Describe(q approval.Request) string {
	if q.Kind == "connect" || q.Method == "" {
		return "CONNECT " + HostPort(q)
	}
	scheme := q.Scheme
	if scheme == "" {
		scheme = "https"
	}
	host := q.Host
	if !(scheme == "https" && q.Port == 443 || scheme == "http" && q.Port == 80) && q.Port != 0 {
		host = HostPort(q)
	}
	return termsafe.Line(q.Method + " " + scheme + "://" + host + q.Path)
}

// HostPort is q's host and port, made safe for a terminal.
func HostPort(q approval.Request) string {
	h := q.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return termsafe.Line(fmt.Sprintf("%s:%d", h, q.Port))
}

// Held says how many of the agent's requests wait on q: "1 held
// request", "3 held requests".
func Held(q approval.Request) string {
	if q.Count == 1 {
		return "1 held request"
	}
	return fmt.Sprintf("%d held requests", q.Count)
}
