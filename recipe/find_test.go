package recipe

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func recipeSrc(name, desc string) string {
	return "version: 1\nname: " + name + "\ndescription: " + desc + "\ncommand: [" + name + "]\n"
}

func TestBuiltin(t *testing.T) {
	if got := Builtin(); !slices.Equal(got, []string{"claude", "codex", "gemini"}) {
		t.Errorf("Builtin() = %q", got)
	}
	for _, n := range Builtin() {
		r, err := Find(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Name != n || r.File != "builtin:"+n+".yaml" || r.Policy == nil || len(r.Install.NPM) != 1 {
			t.Errorf("built-in %s: %+v", n, r)
		}
	}
}

func TestDirs(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_CONFIG_HOME", "/xdg")
	if got := Dirs("/p"); !slices.Equal(got, []string{"/p/.bottle/agents", "/xdg/bottle/agents"}) {
		t.Errorf("Dirs with XDG_CONFIG_HOME = %q", got)
	}
	// A relative XDG_CONFIG_HOME is invalid (the XDG spec): ignored.
	for _, x := range []string{"", "rel"} {
		t.Setenv("XDG_CONFIG_HOME", x)
		if got := Dirs(""); !slices.Equal(got, []string{"/home/u/.config/bottle/agents"}) {
			t.Errorf("Dirs with XDG_CONFIG_HOME=%q = %q", x, got)
		}
	}
}

func TestFind(t *testing.T) {
	tmp := t.TempDir()
	proj, user := filepath.Join(tmp, "proj"), filepath.Join(tmp, "user")
	write(t, filepath.Join(proj, "claude.yaml"), recipeSrc("claude", "the project's claude"))
	write(t, filepath.Join(user, "claude.yaml"), recipeSrc("claude", "the user's claude"))
	write(t, filepath.Join(user, "aider.yml"), recipeSrc("aider", "the user's aider"))
	write(t, filepath.Join(user, "wrong.yaml"), recipeSrc("right", "misnamed"))
	write(t, filepath.Join(tmp, "elsewhere", "mine.yaml"), recipeSrc("whatever", "by path"))
	dirs := []string{proj, user}

	for _, c := range []struct{ name, desc, file string }{
		{"claude", "the project's claude", filepath.Join(proj, "claude.yaml")},
		{"aider", "the user's aider", filepath.Join(user, "aider.yml")},
		{"codex", "OpenAI's Codex CLI", "builtin:codex.yaml"},
		// A path is read as it is, whatever its name says.
		{filepath.Join(tmp, "elsewhere", "mine.yaml"), "by path", filepath.Join(tmp, "elsewhere", "mine.yaml")},
	} {
		r, err := Find(c.name, dirs)
		if err != nil {
			t.Errorf("Find(%q): %v", c.name, err)
			continue
		}
		if r.Description != c.desc || r.File != c.file {
			t.Errorf("Find(%q) = %q from %s; want %q from %s", c.name, r.Description, r.File, c.desc, c.file)
		}
	}

	_, err := Find("wrong", dirs)
	want := filepath.Join(user, "wrong.yaml") + `:2:7: name "right" is not the file's name "wrong"; a recipe found by name must have that name: write ` + "`name: wrong`" + ` or rename the file right.yaml`
	if err == nil || err.Error() != want {
		t.Errorf("Find(wrong) = %v\nwant %s", err, want)
	}

	_, err = Find("claud", dirs)
	want = `no agent recipe "claud"; did you mean "claude"? The recipes are aider, claude, codex, gemini, wrong (looked for claud.yaml in ` +
		proj + ", " + user + ", then among the built-in ones); to add one, write claud.yaml in one of those directories (see docs/agents.md)"
	if err == nil || err.Error() != want {
		t.Errorf("Find(claud) = %v\nwant %s", err, want)
	}

	_, err = Find("Claude", dirs)
	if err == nil || !strings.Contains(err.Error(), `--agent "Claude": agent recipe name "Claude" may hold only lower-case letters`) {
		t.Errorf("Find(Claude) = %v", err)
	}
	_, err = Find("./missing.yaml", dirs)
	if !os.IsNotExist(err) {
		t.Errorf("Find(./missing.yaml) = %v; want not-exist", err)
	}
}

func TestList(t *testing.T) {
	tmp := t.TempDir()
	proj, user := filepath.Join(tmp, "proj"), filepath.Join(tmp, "user")
	write(t, filepath.Join(proj, "gemini.yaml"), recipeSrc("gemini", "the project's gemini"))
	write(t, filepath.Join(user, "gemini.yaml"), recipeSrc("gemini", "the user's gemini"))
	write(t, filepath.Join(user, "aider.yaml"), recipeSrc("aider", "aider"))
	write(t, filepath.Join(user, "codex.yaml"), "version: 1\nname: codex\n") // broken: no command
	write(t, filepath.Join(user, "notes.txt"), "not a recipe")
	write(t, filepath.Join(user, "Bad Name.yaml"), recipeSrc("x", "not a recipe name"))

	rs, err := List([]string{proj, user, filepath.Join(tmp, "absent")})
	var got []string
	for _, r := range rs {
		got = append(got, r.Name+" "+r.File)
	}
	want := []string{
		"aider " + filepath.Join(user, "aider.yaml"),
		"claude builtin:claude.yaml",
		"gemini " + filepath.Join(proj, "gemini.yaml"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("List = %q\nwant %q", got, want)
	}
	// The broken codex.yaml is reported, and hides the built-in codex as
	// it does for Find.
	if err == nil || !strings.Contains(err.Error(), filepath.Join(user, "codex.yaml")+":1:1: missing command") {
		t.Errorf("List error = %v", err)
	}
	if _, ferr := Find("codex", []string{user}); ferr == nil {
		t.Error("Find(codex) found the built-in past a broken codex.yaml")
	}
}

func TestIsPath(t *testing.T) {
	for name, want := range map[string]bool{
		"claude": false, "my-agent": false, "./a": true, "a/b": true, "a.yaml": true, "a.yml": true, "/abs": true,
	} {
		if IsPath(name) != want {
			t.Errorf("IsPath(%q) = %v", name, !want)
		}
	}
}
