package main

import "strings"

// zones are the DNS zones fakenet answers with its own address: the test
// zone (--zone, where names like loop. and meta. lead elsewhere) and the
// real domains whose APIs it fakes (--also: api.anthropic.com must
// resolve to the fake inside a test's network, so the built-in recipes'
// rules and credentials are exercised unchanged; nothing leaves that
// network).
type zones struct {
	main  string   // "sim.test", no dots around
	extra []string // "anthropic.com", ...
}

func newZones(main string, also []string) zones {
	z := zones{main: trimDots(main)}
	for _, a := range also {
		for _, d := range strings.Split(a, ",") {
			if d = trimDots(strings.TrimSpace(d)); d != "" {
				z.extra = append(z.extra, strings.ToLower(d))
			}
		}
	}
	return z
}

func trimDots(s string) string { return strings.Trim(strings.ToLower(s), ".") }

// match says whether name (any case, with or without the final dot) is
// answered, and its label(s) before the test zone ("" for the zone
// itself and for every name of an extra zone, where no name is special).
func (z zones) match(name string) (rel string, ok bool) {
	n := trimDots(name)
	if n == z.main {
		return "", true
	}
	if r, found := strings.CutSuffix(n, "."+z.main); found {
		return r, true
	}
	for _, d := range z.extra {
		if n == d || strings.HasSuffix(n, "."+d) {
			return "", true
		}
	}
	return "", false
}

// alsoFlag is --also, repeatable, each a comma-separated list.
type alsoFlag []string

func (a *alsoFlag) String() string     { return strings.Join(*a, ",") }
func (a *alsoFlag) Set(v string) error { *a = append(*a, v); return nil }
