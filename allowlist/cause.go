package allowlist

import "strconv"

// Cause says why a decision came out as it did, as a value: tests assert it,
// and the audit log writes its String under the key "cause", so that a
// script can count denials by kind without parsing Reason, which is the
// human text derived for the same decision.
//
// The policy sets the causes of its own decisions (CauseAllowed and the
// ones up to CauseBadPathParams); the proxy and the DNS forwarder set the
// others, for what they refuse whatever the rules say.
type Cause uint8

const (
	// CauseUnknown is the zero value: no decision is made with it, so seeing
	// it means a decision was built without saying why.
	CauseUnknown Cause = iota
	// CauseAllowed: nothing refuses it. A rule allows the target (or, for
	// CheckDst, the address may be reached). In report mode a decision that
	// lets traffic through but would deny it carries the cause of the
	// denial instead.
	CauseAllowed

	// What the policy decides.
	CauseNoRule          // no rule covers the host (an IP literal needs a cidr rule)
	CausePort            // a rule covers the host, but not the port
	CauseMethod          // a rule covers the host and port, but not the method
	CausePath            // a rule covers the host, port and method, but not the path
	CauseDenyRule        // a deny rule matches the target
	CauseDenyCIDR        // the name resolved into a range a deny cidr rule names
	CauseSpecialAddress  // the name resolved to a loopback, private, link-local, … address no cidr rule allows
	CauseBadName         // the host is not a valid name
	CauseBadPathEscape   // the path has a malformed percent-escape
	CauseBadPathEncoding // the path is percent-encoded more times than decoding is tried
	CauseBadPathControl  // the path holds a control character
	CauseBadPathParams   // a "." or ".." segment with ;parameters ("/..;/"), which servlet servers climb

	// What the proxy decides on its own.
	CauseOwnAddress      // the target is one of the proxy's own listening addresses
	CauseFronting        // a request inside a tunnel names another host or port than the CONNECT
	CauseHostMismatch    // a request's Host header names another host or port than its target
	CauseSNIMismatch     // a passthrough ClientHello's SNI names another host than the CONNECT
	CauseSNIMissing      // a passthrough ClientHello without SNI, where the rule requires one
	CauseBadClientHello  // a passthrough tunnel that starts with a malformed TLS ClientHello
	CauseBadTarget       // a CONNECT or request target that is not HOST[:PORT]
	CauseConnectInTunnel // a CONNECT sent inside an intercepted tunnel
	CauseNotPassthrough  // an open passthrough tunnel whose target the policy now intercepts

	// What the DNS forwarder decides on its own.
	CauseDNSOpcode // an opcode other than QUERY
	CauseDNSClass  // a class other than IN
	CauseDNSType   // a query type the forwarder does not forward

	// What the proxy decides about secrets in a request (secret/guard, DLP).
	CauseCredentialMisuse // a credential's placeholder sent to a host the credential is not bound to
	CauseSecretLeak       // a credential's real value (or an encoding of it) in a request, to any host
	CauseDLP              // a well-known secret format (a DLP pattern) in a request

	// What the git gate decides about a push (package gitgate).
	CauseGitRef    // a push creates, updates or deletes a ref the repository's `push:`/`delete:` does not allow
	CauseGitSecret // pushed content (a blob, a commit message) holds a secret: a credential's value or a DLP pattern
	CauseGitPack   // a push the gate cannot inspect: too large, malformed, or a thin pack whose bases it lacks
	CauseGitSSH    // git over SSH (a passthrough tunnel) to the host of a declared repository, which would bypass the gate

	numCauses
)

// causeKeys are the String forms. They are part of the audit log's format
// (scripts match on them): renaming one is a change of that format. The
// numeric values are part of no format, so a new cause may go where it
// reads best.
var causeKeys = [numCauses]string{
	CauseUnknown:         "unknown",
	CauseAllowed:         "allowed",
	CauseNoRule:          "no-rule",
	CausePort:            "port-not-covered",
	CauseMethod:          "method-not-covered",
	CausePath:            "path-not-covered",
	CauseDenyRule:        "deny-rule",
	CauseDenyCIDR:        "deny-cidr",
	CauseSpecialAddress:  "special-address",
	CauseBadName:         "bad-name",
	CauseBadPathEscape:   "bad-path-escape",
	CauseBadPathEncoding: "bad-path-encoding",
	CauseBadPathControl:  "bad-path-control",
	CauseBadPathParams:   "bad-path-params",
	CauseOwnAddress:      "own-address",
	CauseFronting:        "fronting",
	CauseHostMismatch:    "host-mismatch",
	CauseSNIMismatch:     "sni-mismatch",
	CauseSNIMissing:      "sni-missing",
	CauseBadClientHello:  "bad-client-hello",
	CauseBadTarget:       "bad-target",
	CauseConnectInTunnel: "connect-in-tunnel",
	CauseNotPassthrough:  "not-passthrough",
	CauseDNSOpcode:       "dns-opcode",
	CauseDNSClass:        "dns-class",
	CauseDNSType:         "dns-type",

	CauseCredentialMisuse: "credential-misuse",
	CauseSecretLeak:       "secret-leak",
	CauseDLP:              "dlp",

	CauseGitRef:    "git-ref",
	CauseGitSecret: "git-secret",
	CauseGitPack:   "git-pack",
	CauseGitSSH:    "git-ssh",
}

// String returns the cause's constant kebab-case key ("no-rule",
// "sni-mismatch").
func (c Cause) String() string {
	if c < numCauses {
		return causeKeys[c]
	}
	return "cause-" + strconv.Itoa(int(c))
}
