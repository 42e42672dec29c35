package approval

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/atomicfile"
)

// grantSet is the grants compiled into a policy of their own, so that
// they match exactly as the allowlist's rules do.
type grantSet struct {
	pol    *allowlist.Policy
	grants map[string]Grant // by the rule id of the rule it became ("allow[2]")
}

// grantsBase is the policy the grants are added to.
const grantsBase = "version: 1\nallow: []\n"

// compileGrants builds the set of gs, skipping (and returning) those
// whose rule the allowlist's editor refuses.
func compileGrants(gs []Grant) (*grantSet, []Grant) {
	data := []byte(grantsBase)
	var ids []Grant // by rule index
	var bad []Grant
	for _, g := range gs {
		r := g.Rule
		r.Deny = false // a grant only allows
		res, err := allowlist.Add(GrantsFile, data, r)
		if err != nil {
			bad = append(bad, g)
			continue
		}
		if res.Data == nil {
			continue // the same rule as an earlier grant
		}
		data = res.Data
		ids = append(ids, g)
	}
	if len(ids) == 0 {
		return nil, bad
	}
	pol, err := allowlist.Parse(GrantsFile, data)
	if err != nil {
		return nil, gs // cannot happen: every step was validated
	}
	s := &grantSet{pol: pol, grants: map[string]Grant{}}
	for i, r := range pol.Allow() {
		if i < len(ids) {
			s.grants[r.ID] = ids[i]
		}
	}
	return s, bad
}

// addGrant puts g in force (its file is saved by the caller).
func (b *Broker) addGrant(g Grant) {
	if g.Rule.Host == "" {
		b.log.Error("a decision's grant has no host; nothing granted", "id", g.ID)
		return
	}
	for i, x := range b.grants {
		if !sameRule(x.Rule, g.Rule) {
			continue
		}
		// The same rule granted again: one grant, for the longer time.
		if !x.Until.IsZero() && (g.Until.IsZero() || g.Until.After(x.Until)) {
			b.grants[i] = g
			b.compile()
		}
		return
	}
	if len(b.grants) >= MaxGrants {
		b.log.Error("too many session grants; nothing more granted (add rules with `bottle allow add`)", "id", g.ID, "max", MaxGrants)
		return
	}
	b.grants = append(b.grants, g)
	b.compile()
	b.log.Info("session grant", "id", g.ID, "rule", g.Rule.Args(), "until", g.Until)
}

// compile rebuilds the sets from b.grants, dropping any it refuses.
func (b *Broker) compile() {
	set, bad := compileGrants(b.grants)
	for _, g := range bad {
		b.log.Error("a session grant's rule is not valid; dropped", "id", g.ID, "rule", g.Rule.Args())
		b.grants = slices.DeleteFunc(b.grants, func(x Grant) bool { return x.ID == g.ID && sameRule(x.Rule, g.Rule) })
	}
	b.set = set
	// A CONNECT a grant admits opens a tunnel whose requests the grant
	// admits all (the proxy's tunnel approval): only a grant of every
	// method and path may.
	whole := slices.DeleteFunc(slices.Clone(b.grants), func(g Grant) bool { return len(g.Rule.Methods) > 0 || len(g.Rule.Paths) > 0 })
	b.connSet, _ = compileGrants(whole)
}

func sameRule(a, b allowlist.RuleSpec) bool {
	return a.Host == b.Host && slices.Equal(a.Ports, b.Ports) && slices.Equal(a.Methods, b.Methods) && slices.Equal(a.Paths, b.Paths) &&
		a.Passthrough == b.Passthrough && a.SNIOptional == b.SNIOptional
}

// pruneGrants drops the grants whose time is up.
func (b *Broker) pruneGrants(now time.Time) {
	n := len(b.grants)
	b.grants = slices.DeleteFunc(b.grants, func(g Grant) bool { return !g.Until.IsZero() && !now.Before(g.Until) })
	if len(b.grants) != n {
		b.compile()
		b.saveGrants()
	}
}

// saveGrants writes grants.json, so that a sidecar that restarts keeps
// them for the bottle's lifetime.
func (b *Broker) saveGrants() {
	data, err := json.MarshalIndent(grantsFile{Grants: b.grants}, "", "  ")
	if err == nil {
		err = atomicfile.Write(filepath.Join(b.dir, GrantsFile), append(data, '\n'))
	}
	if err != nil {
		b.log.Error("could not save the session grants; they hold until the sidecar restarts", "file", filepath.Join(b.dir, GrantsFile), "err", err)
	}
}

// loadGrants reads grants.json at start. An unreadable file grants
// nothing: the policy alone decides, which fails closed.
func (b *Broker) loadGrants() {
	gs, err := Grants(b.dir)
	if err != nil {
		b.log.Error("session grants not loaded; none is in force", "err", err)
		return
	}
	now := b.now()
	gs = slices.DeleteFunc(gs, func(g Grant) bool { return !g.Until.IsZero() && !now.Before(g.Until) })
	if len(gs) > MaxGrants {
		gs = gs[:MaxGrants]
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.grants = gs
	b.compile()
	if len(gs) > 0 {
		b.log.Info("session grants loaded", "count", len(b.grants))
	}
}

// Granted returns the id of the session grant that admits req, if one
// does: a CONNECT (Method "") as DecideConnect judges it, by a grant of
// every method and path, a request as Decide does. It is proxy.Approver's Granted.
func (b *Broker) Granted(req allowlist.Request) (string, bool) {
	b.mu.Lock()
	set := b.set
	if req.Method == "" {
		set = b.connSet
	}
	b.mu.Unlock()
	if set == nil {
		return "", false
	}
	var d allowlist.Decision
	if req.Method == "" {
		port := req.Port
		if port == 0 {
			port = allowlist.DefaultPort(req.Scheme)
		}
		d = set.pol.DecideConnect(req.Host, port)
	} else {
		d = set.pol.Decide(req)
	}
	if !d.Allowed || d.WouldDeny {
		return "", false
	}
	g, ok := set.grants[d.Rule]
	if !ok || !g.Until.IsZero() && !b.now().Before(g.Until) {
		return "", false
	}
	return g.ID, true
}

// ActiveGrants returns the session grants in force, oldest first.
func (b *Broker) ActiveGrants() []Grant {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var out []Grant
	for _, g := range b.grants {
		if g.Until.IsZero() || now.Before(g.Until) {
			out = append(out, g)
		}
	}
	return out
}
