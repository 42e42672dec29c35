package agents

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

// TestParse: the verbs' words land in Options, and bare `bottle agents` is
// list.
func TestParse(t *testing.T) {
	fx := cmdtest.New(t)
	for _, tc := range []struct {
		args []string
		verb string
		want Options
	}{
		{nil, "list", Options{}},
		{[]string{"list", "--json"}, "list", Options{JSON: true}},
		{[]string{"ls"}, "list", Options{}},
		{[]string{"show", "claude"}, "show", Options{Name: "claude"}},
	} {
		var verb string
		var got *Options
		r := fx.Run(NewCmd(fx.F, func(v string, o *Options) error { verb, got = v, o; return nil }), nil, tc.args...)
		if r.Code != 0 || verb != tc.verb || got == nil || got.JSON != tc.want.JSON || got.Name != tc.want.Name {
			t.Errorf("agents %q: %+v verb %q opts %+v", tc.args, r, verb, got)
		}
	}
	if r := fx.Run(NewCmd(fx.F, nil), nil, "show"); r.Code != 2 {
		t.Errorf("show with no RECIPE: %+v", r)
	}
}

// TestListJSON: a file that shadows a built-in recipe says so, and the
// others are built-in.
func TestListJSON(t *testing.T) {
	fx := cmdtest.New(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gemini.yaml"), []byte("version: 1\nname: gemini\ncommand: [gemini, --model, x]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := NewCmd(fx.F, func(verb string, o *Options) error {
		o.Dirs = func() ([]string, error) { return []string{dir}, nil }
		return runList(o)
	})
	r := fx.Run(cmd, nil, "list", "--json")
	var got []Entry
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || r.Code != 0 || len(got) != 3 {
		t.Fatalf("%v %+v", err, r)
	}
	if g := got[2]; g.Name != "gemini" || g.From != filepath.Join(dir, "gemini.yaml") || !g.Shadows || len(g.Command) != 3 {
		t.Errorf("gemini: %+v", g)
	}
	if c := got[0]; c.Name != "claude" || c.From != "built-in" || c.Shadows || c.Description != "Anthropic's Claude Code" {
		t.Errorf("claude: %+v", c)
	}
}
