package dlp

import (
	"regexp/syntax"
	"sort"
	"unicode/utf8"

	"github.com/zricethezav/gitleaks/v8/config"
)

// A window of binary data (a gzip stream, git pack data, an image) is
// mostly bytes that are not text, and in it gitleaks' regular expressions
// and its decoder are at their slowest: about 2 MB/s. A secret in such data
// is text all the same (a gzip stored block, a tar member, a string in an
// executable), and every rule's match is text: so Detector.scan keeps, of a
// window with bytes that are not text, only its runs of text long enough
// to hold the shortest match of any rule (minMatch), each kept whole and
// one NUL byte in place of each stretch between them. For every rule's
// character classes a NUL is what the bytes it stands for are (not a
// letter, digit, space or quote, not a line break), so \b, \s and the
// rest see around each run what they saw in the window.
//
// What this leaves out is a match that would take in bytes that are not
// text: only a rule with "." or a negated class can make one, and a secret
// with a control character or invalid UTF-8 in it is no secret any rule
// describes.

// isTextASCII says whether c is ASCII text: a visible character, a
// space, a tab, a line break, a form feed or a vertical tab. Text is that
// and any valid UTF-8 sequence (textWidth).
func isTextASCII(c byte) bool {
	return ' ' <= c && c < 0x7f || '\t' <= c && c <= '\r'
}

// run is a run of text kept from a window: the bytes from, in the window,
// are at at in the fragment scanned.
type run struct{ from, at int }

// textRuns returns b itself and nil if b is all text; otherwise the
// fragment to scan in its place (its runs of text of at least min bytes,
// separated by one NUL byte each) and the map back, in fragment order.
func textRuns(b []byte, min int) ([]byte, []run) {
	if !hasNonText(b) {
		return b, nil
	}
	frag := []byte{}
	runs := []run{}
	last := 0
	keep := func(from, to int) {
		if to-from < min {
			return
		}
		if from > 0 {
			frag = append(frag, 0)
		}
		runs = append(runs, run{from: from, at: len(frag)})
		frag = append(frag, b[from:to]...)
		last = to
	}
	start := 0
	for i := 0; i < len(b); {
		if w := textWidth(b[i:]); w > 0 {
			i += w
			continue
		}
		keep(start, i)
		i++
		start = i
	}
	keep(start, len(b))
	if len(runs) > 0 && last < len(b) {
		frag = append(frag, 0)
	}
	return frag, runs
}

// textWidth is the length of the character b starts with if it is text,
// else 0.
func textWidth(b []byte) int {
	c := b[0]
	switch {
	case isTextASCII(c):
		return 1
	case c < utf8.RuneSelf:
		return 0
	}
	if r, w := utf8.DecodeRune(b); r != utf8.RuneError || w > 1 {
		return w
	}
	return 0
}

// hasNonText says whether b has a byte that is not text.
func hasNonText(b []byte) bool {
	for i := 0; i < len(b); {
		if isTextASCII(b[i]) {
			i++
			continue
		}
		w := textWidth(b[i:])
		if w == 0 {
			return true
		}
		i += w
	}
	return false
}

// windowOffset maps an offset in a fragment textRuns made back to the
// window's.
func windowOffset(runs []run, off int) int {
	if runs == nil {
		return off
	}
	k := sort.Search(len(runs), func(k int) bool { return runs[k].at > off }) - 1
	if k < 0 {
		return runs[0].from
	}
	return runs[k].from + off - runs[k].at
}

// minMatch is the fewest bytes any rule of cfg can match (at least 1):
// a run of text shorter than that cannot hold a match.
func minMatch(cfg *config.Config) (int, error) {
	least := -1
	for _, id := range cfg.OrderedRules {
		r := cfg.Rules[id]
		if r.Regex == nil {
			continue
		}
		re, err := syntax.Parse(r.Regex.String(), syntax.Perl)
		if err != nil {
			return 0, err
		}
		if n := minLen(re.Simplify()); least < 0 || n < least {
			least = n
		}
	}
	return max(least, 1), nil
}

// minLen is the fewest bytes re can match: one for each character (a
// character is at least one byte).
func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if m := minLen(s); n < 0 || m < n {
				n = m
			}
		}
		return max(n, 0)
	}
	return 0 // empty-width assertions, star, quest, empty match
}
