package preset

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
)

// fakeEnv is a machine with the tools in tools (argv joined by spaces →
// what it prints; a missing entry fails the test), the variables in vars
// and the home directory home. Each run is recorded.
type fakeEnv struct {
	t     *testing.T
	tools map[string]string // "npm config get registry" → output; "!…" an error
	vars  map[string]string
	ran   []string
}

func (f *fakeEnv) env(home, aptDir string) *Env {
	return &Env{
		LookPath: func(file string) (string, error) {
			for k := range f.tools {
				if strings.HasPrefix(k, file+" ") {
					return "/fake/" + file, nil
				}
			}
			return "", errors.New("executable file not found in $PATH")
		},
		Output: func(_ context.Context, argv []string) ([]byte, error) {
			cmd := strings.Join(argv, " ")
			f.ran = append(f.ran, cmd)
			out, ok := f.tools[cmd]
			if !ok {
				f.t.Errorf("unexpected run of %q", cmd)
				return nil, errors.New("unexpected")
			}
			if s, isErr := strings.CutPrefix(out, "!"); isErr {
				return nil, errors.New(s)
			}
			return []byte(out), nil
		},
		Getenv: func(k string) string { return f.vars[k] },
		Home:   home,
		AptDir: aptDir,
	}
}

// show writes rules one a line, as "host ports methods paths".
func show(rules []allowlist.RuleSpec) string {
	var b strings.Builder
	for _, r := range rules {
		fmt.Fprintf(&b, "%s %v %v %v %s\n", r.Host, r.Ports, r.Methods, r.Paths, r.Origin)
	}
	return b.String()
}

func TestFixedPresets(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"pypi", "pypi.org [443] [GET HEAD] [] preset pypi\nfiles.pythonhosted.org [443] [GET HEAD] [] preset pypi\n"},
		{"crates", "index.crates.io [443] [GET HEAD] [] preset crates\nstatic.crates.io [443] [GET HEAD] [] preset crates\ncrates.io [443] [GET HEAD] [/api/v1/**] preset crates\n"},
	} {
		p, err := Find(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		rules, from, err := p.Rules(context.Background(), &Env{}, "")
		if err != nil || from != "" || show(rules) != tc.want {
			t.Errorf("%s: %v %q\n%s\nwant:\n%s", tc.name, err, from, show(rules), tc.want)
		}
	}
}

// TestGitHubNoPush: the github preset lets git clone and fetch, and no
// rule of it admits a push, which must go through a git: entry.
func TestGitHubNoPush(t *testing.T) {
	p, _ := Find("github")
	rules, _, err := p.Rules(context.Background(), &Env{}, "")
	if err != nil {
		t.Fatal(err)
	}
	pol := policyOf(t, rules)
	for _, tc := range []struct {
		method, url string
		allowed     bool
	}{
		{"GET", "https://github.com/acme/widget.git/info/refs?service=git-upload-pack", true},
		{"POST", "https://github.com/acme/widget.git/git-upload-pack", true},
		{"POST", "https://github.com/acme/widget/git-upload-pack", true},
		{"POST", "https://github.com/acme/widget.git/git-receive-pack", false},
		{"POST", "https://github.com/login/oauth/access_token", false},
		{"GET", "https://api.github.com/repos/acme/widget/releases/latest", true},
		{"POST", "https://api.github.com/repos/acme/widget/issues", false},
		{"GET", "https://codeload.github.com/acme/widget/tar.gz/refs/heads/main", true},
		{"GET", "https://raw.githubusercontent.com/acme/widget/main/README.md", true},
		{"GET", "http://github.com/", false},
	} {
		req := request(t, tc.method, tc.url)
		if d := pol.Decide(req); d.Allowed != tc.allowed {
			t.Errorf("%s %s: allowed %v (%s); want %v", tc.method, tc.url, d.Allowed, d.Reason, tc.allowed)
		}
	}
}

func policyOf(t *testing.T, rules []allowlist.RuleSpec) *allowlist.Policy {
	t.Helper()
	var data []byte
	for _, r := range rules {
		res, err := allowlist.Add("p.yaml", data, r)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if res.Data == nil {
			t.Fatalf("%+v is there twice", r)
		}
		data = res.Data
	}
	pol, err := allowlist.Parse("p.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pol.Allow() {
		if !strings.HasPrefix(r.Origin, "preset ") {
			t.Errorf("%s has origin %q", r.ID, r.Origin)
		}
	}
	return pol
}

func request(t *testing.T, method, rawURL string) allowlist.Request {
	t.Helper()
	scheme, rest, _ := strings.Cut(rawURL, "://")
	host, path, _ := strings.Cut(rest, "/")
	path, _, _ = strings.Cut("/"+path, "?")
	return allowlist.Request{Scheme: scheme, Host: host, Method: method, Path: path}
}

func TestNpm(t *testing.T) {
	home := t.TempDir()
	tests := []struct {
		name  string
		tools map[string]string
		vars  map[string]string
		npmrc string
		want  string
		from  string
		err   string
	}{
		{name: "npm answers", tools: map[string]string{"npm config get registry": "https://registry.example.com/\n"},
			want: "registry.example.com [443] [GET HEAD] [] preset npm\nregistry.example.com [443] [POST] [/-/npm/v1/security/**] preset npm\n",
			from: "`npm config get registry`: https://registry.example.com/"},
		{name: "a registry under a path, on a port", tools: map[string]string{"npm config get registry": "http://art.example.com:8081/api/npm/remote/\n"},
			want: "art.example.com [8081] [GET HEAD] [/api/npm/remote/**] preset npm\nart.example.com [8081] [POST] [/api/npm/remote/-/npm/v1/security/**] preset npm\n",
			from: "`npm config get registry`: http://art.example.com:8081/api/npm/remote/"},
		{name: "no npm: the variable", vars: map[string]string{"NPM_CONFIG_REGISTRY": "https://env.example.com"},
			want: "env.example.com [443] [GET HEAD] [] preset npm\nenv.example.com [443] [POST] [/-/npm/v1/security/**] preset npm\n",
			from: "$NPM_CONFIG_REGISTRY: https://env.example.com"},
		{name: "no npm: ~/.npmrc", npmrc: "; comment\n//rc.example.com/:_authToken=x\nregistry = https://rc.example.com/npm/\n",
			want: "rc.example.com [443] [GET HEAD] [/npm/**] preset npm\nrc.example.com [443] [POST] [/npm/-/npm/v1/security/**] preset npm\n",
			from: filepath.Join(home, ".npmrc") + ": https://rc.example.com/npm/"},
		{name: "nothing anywhere",
			err: "preset npm: no npm registry found: npm is not on PATH, $NPM_CONFIG_REGISTRY is not set, " + filepath.Join(home, ".npmrc") + " does not exist; name the registry instead: bottle allow add --preset npm --registry https://registry.example.com"},
		{name: "npm fails", tools: map[string]string{"npm config get registry": "!exit 1: npm ERR! broken"}, npmrc: "color=false\n",
			err: "no npm registry found: `npm config get registry` failed (exit 1: npm ERR! broken), $NPM_CONFIG_REGISTRY is not set, " + filepath.Join(home, ".npmrc") + " has no registry= line"},
		{name: "not a URL", tools: map[string]string{"npm config get registry": "registry.example.com\n"},
			err: "the registry `npm config get registry` names, \"registry.example.com\", is not an http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(home, ".npmrc"))
			if tt.npmrc != "" {
				os.WriteFile(filepath.Join(home, ".npmrc"), []byte(tt.npmrc), 0o644)
			}
			f := &fakeEnv{t: t, tools: tt.tools, vars: tt.vars}
			p, _ := Find("npm")
			rules, from, err := p.Rules(context.Background(), f.env(home, ""), "")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v; want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil || show(rules) != tt.want || from != tt.from {
				t.Errorf("%v %q\n%s\nwant %q\n%s", err, from, show(rules), tt.from, tt.want)
			}
			policyOf(t, rules)
		})
	}
}

func TestGo(t *testing.T) {
	tests := []struct {
		name, out string
		vars      map[string]string
		want      string
		from      string
		err       string
	}{
		{name: "a proxy and a checksum database", out: "https://proxy.example.com,direct\nsum.example.com\n",
			want: "proxy.example.com [443] [GET HEAD] [] preset go\nsum.example.com [443] [GET HEAD] [] preset go\n",
			from: "`go env GOPROXY GOSUMDB`: https://proxy.example.com, checksum database sum.example.com"},
		{name: "two proxies, a key and a URL", out: "https://a.example.com/go|http://b.example.com:3000,off\nsum.example.com+abcdef+AAAA https://sumproxy.example.com/sumdb\n",
			want: "a.example.com [443] [GET HEAD] [/go/**] preset go\nb.example.com [3000] [GET HEAD] [] preset go\nsumproxy.example.com [443] [GET HEAD] [/sumdb/**] preset go\n"},
		{name: "a name with a key", out: "https://proxy.example.com\nsum.example.com+00c0ffee+AbCdEf\n",
			want: "proxy.example.com [443] [GET HEAD] [] preset go\nsum.example.com [443] [GET HEAD] [] preset go\n"},
		{name: "no checksum database", out: "https://proxy.example.com\noff\n",
			want: "proxy.example.com [443] [GET HEAD] [] preset go\n"},
		{name: "direct only", out: "direct\nsum.example.com\n",
			err: `GOPROXY is "direct", which names no proxy`},
		{name: "no go: the variables", vars: map[string]string{"GOPROXY": "https://env.example.com", "GOSUMDB": "off"},
			want: "env.example.com [443] [GET HEAD] [] preset go\n", from: "$GOPROXY and $GOSUMDB: https://env.example.com"},
		{name: "no go, nothing set",
			err: "preset go: no Go module proxy found: go is not on PATH, and $GOPROXY is not set; name the registry instead: bottle allow add --preset go --registry https://registry.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tools := map[string]string{}
			if tt.out != "" {
				tools["go env GOPROXY GOSUMDB"] = tt.out
			}
			f := &fakeEnv{t: t, tools: tools, vars: tt.vars}
			p, _ := Find("go")
			rules, from, err := p.Rules(context.Background(), f.env("", ""), "")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v; want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil || show(rules) != tt.want || (tt.from != "" && from != tt.from) {
				t.Errorf("%v %q\n%s\nwant %q\n%s", err, from, show(rules), tt.from, tt.want)
			}
			policyOf(t, rules)
		})
	}
}

func TestDebian(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sources.list.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "sources.list"), []byte("# old style\ndeb http://deb.example.com/debian stable main\ndeb-src [arch=amd64 signed-by=/k.gpg] http://deb.example.com/debian-src stable main # sources\ndeb cdrom:[Disc 1]/ stable main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sources.list.d", "main.sources"), []byte("Types: deb\nURIs: http://deb.example.com/debian\nSuites: stable stable-updates\nComponents: main\n\nTypes: deb\nURIs: https://security.example.com/debian-security\n  https://mirror.example.com:8443/\nSuites: stable-security\n\n# off\nTypes: deb\nEnabled: no\nURIs: https://off.example.com/debian\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "sources.list.d", "extra.list"), []byte("deb [ signed-by=/x.gpg ] https://apt.example.com/repo stable main\n"), 0o644)
	p, _ := Find("debian")
	rules, from, err := p.Rules(context.Background(), &Env{AptDir: dir}, "")
	want := "deb.example.com [80] [GET HEAD] [/debian/** /debian-src/**] preset debian\n" +
		"apt.example.com [443] [GET HEAD] [/repo/**] preset debian\n" +
		"security.example.com [443] [GET HEAD] [/debian-security/**] preset debian\n" +
		"mirror.example.com [8443] [GET HEAD] [] preset debian\n"
	if err != nil || show(rules) != want {
		t.Errorf("%v\n%s\nwant:\n%s", err, show(rules), want)
	}
	if !strings.HasPrefix(from, "apt's sources: http://deb.example.com/debian, http://deb.example.com/debian-src, ") {
		t.Errorf("from = %q", from)
	}
	pol := policyOf(t, rules)
	for _, tc := range []struct {
		url     string
		allowed bool
	}{
		{"http://deb.example.com/debian/dists/stable/InRelease", true},
		{"http://deb.example.com/other/x", false},
		{"https://deb.example.com/debian/dists/stable/InRelease", false},
		{"https://off.example.com/debian/x", false},
	} {
		if d := pol.Decide(request(t, "GET", tc.url)); d.Allowed != tc.allowed {
			t.Errorf("%s: %v (%s)", tc.url, d.Allowed, d.Reason)
		}
	}
	_, _, err = p.Rules(context.Background(), &Env{AptDir: t.TempDir()}, "")
	if err == nil || !strings.Contains(err.Error(), "no apt sources found: neither ") || !strings.Contains(err.Error(), "--preset debian --registry https://registry.example.com") {
		t.Errorf("no sources: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	for _, tc := range []struct{ name, url, want, err string }{
		{name: "pypi", url: "https://pypi.example.com/simple/", want: "pypi.example.com [443] [GET HEAD] [] preset pypi\n"},
		{name: "crates", url: "http://crates.example.com:8080", want: "crates.example.com [8080] [GET HEAD] [] preset crates\n"},
		{name: "npm", url: "https://registry.example.com", want: "registry.example.com [443] [GET HEAD] [] preset npm\nregistry.example.com [443] [POST] [/-/npm/v1/security/**] preset npm\n"},
		{name: "go", url: "https://goproxy.example.com/mod?x=1", want: "goproxy.example.com [443] [GET HEAD] [/mod/**] preset go\n"},
		{name: "debian", url: "http://deb.example.com/debian", want: "deb.example.com [80] [GET HEAD] [/debian/**] preset debian\n"},
		{name: "github", url: "https://ghe.example.com", err: "preset github takes no --registry"},
		{name: "npm", url: "ftp://registry.example.com", err: `--registry "ftp://registry.example.com" is not an http or https URL`},
		{name: "npm", url: "https://me:pw@registry.example.com", err: "carries a user name or password"},
	} {
		p, err := Find(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		f := &fakeEnv{t: t} // no tool may run
		rules, from, err := p.Rules(context.Background(), f.env("", ""), tc.url)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: error %v; want %q", tc.name, tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || show(rules) != tc.want || !strings.HasPrefix(from, "--registry ") {
			t.Errorf("%s %s: %v %q\n%s\nwant:\n%s", tc.name, tc.url, err, from, show(rules), tc.want)
		}
	}
}

func TestFind(t *testing.T) {
	if p, err := Find("PyPI"); err != nil || p.Name != "pypi" {
		t.Errorf("PyPI: %v", err)
	}
	_, err := Find("pip")
	if err == nil || err.Error() != `no preset "pip"; the presets are pypi, npm, crates, go, github, debian (bottle allow presets shows their rules)` {
		t.Errorf("pip: %v", err)
	}
	if !slices.Equal(Names(), []string{"pypi", "npm", "crates", "go", "github", "debian"}) {
		t.Errorf("Names = %q", Names())
	}
}
