package allow

import (
	"slices"
	"testing"

	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

func TestNewCmd(t *testing.T) {
	fx := cmdtest.New(t)
	var names []string
	for _, c := range NewCmd(fx.F).Commands() {
		names = append(names, c.Name())
	}
	if !slices.Equal(names, []string{"add", "check", "list", "presets", "rm", "validate"}) {
		t.Errorf("allow's verbs: %q", names)
	}
}
