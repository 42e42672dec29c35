package contract

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
)

// DefaultAuditMaxBytes is the size at which the audit file rotates.
const DefaultAuditMaxBytes = 16 << 20

// RunOptions are the flags of `bottle-sidecar run`. The launcher renders
// them with Args; the sidecar reads them with ParseRun: one definition for
// both.
type RunOptions struct {
	ConfigDir     string // --config-dir: allowlist.yaml, ca.crt, ca.key, upstream-ca.pem
	ProxyListen   string // --proxy-listen
	DNSListen     string // --dns-listen ("": no DNS)
	InternalCIDR  string // --internal-cidr: bind there only, serve only peers there
	UpstreamDNS   string // --upstream-dns HOST:PORT[,HOST:PORT]
	UpstreamCA    string // --upstream-ca FILE
	AuditLog      string // --audit-log FILE ("": stdout)
	AuditMaxBytes int64  // --audit-max-bytes
	StatusFile    string // --status-file FILE (ReloadStatus)
	Bottle        string // --bottle NAME, in audit lines and in the hints of denials
	ResolvConf    string // --resolv-conf: upstreams when UpstreamDNS is empty
	Verbose       bool   // -v
	// GitSpool is where the git gate spools a push while it inspects it
	// (private to the sidecar, on disk: SidecarSpoolDir); "" is the
	// system's temporary directory.
	GitSpool   string // --git-spool DIR
	GitMaxPack int64  // --git-max-pack BYTES: the largest push the gate takes (DefaultGitMaxPack)
	// ApprovalDir is the approvals channel (package approval;
	// SidecarApprovalsDir): "" means none, and a denial is never held.
	ApprovalDir string // --approval-dir DIR
	// Approvals overrides the allowlist's `approvals:` ("ask" or "off");
	// "" leaves it to the allowlist (`bottle launch --approvals ask`).
	Approvals string // --approvals ask|off
	// MCPListen is where the supervise MCP server listens ("": none); it
	// binds inside InternalCIDR like the proxy.
	MCPListen string // --mcp-listen
}

// DefaultRunOptions are the values of flags not given.
func DefaultRunOptions() RunOptions {
	return RunOptions{
		ConfigDir: SidecarConfigDir, ProxyListen: fmt.Sprintf(":%d", ProxyPort), DNSListen: fmt.Sprintf(":%d", DNSPort),
		AuditMaxBytes: DefaultAuditMaxBytes, ResolvConf: "/etc/resolv.conf", GitMaxPack: DefaultGitMaxPack,
		MCPListen: fmt.Sprintf(":%d", MCPPort),
	}
}

// flags binds o's fields to a flag set. Args renders from the same table,
// so a flag cannot exist on one side only.
func (o *RunOptions) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.ConfigDir, "config-dir", o.ConfigDir, "directory with allowlist.yaml, ca.crt, ca.key")
	fs.StringVar(&o.ProxyListen, "proxy-listen", o.ProxyListen, "address the proxy listens on")
	fs.StringVar(&o.DNSListen, "dns-listen", o.DNSListen, "address the DNS forwarder listens on (UDP and TCP); empty: no DNS")
	fs.StringVar(&o.InternalCIDR, "internal-cidr", o.InternalCIDR, "bind only to this machine's addresses inside CIDR (the internal network), never the egress side, and serve only peers inside it")
	fs.StringVar(&o.UpstreamDNS, "upstream-dns", o.UpstreamDNS, "comma-separated resolvers (HOST:PORT) for upstream names; default: the sidecar's resolv.conf")
	fs.StringVar(&o.UpstreamCA, "upstream-ca", o.UpstreamCA, "PEM file of extra roots trusted for upstream TLS")
	fs.StringVar(&o.AuditLog, "audit-log", o.AuditLog, "append audit JSON lines to this file (rotated at --audit-max-bytes, 3 old files kept) instead of stdout")
	fs.Int64Var(&o.AuditMaxBytes, "audit-max-bytes", o.AuditMaxBytes, "size at which the audit file is rotated")
	fs.StringVar(&o.StatusFile, "status-file", o.StatusFile, "write the outcome of every policy load here (JSON, replaced atomically)")
	fs.StringVar(&o.Bottle, "bottle", o.Bottle, "bottle name, for audit lines and for the commands denials suggest (bottle allow add … --bottle NAME)")
	fs.StringVar(&o.ResolvConf, "resolv-conf", o.ResolvConf, "resolv.conf to read upstream resolvers from when --upstream-dns is not given")
	fs.BoolVar(&o.Verbose, "v", o.Verbose, "debug logging")
	fs.StringVar(&o.GitSpool, "git-spool", o.GitSpool, "directory where the git gate spools a push while it inspects it (default: the system's temporary directory)")
	fs.Int64Var(&o.GitMaxPack, "git-max-pack", o.GitMaxPack, "the largest git push (request body, in bytes) the gate accepts")
	fs.StringVar(&o.ApprovalDir, "approval-dir", o.ApprovalDir, "the approvals channel shared with the host (pending requests, decisions); empty: denials are never held")
	fs.StringVar(&o.Approvals, "approvals", o.Approvals, "ask or off: overrides the allowlist's approvals: (empty: the allowlist decides)")
	fs.StringVar(&o.MCPListen, "mcp-listen", o.MCPListen, "address the supervise MCP server listens on (bound inside --internal-cidr); empty: no MCP server")
}

// Args is the argv of `bottle-sidecar run` with o: every flag whose value
// differs from the default, in the order of their names.
func (o RunOptions) Args() []string {
	def := DefaultRunOptions()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	def.flags(fs)
	cur := flag.NewFlagSet("run", flag.ContinueOnError)
	o.flags(cur)
	args := []string{"run"}
	cur.VisitAll(func(f *flag.Flag) {
		if f.Value.String() == fs.Lookup(f.Name).DefValue {
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			args = append(args, "-"+f.Name+"="+f.Value.String())
			return
		}
		args = append(args, "--"+f.Name, f.Value.String())
	})
	return args
}

// ErrHelp is returned by ParseRun for -h and --help, after the usage was
// printed.
var ErrHelp = flag.ErrHelp

// ParseRun reads the flags of `bottle-sidecar run` (args after "run").
// Every error, and the usage, is printed to stderr before it is returned.
func ParseRun(args []string, usage string, stderr io.Writer) (RunOptions, error) {
	o := DefaultRunOptions()
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	case o.GitMaxPack <= 0:
		err = errors.New("--git-max-pack " + strconv.FormatInt(o.GitMaxPack, 10) + ": want a positive size in bytes")
	case o.Approvals != "" && o.Approvals != "ask" && o.Approvals != "off":
		err = fmt.Errorf("--approvals %q: want ask or off", o.Approvals)
	case o.AuditMaxBytes <= 0:
		err = errors.New("--audit-max-bytes " + strconv.FormatInt(o.AuditMaxBytes, 10) + ": want a positive size in bytes")
	}
	if err != nil {
		fmt.Fprintf(stderr, "bottle-sidecar run: %v\n", err)
	}
	return o, err
}
