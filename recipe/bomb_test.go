package recipe

import (
	"fmt"
	"strings"
	"testing"
)

// TestAliasBomb: aliases that make a short file stand for a huge tree are
// refused, not copied: one where the allowlist's parser refuses the rules,
// and one whose rules are valid but many times too many.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nname: a\ncommand: [a]\nallow:\n  - host: a.b\n    methods: &x0 [GET, GET, GET, GET, GET, GET, GET, GET, GET, GET]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "  - host: a.b\n    methods: &x%d [%s]\n", i, strings.Repeat(fmt.Sprintf("*x%d, ", i-1), 10))
	}
	if _, err := Parse("b.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "b.yaml:6:14: allow[1].methods: a list is not a method name\n") {
		t.Errorf("nested aliases: %v", err)
	}

	b.Reset()
	b.WriteString("version: 1\nname: a\ncommand: [a]\nallow:\n  - &r\n    host: a.b\n    paths: [")
	for i := range 1000 {
		fmt.Fprintf(&b, "/p%d, ", i)
	}
	b.WriteString("]\n")
	b.WriteString(strings.Repeat("  - *r\n", 200))
	_, err := Parse("b.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "b.yaml:5:3: allow and credentials stand for more than 100000 YAML nodes") {
		t.Errorf("repeated aliases: %v", err)
	}
}
