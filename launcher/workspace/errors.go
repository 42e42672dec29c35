package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"bottle.dev/bottle/internal/termsafe"
)

// pathError is err, an error of the file system about a file whose name
// the agent chose, as bottle says it: the file as shown (escaped for a
// terminal), then only the cause of err (an errno, which says no name),
// never err's own message, which quotes the name raw.
func pathError(shown string, err error) error {
	return fmt.Errorf("%s: %w", termsafe.Line(shown), cause(err))
}

// cause is what a *fs.PathError, *os.LinkError or *os.SyscallError err
// wraps; any other err with its message escaped.
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return escapedError{err}
}

// escapedError is an error whose message is escaped for a terminal.
type escapedError struct{ err error }

func (e escapedError) Error() string { return termsafe.Line(e.err.Error()) }
func (e escapedError) Unwrap() error { return e.err }
