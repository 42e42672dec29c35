package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
)

// Exit codes, in one place: every verb ends with one of these (`bottle
// exec` and `bottle shell` with the exit status of the command in the
// agent instead). The README's "Exit status" and `bottle --help` say the
// same.
const (
	ExitOK     = 0   // success; for `allow check`: allowed
	ExitError  = 1   // failure, including a name that is not a bottle; for `allow check`: denied
	ExitUsage  = 2   // a bad command line, or an invalid file or value it names
	ExitSignal = 130 // interrupted (Ctrl-C, SIGTERM)
)

// StatusError carries a specific exit code. A Silent one has already been
// reported by the command (or is the exit status of a command in the agent).
type StatusError struct {
	Code   int
	Err    error
	Silent bool
	// Usage says the command line itself is wrong (an unknown command or
	// flag, an argument missing or too many, flags that exclude each other,
	// a value a flag cannot take): the message is followed by where the
	// command's usage is. An invalid file the command read is exit 2 too,
	// but its message says what to fix, and no usage follows.
	Usage bool
	// Command is the path of the command that failed ("bottle allow add"),
	// for the usage footer; Classify sets it.
	Command string
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// WithCode makes err end the command with code.
func WithCode(code int, err error) error { return &StatusError{Code: code, Err: err} }

// UsageError makes err a usage error: exit 2, with the usage footer.
func UsageError(err error) error { return &StatusError{Code: ExitUsage, Err: err, Usage: true} }

// UsageErrorf is a usage error (exit 2) with a message.
func UsageErrorf(format string, args ...any) error {
	return UsageError(fmt.Errorf(format, args...))
}

// InvalidInput makes err an invalid-input error: exit 2 without the usage
// footer. For a file or value the command read that is not valid (an
// allowlist, a project file, a CA directory): the message names the
// problem and the fix, and the command's usage would not help.
func InvalidInput(err error) error { return &StatusError{Code: ExitUsage, Err: err} }

// InvalidInputf is InvalidInput with a message.
func InvalidInputf(format string, args ...any) error {
	return InvalidInput(fmt.Errorf(format, args...))
}

// SilentExit ends the command with code after it has printed its own output.
func SilentExit(code int) error {
	return &StatusError{Code: code, Err: fmt.Errorf("exit %d", code), Silent: true}
}

// IsUsage reports whether err ends the command with exit 2 (a usage error
// or invalid input).
func IsUsage(err error) bool {
	var ee *StatusError
	return errors.As(err, &ee) && ee.Code == ExitUsage
}

// HandleError prints err (when there is one to print) to w and returns the
// process exit code: the one mapping from errors to exit codes. Errors
// straight from cobra should go through Classify first.
func HandleError(err error, w io.Writer) int {
	if err == nil {
		return ExitOK
	}
	err = Classify(nil, err)
	var ee *StatusError
	switch {
	case errors.As(err, &ee) && ee.Silent:
		return ee.Code
	case errors.As(err, &ee):
		fmt.Fprintf(w, "bottle: %s\n", termsafe.Escape(ee.Err.Error()))
		// A message of several lines lists problems in a file; the usage
		// would bury them.
		if ee.Usage && !strings.Contains(ee.Err.Error(), "\n") {
			path := ee.Command
			if path == "" {
				path = "bottle"
			}
			fmt.Fprintf(w, "Run '%s --help' for usage.\n", path)
		}
		return ee.Code
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "bottle: interrupted")
		return ExitSignal
	}
	// Whatever an error quotes (a name the agent chose, a line an engine
	// said) reaches the terminal without its controls; its lines stay.
	fmt.Fprintf(w, "bottle: %s\n", termsafe.Escape(err.Error()))
	return ExitError
}

// Classify turns an error cobra made for a bad command line into a usage
// error that says, in bottle's words, what is wrong and how to fix it, and
// records cmd (the command that ran, from ExecuteC) for the usage footer.
// Other errors pass through unchanged; nil stays nil.
func Classify(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	var ee *StatusError
	if errors.As(err, &ee) {
		if ee.Usage && ee.Command == "" && cmd != nil {
			c := *ee
			c.Command = cmd.CommandPath()
			return &c
		}
		return err
	}
	msg, ok := cobraMessage(cmd, err.Error())
	if !ok {
		return err
	}
	e := &StatusError{Code: ExitUsage, Err: errors.New(msg), Usage: true}
	if cmd != nil {
		e.Command = cmd.CommandPath()
	}
	return e
}

// The messages cobra and pflag make for bad command lines (cobra v1.10),
// which bottle says in its own words. TestClassify holds one of each, as
// cobra makes it.
var (
	reUnknownCommand = regexp.MustCompile(`^unknown command "([^"]*)" for "([^"]*)"`)
	reExclusive      = regexp.MustCompile(`^if any flags in the group \[([^]]*)\] are set none of the others can be; \[([^]]*)\] were all set$`)
	reTogether       = regexp.MustCompile(`^if any flags in the group \[([^]]*)\] are set they must all be set; missing \[([^]]*)\]$`)
	reOneRequired    = regexp.MustCompile(`^at least one of the flags in the group \[([^]]*)\] is required$`)
	reRequired       = regexp.MustCompile(`^required flag\(s\) (.*) not set$`)
	reNeedsValue     = regexp.MustCompile(`^flag needs an argument: (?:'(.)' in -.*|--(.*))$`)
	reInvalidValue   = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-., )?--([^"]*)" flag: (.*)$`)
	reInvalidArg     = regexp.MustCompile(`^invalid argument "(.*)" for "([^"]*)"`)
	reAtLeast        = regexp.MustCompile(`^requires at least (\d+) arg\(s\), only received (\d+)$`)
	reAtMost         = regexp.MustCompile(`^accepts at most (\d+) arg\(s\), received (\d+)$`)
	reExactly        = regexp.MustCompile(`^accepts (\d+) arg\(s\), received (\d+)$`)
	reBetween        = regexp.MustCompile(`^accepts between (\d+) and (\d+) arg\(s\), received (\d+)$`)
	reUnknownFlag    = regexp.MustCompile(`^unknown (?:shorthand )?flag: `)
)

// cobraMessage rewrites one of cobra's messages; ok is false for any other.
func cobraMessage(cmd *cobra.Command, s string) (string, bool) {
	path := "bottle"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	if m := reUnknownCommand.FindStringSubmatch(s); m != nil {
		if cmd != nil && cmd.CommandPath() == m[2] {
			return unknownCommand(cmd, m[1]), true
		}
		return fmt.Sprintf("unknown command %q for %q", m[1], m[2]), true
	}
	if m := reExclusive.FindStringSubmatch(s); m != nil {
		if f := dashed(m[1]); len(f) == 2 {
			return fmt.Sprintf("give %s or %s, not both", f[0], f[1]), true
		}
		return fmt.Sprintf("give only one of %s (%s were given)", orList(dashed(m[1])), andList(dashed(m[2]))), true
	}
	if m := reTogether.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s go together: add %s", andList(dashed(m[1])), andList(dashed(m[2]))), true
	}
	if m := reOneRequired.FindStringSubmatch(s); m != nil {
		return "give " + orList(dashed(m[1])), true
	}
	if m := reRequired.FindStringSubmatch(s); m != nil {
		f := dashed(strings.NewReplacer(`"`, "", ",", "").Replace(m[1]))
		if len(f) == 1 {
			return f[0] + " is required", true
		}
		return andList(f) + " are required", true
	}
	if m := reNeedsValue.FindStringSubmatch(s); m != nil {
		name := "--" + m[2]
		if m[1] != "" {
			name = "-" + m[1]
		}
		return fmt.Sprintf("%s needs a value: %s VALUE", name, name), true
	}
	if m := reInvalidValue.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("--%s %q: %s", m[2], m[1], valueProblem(m[3])), true
	}
	if m := reInvalidArg.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s: %q is not an argument it takes", m[2], m[1]), true
	}
	if m := reAtLeast.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s takes at least %s; got %s", path, args(m[1]), m[2]), true
	}
	if m := reAtMost.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s takes at most %s; got %s", path, args(m[1]), m[2]), true
	}
	if m := reExactly.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s takes %s; got %s", path, args(m[1]), m[2]), true
	}
	if m := reBetween.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s takes %s to %s; got %s", path, m[1], args(m[2]), m[3]), true
	}
	if reUnknownFlag.MatchString(s) {
		return s, true // "unknown flag: --nope" says it; the footer says where the flags are
	}
	return "", false
}

// args is "1 argument", "2 arguments".
func args(n string) string {
	if n == "1" {
		return "1 argument"
	}
	return n + " arguments"
}

// valueProblem says what a flag's value should have been, from pflag's
// parse error.
func valueProblem(err string) string {
	switch {
	case strings.Contains(err, "ParseBool"):
		return "want true or false"
	case strings.Contains(err, "ParseUint"), strings.Contains(err, "ParseInt"):
		if strings.Contains(err, "out of range") {
			return "the number is too large"
		}
		return "want a whole number"
	case strings.Contains(err, "ParseFloat"):
		return "want a number"
	case strings.Contains(err, "time: "):
		return "want a duration such as 30s or 5m"
	}
	return err
}

// dashed turns cobra's "file bottle" into ["--file", "--bottle"].
func dashed(names string) []string {
	var out []string
	for _, n := range strings.Fields(names) {
		out = append(out, "--"+n)
	}
	return out
}

func orList(s []string) string  { return joinList(s, "or") }
func andList(s []string) string { return joinList(s, "and") }

func joinList(s []string, word string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " " + word + " " + s[len(s)-1]
}

// UnknownCommand is the usage error for name under group (a command with
// subcommands): the nearest commands when some are near, else the list.
func UnknownCommand(group *cobra.Command, name string) error {
	return UsageError(errors.New(unknownCommand(group, name)))
}

func unknownCommand(group *cobra.Command, name string) string {
	msg := fmt.Sprintf("unknown command %q for %q", name, group.CommandPath())
	if group.SuggestionsMinimumDistance <= 0 {
		group.SuggestionsMinimumDistance = 2 // cobra's default, which only its own error path sets
	}
	if near := group.SuggestionsFor(name); len(near) > 0 {
		return fmt.Sprintf("%s; did you mean %s?", msg, orList(near))
	}
	var names []string
	for _, c := range group.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	// The root's commands are many; its --help lists them.
	if group.HasParent() && len(names) > 0 {
		return fmt.Sprintf("%s; its commands are %s", msg, andList(names))
	}
	return msg
}

// Group makes cmd, a command that only holds others (`bottle allow`,
// `bottle ca`), print its help when run alone and refuse an unknown
// command: cobra would print the help for `bottle allow frob` and exit 0.
func Group(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.DisableFlagsInUseLine = true
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) > 0 {
			return UnknownCommand(cmd, args[0])
		}
		return cmd.Help()
	}
	return cmd
}

// ExactArgs is cobra.ExactArgs with a message that says what is missing.
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return UsageErrorf("%s: missing %s", cmd.CommandPath(), what)
		}
		if len(args) > n {
			return UsageErrorf("%s: too many arguments (%q); it takes %s", cmd.CommandPath(), args[n:], what)
		}
		return nil
	}
}

// MinimumArgs is cobra.MinimumNArgs with a message that says what is
// missing.
func MinimumArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return UsageErrorf("%s: missing %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

// MaximumArgs is cobra.MaximumNArgs with a message that says what it takes.
func MaximumArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return UsageErrorf("%s: too many arguments (%q); it takes %s", cmd.CommandPath(), args[n:], what)
		}
		return nil
	}
}

// Brief is err with each failed engine command in one line
// (launcher.Brief: the program and its verb, the exit status, the last
// line it said), and a word that -v shows them whole; with verbose, or
// when err holds no engine command, err as it is. What err is to
// errors.Is and errors.As does not change.
func Brief(err error, verbose bool) error {
	if err == nil || verbose {
		return err
	}
	msg := launcher.Brief(err)
	if msg == err.Error() {
		return err
	}
	return &briefError{msg: msg + " (-v shows the whole command and its output)", err: err}
}

type briefError struct {
	msg string
	err error
}

func (e *briefError) Error() string { return e.msg }
func (e *briefError) Unwrap() error { return e.err }
