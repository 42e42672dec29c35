// Package version is `bottle version`.
package version

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Info is what `bottle version --json` prints (fields are only ever added).
type Info struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Options are `bottle version`'s dependencies and flags.
type Options struct {
	IO    *cmdutil.IOStreams
	Build cmdutil.Build
	// BuildInfo reads the binary's build information; if nil,
	// debug.ReadBuildInfo.
	BuildInfo func() (*debug.BuildInfo, bool)

	JSON bool // --json
}

// NewCmd returns `bottle version`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Build: f.Build, BuildInfo: debug.ReadBuildInfo}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print bottle's version",
		Example: `  bottle version
  bottle version --json`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

// info is the binary's version: the stamped one, else the module's, else
// "devel"; with the commit when the build recorded one.
func info(opts *Options) Info {
	v := Info{Version: opts.Build.Version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	read := opts.BuildInfo
	if read == nil {
		read = debug.ReadBuildInfo
	}
	if bi, ok := read(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Commit = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}

func run(opts *Options) error {
	v := info(opts)
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	_, err := fmt.Fprintln(opts.IO.Out, v.line())
	return err
}

// Line is what `bottle version` prints, without the newline: `bottle
// --version` prints it too.
func Line(b cmdutil.Build) string {
	return info(&Options{Build: b}).line()
}

// line is v as one line of text.
func (v Info) line() string {
	commit := ""
	if v.Commit != "" {
		commit = " (" + v.Commit[:min(12, len(v.Commit))]
		if v.Modified {
			commit += ", modified"
		}
		commit += ")"
	}
	return fmt.Sprintf("bottle %s%s %s %s", v.Version, commit, v.Go, v.Platform)
}
