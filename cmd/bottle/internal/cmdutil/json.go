package cmdutil

import (
	"encoding/json"
	"io"
)

// WriteJSON writes v as the --json output of a verb: indented, one object,
// with '<', '>' and '&' as they are (the reasons and hints hold commands
// to paste, not HTML).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
