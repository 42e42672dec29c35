package allowlist

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/golden"
)

// TestEditGolden applies edits to the files in testdata/edit and compares the
// result byte for byte with NAME.golden. Everything an edit does not touch
// (comments, blank lines, quoting, order) must survive.
func TestEditGolden(t *testing.T) {
	projectKeys := []string{"name", "image", "env", "workspace", "command", "memory"}
	tests := []struct {
		name      string
		in        string
		add       *RuleSpec
		rm        *RuleSpec
		all       bool
		rewritten bool
		removed   string
		extra     []string // the keys of a project file: an embedded edit
	}{
		{name: "add-to-commented", in: "commented.yaml", add: &RuleSpec{Host: "registry.example.com"}},
		{name: "add-wildcard-with-selectors", in: "commented.yaml", add: &RuleSpec{Host: "*.CDN.Example.com", Ports: []uint16{443, 8443, 443}, Methods: []string{"get", "HEAD"}, Paths: []string{"/acme/**", "/x y/*"}}},
		{name: "add-passthrough", in: "commented.yaml", add: &RuleSpec{Host: "ssh.github.com", Ports: []uint16{22, 443}, Passthrough: true}},
		{name: "add-cidr", in: "commented.yaml", add: &RuleSpec{Host: "10.20.0.0/16", Ports: []uint16{5432}, Passthrough: true}},
		{name: "add-deny", in: "commented.yaml", add: &RuleSpec{Host: "github.com", Methods: []string{"DELETE"}, Deny: true}},
		{name: "add-deny-new-list", in: "zero-indent.yaml", add: &RuleSpec{Host: "c.example.com", Deny: true}},
		{name: "add-zero-indent", in: "zero-indent.yaml", add: &RuleSpec{Host: "c.example.com", Ports: []uint16{22}}},
		{name: "add-to-empty-list", in: "empty-allow.yaml", add: &RuleSpec{Host: "a.example.com"}},
		{name: "add-to-flow-list", in: "flow.yaml", add: &RuleSpec{Host: "b.example.com"}, rewritten: true},
		{name: "add-crlf", in: "crlf.yaml", add: &RuleSpec{Host: "b.example.com"}},
		{name: "add-origin", in: "commented.yaml", add: &RuleSpec{Host: "files.example.com", Ports: []uint16{443}, Methods: []string{"GET", "HEAD"}, Origin: "preset test"}},
		{name: "rm-first", in: "commented.yaml", rm: &RuleSpec{Host: "api.anthropic.com"}, removed: "allow[0]"},
		{name: "rm-multiline", in: "commented.yaml", rm: &RuleSpec{Host: "github.com", Methods: []string{"post", "GET", "HEAD"}, Paths: []string{"/acme/widget/**", "/acme/widget.git/**"}}, removed: "allow[2]"},
		{name: "rm-deny", in: "commented.yaml", rm: &RuleSpec{Host: "gist.github.com", Deny: true}, removed: "deny[0]"},
		{name: "rm-zero-indent", in: "zero-indent.yaml", rm: &RuleSpec{Host: "a.example.com", Ports: []uint16{8080}}, removed: "allow[0]"},
		{name: "rm-all", in: "zero-indent.yaml", rm: &RuleSpec{Host: "b.example.com"}, all: true, removed: "allow[1]"},
		{name: "rm-from-flow-list", in: "flow.yaml", rm: &RuleSpec{Host: "a.example.com"}, rewritten: true, removed: "allow[0]"},
		// An item written as an alias ("- *r") is edited where it stands, not
		// where its anchor is.
		{name: "add-after-alias", in: "aliases.yaml", add: &RuleSpec{Host: "d.example.com"}},
		{name: "rm-aliased-rule", in: "aliases.yaml", rm: &RuleSpec{Host: "a.example.com"}, removed: "allow[0],allow[3]"},
		{name: "rm-alias-user", in: "aliases.yaml", rm: &RuleSpec{Host: "c.example.com", Ports: []uint16{8443}}, removed: "allow[2]"},
		// The rules inline in a project file: its own keys and comments
		// stay where they are.
		{name: "embedded-add", in: "project.yaml", add: &RuleSpec{Host: "pypi.org"}, extra: projectKeys},
		{name: "embedded-add-list", in: "project-no-rules.yaml", add: &RuleSpec{Host: "pypi.org"}, extra: projectKeys},
		{name: "embedded-rm", in: "project.yaml", rm: &RuleSpec{Host: "api.anthropic.com"}, removed: "allow[0]", extra: projectKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata/edit", tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var res EditResult
			switch {
			case tt.add != nil && tt.extra != nil:
				res, err = AddEmbedded(tt.in, in, *tt.add, tt.extra)
			case tt.add != nil:
				res, err = Add(tt.in, in, *tt.add)
			case tt.extra != nil:
				res, err = RemoveEmbedded(tt.in, in, *tt.rm, tt.all, tt.extra)
			default:
				res, err = Remove(tt.in, in, *tt.rm, tt.all)
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Rewritten != tt.rewritten {
				t.Errorf("Rewritten = %v; want %v", res.Rewritten, tt.rewritten)
			}
			if got := strings.Join(res.Removed, ","); got != tt.removed {
				t.Errorf("Removed = %q; want %q", got, tt.removed)
			}
			golden.Check(t, filepath.Join("testdata/edit", tt.name+".golden"), res.Data)
			// Every comment of the input survives, except a removed rule's own
			// line comment.
			for _, line := range strings.Split(string(in), "\n") {
				if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line, "- host:") {
					if !strings.Contains(string(res.Data), strings.TrimSpace(line[i:])) {
						t.Errorf("comment %q lost", line[i:])
					}
				}
			}
		})
	}
}

func TestAddExistingIsNoop(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/commented.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []RuleSpec{
		{Host: "API.anthropic.com."},
		{Host: "api.anthropic.com", Ports: []uint16{443, 80}},
		{Host: "github.com", Methods: []string{"HEAD", "GET", "POST"}, Paths: []string{"/acme/widget/**", "/acme/widget.git/**"}},
		{Host: "gist.github.com", Deny: true},
	} {
		res, err := Add("commented.yaml", in, spec)
		if err != nil {
			t.Fatal(err)
		}
		if res.Existing == "" || res.Data != nil {
			t.Errorf("Add(%+v) = %+v; want a no-op naming the existing rule", spec, res)
		}
	}
	// Same host, other selectors: a new rule.
	res, err := Add("commented.yaml", in, RuleSpec{Host: "api.anthropic.com", Ports: []uint16{8443}})
	if err != nil || res.Existing != "" || res.Data == nil {
		t.Errorf("Add with other ports = %+v, %v; want a new rule", res, err)
	}
}

func TestAddNewFile(t *testing.T) {
	res, err := Add("new.yaml", nil, RuleSpec{Host: "*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := "version: 1\n\nallow:\n  - host: \"*.example.com\"\n"
	if string(res.Data) != want {
		t.Errorf("new file:\n%s\nwant:\n%s", res.Data, want)
	}
}

func TestRemoveNoMatch(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/commented.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Remove("commented.yaml", in, RuleSpec{Host: "github.com"}, false)
	if !errors.Is(err, ErrNoMatch) {
		t.Fatalf("err = %v; want ErrNoMatch", err)
	}
	if !strings.Contains(err.Error(), "allow[2]: github.com ports 80,443 methods GET,HEAD,POST") || !strings.Contains(err.Error(), "--all") {
		t.Errorf("error does not list the rules for the host: %v", err)
	}
	_, err = Remove("commented.yaml", in, RuleSpec{Host: "nothere.example.com"}, true)
	if !errors.Is(err, ErrNoMatch) {
		t.Errorf("err = %v; want ErrNoMatch", err)
	}
}

func TestEditRejectsBadInput(t *testing.T) {
	in, _ := os.ReadFile("testdata/edit/commented.yaml")
	for _, spec := range []RuleSpec{
		{Host: "*"},
		{Host: "*.com"},
		{Host: "*.github.io"},
		{Host: "**.s3.amazonaws.com", Deny: true},
		{Host: "a.example.com", Methods: []string{"FETCH"}},
		{Host: "a.example.com", Paths: []string{"no-slash"}},
		{Host: "a.example.com", Paths: []string{"/app/login;jsessionid=*"}},
		{Host: "a.example.com", Ports: []uint16{0}},
		{Host: "a.example.com", Passthrough: true, Methods: []string{"GET"}},
		{Host: "a.example.com", Passthrough: true, Deny: true},
		{Host: "10.0.0.1/8"},
	} {
		if _, err := Add("commented.yaml", in, spec); err == nil {
			t.Errorf("Add(%+v) accepted", spec)
		}
	}
	if _, err := Add("bad.yaml", []byte("version: 2\n"), RuleSpec{Host: "a.example.com"}); err == nil || !strings.Contains(err.Error(), "bad.yaml:1:10") {
		t.Errorf("editing an invalid file: %v; want its errors", err)
	}
}

// TestEditEmbeddedKeys: a project file is edited only as one (a plain edit
// names its first foreign key, as Parse does), and an embedded edit still
// refuses keys that neither schema owns.
func TestEditEmbeddedKeys(t *testing.T) {
	in, err := os.ReadFile("testdata/edit/project.yaml")
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"name", "image", "env", "workspace", "command", "memory"}
	if _, err := Add("bottle.yaml", in, RuleSpec{Host: "pypi.org"}); err == nil || !strings.Contains(err.Error(), `bottle.yaml:3:1: unknown key "name"`) {
		t.Errorf("a plain Add of a project file: %v", err)
	}
	if _, err := AddEmbedded("bottle.yaml", in, RuleSpec{Host: "pypi.org"}, keys[1:]); err == nil || !strings.Contains(err.Error(), `bottle.yaml:3:1: unknown key "name"`) {
		t.Errorf("an embedded Add without that key: %v", err)
	}
	res, err := AddEmbedded("bottle.yaml", in, RuleSpec{Host: "api.anthropic.com"}, keys)
	if err != nil || res.Existing != "allow[0]" || res.Data != nil {
		t.Errorf("re-adding an inline rule: %+v %v", res, err)
	}
	if _, err := RemoveEmbedded("bottle.yaml", in, RuleSpec{Host: "pypi.org"}, false, keys); !errors.Is(err, ErrNoMatch) {
		t.Errorf("removing a rule that is not there: %v", err)
	}
}

// TestAddOrigin: Add writes origin: on the rule, finds a rule already
// there whatever its origin, and refuses a bad origin or one on a deny
// rule.
func TestAddOrigin(t *testing.T) {
	spec := RuleSpec{Host: "a.example.com", Ports: []uint16{443}, Origin: "preset x"}
	res, err := Add("a.yaml", []byte("version: 1\nallow:\n  - host: a.example.com\n    ports: [443]\n"), spec)
	if err != nil || res.Existing != "allow[0]" {
		t.Errorf("same rule without origin: %+v %v", res, err)
	}
	res, err = Add("a.yaml", nil, spec)
	if err != nil {
		t.Fatal(err)
	}
	p := mustParse(t, string(res.Data))
	if p.Allow()[0].Origin != "preset x" {
		t.Errorf("origin not written:\n%s", res.Data)
	}
	if _, err := Add("a.yaml", nil, RuleSpec{Host: "a.example.com", Deny: true, Origin: "preset x"}); err == nil {
		t.Error("a deny rule took an origin")
	}
	if _, err := Add("a.yaml", nil, RuleSpec{Host: "a.example.com", Origin: "x\n"}); err == nil || !strings.Contains(err.Error(), `origin "x\n" has`) {
		t.Errorf("bad origin: %v", err)
	}
}
