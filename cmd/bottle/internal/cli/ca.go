package cli

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"bottle.dev/bottle/ca"
	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/launcher"
)

func newCACmd(ios *IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ca",
		Short: "Create and export a bottle's certificate authority",
		Long: `Each bottle has its own CA: the proxy signs the certificates the agent sees
with it, and only that bottle's agent trusts it. The key never leaves the
host's state directory and the sidecar.`,
		Example: `  bottle ca init --dir ./state --name demo
  bottle ca export --dir ./state > bottle-ca.pem
  bottle ca export --dir ./state --fingerprint`,
	}
	cmd.AddCommand(newCAInitCmd(ios), newCAExportCmd(ios))
	return cmd
}

type caInitOptions struct {
	IO   *IOStreams
	Dir  string
	Name string
	Days int
}

func newCAInitCmd(ios *IOStreams) *cobra.Command {
	opts := &caInitOptions{IO: ios}
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--name NAME]",
		Short: "Mint a new CA into DIR (ca.crt, and ca.key with mode 0600)",
		Long: `Mint a new ECDSA P-256 CA into DIR: ca.crt (the certificate, to trust) and
ca.key (the key, mode 0600). An existing CA in DIR is never overwritten.
The CA is valid for --days (default 365): longer than any bottle lives.`,
		Example: `  bottle ca init --dir ./state --name demo
  bottle ca init --dir /tmp/ca --days 30`,
		Args: exactArgs(0, "no arguments (use --dir)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Dir == "" {
				return usageErrorf("--dir is required: the directory to create the CA in")
			}
			if opts.Days < 1 {
				return usageErrorf("--days %d: a CA must be valid for at least one day", opts.Days)
			}
			return caInitRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory for ca.crt and ca.key (created 0700 if missing)")
	cmd.Flags().StringVar(&opts.Name, "name", "", "bottle name for the CA's subject (default: the directory's name)")
	cmd.Flags().IntVar(&opts.Days, "days", int(ca.DefaultLifetime/(24*time.Hour)), "days the CA is valid")
	return cmd
}

func caInitRun(opts *caInitOptions) error {
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

type caExportOptions struct {
	IO          *IOStreams
	Dir         string
	Bottle      string
	Out         string
	DER         bool
	Fingerprint bool
}

func newCAExportCmd(ios *IOStreams) *cobra.Command {
	opts := &caExportOptions{IO: ios}
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
		Args: exactArgs(0, "no arguments (use --dir)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Bottle != "" {
				if err := launcher.ValidName(opts.Bottle); err != nil {
					return &exitError{code: ExitUsage, err: fmt.Errorf("--bottle: %w", err)}
				}
				l := launcher.Launcher{StateDir: readEnv().StateDir}
				opts.Dir = l.ConfigDir(opts.Bottle)
			}
			if opts.Dir == "" {
				return usageErrorf("--dir or --bottle is required: where the CA is")
			}
			return caExportRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory holding ca.crt")
	cmd.Flags().StringVar(&opts.Bottle, "bottle", "", "the CA of this bottle")
	cmd.MarkFlagsMutuallyExclusive("dir", "bottle")
	cmd.Flags().StringVarP(&opts.Out, "out", "o", "", "write to FILE instead of stdout")
	cmd.Flags().BoolVar(&opts.DER, "der", false, "DER (binary) instead of PEM")
	cmd.Flags().BoolVar(&opts.Fingerprint, "fingerprint", false, "print the SHA-256 fingerprint only")
	return cmd
}

func caExportRun(opts *caExportOptions) error {
	_, der, err := ca.LoadCert(opts.Dir)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
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
