package main

import "testing"

// TestZones: the test zone and the --also zones are answered, their
// subdomains too, in any case; a name that only ends like one is not.
func TestZones(t *testing.T) {
	z := newZones("sim.test.", []string{"anthropic.com,openai.com", " googleapis.com ", ""})
	for _, c := range []struct {
		name string
		rel  string
		ok   bool
	}{
		{"sim.test.", "", true},
		{"loop.sim.test.", "loop", true},
		{"A.B.Sim.Test", "a.b", true},
		{"api.anthropic.com.", "", true},
		{"API.OpenAI.com", "", true},
		{"generativelanguage.googleapis.com.", "", true},
		{"openai.com", "", true},
		{"notopenai.com.", "", false},
		{"example.com.", "", false},
		{"sim.test.evil.", "", false},
		{"xsim.test.", "", false},
	} {
		rel, ok := z.match(c.name)
		if rel != c.rel || ok != c.ok {
			t.Errorf("match(%q) = %q %v, want %q %v", c.name, rel, ok, c.rel, c.ok)
		}
	}
	if len(z.extra) != 3 {
		t.Errorf("extra zones: %q", z.extra)
	}
}
