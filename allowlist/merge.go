package allowlist

import "errors"

// Merge returns data, an allowlist file (file names it in errors), with
// the allow rules and credentials of extra appended, each marked
// `origin: ORIGIN`; the comments and order of data are kept. extra is a
// standalone allowlist document (a recipe's Policy), validated first, its
// errors naming extraFile. A rule whose host (or cidr) a rule of data
// already names is left out, and a credential whose name, or one of whose
// hosts, a credential of data already has: what the user wrote wins.
// added names what was appended ("allow[7]: api.anthropic.com ports 443",
// "credential anthropic"), skipped what was left out and why. The result
// parses (Parse) or Merge fails.
func Merge(file string, data []byte, extraFile string, extra []byte, origin string) (out []byte, added, skipped []string, err error) {
	return nil, nil, nil, errors.New("allowlist.Merge: being written (issue 16)")
}
