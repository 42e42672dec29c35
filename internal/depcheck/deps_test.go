// Package depcheck holds the test that keeps each dependency behind its one
// package boundary, and the host and the appliance apart (see DESIGN.md,
// "Packages").
package depcheck

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "bottle.dev/bottle"

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// owners maps a dependency to the only packages that may import it
// directly, in their code or their tests. An entry ending in "/" is a
// prefix: every package below it.
var owners = map[string][]string{
	"github.com/spf13/cobra":     {mod + "/cmd/bottle/"},
	"github.com/elazarl/goproxy": {mod + "/proxy"},
	// The simulated internet and the benchmark's stub are test programs.
	"github.com/miekg/dns": {mod + "/dnsfwd", mod + "/e2e/fakenet", mod + "/bench"},
	// CLI tests with a fake container runtime on PATH.
	"github.com/rogpeppe/go-internal": {mod + "/cmd/bottle/"},
	// The AWS SDK's signer plays the agent in secret/sigv4's tests; no code
	// imports it (secret/sigv4 is the standard library only).
	"github.com/aws/aws-sdk-go-v2": {},
	// Secret patterns (and what they drag in: viper, zerolog) stay behind
	// dlp, which silences gitleaks' logger and never lets a match out.
	"github.com/zricethezav/gitleaks/v8": {mod + "/dlp"},
	"github.com/rs/zerolog":              {mod + "/dlp"},
	"github.com/spf13/viper":             {mod + "/dlp"},
	// The terminal UI of bottle watch (bubbletea, lipgloss, bubbles, and
	// the ansi width functions they share) stays behind its model.
	"github.com/charmbracelet": {mod + "/cmd/bottle/internal/watch"},
	// Pack decoding stays behind the git gate.
	"github.com/go-git/go-git/v5": {mod + "/gitgate"},
	// The agent's MCP server (streamable HTTP) stays behind supervise.
	"github.com/modelcontextprotocol/go-sdk": {mod + "/supervise"},
}

// allowlistDeps is every package outside the standard library that package
// allowlist may depend on, directly or not, named exactly: everything else
// imports allowlist, so what it pulls in must stay small. IDN mapping and
// the public suffix list come from golang.org/x/net (idna needs x/text);
// shell quoting of the hints it writes is bottle's own.
var allowlistDeps = []string{
	"go.yaml.in/yaml/v3",
	"golang.org/x/net/idna",
	"golang.org/x/net/publicsuffix",
	"golang.org/x/text/secure/bidirule",
	"golang.org/x/text/transform",
	"golang.org/x/text/unicode/bidi",
	"golang.org/x/text/unicode/norm",
	mod + "/internal/shquote",
	mod + "/internal/yamlnode",
}

// The host side (what runs on the user's machine) and the appliance (what
// runs in the sidecar) share only the packages both need (allowlist, ca,
// internal/…): neither imports the other, directly or through a dependency.
var (
	host      = []string{mod + "/launcher", mod + "/launcher/", mod + "/cmd/bottle", mod + "/cmd/bottle/", mod + "/project", mod + "/secret/source", mod + "/recipe", mod + "/preset"}
	appliance = []string{mod + "/proxy", mod + "/dnsfwd", mod + "/cmd/bottle-sidecar", mod + "/secret/guard", mod + "/dlp", mod + "/supervise"}
)

func matches(list []string, path string) bool {
	for _, p := range list {
		if path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

func packages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list saw only %d packages", len(pkgs))
	}
	return pkgs
}

// testOwners may import a dependency in their tests only.
var testOwners = map[string][]string{
	// The sidecar's tests run fake upstream resolvers.
	"github.com/miekg/dns": {mod + "/cmd/bottle-sidecar"},
	// The real SDK signer signs as the agent does, to prove a re-signed
	// request is the one the SDK signs with the real keys.
	"github.com/aws/aws-sdk-go-v2": {mod + "/secret/sigv4"},
}

func TestDependencyOwners(t *testing.T) {
	for _, p := range packages(t) {
		check := func(imports []string, test bool) {
			for _, imp := range imports {
				for dep, allowed := range owners {
					if test {
						allowed = append(slices.Clone(allowed), testOwners[dep]...)
					}
					if (imp == dep || strings.HasPrefix(imp, dep+"/")) && !matches(allowed, p.ImportPath) {
						t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, allowed)
					}
				}
			}
		}
		check(p.Imports, false)
		check(slices.Concat(p.TestImports, p.XTestImports), true)
	}
}

func TestAllowlistStaysSmall(t *testing.T) {
	for _, p := range packages(t) {
		if p.ImportPath != mod+"/allowlist" {
			continue
		}
		for _, d := range p.Deps {
			if !strings.Contains(strings.Split(d, "/")[0], ".") {
				continue // the standard library (and its vendored x/ packages)
			}
			if !slices.Contains(allowlistDeps, d) {
				t.Errorf("allowlist depends on %s; its dependencies are listed exactly in allowlistDeps", d)
			}
		}
		return
	}
	t.Fatal("no package allowlist")
}

func TestHostAndApplianceApart(t *testing.T) {
	for _, p := range packages(t) {
		var other []string
		switch {
		case matches(host, p.ImportPath):
			other = appliance
		case matches(appliance, p.ImportPath):
			other = host
		default:
			continue
		}
		for _, d := range slices.Concat(p.Deps, p.TestImports, p.XTestImports) {
			if matches(other, d) {
				t.Errorf("%s depends on %s: the host and the appliance share only allowlist, ca and internal packages", p.ImportPath, d)
			}
		}
	}
}

// TestRulesAreLive: each rule names packages that exist, so a rename cannot
// leave a rule that checks nothing.
func TestRulesAreLive(t *testing.T) {
	var paths []string
	for _, p := range packages(t) {
		paths = append(paths, p.ImportPath)
	}
	for _, list := range [][]string{host, appliance, {mod + "/allowlist", mod + "/proxy", mod + "/dnsfwd"}} {
		for _, want := range list {
			found := false
			for _, p := range paths {
				found = found || matches([]string{want}, p)
			}
			if !found {
				t.Errorf("no package matches %s", want)
			}
		}
	}
}
