package allowlist

// Credentials and DLP settings of an allowlist: which secret may be sent
// where (the `credentials:` section), and how request contents are scanned
// for secrets (`dlp:` at the top and on host rules). The values themselves
// never appear in an allowlist: a credential names only its Source, which
// the host resolves at launch and hands to the sidecar alone (package
// secret).

// CredentialKind is how a credential is put on a request.
type CredentialKind uint8

const (
	CredHeader CredentialKind = iota + 1 // `header: X`: the header X is set to the value
	CredBearer                           // `bearer: true`: Authorization: Bearer <value>
	CredBasic                            // `basic_user: U`: Authorization: Basic base64(U:<value>)
	CredQuery                            // `query: Q`: the query parameter Q is set to the value
	CredAWS                              // `aws:`: AWS Signature V4, re-signed with the real key
)

func (k CredentialKind) String() string {
	switch k {
	case CredHeader:
		return "header"
	case CredBearer:
		return "bearer"
	case CredBasic:
		return "basic"
	case CredQuery:
		return "query"
	case CredAWS:
		return "aws"
	}
	return "unknown"
}

// Source is where a secret's value comes from on the host: `env:VAR`,
// `file:PATH`, `command:ARGV` or `keychain:SERVICE[/ACCOUNT]`.
type Source struct {
	Scheme string // "env", "file", "command", "keychain"; "" for no source
	Ref    string // what follows the colon, as written
}

func (s Source) String() string {
	if s.Scheme == "" {
		return ""
	}
	return s.Scheme + ":" + s.Ref
}

// Credential is one entry of `credentials:`, validated and normalised.
type Credential struct {
	Name      string
	Kind      CredentialKind
	Header    string // CredHeader: the header, in canonical form ("X-Api-Key")
	BasicUser string // CredBasic: the user name sent with the value as password
	Query     string // CredQuery: the query parameter's name
	Source    Source // every kind but CredAWS

	// CredAWS: the access key id, the secret access key and, optionally
	// (Scheme ""), the session token.
	AccessKeyID, SecretAccessKey, SessionToken Source

	// AgentEnv is the variable in which the agent gets the credential's
	// placeholder ("" for none). A CredAWS credential always gives the agent
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN when
	// it has a token), and has no AgentEnv.
	AgentEnv string

	Line, Col int // position of the entry in its file

	// Origin is the entry's `origin:`, as on a Rule ("agent claude").
	Origin string

	hosts []hostPattern
}

// DLPMode says what pattern detection of secrets in requests does.
type DLPMode uint8

const (
	DLPReport DLPMode = iota // the default: a finding is audited as would-deny, the request goes on
	DLPBlock                 // a finding refuses the request
	DLPOff                   // no pattern detection
)

func (m DLPMode) String() string {
	switch m {
	case DLPBlock:
		return "block"
	case DLPOff:
		return "off"
	}
	return "report"
}

// Hosts returns the credential's host patterns in canonical form
// ("*.example.com"), in file order.
func (c *Credential) Hosts() []string {
	out := make([]string, len(c.hosts))
	for i, h := range c.hosts {
		out[i] = h.String()
	}
	return out
}

// Matches reports whether the credential is bound to host, a name as
// Request.Host holds it. An IP address never matches: credentials are bound
// to names.
func (c *Credential) Matches(host string) bool {
	n, err := NormalizeName(host)
	if err != nil {
		return false
	}
	for _, h := range c.hosts {
		if h.match(n) {
			return true
		}
	}
	return false
}

// Credentials returns the policy's credentials in file order. The slice must
// not be modified.
func (p *Policy) Credentials() []*Credential { return p.creds }

// CredentialsFor returns the credentials bound to host (see
// Credential.Matches), in file order.
func (p *Policy) CredentialsFor(host string) []*Credential {
	if len(p.creds) == 0 {
		return nil
	}
	n, err := NormalizeName(host)
	if err != nil {
		return nil
	}
	var out []*Credential
	for _, c := range p.creds {
		for _, h := range c.hosts {
			if h.match(n) {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// DLP returns the file's `dlp:` setting (DLPReport when it has none).
func (p *Policy) DLP() DLPMode { return p.dlp }

// DLPFor returns the DLP setting for req: that of the allow rule that admits
// it when the rule has `dlp:`, else the file's. A request no rule admits
// (including one let through in report mode) gets the file's.
func (p *Policy) DLPFor(req Request) DLPMode {
	if !p.ruleDLP {
		return p.dlp
	}
	if _, r := p.decide(req); r != nil && r.HasDLP {
		return r.DLP
	}
	return p.dlp
}
