// Package preset holds bottle's allowlist presets: for an ecosystem a
// bottle's agent needs every day (a package registry, a forge), the few
// exact rules `bottle allow add --preset NAME` writes, each marked
// `origin: preset NAME`.
//
// The rules of pypi, crates and github name those services' public hosts.
// Those of npm, go and debian name the registry the user's own tools are
// configured with, read at run time (npm config get registry, go env
// GOPROXY GOSUMDB, apt's sources), so that a bottle reaches the mirror
// its user reaches; a preset whose configuration is not found says what
// was looked at and how to name the registry instead (Registry).
//
// Every rule is on the hosts' https port (or the port and scheme the
// configuration names) and admits only GET and HEAD, except where a tool
// needs more: npm's audit POSTs under the registry's /-/npm/v1/security/,
// and git's fetch POSTs to a repository's git-upload-pack on github.com.
// No preset admits a git push (git-receive-pack): pushes go through a
// git: entry (bottle git add), which the git gate checks.
package preset

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"bottle.dev/bottle/allowlist"
)

// Env is where the presets read the user's configuration: the seams to
// the machine, set by the command and by tests.
type Env struct {
	// LookPath finds a program on PATH (exec.LookPath).
	LookPath func(file string) (string, error)
	// Output runs argv and returns what it printed on its standard
	// output, or an error that says how it failed.
	Output func(ctx context.Context, argv []string) ([]byte, error)
	// Getenv reads a variable of the user's environment.
	Getenv func(string) string
	// Home is the user's home directory ("" when unknown).
	Home string
	// AptDir is apt's configuration directory, /etc/apt (DefaultAptDir)
	// when empty.
	AptDir string
}

// DefaultAptDir is where apt keeps its sources.
const DefaultAptDir = "/etc/apt"

// lookupTimeout bounds the run of a tool that is asked its
// configuration: a slow npm is not worth a hang.
const lookupTimeout = 30 * time.Second

// Preset is one ecosystem's rules.
type Preset struct {
	Name    string
	Summary string // what it is for, in a few words
	// Looks says where the rules' hosts come from, for help and errors:
	// "" for a preset of public hosts.
	Looks string
	// fixed are the rules of a preset of public hosts.
	fixed []allowlist.RuleSpec
	// lookup reads the rules from the user's configuration; from says
	// what answered ("`npm config get registry`: https://…").
	lookup func(ctx context.Context, env *Env) (rules []allowlist.RuleSpec, from string, err error)
	// registry makes the rules for a registry the user names (--registry);
	// nil for a preset that takes none.
	registry func(u *url.URL) ([]allowlist.RuleSpec, error)
}

// Origin is the origin: of the preset's rules.
func (p *Preset) Origin() string { return "preset " + p.Name }

// TakesRegistry reports whether --registry applies to the preset.
func (p *Preset) TakesRegistry() bool { return p.registry != nil }

var readOnly = []string{"GET", "HEAD"}

// https443 is a read-only rule on host's https port.
func https443(host string, paths ...string) allowlist.RuleSpec {
	return allowlist.RuleSpec{Host: host, Ports: []uint16{443}, Methods: readOnly, Paths: paths}
}

// all are the presets, in the order help lists them.
var all = []*Preset{
	{
		Name:    "pypi",
		Summary: "Python packages from PyPI (pip, uv, poetry): the index and the files",
		fixed:   []allowlist.RuleSpec{https443("pypi.org"), https443("files.pythonhosted.org")},
		// A mirror serves its index and its files from one host, not
		// always under the index's path.
		registry: hostRegistry,
	},
	{
		Name:    "npm",
		Summary: "Node packages (npm, pnpm, yarn) from the registry npm is configured with",
		Looks:   "npm config get registry; without npm, $NPM_CONFIG_REGISTRY, then registry= in ~/.npmrc",
		lookup:  npmLookup,
		registry: func(u *url.URL) ([]allowlist.RuleSpec, error) {
			return npmRules(u)
		},
	},
	{
		Name:    "crates",
		Summary: "Rust crates from crates.io (cargo): the sparse index, the downloads, and the API of cargo search",
		fixed: []allowlist.RuleSpec{
			https443("index.crates.io"),
			https443("static.crates.io"),
			https443("crates.io", "/api/v1/**"),
		},
		registry: hostRegistry,
	},
	{
		Name:    "go",
		Summary: "Go modules from the module proxy and checksum database go is configured with",
		Looks:   "go env GOPROXY GOSUMDB; without go, $GOPROXY and $GOSUMDB",
		lookup:  goLookup,
		registry: func(u *url.URL) ([]allowlist.RuleSpec, error) {
			r, err := urlRule(u, true)
			return []allowlist.RuleSpec{r}, err
		},
	},
	{
		Name:    "github",
		Summary: "GitHub: git clone and fetch over https (no push: use bottle git add), the REST API read-only, release and archive downloads, raw files",
		fixed: []allowlist.RuleSpec{
			https443("github.com"),
			// git's smart-HTTP fetch POSTs its wants to git-upload-pack
			// ("/OWNER/REPO.git/git-upload-pack", with or without .git).
			{Host: "github.com", Ports: []uint16{443}, Methods: []string{"POST"}, Paths: []string{"/*/*/git-upload-pack"}},
			https443("api.github.com"),
			https443("codeload.github.com"),
			// Release downloads redirect to one of these.
			https443("objects.githubusercontent.com"),
			https443("release-assets.githubusercontent.com"),
			https443("raw.githubusercontent.com"),
		},
	},
	{
		Name:    "debian",
		Summary: "Debian packages (apt) from the mirrors apt is configured with",
		Looks:   "the URIs of /etc/apt/sources.list and /etc/apt/sources.list.d/*.sources and *.list",
		lookup:  aptLookup,
		registry: func(u *url.URL) ([]allowlist.RuleSpec, error) {
			r, err := urlRule(u, true)
			return []allowlist.RuleSpec{r}, err
		},
	},
}

// All returns the presets, in the order help lists them.
func All() []*Preset { return slices.Clone(all) }

// Names returns the presets' names.
func Names() []string {
	out := make([]string, len(all))
	for i, p := range all {
		out[i] = p.Name
	}
	return out
}

// Find returns the preset called name, or an error that lists them.
func Find(name string) (*Preset, error) {
	for _, p := range all {
		if p.Name == strings.ToLower(name) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no preset %q; the presets are %s (bottle allow presets shows their rules)", name, strings.Join(Names(), ", "))
}

// Rules returns the preset's rules, each with its origin, and where their
// hosts came from ("" for a preset of public hosts). registry, when not
// empty, is the URL of the registry to allow instead of the one the
// configuration names, or the public one (--registry).
func (p *Preset) Rules(ctx context.Context, env *Env, registry string) ([]allowlist.RuleSpec, string, error) {
	var rules []allowlist.RuleSpec
	from := ""
	switch {
	case registry != "":
		if p.registry == nil {
			return nil, "", fmt.Errorf("preset %s takes no --registry: its hosts are %s's own", p.Name, p.Name)
		}
		u, err := parseRegistry(registry)
		if err != nil {
			return nil, "", fmt.Errorf("--registry %q %v", registry, err)
		}
		if rules, err = p.registry(u); err != nil {
			return nil, "", fmt.Errorf("--registry %q %v", registry, err)
		}
		from = "--registry " + u.String()
	case p.lookup != nil:
		ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		var err error
		if rules, from, err = p.lookup(ctx, env); err != nil {
			return nil, "", fmt.Errorf("preset %s: %w; name the registry instead: bottle allow add --preset %s --registry https://registry.example.com", p.Name, err, p.Name)
		}
	default:
		rules = slices.Clone(p.fixed)
	}
	for i := range rules {
		rules[i].Origin = p.Origin()
	}
	return rules, from, nil
}

// parseRegistry reads a registry's URL: http or https, a host, no query.
func parseRegistry(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	switch {
	case err != nil:
		return nil, errors.New("is not a URL; write it as https://registry.example.com")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("is not an http or https URL; write it as https://registry.example.com")
	case u.Hostname() == "":
		return nil, errors.New("has no host; write it as https://registry.example.com")
	case u.User != nil:
		return nil, errors.New("carries a user name or password; leave them out (a credential belongs in bottle secret add)")
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// urlRule is the read-only rule for u: its host on its port (the
// scheme's, when it names none), under its path when withPath and it has
// one.
func urlRule(u *url.URL, withPath bool) (allowlist.RuleSpec, error) {
	port := uint16(443)
	if u.Scheme == "http" {
		port = 80
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return allowlist.RuleSpec{}, fmt.Errorf("has the port %q, which is not a port number", p)
		}
		port = uint16(n)
	}
	r := allowlist.RuleSpec{Host: strings.ToLower(u.Hostname()), Ports: []uint16{port}, Methods: readOnly}
	if prefix := strings.TrimRight(u.EscapedPath(), "/"); withPath && prefix != "" {
		r.Paths = []string{prefix + "/**"}
	}
	return r, nil
}

// hostRegistry is a mirror's rule: its whole host, read-only.
func hostRegistry(u *url.URL) ([]allowlist.RuleSpec, error) {
	r, err := urlRule(u, false)
	return []allowlist.RuleSpec{r}, err
}

// npmRules are the rules of the npm registry at u: reads under its path,
// and the POSTs of npm audit (which npm install also makes) under its
// /-/npm/v1/security/.
func npmRules(u *url.URL) ([]allowlist.RuleSpec, error) {
	r, err := urlRule(u, true)
	if err != nil {
		return nil, err
	}
	audit := allowlist.RuleSpec{Host: r.Host, Ports: r.Ports, Methods: []string{"POST"},
		Paths: []string{strings.TrimRight(u.EscapedPath(), "/") + "/-/npm/v1/security/**"}}
	return []allowlist.RuleSpec{r, audit}, nil
}

// ask runs a tool to read its configuration; it says why not when the
// tool is not there or fails.
func ask(ctx context.Context, env *Env, argv ...string) (string, error) {
	cmd := "`" + strings.Join(argv, " ") + "`"
	if env.LookPath == nil || env.Output == nil {
		return "", fmt.Errorf("%s was not run", cmd)
	}
	if _, err := env.LookPath(argv[0]); err != nil {
		return "", fmt.Errorf("%s is not on PATH", argv[0])
	}
	out, err := env.Output(ctx, argv)
	if err != nil {
		return "", fmt.Errorf("%s failed (%v)", cmd, err)
	}
	return string(out), nil
}

func (env *Env) getenv(name string) string {
	if env.Getenv == nil {
		return ""
	}
	return strings.TrimSpace(env.Getenv(name))
}

// npmLookup reads npm's registry: npm's own answer when npm is there (it
// accounts for every .npmrc and variable), else $NPM_CONFIG_REGISTRY,
// else ~/.npmrc.
func npmLookup(ctx context.Context, env *Env) ([]allowlist.RuleSpec, string, error) {
	var looked []string
	reg, from := "", ""
	out, err := ask(ctx, env, "npm", "config", "get", "registry")
	switch {
	case err == nil && strings.TrimSpace(out) != "" && strings.TrimSpace(out) != "undefined":
		reg, from = strings.TrimSpace(out), "`npm config get registry`"
	case err == nil:
		looked = append(looked, "`npm config get registry` printed no registry")
	default:
		looked = append(looked, err.Error())
	}
	if reg == "" {
		for _, v := range []string{"NPM_CONFIG_REGISTRY", "npm_config_registry"} {
			if s := env.getenv(v); s != "" {
				reg, from = s, "$"+v
				break
			}
		}
		if reg == "" {
			looked = append(looked, "$NPM_CONFIG_REGISTRY is not set")
		}
	}
	if reg == "" {
		s, where, err := npmrcRegistry(env.Home)
		switch {
		case err != nil:
			looked = append(looked, err.Error())
		case s == "":
			looked = append(looked, where+" has no registry= line")
		default:
			reg, from = s, where
		}
	}
	if reg == "" {
		return nil, "", fmt.Errorf("no npm registry found: %s", strings.Join(looked, ", "))
	}
	u, err := parseRegistry(reg)
	if err != nil {
		return nil, "", fmt.Errorf("the registry %s names, %q, %v", from, reg, err)
	}
	rules, err := npmRules(u)
	if err != nil {
		return nil, "", fmt.Errorf("the registry %s names, %q, %v", from, reg, err)
	}
	return rules, from + ": " + u.String(), nil
}

// npmrcRegistry reads the registry= line of ~/.npmrc; where names the
// file.
func npmrcRegistry(home string) (reg, where string, err error) {
	if home == "" {
		return "", "", errors.New("the home directory is unknown, so ~/.npmrc was not read")
	}
	where = filepath.Join(home, ".npmrc")
	data, err := os.ReadFile(where)
	if errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("%s does not exist", where)
	} else if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok && strings.TrimSpace(k) == "registry" {
			reg = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return reg, where, nil
}

// goLookup reads the module proxies and the checksum database: go's own
// answer when go is there, else $GOPROXY and $GOSUMDB.
func goLookup(ctx context.Context, env *Env) ([]allowlist.RuleSpec, string, error) {
	proxy, sumdb, from := "", "", ""
	out, err := ask(ctx, env, "go", "env", "GOPROXY", "GOSUMDB")
	if err == nil {
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 {
			return nil, "", fmt.Errorf("`go env GOPROXY GOSUMDB` printed %d lines, not 2", len(lines))
		}
		proxy, sumdb, from = strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), "`go env GOPROXY GOSUMDB`"
	} else {
		proxy, sumdb = env.getenv("GOPROXY"), env.getenv("GOSUMDB")
		if proxy == "" {
			return nil, "", fmt.Errorf("no Go module proxy found: %v, and $GOPROXY is not set", err)
		}
		from = "$GOPROXY and $GOSUMDB"
	}
	var rules []allowlist.RuleSpec
	var named []string
	for _, entry := range strings.FieldsFunc(proxy, func(r rune) bool { return r == ',' || r == '|' }) {
		entry = strings.TrimSpace(entry)
		if entry == "direct" || entry == "off" || strings.HasPrefix(entry, "file://") {
			continue
		}
		u, err := parseRegistry(entry)
		if err != nil {
			return nil, "", fmt.Errorf("GOPROXY's entry %q %v", entry, err)
		}
		r, err := urlRule(u, true)
		if err != nil {
			return nil, "", fmt.Errorf("GOPROXY's entry %q %v", entry, err)
		}
		rules = append(rules, r)
		named = append(named, u.String())
	}
	if len(rules) == 0 {
		return nil, "", fmt.Errorf("GOPROXY is %q, which names no proxy: go fetches modules from each one's own version control host, which no preset can name (allow them one by one with bottle allow add HOST)", proxy)
	}
	if r, ok, err := sumdbRule(sumdb); err != nil {
		return nil, "", err
	} else if ok {
		rules = append(rules, r)
		named = append(named, "checksum database "+r.Host)
	}
	return rules, from + ": " + strings.Join(named, ", "), nil
}

// sumdbRule is the rule of GOSUMDB's checksum database: "NAME",
// "NAME+KEY" (the database at https://NAME) or "NAME+KEY URL" (at URL);
// none for "off" or nothing.
func sumdbRule(s string) (allowlist.RuleSpec, bool, error) {
	f := strings.Fields(s)
	switch {
	case len(f) == 0 || f[0] == "off":
		return allowlist.RuleSpec{}, false, nil
	case len(f) >= 2:
		u, err := parseRegistry(f[1])
		if err != nil {
			return allowlist.RuleSpec{}, false, fmt.Errorf("GOSUMDB's URL %q %v", f[1], err)
		}
		r, err := urlRule(u, true)
		return r, err == nil, err
	}
	name, _, _ := strings.Cut(f[0], "+")
	if _, err := allowlist.NormalizeName(name); err != nil || name == "" {
		return allowlist.RuleSpec{}, false, fmt.Errorf("GOSUMDB %q does not start with a host name", s)
	}
	return https443(strings.ToLower(name)), true, nil
}

// aptLookup reads the URIs of apt's sources: one read-only rule per host
// and port, under the paths of its URIs.
func aptLookup(_ context.Context, env *Env) ([]allowlist.RuleSpec, string, error) {
	dir := env.AptDir
	if dir == "" {
		dir = DefaultAptDir
	}
	var files []string
	if _, err := os.Stat(filepath.Join(dir, "sources.list")); err == nil {
		files = append(files, filepath.Join(dir, "sources.list"))
	}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(dir, "sources.list.d", pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		return nil, "", fmt.Errorf("no apt sources found: neither %s nor %s exists (is this a Debian or Ubuntu machine?)",
			filepath.Join(dir, "sources.list"), filepath.Join(dir, "sources.list.d", "*.sources"))
	}
	var uris []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, "", err
		}
		if strings.HasSuffix(f, ".sources") {
			uris = append(uris, deb822URIs(string(data))...)
		} else {
			uris = append(uris, oneLineURIs(string(data))...)
		}
	}
	type key struct {
		host string
		port uint16
	}
	var order []key
	byHost := map[key]*allowlist.RuleSpec{}
	var named []string
	for _, s := range uris {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			continue // cdrom:, file:, mirror+file: … reach no host
		}
		u.User = nil
		r, err := urlRule(u, true)
		if err != nil {
			return nil, "", fmt.Errorf("apt's source %q %v", s, err)
		}
		k := key{r.Host, r.Ports[0]}
		if byHost[k] == nil {
			byHost[k] = &r
			order = append(order, k)
		} else {
			have := byHost[k]
			switch {
			case have.Paths == nil:
			case r.Paths == nil:
				have.Paths = nil // one URI is the whole host
			default:
				for _, p := range r.Paths {
					if !slices.Contains(have.Paths, p) {
						have.Paths = append(have.Paths, p)
					}
				}
			}
		}
		if !slices.Contains(named, u.String()) {
			named = append(named, u.String())
		}
	}
	if len(order) == 0 {
		return nil, "", fmt.Errorf("apt's sources (%s) name no http or https URI", strings.Join(files, ", "))
	}
	rules := make([]allowlist.RuleSpec, len(order))
	for i, k := range order {
		rules[i] = *byHost[k]
	}
	return rules, "apt's sources: " + strings.Join(named, ", "), nil
}

// oneLineURIs are the URIs of sources.list lines: "deb [OPTIONS] URI
// SUITE COMPONENTS…" (and deb-src).
func oneLineURIs(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "deb" && f[0] != "deb-src") {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			// Options, which may hold spaces: up to the word ending in "]".
			for len(f) > 0 && !strings.HasSuffix(f[0], "]") {
				f = f[1:]
			}
			if len(f) > 0 {
				f = f[1:]
			}
		}
		if len(f) > 0 {
			out = append(out, f[0])
		}
	}
	return out
}

// deb822URIs are the URIs of the stanzas of a .sources file that are not
// `Enabled: no`.
func deb822URIs(s string) []string {
	var out, uris []string
	enabled, inURIs := true, false
	flush := func() {
		if enabled {
			out = append(out, uris...)
		}
		uris, enabled, inURIs = nil, true, false
	}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			continue
		case strings.HasPrefix(strings.TrimSpace(line), "#"):
			continue
		case line[0] == ' ' || line[0] == '\t':
			// A continuation line: more of the field above.
			if inURIs {
				uris = append(uris, strings.Fields(line)...)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		inURIs = k == "uris"
		switch k {
		case "uris":
			uris = append(uris, strings.Fields(v)...)
		case "enabled":
			enabled = !strings.EqualFold(strings.TrimSpace(v), "no")
		}
	}
	flush()
	return out
}
