// Package export is `bottle ca export`: print a CA's certificate, never its
// key.
package export

import (
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/launcher"
)

// Options are `bottle ca export`'s dependencies and flags.
type Options struct {
	IO          *cmdutil.IOStreams
	StateDir    string // bottle's state directory, where --bottle's CA is
	Dir         string // --dir, or the directory of --bottle's CA
	Bottle      string // --bottle
	Out         string // --out
	DER         bool   // --der
	Fingerprint bool   // --fingerprint
}

// NewCmd returns `bottle ca export`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, StateDir: f.Env.StateDir}
	cmd := &cobra.Command{
		Use:   "export --dir DIR [--out FILE] [--der] [--fingerprint]",
		Short: "Print the CA certificate (never the key)",
		Long: `Print the CA certificate of DIR, PEM by default, to stdout or --out FILE.
The private key is never read. --fingerprint prints the SHA-256 fingerprint
instead, to compare with what a client shows.`,
		Example: `  bottle ca export --bottle demo > bottle-ca.pem
  bottle ca export --dir ./state > bottle-ca.pem
  bottle ca export --dir ./state --der --out bottle-ca.der
  bottle ca export --dir ./state --fingerprint
  curl --cacert <(bottle ca export --dir ./state) -x http://127.0.0.1:3128 https://api.example.com/`,
		Args: cmdutil.ExactArgs(0, "no arguments (use --dir)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Bottle != "" {
				if err := launcher.ValidName(opts.Bottle); err != nil {
					return cmdutil.UsageError(fmt.Errorf("--bottle: %w", err))
				}
				l := launcher.Launcher{StateDir: opts.StateDir}
				opts.Dir = l.ConfigDir(opts.Bottle)
			}
			if opts.Dir == "" {
				return cmdutil.UsageErrorf("--dir or --bottle is required: where the CA is")
			}
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory holding ca.crt")
	cmd.Flags().StringVar(&opts.Bottle, "bottle", "", "the CA of this bottle")
	cmd.MarkFlagsMutuallyExclusive("dir", "bottle")
	cmd.MarkFlagDirname("dir")
	cmd.RegisterFlagCompletionFunc("bottle", cmdutil.CompleteBottleFlag(&opts.StateDir, cmdutil.AllBottles))
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "", "write to FILE instead of stdout")
	cmd.Flags().BoolVar(&opts.DER, "der", false, "DER (binary) instead of PEM")
	cmd.Flags().BoolVar(&opts.Fingerprint, "fingerprint", false, "print the SHA-256 fingerprint only")
	return cmd
}

func run(opts *Options) error {
	if opts.Bottle != "" {
		l := launcher.Launcher{StateDir: opts.StateDir}
		if _, err := l.Load(opts.Bottle); errors.Is(err, launcher.ErrNoBottle) {
			return err // as every verb says it, exit 1
		}
	}
	_, der, err := ca.LoadCert(opts.Dir)
	if err != nil {
		return cmdutil.InvalidInput(err)
	}
	var data []byte
	switch {
	case opts.Fingerprint:
		data = []byte("sha256 " + ca.Fingerprint(der) + "\n")
	case opts.DER:
		data = der
	default:
		data = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	if opts.Out == "" {
		_, err := opts.IO.Out.Write(data)
		return err
	}
	if err := atomicfile.Write(opts.Out, data); err != nil {
		return fmt.Errorf("writing %s: %w", opts.Out, err)
	}
	fmt.Fprintf(opts.IO.Err, "wrote %s\n", opts.Out)
	return os.Chmod(opts.Out, 0o644)
}
