// Package doctor is `bottle doctor`: which backends work here, and why the
// others do not.
package doctor

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle doctor`'s dependencies and flags.
type Options struct {
	IO *cmdutil.IOStreams
	// Diagnose checks every backend.
	Diagnose func(ctx context.Context) []cmdutil.Diagnosis
	// Sidecar says where a launch would take bottle-sidecar from, or why
	// it finds none (launcher.FindSidecar).
	Sidecar func() (string, error)
	Env     cmdutil.Env

	JSON bool // --json
}

// JSON is what `bottle doctor --json` prints (fields are only ever added).
type JSON struct {
	Backends      []BackendJSON `json:"backends"`
	StateDir      string        `json:"state_dir"`
	BottleBackend string        `json:"bottle_backend,omitempty"` // $BOTTLE_BACKEND, when set
	Sidecar       SidecarJSON   `json:"sidecar"`
}

// SidecarJSON is where a launch would take bottle-sidecar from.
type SidecarJSON struct {
	OK     bool   `json:"ok"`
	Path   string `json:"path,omitempty"`   // the binary, or how it would be built
	Reason string `json:"reason,omitempty"` // where bottle looked, and how to fix it
}

// BackendJSON is what doctor found of one backend.
type BackendJSON struct {
	Name    string `json:"name"`              // "docker", "macos-container"
	OK      bool   `json:"ok"`                // usable here
	Version string `json:"version,omitempty"` // of a usable one: the engine's (docker), the CLI's (container)
	Reason  string `json:"reason,omitempty"`  // why one is not usable, and what to do
}

// NewCmd returns `bottle doctor`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Diagnose: f.Diagnose, Env: f.Env, Sidecar: func() (string, error) { return launcher.FindSidecar(f.SidecarBinary) }}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Say which backends work here, and why the others do not",
		Long: `Say which backends work here, and for the others why not and what to do;
and where a launch takes bottle-sidecar from (the sidecar's binary, also
copied into the agent as its helper), or where it looked and how to fix it.
Exit status 1 when no backend works, or there is no bottle-sidecar.

--json prints the same as one JSON object: backends (each with name, ok,
and version or reason), state_dir, bottle_backend when BOTTLE_BACKEND is
set, and sidecar (ok, and path or reason).`,
		Example: `  bottle doctor
  bottle doctor --json | jq -r '.backends[] | select(.ok) | .name'`,
		Args: cmdutil.ExactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON (stable field names; see above)")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	ok := false
	out := JSON{Backends: []BackendJSON{}, StateDir: opts.Env.StateDir, BottleBackend: opts.Env.Backend}
	for _, d := range opts.Diagnose(ctx) {
		b := BackendJSON{Name: d.Backend, OK: d.Err == nil, Version: d.Version}
		ok = ok || b.OK
		if d.Err != nil {
			b.Reason, b.Version = d.Err.Error(), ""
		}
		out.Backends = append(out.Backends, b)
		if opts.JSON {
			continue
		}
		label := fmt.Sprintf("%-17s", d.Backend+":")
		if d.Err != nil {
			fmt.Fprintf(opts.IO.Out, "%s not usable: %v\n", label, d.Err)
			continue
		}
		fmt.Fprintf(opts.IO.Out, "%s ok (%s)\n", label, d.Detail)
	}
	path, serr := opts.Sidecar()
	out.Sidecar = SidecarJSON{OK: serr == nil, Path: path}
	if serr != nil {
		out.Sidecar.Reason = serr.Error()
	}
	if opts.JSON {
		if err := cmdutil.WriteJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else {
		if serr != nil {
			fmt.Fprintf(opts.IO.Out, "bottle-sidecar:   not found: %v\n", serr)
		} else {
			fmt.Fprintf(opts.IO.Out, "bottle-sidecar:   %s\n", path)
		}
		fmt.Fprintf(opts.IO.Out, "state directory:  %s\n", opts.Env.StateDir)
		if opts.Env.Backend != "" {
			fmt.Fprintf(opts.IO.Out, "BOTTLE_BACKEND:   %s\n", opts.Env.Backend)
		}
	}
	if !ok || serr != nil {
		return cmdutil.SilentExit(cmdutil.ExitError)
	}
	return nil
}
