// Package initcmd is `bottle ca init`: mint a CA into a directory. (A
// package cannot be named init.)
package initcmd

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// Options are `bottle ca init`'s dependencies and flags.
type Options struct {
	IO   *cmdutil.IOStreams
	Dir  string // --dir
	Name string // --name
	Days int    // --days
}

// NewCmd returns `bottle ca init`. With runF, the parsed options go there
// instead (tests).
func NewCmd(f *cmdutil.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams}
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--name NAME]",
		Short: "Mint a new CA into DIR (ca.crt, and ca.key with mode 0600)",
		Long: `Mint a new ECDSA P-256 CA into DIR: ca.crt (the certificate, to trust) and
ca.key (the key, mode 0600). An existing CA in DIR is never overwritten.
The CA is valid for --days (default 365): longer than any bottle lives.`,
		Example: `  bottle ca init --dir ./state --name demo
  bottle ca init --dir /tmp/ca --days 30`,
		Args: cmdutil.ExactArgs(0, "no arguments (use --dir)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Dir == "" {
				return cmdutil.UsageErrorf("--dir is required: the directory to create the CA in")
			}
			if opts.Days < 1 {
				return cmdutil.UsageErrorf("--days %d: a CA must be valid for at least one day", opts.Days)
			}
			if runF != nil {
				return runF(opts)
			}
			return run(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory for ca.crt and ca.key (created 0700 if missing)")
	cmd.MarkFlagDirname("dir")
	cmd.Flags().StringVar(&opts.Name, "name", "", "bottle name for the CA's subject (default: the directory's name)")
	cmd.Flags().IntVar(&opts.Days, "days", int(ca.DefaultLifetime/(24*time.Hour)), "days the CA is valid")
	return cmd
}

func run(opts *Options) error {
	name := opts.Name
	if name == "" {
		abs, err := filepath.Abs(opts.Dir)
		if err != nil {
			return err
		}
		name = filepath.Base(abs)
	}
	c, err := ca.New(name, time.Duration(opts.Days)*24*time.Hour)
	if err != nil {
		return err
	}
	if err := c.Save(opts.Dir); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.Out, "created CA %q in %s (valid until %s)\n  certificate: %s\n  key:         %s (mode 0600)\n  sha256:      %s\n",
		c.Cert.Subject.CommonName, opts.Dir, c.Cert.NotAfter.Format(time.DateOnly),
		filepath.Join(opts.Dir, ca.CertFile), filepath.Join(opts.Dir, ca.KeyFile), c.Fingerprint())
	return nil
}
