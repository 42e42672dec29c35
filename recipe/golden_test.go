package recipe

import (
	"fmt"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/golden"
)

// TestGolden pins what each built-in recipe produces: the agent's argv with
// no words and with a prompt, the allowlist it adds, its environment and
// its files (testdata/golden/NAME.txt; -update rewrites them).
func TestGolden(t *testing.T) {
	for _, name := range Builtin() {
		t.Run(name, func(t *testing.T) {
			r, err := Find(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "# %s (%s), install sum %s\n", r.Name, r.File, r.Sum)
			fmt.Fprintf(&b, "npm: %q\nrun: %q\n", r.Install.NPM, r.Install.Run)
			fmt.Fprintf(&b, "argv: %q\n", r.Argv(nil))
			fmt.Fprintf(&b, "argv -p \"fix the tests\": %q\n", r.Argv([]string{"-p", "fix the tests"}))
			fmt.Fprintf(&b, "argv %s -p \"fix the tests\": %q\n", r.Command[0], r.Argv([]string{r.Command[0], "-p", "fix the tests"}))
			fmt.Fprintf(&b, "instructions: %s\nskills: %s\n", r.Instructions, r.Skills)
			b.WriteString("\n## env\n")
			for _, kv := range r.Env {
				b.WriteString(kv + "\n")
			}
			b.WriteString("\n## policy\n")
			b.Write(r.Policy)
			for _, f := range r.Files {
				fmt.Fprintf(&b, "\n## file %s\n%s", f.Path, f.Content)
			}
			golden.Check(t, "testdata/golden/"+name+".txt", []byte(b.String()))
		})
	}
}

// TestBuiltinMerge: each built-in recipe's rules and credential merge into
// a user's allowlist, marked with their origin, and what the user already
// has for the same host wins.
func TestBuiltinMerge(t *testing.T) {
	user := []byte("version: 1\nallow:\n  - host: api.anthropic.com\n    ports: [443]\n    methods: [POST]\n")
	for _, name := range Builtin() {
		r, err := Find(name, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, added, skipped, err := allowlist.Merge("allowlist.yaml", user, r.File, r.Policy, "agent "+name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		pol, err := allowlist.Parse("allowlist.yaml", out)
		if err != nil {
			t.Fatalf("%s: merged file does not parse: %v\n%s", name, err, out)
		}
		if len(pol.Credentials()) != 1 || pol.Credentials()[0].Origin != "agent "+name {
			t.Errorf("%s: credentials after merge: %+v", name, pol.Credentials())
		}
		wantAdded, wantSkipped := 2, 0
		if name == "claude" {
			wantAdded, wantSkipped = 1, 1 // the user's rule for api.anthropic.com stays
		}
		if len(added) != wantAdded || len(skipped) != wantSkipped {
			t.Errorf("%s: added %q, skipped %q", name, added, skipped)
		}
	}
}
