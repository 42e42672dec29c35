//go:build parser

package guard

import (
	"fmt"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/secret"
)

// New compiles the credentials of a policy (in its file order) with their
// values from f (nil: none). A credential of the policy without a value in
// f is not injected; Missing names it. A value in f that the policy does
// not declare is ignored: where a credential may go is the policy's alone.
func New(creds []*allowlist.Credential, f *secret.File) (*Set, error) {
	var in []*cred
	var missing []string
	for _, c := range creds {
		var v *secret.Value
		if f != nil {
			v, _ = f.Lookup(c.Name)
		}
		if v == nil {
			missing = append(missing, c.Name)
			continue
		}
		if (c.Kind == allowlist.CredAWS) != (v.AWS != nil) {
			return nil, fmt.Errorf("credential %s: the policy declares it of kind %s, but the credentials file has %s; run `bottle secret refresh` to rewrite the file", c.Name, c.Kind, describe(v))
		}
		in = append(in, &cred{name: c.Name, kind: c.Kind, header: c.Header, basicUser: c.BasicUser, query: c.Query,
			hosts: c.Hosts(), matches: c.Matches, value: v.Value, placeholder: v.Placeholder, aws: v.AWS})
	}
	s, err := compile(in)
	if err != nil {
		return nil, err
	}
	s.missing = missing
	return s, nil
}

func describe(v *secret.Value) string {
	if v.AWS != nil {
		return "aws keys"
	}
	return "a single value"
}
