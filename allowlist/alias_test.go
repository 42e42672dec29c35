package allowlist

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestEditSharedAliases: a file whose lists share a node through an alias
// is refused with the parse error, never edited and never an internal error.
func TestEditSharedAliases(t *testing.T) {
	for _, name := range []string{"alias-shared-list", "alias-shared-rule", "alias-shared-in-rule", "alias-shared-from-deny"} {
		in, err := os.ReadFile("testdata/invalid/" + name + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range []RuleSpec{{Host: "z.example.com"}, {Host: "z.example.com", Deny: true}, {Host: "z.example.com", Passthrough: true}} {
			res, err := Add(name, in, spec)
			checkSharedRefusal(t, name, "Add", res, err)
		}
		for _, spec := range []RuleSpec{{Host: "a.example.com"}, {Host: "a.example.com", Deny: true}, {Host: "b.example.com"}} {
			res, err := Remove(name, in, spec, true)
			checkSharedRefusal(t, name, "Remove", res, err)
		}
	}
}

func checkSharedRefusal(t *testing.T, name, op string, res EditResult, err error) {
	t.Helper()
	var el ErrorList
	switch {
	case res.Data != nil:
		t.Errorf("%s %s edited the file:\n%s", op, name, res.Data)
	case err == nil || strings.Contains(err.Error(), "internal error"):
		t.Errorf("%s %s: %v; want the file's own error", op, name, err)
	case !errors.As(err, &el) || !strings.Contains(err.Error(), "write the rules out in each list"):
		t.Errorf("%s %s: %v; want the alias error", op, name, err)
	}
}

// TestRemoveDanglingAnchor: removing a rule that holds an anchor another
// rule still uses is refused, naming where it is used and what to do.
func TestRemoveDanglingAnchor(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/aliases.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Remove("aliases.yaml", in, RuleSpec{Host: "b.example.com", Ports: []uint16{8443}}, false)
	want := "aliases.yaml:8:12: *p stands for a value in allow[1] (anchor &p, line 6), which removing allow[1] would delete; write the value out in place of *p, then run the command again"
	var el ErrorList
	if err == nil || err.Error() != want || !errors.As(err, &el) {
		t.Errorf("Remove(b) = %v\nwant %s", err, want)
	}
	// The same in a flow list, which the editor re-emits.
	flow := []byte("version: 1\nallow: [{host: a.example.com, ports: &p [8443]}, {host: b.example.com, ports: *p}]\n")
	_, err = Remove("flow.yaml", flow, RuleSpec{Host: "a.example.com", Ports: []uint16{8443}}, false)
	if err == nil || !strings.HasPrefix(err.Error(), "flow.yaml:2:79: *p stands for a value in allow[0]") {
		t.Errorf("Remove(a) from a flow list = %v; want the anchor error", err)
	}
	// Removing every rule that uses the anchor along with it is fine.
	flow = []byte("version: 1\nallow: [{host: a.example.com, ports: &p [8443]}, {host: a.example.com, ports: *p}, {host: b.example.com}]\n")
	res, err := Remove("flow.yaml", flow, RuleSpec{Host: "a.example.com"}, true)
	if err != nil || string(res.Data) != "version: 1\nallow: [{host: b.example.com}]\n" {
		t.Errorf("Remove(a, all) = %q, %v", res.Data, err)
	}
}
