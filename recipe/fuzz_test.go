package recipe

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"bottle.dev/bottle/allowlist"
)

// FuzzParse: no input panics Parse; every error is positioned in the
// recipe file; a recipe that parses has a name, a command and a Policy
// that allowlist.Parse accepts on its own and that merges whole into a new
// allowlist.
func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	for _, n := range Builtin() {
		data, _ := BuiltinSource(n)
		f.Add(data)
	}
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("version: 1\nname: a\ncommand: [a]\nx: &r {host: a.b}\nallow: [*r]\n"))
	f.Add([]byte("version: 1\nname: a\ncommand: [a]\nallow: &l [{host: a.b}]\ncredentials: *l\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("f.yaml", data)
		if err != nil {
			var el allowlist.ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			for _, e := range el {
				if e.File != "f.yaml" {
					t.Fatalf("error names another file: %v", e)
				}
			}
			return
		}
		if r.Name == "" || len(r.Command) == 0 || len(r.Sum) != 16 {
			t.Fatalf("parsed recipe lacks a name, command or sum: %+v", r)
		}
		if r.Policy != nil {
			if _, err := allowlist.Parse("policy", r.Policy); err != nil {
				t.Fatalf("Policy does not parse: %v\n%s\nfrom:\n%s", err, r.Policy, data)
			}
			// Into a new allowlist, everything a recipe brings merges.
			if _, _, skipped, err := allowlist.Merge("allowlist.yaml", nil, r.File, r.Policy, "agent "+r.Name); err != nil || len(skipped) > 0 {
				t.Fatalf("Merge into a new allowlist: %v, skipped %q\n%s", err, skipped, r.Policy)
			}
		}
	})
}
