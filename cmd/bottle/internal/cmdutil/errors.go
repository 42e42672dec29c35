package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes, in one place. `bottle allow check` documents 0/1/2 to
// scripts; `bottle exec` exits with the command's own status.
const (
	ExitOK     = 0   // success; for `allow check`: allowed
	ExitError  = 1   // failure; for `allow check`: denied
	ExitUsage  = 2   // bad flags or arguments, or an invalid file
	ExitSignal = 130 // interrupted (Ctrl-C, SIGTERM)
)

// StatusError carries a specific exit code. A Silent one has already been
// reported by the command (or is the exit status of a command in the agent).
type StatusError struct {
	Code   int
	Err    error
	Silent bool
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// WithCode makes err end the command with code.
func WithCode(code int, err error) error { return &StatusError{Code: code, Err: err} }

// UsageError makes err a usage error (exit 2).
func UsageError(err error) error { return WithCode(ExitUsage, err) }

// UsageErrorf is a usage error (exit 2) with a message.
func UsageErrorf(format string, args ...any) error {
	return UsageError(fmt.Errorf(format, args...))
}

// SilentExit ends the command with code after it has printed its own output.
func SilentExit(code int) error {
	return &StatusError{Code: code, Err: fmt.Errorf("exit %d", code), Silent: true}
}

// IsUsage reports whether err ends the command with a usage error.
func IsUsage(err error) bool {
	var ee *StatusError
	return errors.As(err, &ee) && ee.Code == ExitUsage
}

// HandleError prints err (when there is one to print) to w and returns the
// process exit code: the one mapping from errors to exit codes.
func HandleError(err error, w io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *StatusError
	switch {
	case errors.As(err, &ee) && ee.Silent:
		return ee.Code
	case errors.As(err, &ee):
		fmt.Fprintf(w, "bottle: %v\n", ee.Err)
		if ee.Code == ExitUsage && !strings.Contains(ee.Err.Error(), "\n") {
			fmt.Fprintln(w, "Run 'bottle --help' or add --help to the command for usage.")
		}
		return ee.Code
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "bottle: interrupted")
		return ExitSignal
	case isCobraUsage(err):
		fmt.Fprintf(w, "bottle: %v\nRun 'bottle --help' for usage.\n", err)
		return ExitUsage
	}
	fmt.Fprintf(w, "bottle: %v\n", err)
	return ExitError
}

// isCobraUsage recognises the errors cobra itself makes for bad command lines.
func isCobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "required flag", "if any flags in the group"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
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
