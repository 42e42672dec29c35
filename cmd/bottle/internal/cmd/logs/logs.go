// Package logs is `bottle logs`: a bottle's agent log, its sidecar's log,
// or its egress audit.
package logs

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle logs`' dependencies, flags and arguments.
type Options struct {
	IO *cmdutil.IOStreams
	// Bottle loads a bottle's metadata, on the backend it was launched on.
	Bottle func(ctx context.Context, name string) (*launcher.Launcher, *launcher.Bottle, error)

	Name    string // NAME
	Egress  bool   // --egress
	Sidecar bool   // --sidecar
	Follow  bool   // -f
	JSON    bool   // --json
	Raw     bool   // --raw
	// SelfTest shows the audit lines of the launch's self-test probes
	// (--selftest), left out by default.
	SelfTest bool
	// Poll is how often a followed audit file is looked at again; zero
	// means 200ms.
	Poll time.Duration
}

// NewCmd returns `bottle logs`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Bottle: f.LoadBottle}
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show a bottle's command output, its sidecar's log, or its egress audit",
		Long: `Show the output of the command started with 'bottle launch NAME -d -- CMD'
or of a headless agent ('bottle launch NAME --agent claude -- -p TASK'), else
the agent container's log; the sidecar's log (--sidecar), or the
egress audit (--egress): one line per request, tunnel and refused DNS query,
with the rule that decided and, for failures, the error. The launch's
self-test probes its own sidecar, and those lines are left out (--selftest
shows them, marked; in the JSON, "selftest": true).

-f keeps printing new output; for the command's output it ends when the
command exits (its status: bottle list). A bottle that is stopped, or whose
launch failed, shows the logs kept in its state directory (saved when it
stopped or was torn down) until 'bottle rm' or 'bottle prune'.

What the agent chose (its output, the hosts and paths it asked for) is shown
with terminal control characters escaped, so it cannot rewrite your screen or
your clipboard; --raw passes the agent's log through untouched.`,
		Example: `  bottle logs demo
  bottle logs demo -f
  bottle logs demo --egress -f
  bottle logs demo --egress --json | jq 'select(.decision=="deny")'
  bottle logs demo --sidecar`,
		Args:              cmdutil.ExactArgs(1, "the bottle NAME"),
		ValidArgsFunction: f.CompleteBottles(1, cmdutil.AllBottles),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Egress && opts.Sidecar {
				return cmdutil.UsageErrorf("give --egress or --sidecar, not both")
			}
			if opts.SelfTest && !opts.Egress {
				return cmdutil.UsageErrorf("--selftest shows the self-test's lines of the egress audit: add --egress")
			}
			if opts.JSON && !opts.Egress {
				return cmdutil.UsageErrorf("--json is for the egress audit, whose lines are JSON: add --egress (the agent's and the sidecar's logs are text)")
			}
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.Egress, "egress", false, "the egress audit: every request, tunnel and refused DNS query")
	fl.BoolVar(&opts.Sidecar, "sidecar", false, "the sidecar's own log (start, reloads, errors)")
	fl.BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new lines")
	fl.BoolVar(&opts.JSON, "json", false, "the audit lines as JSON (with --egress)")
	fl.BoolVar(&opts.Raw, "raw", false, "pass the log through without escaping terminal controls")
	fl.BoolVar(&opts.SelfTest, "selftest", false, "also the audit lines of the launch's self-test probes (with --egress)")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	l, b, err := opts.Bottle(ctx, opts.Name)
	if err != nil {
		return err
	}
	if opts.Egress {
		return egressLog(ctx, filepath.Join(l.LogDir(b.Name), contract.AuditFile), opts)
	}
	role, container := "agent", b.Agent
	if opts.Sidecar {
		role, container = "sidecar", b.Sidecar
	}
	out := opts.IO.Out
	if !opts.Raw {
		out = &termsafe.Writer{W: opts.IO.Out}
	}
	if !opts.Sidecar && len(b.Command) > 0 {
		return cmdutil.CommandLog(ctx, l, b, out, opts.Follow, opts.Poll)
	}
	if l.CheckUsable(b) != nil {
		// The launcher saves each container's log at stop as ROLE.log.
		f, err := os.Open(filepath.Join(l.LogDir(b.Name), contract.SavedLogFile(role)))
		if err != nil {
			return fmt.Errorf("bottle %s does not run, and its %s log was not saved: %w", b.Name, role, err)
		}
		defer f.Close()
		_, err = io.Copy(out, f)
		return err
	}
	return l.Backend.Logs(ctx, container, opts.Follow, out)
}

// egressLog prints the audit: the rotated files first (oldest first), then
// the current one; with Follow, it keeps reading the current file and
// starts over when the sidecar rotates it.
func egressLog(ctx context.Context, path string, opts *Options) error {
	out := opts.IO.Out
	for i := audit.DefaultKeep; i >= 1; i-- {
		if data, err := os.ReadFile(fmt.Sprintf("%s.%d", path, i)); err == nil {
			for _, line := range strings.SplitAfter(string(data), "\n") {
				if strings.HasSuffix(line, "\n") {
					printAudit(out, line, opts)
				}
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	poll := opts.Poll
	if poll == 0 {
		poll = 200 * time.Millisecond
	}
	r := bufio.NewReader(f)
	var partial string
	for {
		line, err := r.ReadString('\n')
		partial += line
		if strings.HasSuffix(partial, "\n") {
			printAudit(out, partial, opts)
			partial = ""
		}
		if err == io.EOF {
			if !opts.Follow {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(poll):
			}
			// Rotated: the path now names a new, shorter file.
			if cur, serr := os.Stat(path); serr == nil {
				if old, ferr := f.Stat(); ferr == nil && !os.SameFile(cur, old) {
					if nf, err := os.Open(path); err == nil {
						f.Close()
						f, r, partial = nf, bufio.NewReader(nf), ""
					}
				}
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

// printAudit prints one audit line. Everything in it may come from the
// agent (hosts, names, paths), so nothing reaches the terminal raw. A line
// that is not an audit record is skipped, and so is a line of the
// self-test's (the sidecar marks those, and no others) without --selftest.
func printAudit(out io.Writer, line string, opts *Options) {
	var r audit.Record
	err := json.Unmarshal([]byte(line), &r)
	if err == nil && r.SelfTest && !opts.SelfTest {
		return
	}
	if opts.JSON {
		io.WriteString(out, termsafe.JSON(line))
		return
	}
	if err != nil {
		return
	}
	fmt.Fprintln(out, Line(&r))
}

// Line is an audit record as `bottle logs --egress` prints it, without the
// newline: its time, decision, kind, method, target, status, rule and
// reason, and what the kind adds (refs, credentials, DLP findings, the
// error). Everything in it that may come from the agent is escaped
// (termsafe.Line); the sidecar writes no query string or secret, and Line
// adds none.
func Line(r *audit.Record) string {
	s := termsafe.Line
	host, path := Where(r)
	extra := ""
	if r.Git != nil {
		extra += gitPush(r.Git)
	}
	if r.Credential != "" {
		extra += "  credential: " + s(r.Credential)
	}
	if len(r.DLP) > 0 {
		extra += "  dlp: " + s(strings.Join(r.DLP, ","))
	}
	if r.Error != "" {
		extra = "  error: " + s(r.Error)
	}
	if r.Repeated != 0 {
		extra += "  (and " + num(r.Repeated) + " more like it)"
	}
	if r.SelfTest {
		extra += "  (self-test)"
	}
	return fmt.Sprintf("%s %-10s %-8s %-7s %s %s  [%s] %s%s", s(r.Time), s(r.Decision), s(r.Kind), s(r.Method), host+path, num(int64(r.Status)), s(r.Rule), s(r.Reason), extra)
}

// Where is what an audit record is about, escaped, in two parts that Line
// prints together: the target (HOST:PORT; a DNS query's name and type, a
// suppressed line's client and count, a push's repository) and the path
// (empty but for requests).
func Where(r *audit.Record) (target, path string) {
	s := termsafe.Line
	switch {
	case r.Kind == audit.KindDNS:
		return s(r.Name) + " (" + s(r.QType) + ")", ""
	case r.Kind == audit.KindSuppressed:
		return s(r.Client) + " ×" + num(r.Count), ""
	case r.Kind == audit.KindGitPush && r.Git != nil:
		return s(r.Git.Repo), ""
	case r.Port != 0:
		return s(r.Host) + ":" + num(int64(r.Port)), s(r.Path)
	}
	return s(r.Host), ""
}

// num is n in decimal, or nothing for 0.
func num(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

// gitPush is what a git-push line adds: each ref and what the gate made of
// it, the commits, and the findings (never a match: the sidecar writes
// none).
func gitPush(g *audit.GitPush) string {
	s := termsafe.Line
	var refs []string
	for _, r := range g.Refs {
		ref := s(strings.TrimPrefix(r.Ref, "refs/heads/")) + " " + s(r.Status)
		if r.Reason != "" {
			ref += " (" + s(r.Reason) + ")"
		}
		refs = append(refs, ref)
	}
	out := "  refs: " + strings.Join(refs, ", ")
	if len(g.Commits) > 0 {
		out += "  commits: " + strconv.Itoa(len(g.Commits))
	}
	if g.Scan != "" {
		out += "  scan: " + s(g.Scan)
	}
	if len(g.Findings) > 0 {
		out += "  findings: " + s(strings.Join(g.Findings, "; "))
	}
	return out
}
