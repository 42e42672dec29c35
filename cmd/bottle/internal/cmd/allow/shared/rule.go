package shared

import (
	"github.com/spf13/cobra"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdutil"
)

// RuleFlags are the selectors shared by add and rm.
type RuleFlags struct {
	Ports       []uint   // --port
	Methods     []string // --method
	Paths       []string // --path
	Passthrough bool     // --passthrough
	SNIOptional bool     // --sni-optional
	Deny        bool     // --deny
}

// AddFlags adds the selectors to cmd.
func (f *RuleFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().UintSliceVarP(&f.Ports, "port", "p", nil, "port the rule covers (repeatable; default 80 and 443 for allow rules, every port for deny rules)")
	cmd.Flags().StringArrayVarP(&f.Methods, "method", "X", nil, "HTTP method the rule covers (repeatable; default every method)")
	cmd.Flags().StringArrayVar(&f.Paths, "path", nil, "path glob the rule covers: * is one segment, ** any depth (repeatable; default every path)")
	cmd.Flags().BoolVar(&f.Passthrough, "passthrough", false, "tunnel TLS without interception (the proxy checks only the name); no --method/--path")
	cmd.Flags().BoolVar(&f.SNIOptional, "sni-optional", false, "with --passthrough: let TLS clients that send no SNI through (by default the ClientHello must name the host)")
	cmd.Flags().BoolVar(&f.Deny, "deny", false, "edit the deny list instead of the allow list (deny always wins)")
}

// Spec is the rule the flags select for host.
func (f *RuleFlags) Spec(host string) (allowlist.RuleSpec, error) {
	s := allowlist.RuleSpec{Host: host, Methods: f.Methods, Paths: f.Paths, Passthrough: f.Passthrough, SNIOptional: f.SNIOptional, Deny: f.Deny}
	for _, p := range f.Ports {
		if p < 1 || p > 65535 {
			return s, cmdutil.UsageErrorf("--port %d is not a port; use a number from 1 to 65535", p)
		}
		s.Ports = append(s.Ports, uint16(p))
	}
	return s, nil
}

// RuleJSON is one rule as `bottle allow list --json` prints it (fields are
// only ever added).
type RuleJSON struct {
	ID           string   `json:"id"`
	List         string   `json:"list"`
	Host         string   `json:"host,omitempty"`
	CIDR         string   `json:"cidr,omitempty"`
	Ports        []uint16 `json:"ports"` // null: every port
	DefaultPorts bool     `json:"default_ports"`
	Methods      []string `json:"methods"` // null: every method
	Paths        []string `json:"paths"`   // null: every path
	TLS          string   `json:"tls,omitempty"`
	SNI          string   `json:"sni,omitempty"` // passthrough rules: "required" or "optional"
	Line         int      `json:"line"`
}

// ToJSON is r as RuleJSON.
func ToJSON(r *allowlist.Rule) RuleJSON {
	j := RuleJSON{ID: r.ID, List: "allow", Host: r.HostPattern(), Ports: r.Ports, DefaultPorts: r.DefaultPorts, Methods: r.Methods, Line: r.Line}
	if r.Deny {
		j.List = "deny"
	} else {
		j.TLS = "intercept"
		if r.Passthrough {
			j.TLS, j.SNI = "passthrough", "required"
			if r.SNIOptional {
				j.SNI = "optional"
			}
		}
	}
	if j.Host == "" {
		j.CIDR = r.CIDR.String()
	}
	if r.Paths != nil {
		j.Paths = r.PathGlobs()
	}
	return j
}

// RuleLine is a one-line description of a rule for confirmations (the one
// rendering every message uses: allowlist.Rule.String).
func RuleLine(r *allowlist.Rule) string { return r.String() }
