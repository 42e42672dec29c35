package shared

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/launcher"
	"bottle.dev/bottle/preset"
)

// PresetEnv is where the presets read the user's configuration on this
// machine: the tools on PATH (npm, go), the user's environment and home,
// and apt's sources (BOTTLE_APT_DIR, else /etc/apt).
func PresetEnv(f *cmdutil.Factory) *preset.Env {
	home, _ := os.UserHomeDir()
	return &preset.Env{
		LookPath: exec.LookPath,
		Output: func(ctx context.Context, argv []string) ([]byte, error) {
			var out bytes.Buffer
			err := launcher.ExecRunner{}.Run(ctx, launcher.Cmd{Argv: argv, Stdout: &out})
			var re *launcher.RunError
			if errors.As(err, &re) {
				said := strings.TrimSpace(re.Stderr)
				if said == "" {
					said = re.Err.Error()
				}
				return nil, fmt.Errorf("exit %d: %s", re.ExitCode, termsafe.Line(said))
			}
			return out.Bytes(), err
		},
		Getenv: func(k string) string { v, _ := f.Lookup(k); return v },
		Home:   home,
		AptDir: f.Env.AptDir,
	}
}
