package allowlist

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bottle.dev/bottle/internal/golden"
)

// TestMergeGolden merges each testdata/merge/NAME.txtar's extra.yaml (or
// agent.extra.yaml when it has none) into its data.yaml, as "agent test",
// and compares the file and what was added and skipped with NAME.golden.
// Each result must parse, every rule and credential of data must be in it
// in its place, each added entry must carry the origin, and merging again
// must change nothing.
func TestMergeGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/merge/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no merge cases: %v", err)
	}
	agent, err := os.ReadFile("testdata/merge/agent.extra.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txtar")
		t.Run(name, func(t *testing.T) {
			sections, err := readCase(f)
			if err != nil {
				t.Fatal(err)
			}
			var data []byte
			extra := agent
			for _, file := range sections {
				switch file.Name {
				case "data.yaml":
					data = file.Data
				case "extra.yaml":
					extra = file.Data
				default:
					t.Fatalf("unknown section %q", file.Name)
				}
			}
			out, added, skipped, err := Merge("allowlist.yaml", data, "recipe.yaml", extra, "agent test")
			if err != nil {
				t.Fatal(err)
			}
			var report bytes.Buffer
			report.Write(out)
			report.WriteString("---- added\n")
			for _, a := range added {
				report.WriteString(a + "\n")
			}
			report.WriteString("---- skipped\n")
			for _, s := range skipped {
				report.WriteString(s + "\n")
			}
			golden.Check(t, strings.TrimSuffix(f, ".txtar")+".golden", report.Bytes())

			got, err := Parse("out.yaml", out)
			if err != nil {
				t.Fatalf("the result does not parse: %v", err)
			}
			checkKept(t, data, got)
			nAdded := 0
			for _, r := range got.Allow() {
				if r.Origin != "" {
					if r.Origin != "agent test" {
						t.Errorf("%s has origin %q", r.ID, r.Origin)
					}
					nAdded++
				}
			}
			for _, c := range got.Credentials() {
				if c.Origin != "" {
					nAdded++
				}
			}
			if nAdded != len(added) {
				t.Errorf("%d entries have an origin; %d were added: %q", nAdded, len(added), added)
			}
			again, added2, _, err := Merge("allowlist.yaml", out, "recipe.yaml", extra, "agent test")
			if err != nil {
				t.Fatalf("merging again: %v", err)
			}
			if len(added2) != 0 || !bytes.Equal(again, out) {
				t.Errorf("merging again added %q", added2)
			}
		})
	}
}

// section is one file of a case: what follows a "-- NAME --" line, up
// to the next.
type section struct {
	Name string
	Data []byte
}

// readCase reads a testdata/merge case: a comment, then "-- data.yaml --"
// and, optionally, "-- extra.yaml --", each followed by that file (the
// txtar layout; allowlist imports nothing but YAML, even in tests).
func readCase(path string) ([]section, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []section
	for _, line := range bytes.SplitAfter(data, []byte("\n")) {
		if name, ok := bytes.CutPrefix(bytes.TrimRight(line, "\n"), []byte("-- ")); ok && bytes.HasSuffix(name, []byte(" --")) {
			out = append(out, section{Name: string(bytes.TrimSuffix(name, []byte(" --")))})
			continue
		}
		if len(out) > 0 {
			out[len(out)-1].Data = append(out[len(out)-1].Data, line...)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no -- data.yaml -- section", path)
	}
	return out, nil
}

// checkKept fails when a rule or credential of data is not in got, at the
// same index, with the same meaning.
func checkKept(t *testing.T, data []byte, got *Policy) {
	t.Helper()
	if len(bytes.TrimSpace(data)) == 0 {
		return
	}
	was, err := Parse("data.yaml", data)
	if err != nil {
		t.Fatalf("the case's data does not parse: %v", err)
	}
	if len(got.Allow()) < len(was.Allow()) || len(got.Credentials()) < len(was.Credentials()) {
		t.Fatalf("entries lost: allow %d → %d, credentials %d → %d", len(was.Allow()), len(got.Allow()), len(was.Credentials()), len(got.Credentials()))
	}
	for i, r := range was.Allow() {
		if g := got.Allow()[i]; g.String() != r.String() || g.Origin != r.Origin {
			t.Errorf("allow[%d] was %s, is %s", i, r, g)
		}
	}
	for i, r := range was.DenyRules() {
		if g := got.DenyRules()[i]; g.String() != r.String() {
			t.Errorf("deny[%d] was %s, is %s", i, r, g)
		}
	}
	for i, c := range was.Credentials() {
		if g := got.Credentials()[i]; g.Name != c.Name || strings.Join(g.Hosts(), ",") != strings.Join(c.Hosts(), ",") || g.Source != c.Source {
			t.Errorf("credentials[%d] was %s, is %s", i, c.Name, g.Name)
		}
	}
	if got.Mode() != was.Mode() || got.DLP() != was.DLP() || len(got.Git()) != len(was.Git()) {
		t.Errorf("settings changed: mode %s → %s, dlp %s → %s, git %d → %d", was.Mode(), got.Mode(), was.DLP(), got.DLP(), len(was.Git()), len(got.Git()))
	}
}

// TestMergeErrors: what Merge refuses, and that each error says which
// file is wrong, where, and the fix.
func TestMergeErrors(t *testing.T) {
	const data = "version: 1\nallow:\n  - host: git.example.com\n"
	const extra = "version: 1\nallow:\n  - host: api.model.example\n"
	tests := []struct {
		name, data, extra, origin string
		want                      string
	}{
		{name: "bad origin", data: data, extra: extra, origin: "agent\x1b[31m",
			want: `origin "agent\x1b[31m" has the character '\x1b', which is not printable`},
		{name: "empty origin", data: data, extra: extra, origin: "",
			want: `origin "" is empty`},
		{name: "extra invalid", data: data, extra: "version: 1\nallow:\n  - host: api.model.example\n    prots: [443]\n", origin: "agent x",
			want: `recipe.yaml:4:5: allow[0]: unknown key "prots"; did you mean "ports"?`},
		{name: "extra not yaml", data: data, extra: "version: 1\nallow: [\n", origin: "agent x",
			want: `recipe.yaml:`},
		{name: "extra with settings", data: data, extra: "version: 1\nmode: report\ndeny:\n  - host: a.example.com\nallow: []\n", origin: "agent x",
			want: "recipe.yaml:2:1: mode is not merged into the bottle's allowlist (only allow rules and credentials are); remove it, or set it in the allowlist itself\nrecipe.yaml:3:1: deny is not merged"},
		{name: "extra credential without its rule", data: data, extra: "version: 1\ncredentials:\n  - {name: m, hosts: [api.model.example], bearer: true, source: env:M}\n", origin: "agent x",
			want: `recipe.yaml:3:23: credentials[0].hosts: "api.model.example" is not allowed by any allow rule`},
		{name: "data invalid", data: "version: 1\nallow:\n  - hst: git.example.com\n", extra: extra, origin: "agent x",
			want: "allowlist.yaml:3:5: allow[0]: unknown key \"hst\"; did you mean \"host\"?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, _, err := Merge("allowlist.yaml", []byte(tt.data), "recipe.yaml", []byte(tt.extra), tt.origin)
			if err == nil {
				t.Fatalf("no error; result:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
		})
	}
	// The file's own error says to fix it first.
	_, _, _, err := Merge("allowlist.yaml", []byte("version: 2\n"), "recipe.yaml", []byte(extra), "agent x")
	if err == nil || !strings.Contains(err.Error(), "fix the file before merging into it") {
		t.Errorf("data invalid: %v", err)
	}
}

// TestOrigin: origin: is read on allow rules and credentials, and
// changes no decision.
func TestOrigin(t *testing.T) {
	src := "version: 1\nallow:\n  - host: a.example.com\n    origin: agent claude\n  - host: b.example.com\ncredentials:\n  - name: a\n    hosts: [a.example.com]\n    bearer: true\n    source: env:A\n    origin: preset x\n"
	p := mustParse(t, src)
	if got := p.Allow()[0].Origin; got != "agent claude" {
		t.Errorf("allow[0].Origin = %q", got)
	}
	if got := p.Allow()[1].Origin; got != "" {
		t.Errorf("allow[1].Origin = %q; want none", got)
	}
	if got := p.Credentials()[0].Origin; got != "preset x" {
		t.Errorf("credentials[0].Origin = %q", got)
	}
	plain := mustParse(t, strings.NewReplacer("    origin: agent claude\n", "", "    origin: preset x\n", "").Replace(src))
	for _, host := range []string{"a.example.com", "b.example.com", "c.example.com"} {
		req := Request{Scheme: "https", Host: host, Port: 443, Method: "GET", Path: "/"}
		if a, b := p.Decide(req), plain.Decide(req); a != b {
			t.Errorf("%s: with origin %+v, without %+v", host, a, b)
		}
	}
}

// FuzzMerge: no inputs panic Merge; when it succeeds the result parses,
// keeps data's entries where they were, and carries the origin on each
// entry it added. When both inputs parse (and extra has only rules and
// credentials), Merge fails only by saying so in an error, never by an
// invalid result.
func FuzzMerge(f *testing.F) {
	files, _ := filepath.Glob("testdata/merge/*.txtar")
	agent, _ := os.ReadFile("testdata/merge/agent.extra.yaml")
	for _, file := range files {
		sections, err := readCase(file)
		if err != nil {
			continue
		}
		data, extra := []byte(nil), agent
		for _, s := range sections {
			if s.Name == "data.yaml" {
				data = s.Data
			} else {
				extra = s.Data
			}
		}
		f.Add(data, extra)
	}
	f.Add([]byte(credPolicy), agent)
	f.Add([]byte(gitPolicy), agent)
	f.Add([]byte(testPolicy), []byte("version: 1\nallow: [{host: api.example.com}, {host: x.example.com, origin: y}]\n"))
	f.Add([]byte("version: 1\nallow:\n  - host: a.example.com\n...\n"), agent)
	f.Add([]byte("--- # doc\nversion: 1\n"), agent)
	f.Fuzz(func(t *testing.T, data, extra []byte) {
		out, added, _, err := Merge("a.yaml", data, "x.yaml", extra, "agent fuzz")
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Merge failed on its own: %v", err)
			}
			return
		}
		got, err := Parse("out.yaml", out)
		if err != nil {
			t.Fatalf("Merge's result does not parse: %v\n%s", err, out)
		}
		if len(bytes.TrimSpace(data)) > 0 {
			checkKept(t, data, got)
		}
		n := 0
		for _, r := range got.Allow() {
			if r.Origin == "agent fuzz" {
				n++
			}
		}
		for _, c := range got.Credentials() {
			if c.Origin == "agent fuzz" {
				n++
			}
		}
		if n < len(added) {
			t.Fatalf("%d entries carry the origin; %d were added", n, len(added))
		}
	})
}
