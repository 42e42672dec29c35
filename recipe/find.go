package recipe

import (
	"bottle.dev/bottle/internal/yamlnode"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinPrefix is how a built-in recipe's File begins.
const builtinPrefix = "builtin:"

// Builtin returns the names of the built-in recipes, sorted.
func Builtin() []string {
	ents, _ := builtinFS.ReadDir("builtin")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// BuiltinSource returns the text of the built-in recipe name.
func BuiltinSource(name string) ([]byte, bool) {
	if ValidName(name) != nil {
		return nil, false
	}
	data, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	return data, err == nil
}

func loadBuiltin(name string) (*Recipe, error) {
	data, ok := BuiltinSource(name)
	if !ok {
		return nil, fmt.Errorf("no built-in agent recipe %q", name)
	}
	return parse(builtinPrefix+name+".yaml", data, name)
}

// Dirs returns where recipes are looked for, first first: the project's
// .bottle/agents (when projectDir is not empty), then the user's
// $XDG_CONFIG_HOME/bottle/agents, ~/.config/bottle/agents without it.
func Dirs(projectDir string) []string {
	var out []string
	if projectDir != "" {
		out = append(out, filepath.Join(projectDir, ".bottle", "agents"))
	}
	// os.UserConfigDir is not used: on macOS it is ~/Library/Application
	// Support, and bottle's configuration is in the same place on both.
	if x := os.Getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		out = append(out, filepath.Join(x, "bottle", "agents"))
	} else if h, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(h, ".config", "bottle", "agents"))
	}
	return out
}

// IsPath reports whether an --agent value names a file rather than a
// recipe: it has a '/' or ends in .yaml or .yml.
func IsPath(name string) bool {
	return strings.Contains(name, "/") || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// Find returns the recipe name: a file (IsPath), else NAME.yaml (or .yml)
// in the first of dirs that has one, else the built-in recipe. A recipe
// found by name must be named so in the file.
func Find(name string, dirs []string) (*Recipe, error) {
	if IsPath(name) {
		return Load(name)
	}
	if err := ValidName(name); err != nil {
		return nil, fmt.Errorf("--agent %q: %v; to use a file, give its path (./%s.yaml)", name, err, name)
	}
	for _, d := range dirs {
		for _, ext := range []string{".yaml", ".yml"} {
			path := filepath.Join(d, name+ext)
			data, err := readFile(path)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			return parse(path, data, name)
		}
	}
	if slices.Contains(Builtin(), name) {
		return loadBuiltin(name)
	}
	return nil, notFound(name, dirs)
}

// notFound words Find's error: the names there are, the nearest one, and
// where it looked.
func notFound(name string, dirs []string) error {
	names := Builtin()
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if n := recipeFileName(e); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	var b strings.Builder
	fmt.Fprintf(&b, "no agent recipe %q", name)
	if s := yamlnode.Closest(name, names); s != "" {
		fmt.Fprintf(&b, "; did you mean %q?", s)
	} else {
		b.WriteString(".")
	}
	fmt.Fprintf(&b, " The recipes are %s (looked for %s.yaml in ", strings.Join(names, ", "), name)
	for _, d := range dirs {
		b.WriteString(d + ", ")
	}
	b.WriteString("then among the built-in ones); to add one, write " + name + ".yaml in one of those directories (see docs/agents.md)")
	return errors.New(b.String())
}

// recipeFileName is the recipe name a directory entry stands for, or "".
func recipeFileName(e fs.DirEntry) string {
	if e.IsDir() {
		return ""
	}
	n := e.Name()
	if !strings.HasSuffix(n, ".yaml") && !strings.HasSuffix(n, ".yml") {
		return ""
	}
	n = nameOf(n)
	if ValidName(n) != nil {
		return ""
	}
	return n
}

// List returns every recipe there is, sorted by name: those in dirs, the
// first directory's winning, then the built-in ones that none of them
// shadows. A file that does not parse is left out and its error is part of
// the returned one; the recipes that parse are returned all the same.
func List(dirs []string) ([]*Recipe, error) {
	byName := map[string]*Recipe{}
	// shadowed are the names a directory has a file for, parsed or not: a
	// broken file still hides the built-in recipe, as it does for Find.
	shadowed := map[string]bool{}
	var errs []error
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		for _, e := range ents {
			name := recipeFileName(e)
			if name == "" || shadowed[name] {
				continue
			}
			shadowed[name] = true
			r, err := Find(name, []string{d})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			byName[name] = r
		}
	}
	for _, name := range Builtin() {
		if shadowed[name] {
			continue
		}
		r, err := loadBuiltin(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		byName[name] = r
	}
	out := make([]*Recipe, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Recipe) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}
