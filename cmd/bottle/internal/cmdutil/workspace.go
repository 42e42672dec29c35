package cmdutil

import (
	"github.com/spf13/pflag"

	"bottle.dev/bottle/launcher/workspace"
)

// MaxSizeFlag adds --max-size, the most of an agent's /workspace that
// diff, pull and stop copy out of its bottle (the agent may have made it
// huge to fill the host's disk), to fl; Limit reads it.
func MaxSizeFlag(fl *pflag.FlagSet, p *string) {
	fl.StringVar(p, "max-size", workspace.FormatSize(workspace.DefaultLimit.Bytes), "the most of /workspace to copy out of the bottle (k, m or g)")
}

// Limit is the workspace.Limit of a --max-size value; a bad one is a usage
// error.
func Limit(maxSize string) (workspace.Limit, error) {
	l := workspace.DefaultLimit
	if maxSize == "" {
		return l, nil
	}
	n, err := workspace.ParseSize(maxSize)
	if err != nil {
		return l, UsageErrorf("--max-size: %v", err)
	}
	l.Bytes = n
	return l, nil
}
