// Package depcheck holds the test that keeps each dependency behind its one
// package boundary (see DESIGN.md, "Packages").
package depcheck

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// owners maps a dependency to the only packages that may import it directly.
var owners = map[string][]string{
	"github.com/spf13/cobra":     {"bottle.dev/bottle/cmd/bottle/internal/cli"},
	"github.com/elazarl/goproxy": {"bottle.dev/bottle/proxy"},
	"github.com/miekg/dns":       {"bottle.dev/bottle/dnsfwd", "bottle.dev/bottle/e2e/fakenet", "bottle.dev/bottle/bench"}, // test programs: the simulated internet, the benchmark stub
}

// allowlistMay lists the non-standard imports of package allowlist, which
// everything else uses and which must stay small. internal/shquote quotes
// the `bottle allow` command a denial suggests.
var allowlistMay = []string{"go.yaml.in/yaml/v3", "golang.org/x/net/idna", "golang.org/x/net/publicsuffix", "golang.org/x/text/", "golang.org/x/net/",
	"bottle.dev/bottle/internal/shquote"}

func TestDependencyBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "bottle.dev/bottle/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		for _, imp := range p.Imports {
			for dep, allowed := range owners {
				if (imp == dep || strings.HasPrefix(imp, dep+"/")) && !contains(allowed, p.ImportPath) {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, allowed)
				}
			}
		}
		if p.ImportPath == "bottle.dev/bottle/allowlist" {
			for _, d := range p.Deps {
				if !strings.Contains(strings.Split(d, "/")[0], ".") {
					continue // standard library
				}
				ok := false
				for _, m := range allowlistMay {
					// An entry ending in "/" covers the packages below it;
					// any other names one package exactly.
					ok = ok || d == m || strings.HasSuffix(m, "/") && strings.HasPrefix(d, m)
				}
				if !ok {
					t.Errorf("allowlist depends on %s", d)
				}
			}
		}
	}
	if seen < 3 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
