// Package contract holds what the bottle CLI (the host) and bottle-sidecar
// (the appliance) must agree on, in one place: the sidecar's run flags, the
// probe's exit codes, the names of the files and directories of a bottle's
// state, and the reload status file. Each side uses these names and never
// spells them out by hand; a round-trip test keeps the flags honest.
package contract

// Ports the sidecar serves on its internal address.
const (
	ProxyPort = 3128
	DNSPort   = 53
	// MCPPort serves the supervise MCP server (streamable HTTP, path
	// MCPPath): the agent's MCP_SUPERVISE_URL.
	MCPPort = 3129
)

// MCPPath is the path of the supervise MCP endpoint.
const MCPPath = "/mcp"

// Inside the sidecar: where the host's directories are mounted.
const (
	// SidecarConfigDir holds what the sidecar reads (read-only).
	SidecarConfigDir = "/etc/bottle"
	// SidecarStateDir is the sidecar's own writable state: the audit and
	// the reload status. The agent never sees it.
	SidecarStateDir = "/var/log/bottle"
	// SidecarSpoolDir is the git gate's spool (the host's spool/,
	// read-write, the sidecar's only): pushes are written there while
	// they are inspected, and removed at once after.
	SidecarSpoolDir = "/var/spool/bottle"
	// SidecarApprovalsDir is the approvals channel (the host's
	// approvals/, read-write, never mounted into the agent): package
	// approval says what is in it.
	SidecarApprovalsDir = "/var/lib/bottle/approvals"
)

// DefaultGitMaxPack is the largest push the git gate takes by default.
const DefaultGitMaxPack = 512 << 20

// Files in the config directory (SidecarConfigDir; the host's config/).
const (
	AllowlistFile  = "allowlist.yaml"  // the live policy
	UpstreamCAFile = "upstream-ca.pem" // optional extra roots for upstream TLS
	// CredentialsFile holds the resolved values of the allowlist's
	// credentials and their placeholders (package secret), mode 0600,
	// owned by the sidecar's user. It is the only file bottle writes that
	// holds a value; it is rewritten by `bottle secret refresh`, and the
	// sidecar reloads it like the allowlist.
	CredentialsFile = "credentials.json"
	// SelfTestFile names the launcher's self-test probe name while the
	// self-test runs, and exists at no other time (see SelfTestPrefix).
	SelfTestFile = "selftest"
	// The CA's files are ca.CertFile and ca.KeyFile (package ca owns them).
)

// Files in the sidecar's state directory (SidecarStateDir; the host's
// logs/).
const (
	AuditFile  = "egress.jsonl" // rotated to egress.jsonl.1 … (see audit.File)
	StatusFile = "reload.json"  // ReloadStatus
)

// SavedLogFile is the file in the log directory that holds a container's
// log, saved when the bottle stopped; role is "agent" or "sidecar".
func SavedLogFile(role string) string { return role + ".log" }

// The layout of one bottle's state directory on the host,
// $XDG_STATE_HOME/bottle/NAME/.
const (
	ConfigDir     = "config"      // mounted read-only at SidecarConfigDir
	LogDir        = "logs"        // mounted at SidecarStateDir; also the logs saved at stop
	AgentFilesDir = "agent-files" // the only files mounted into the agent
	SpoolDir      = "spool"       // mounted read-write at SidecarSpoolDir, the sidecar's only
	ApprovalsDir  = "approvals"   // mounted read-write at SidecarApprovalsDir; the host writes decisions there
	MetadataFile  = "bottle.json"
)

// Exit codes of `bottle-sidecar probe`, which the launcher's self-test
// reads to tell a working path from a blocked one, and a blocked one from a
// leak.
const (
	ProbeOK      = 0 // connected / got an answer
	ProbeUsage   = 2
	ProbeRefused = 3 // connection refused, or DNS NXDOMAIN/SERVFAIL
	ProbeTimeout = 4 // timed out, or no route to host
	ProbeBlocked = 5 // refused by bottle's policy (403 from the proxy, REFUSED from the forwarder)
	ProbeError   = 6 // anything else (TLS failure, bad URL, …)
)

// RawTunnelHeader, sent on a CONNECT with the value "raw", says the
// tunnel will carry no HTTP (bottle-probe connect and forward relay ssh
// or a database protocol): a CONNECT the policy refuses is then answered
// with its 403, not opened to show the readable 403 inside TLS.
const RawTunnelHeader = "X-Bottle-Tunnel"

// ProbeWord names a probe exit code, as the probe prints it.
func ProbeWord(code int) string {
	switch code {
	case ProbeOK:
		return "ok"
	case ProbeRefused:
		return "refused"
	case ProbeTimeout:
		return "timeout"
	case ProbeBlocked:
		return "blocked"
	case ProbeError:
		return "error"
	case ProbeUsage:
		return "usage"
	}
	return "unknown"
}

// SelfTestPrefix begins the name the launcher's self-test asks the sidecar
// for, and is refused: SelfTestPrefix + a random token + ".invalid". While
// the self-test runs, the config directory's SelfTestFile holds that name,
// and the sidecar marks its audit lines about it as the self-test's
// (audit.Record.SelfTest), which `bottle logs --egress` leaves out. Nothing
// else is marked: the agent cannot know the token, never sees the file,
// and nothing from its image runs before the self-test is over and the
// file removed.
const SelfTestPrefix = "bottle-self-test-"
