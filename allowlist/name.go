package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// Limits from RFC 1035 §2.3.4, applied to the ASCII (punycode) form.
const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// wildcard says how a host pattern matches names below its suffix.
type wildcard uint8

const (
	exact    wildcard = iota // "example.com": that name only
	oneLabel                 // "*.example.com": exactly one label below
	anyDepth                 // "**.example.com": one or more labels below
)

func (w wildcard) prefix() string {
	switch w {
	case oneLabel:
		return "*."
	case anyDepth:
		return "**."
	}
	return ""
}

// idnaProfile maps Unicode names to punycode the way a resolver would look them
// up. Underscores are allowed (StrictDomainName off) because real service names
// such as "_acme-challenge.example.com" use them; we check characters ourselves.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.StrictDomainName(false),
	idna.Transitional(false),
)

// NormalizeName returns the canonical form of a DNS name as both rules and
// requests use it: ASCII lower case, no trailing dot, IDN labels in punycode.
// It rejects empty labels, over-long names, characters outside letters, digits,
// '-' and '_', and names whose last label is numeric (a disguised IP address
// such as "2130706433" or "0x7f.1").
func NormalizeName(name string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if len(name) > 4*maxNameLen {
		return "", fmt.Errorf("name is longer than %d characters", maxNameLen)
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return "", errors.New("empty name")
	}
	ascii := true
	for i := 0; i < len(n); i++ {
		if n[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		n = strings.ToLower(n)
	} else {
		var err error
		n, err = idnaProfile.ToASCII(n)
		if err != nil {
			return "", fmt.Errorf("not a valid internationalised name: %v", err)
		}
	}
	if len(n) > maxNameLen {
		return "", fmt.Errorf("name is longer than %d characters", maxNameLen)
	}
	var l string
	for rest, more := n, true; more; {
		l, rest, more = strings.Cut(rest, ".")
		if l == "" {
			return "", errors.New("empty label (two dots in a row, or a leading dot)")
		}
		if len(l) > maxLabelLen {
			return "", fmt.Errorf("label %q is longer than %d characters", l, maxLabelLen)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("character %q is not allowed in a host name", c)
			}
		}
	}
	if numericLabel(l) { // the last label
		return "", errors.New("looks like a numeric IP address, not a host name")
	}
	return n, nil
}

// numericLabel reports whether a top-level label could be part of an IPv4
// address in one of the forms inet_aton accepts (decimal, octal, 0x-hex). No
// real top-level domain looks like this (RFC 3696 §2), but resolvers and
// clients turn such names into addresses.
func numericLabel(l string) bool {
	if strings.HasPrefix(l, "0x") {
		l = l[2:]
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// hostPattern is a parsed `host:` value of a rule.
type hostPattern struct {
	wild   wildcard
	suffix string // normalised name; for wildcards the part after "*." / "**."
}

func (h hostPattern) String() string { return h.wild.prefix() + h.suffix }

// parseHostPattern validates a `host:` value. Errors are phrased to follow the
// key name in a message and, where one exists, end with the fix.
func parseHostPattern(s string) (hostPattern, error) {
	// Characters first: every later check quotes or cuts the value, and a
	// control character would lead it astray ("evil.test\nx:1" is not a name
	// with a port) or put a raw newline or escape sequence into the message.
	for _, c := range s {
		if unicode.IsControl(c) {
			return hostPattern{}, badChar(c)
		}
	}
	raw := s
	s = strings.TrimSpace(s)
	if s != raw {
		return hostPattern{}, fmt.Errorf("has leading or trailing spaces; use %q", s)
	}
	for _, c := range s {
		if unicode.IsSpace(c) {
			return hostPattern{}, badChar(c)
		}
	}
	switch s {
	case "":
		return hostPattern{}, errors.New("is empty; name a host such as \"api.example.com\"")
	case "*", "**", "*.", "**.":
		return hostPattern{}, errors.New("matches every host, which would make the allowlist pointless; list the hosts the agent needs")
	}
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") >= 2 {
		if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			return hostPattern{}, fmt.Errorf("is an IP address; use `cidr: %s` instead", netip.PrefixFrom(a, a.BitLen()))
		}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return hostPattern{}, fmt.Errorf("is an IP address; use `cidr: %s` instead", netip.PrefixFrom(a, a.BitLen()))
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/?#") {
		return hostPattern{}, errors.New("must be a host name, not a URL; use the name alone (paths go in `paths:`)")
	}
	if h, p, ok := strings.Cut(s, ":"); ok && h != "" {
		return hostPattern{}, fmt.Errorf("must not carry a port; use `host: %s` with `ports: [%s]`", h, p)
	}

	var hp hostPattern
	rest := s
	switch {
	case strings.HasPrefix(s, "**."):
		hp.wild, rest = anyDepth, s[3:]
	case strings.HasPrefix(s, "*."):
		hp.wild, rest = oneLabel, s[2:]
	}
	if strings.ContainsAny(rest, "*?[]{}") {
		return hostPattern{}, fmt.Errorf("has a wildcard inside the name; wildcards must be a whole leading label%s", suggestWildcard(s))
	}
	n, err := NormalizeName(rest)
	if err != nil {
		return hostPattern{}, fmt.Errorf("is not a valid host name: %v", err)
	}
	hp.suffix = n
	if hp.wild != exact {
		// A wildcard directly over a public suffix ("*.com", "*.co.uk") matches
		// every registrable domain under it.
		if !strings.Contains(n, ".") {
			return hostPattern{}, fmt.Errorf("is a wildcard over the whole top-level domain %q; name a domain such as \"%sexample.%s\"", n, hp.wild.prefix(), n)
		}
		if err := overPublicSuffix(hp.wild, n); err != nil {
			return hostPattern{}, err
		}
	}
	return hp, nil
}

// pslProbe is a label that no public suffix list rule names: "--" in the
// third and fourth places is reserved (RFC 5891 §4.2.3.1) and it is not an
// A-label. So "pslProbe.NAME" is a public suffix only by a wildcard rule
// "*.NAME", never by an exact or exception rule.
const pslProbe = "zz--bottle-probe"

// overPublicSuffix refuses a wildcard that would match names anyone can
// create: names directly under a public suffix, whether the list's ICANN
// section has it ("co.uk") or its private one, where companies list the
// domains under which their customers get names ("github.io",
// "s3.amazonaws.com"). n is the normalised part after the wildcard.
func overPublicSuffix(w wildcard, n string) error {
	if ps, icann := publicsuffix.PublicSuffix(n); ps == n {
		// Also true for a name under a wildcard rule: "*.compute.amazonaws.com"
		// makes "us-east-1.compute.amazonaws.com" a suffix.
		label := "acme"
		if icann {
			label = "example"
		}
		return fmt.Errorf("is a wildcard over the public suffix %q, where anyone can create a name of their own; name the hosts you need, e.g. %q (or %q for names under one of them)",
			n, label+"."+n, w.prefix()+label+"."+n)
	}
	// "*.NAME" matches only the suffixes themselves, which their operator
	// owns; "**.NAME" also matches the names people create under them.
	if w == anyDepth {
		probe := pslProbe + "." + n
		if ps, _ := publicsuffix.PublicSuffix(probe); ps == probe {
			return fmt.Errorf("is a wildcard over every name below %q, and each name directly under it is a public suffix (the list has \"*.%s\") where anyone can create a name of their own; name the hosts you need, e.g. \"acme.NAME.%s\"",
				n, n, n)
		}
	}
	return nil
}

func badChar(c rune) error {
	return fmt.Errorf("is not a valid host name: character %q is not allowed in a host name", c)
}

// suggestWildcard proposes the nearest valid pattern for a mid-label glob:
// "*github.com" → "*.github.com", "api.*.example.com" → "*.example.com".
func suggestWildcard(s string) string {
	labels := strings.Split(s, ".")
	if strings.HasPrefix(labels[0], "*") && !strings.ContainsAny(strings.TrimLeft(labels[0], "*"), "*?[]{}") && labels[0] != "*" && labels[0] != "**" {
		// "*github.com": a leading glob glued to the first label.
		if rest := strings.TrimLeft(s, "*"); strings.Contains(rest, ".") {
			return fmt.Sprintf("; use %q", "*."+rest)
		}
	}
	last := -1
	for i, l := range labels {
		if strings.ContainsAny(l, "*?[]{}") {
			last = i
		}
	}
	rest := labels[last+1:]
	if len(rest) < 2 || strings.Contains(strings.Join(rest, "."), "*") {
		return ""
	}
	return fmt.Sprintf("; use %q", "*."+strings.Join(rest, "."))
}
