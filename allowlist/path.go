package allowlist

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// pathGlob is a parsed `paths:` entry. Segments are literal, "*" (exactly one
// segment) or "**" (any number of segments, including none).
type pathGlob struct {
	raw  string
	segs []string
}

const (
	segOne = "*"
	segAny = "**"
)

func parsePathGlob(s string) (pathGlob, error) {
	if !utf8.ValidString(s) {
		return pathGlob{}, errors.New("is not valid UTF-8")
	}
	if !strings.HasPrefix(s, "/") {
		return pathGlob{}, fmt.Errorf("must start with \"/\"; use %q", "/"+s)
	}
	if strings.ContainsAny(s, "?#") {
		return pathGlob{}, errors.New("must not contain a query or fragment; paths are matched without them")
	}
	if strings.ContainsAny(s, "[]{}\\") {
		return pathGlob{}, errors.New("uses unsupported glob syntax; only whole segments \"*\" (one segment) and \"**\" (any depth) are wildcards")
	}
	dec, err := url.PathUnescape(s)
	if err != nil {
		return pathGlob{}, fmt.Errorf("has a bad percent-escape: %v", err)
	}
	for _, c := range dec {
		if c < 0x20 || c == 0x7f {
			return pathGlob{}, errors.New("contains a control character")
		}
	}
	if strings.Contains(dec, ";") {
		return pathGlob{}, fmt.Errorf("contains \";\", but requests are matched with the \";parameters\" of each segment removed (servlet servers such as Tomcat and Jetty ignore them), so this glob could never match; %s", paramsFix(s))
	}
	segs := splitPath(dec)
	for _, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			return pathGlob{}, fmt.Errorf("contains %q; write the path it resolves to", seg)
		case seg == segOne || seg == segAny:
		case strings.Contains(seg, "*"):
			return pathGlob{}, fmt.Errorf("has %q: a wildcard must be a whole segment (\"*\" or \"**\"), e.g. \"/repos/*/issues\"", seg)
		}
	}
	return pathGlob{raw: s, segs: segs}, nil
}

// paramsFix proposes the glob without its ";parameters", when that is a
// valid glob.
func paramsFix(s string) string {
	s = strings.NewReplacer("%3b", ";", "%3B", ";").Replace(s)
	segs := strings.Split(s, "/")
	for i, seg := range segs {
		segs[i], _, _ = strings.Cut(seg, ";")
	}
	if fix := strings.Join(segs, "/"); fix != s {
		if _, err := parsePathGlob(fix); err == nil {
			return fmt.Sprintf("write it without them: %q", fix)
		}
	}
	return "write the path without them"
}

// splitPath splits a decoded path into its non-empty segments. Empty segments
// ("//a") are dropped, the way path.Clean drops them.
func splitPath(p string) []string {
	n := 0
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n) // one allocation: paths are split per request
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (g pathGlob) match(segs []string) bool { return matchSegs(g.segs, segs) }

// matchSegs matches in O(len(pat)×len(segs)) time whatever the number of "**"
// (a backtracking matcher is exponential in it, and patterns come from files).
func matchSegs(pat, segs []string) bool {
	reach := make([]bool, len(segs)+1) // reach[j]: pattern so far can consume segs[:j]
	next := make([]bool, len(segs)+1)
	reach[0] = true
	for _, p := range pat {
		clear(next)
		switch p {
		case segAny:
			seen := false
			for j := range reach {
				seen = seen || reach[j]
				next[j] = seen
			}
		default:
			for j := 0; j < len(segs); j++ {
				if reach[j] && (p == segOne || segs[j] == p) {
					next[j+1] = true
				}
			}
		}
		reach, next = next, reach
	}
	return reach[len(segs)]
}

// maxDecodeRounds bounds how often a path is percent-decoded before matching.
// Decoding until nothing changes means "%252e%252e" (which a server that
// decodes twice reads as "..") is judged as "..", never as a literal segment.
const maxDecodeRounds = 3

// CleanPath returns the segments of a request path as the policy judges it:
// percent-decoded (repeatedly, see maxDecodeRounds), backslashes read as
// slashes (some servers do), ";parameters" cut from each segment, then "."
// and ".." resolved and empty segments dropped, so "/a/%2e%2e/secret", "//a"
// and "/a/./b" cannot escape a rule.
//
// Servlet servers (Tomcat, Jetty, Spring) route "/secret;jsessionid=1/x" to
// "/secret/x" and read "/a/..;/b" as "/b", so a segment's parameters are
// dropped before matching, and a segment that is "." or ".." once they are
// gone ("..;", "..;x=1", ".;") is refused: whether it climbs depends on the
// server. A ";" that decoding produced ("%3b") counts as well.
func CleanPath(raw string) ([]string, error) {
	if raw == "" || raw == "*" {
		return nil, nil
	}
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	p := raw
	for round := 0; ; round++ {
		if !strings.Contains(p, "%") {
			break
		}
		if round == maxDecodeRounds {
			return nil, &pathError{CauseBadPathEncoding, "path is percent-encoded too many times"}
		}
		dec, err := url.PathUnescape(p)
		if err != nil {
			if round == 0 {
				return nil, &pathError{CauseBadPathEscape, fmt.Sprintf("path has a bad percent-escape: %v", err)}
			}
			break // a literal '%' produced by the previous round ("/100%25")
		}
		if dec == p {
			break
		}
		p = dec
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return nil, &pathError{CauseBadPathControl, "path contains a control character"}
		}
	}
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.Contains(p, ";") {
		segs := strings.Split(p, "/")
		for i, seg := range segs {
			base, _, hasParams := strings.Cut(seg, ";")
			if hasParams && (base == "." || base == "..") {
				// The parameters are not repeated: they may be a session id.
				return nil, &pathError{CauseBadPathParams, fmt.Sprintf("path has a %q segment with ;parameters, which servlet servers (Tomcat, Jetty, Spring) read as %q; such paths are refused", base, base)}
			}
			segs[i] = base
		}
		p = strings.Join(segs, "/")
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	// path.Clean returns a clean path as is, without allocating; the
	// leading "/" it was always given collapses with p's own.
	return splitPath(path.Clean(p)), nil
}

// pathError is a path CleanPath refuses, with the cause a decision on it
// carries.
type pathError struct {
	cause Cause
	msg   string
}

func (e *pathError) Error() string { return e.msg }

// pathCause is the cause of a denial for a path CleanPath refused.
func pathCause(err error) Cause {
	var pe *pathError
	if errors.As(err, &pe) {
		return pe.cause
	}
	return CauseUnknown
}
