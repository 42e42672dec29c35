package cmdutil

import (
	"path/filepath"
	"strings"
)

// Env is the BOTTLE_* (and XDG) environment, read once (ReadEnv, from
// main) and handed down through the Factory.
type Env struct {
	Backend    string   // BOTTLE_BACKEND
	BuilderDNS []string // BOTTLE_BUILDER_DNS: resolvers for Apple's image builder
	StateDir   string   // $XDG_STATE_HOME/bottle, else ~/.local/state/bottle
	AgentBase  string   // BOTTLE_AGENT_BASE
	// AptDir is BOTTLE_APT_DIR: where the debian preset reads apt's
	// sources instead of /etc/apt (a chroot's, or a test's).
	AptDir string
}

// ReadEnv reads the environment through getenv; home is the user's home
// directory (used when XDG_STATE_HOME is not set).
func ReadEnv(getenv func(string) string, home func() (string, error)) Env {
	e := Env{Backend: getenv("BOTTLE_BACKEND"), AgentBase: getenv("BOTTLE_AGENT_BASE"), AptDir: getenv("BOTTLE_APT_DIR")}
	if v := getenv("BOTTLE_BUILDER_DNS"); v != "" {
		e.BuilderDNS = strings.Split(v, ",")
	}
	state := getenv("XDG_STATE_HOME")
	if state == "" {
		h, _ := home()
		state = filepath.Join(h, ".local", "state")
	}
	e.StateDir = filepath.Join(state, "bottle")
	return e
}
