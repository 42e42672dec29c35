package workload

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// The go scenario: `go mod download` of a module graph of about 30
// modules from a generated module proxy (the GOPROXY protocol: @v/list,
// .info, .mod and .zip per module, as static files), never a checksum
// database (GOSUMDB=off; go.sum is written by the download).
const (
	goProxyHost = "proxy.golang.bench.test"
	// goRoot is the module the agent's go.mod requires; the others are
	// its dependencies, direct and indirect. Its zip carries modules.txt,
	// the build list Verify checks `go list -m all` and the cache against.
	goRoot        = "mod.bench.test/app"
	goRootVersion = "v1.1.0"
)

// Every module has two versions; a requirement names either, and the
// minimal version selection takes the newest any module asks for, so the
// download fetches both go.mod files of some modules and one zip of each.
var goVersions = []string{"v1.0.0", "v1.1.0"}

func gomod() Scenario {
	return Scenario{
		Name:    "go mod download, 30 modules",
		Key:     "gomod",
		Prepare: goPrepare,
		Sites:   goSites,
		Allow:   "  - host: " + goProxyHost + "\n",
		// go 1.16: the module graph is not pruned, so go.mod names the
		// application only and `go mod download` fetches its whole
		// graph, the same requests a tidy go.mod naming all 30 makes.
		// goenv.sh pins everything the download depends on: no go env
		// file of the image's (GOENV=off), no private or direct paths,
		// no toolchain download, fresh GOPATH and module cache.
		Setup: `set -eu
cat > go.mod <<'EOF'
module bench.test/agent

go 1.16

require ` + goRoot + ` ` + goRootVersion + `
EOF
cat > goenv.sh <<EOF
export GOENV=off GOTOOLCHAIN=local GOFLAGS='-mod=mod -modcacherw'
export GOPROXY=https://` + goProxyHost + ` GOSUMDB=off GONOSUMDB=mod.bench.test
export GOPRIVATE= GONOPROXY= GOINSECURE=
export GOPATH="$PWD/gopath" GOMODCACHE="$PWD/gopath/pkg/mod" GOCACHE="$PWD/gocache"
EOF
`,
		Run: `set -eu
. ./goenv.sh
go mod download
`,
		// Offline (GOPROXY=off): what Run left in the cache must do.
		Verify: `set -eu
. ./goenv.sh
export GOPROXY=off
go list -m all > listed.txt
want="$(go list -m -f '{{.Dir}}' ` + goRoot + `)/modules.txt"
n=0
while read -r mod ver; do
  grep -qxF "$mod $ver" listed.txt || { echo "go mod download: $mod $ver is not in go list -m all" >&2; exit 1; }
  test -s "$GOMODCACHE/cache/download/$mod/@v/$ver.zip" || { echo "go mod download: no zip of $mod $ver in the cache" >&2; exit 1; }
  n=$((n+1))
done < "$want"
got=$(($(wc -l < listed.txt) - 1))
[ "$n" -ge 2 ] && [ "$got" -eq "$n" ] || { echo "go mod download: go list -m all has $got modules, want $n" >&2; exit 1; }
echo "go mod download: $n modules listed and in the cache"
`,
	}
}

// A goModule is one module of the generated graph.
type goModule struct {
	path     string
	requires []goReq
	pad      int // bytes of generated source beside the package's own
}

type goReq struct {
	mod     int // index into the graph; always after the requirer
	version string
}

// goGraph is the module graph for size: module 0 is the application; each
// other module is required by one before it (so all are reachable) and
// some by a second.
func goGraph(size Size) []goModule {
	n := 5
	if size == Full {
		n = 30
	}
	rng := rand.New(rand.NewPCG(17, 1616)) // fixed: the same graph every run
	ms := make([]goModule, n)
	for i := range ms {
		ms[i].path = fmt.Sprintf("mod.bench.test/m%02d", i)
		ms[i].pad = 4096 << rng.IntN(7)
		ms[i].pad += rng.IntN(ms[i].pad)
		if size == Quick {
			ms[i].pad = 2048 + rng.IntN(4096)
		}
	}
	ms[0].path = goRoot
	req := func(from, to int) {
		for _, r := range ms[from].requires {
			if r.mod == to {
				return
			}
		}
		ms[from].requires = append(ms[from].requires, goReq{to, goVersions[rng.IntN(len(goVersions))]})
	}
	for i := 1; i < n; i++ {
		req(rng.IntN(i), i)
	}
	for i := 1; i < n-1; i++ {
		if rng.IntN(3) == 0 {
			req(i, i+1+rng.IntN(n-i-1))
		}
	}
	return ms
}

// goSelected is the build list: for each module, the newest version any
// requirement names (both versions of a module require the same, so this
// is what minimal version selection chooses). The application is at
// goRootVersion.
func goSelected(ms []goModule) []string {
	sel := make([]string, len(ms))
	sel[0] = goRootVersion
	for _, m := range ms {
		for _, r := range m.requires {
			if r.version > sel[r.mod] { // "v1.0.0" < "v1.1.0": one digit each
				sel[r.mod] = r.version
			}
		}
	}
	return sel
}

func (m goModule) goMod() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo 1.16\n", m.path)
	if len(m.requires) > 0 {
		b.WriteString("\nrequire (\n")
		for _, r := range m.requires {
			fmt.Fprintf(&b, "\t%s %s\n", goModPath(r.mod), r.version)
		}
		b.WriteString(")\n")
	}
	return []byte(b.String())
}

// goModPath is module i's path; it is a function of i alone (goGraph
// names them so), which lets a go.mod be written without the graph.
func goModPath(i int) string {
	if i == 0 {
		return goRoot
	}
	return fmt.Sprintf("mod.bench.test/m%02d", i)
}

// goPrepare writes the proxy's files into dir: for each module,
// PATH/@v/list and, per version, .info, .mod and .zip. Paths are lower
// case, so the proxy protocol's case encoding (!x for X) never applies.
func goPrepare(dir string, size Size) error {
	ms := goGraph(size)
	sel := goSelected(ms)
	for i, m := range ms {
		v := filepath.Join(dir, filepath.FromSlash(m.path), "@v")
		if err := os.MkdirAll(v, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(v, "list"), []byte(strings.Join(goVersions, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		for _, ver := range goVersions {
			z, err := goZip(ms, sel, i, ver)
			if err != nil {
				return fmt.Errorf("gomod: zip of %s@%s: %w", m.path, ver, err)
			}
			info := fmt.Sprintf("{\"Version\":%q,\"Time\":%q}\n", ver, genTime.Format("2006-01-02T15:04:05Z"))
			for name, data := range map[string][]byte{ver + ".info": []byte(info), ver + ".mod": m.goMod(), ver + ".zip": z} {
				if err := os.WriteFile(filepath.Join(v, name), data, 0o644); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// goZip is module i's zip at ver, in the module zip layout: every file
// under PATH@VERSION/, go.mod the same as the .mod the proxy serves, one
// package that imports its requirements.
func goZip(ms []goModule, sel []string, i int, ver string) ([]byte, error) {
	m := ms[i]
	pkg := m.path[strings.LastIndex(m.path, "/")+1:]
	var src strings.Builder
	fmt.Fprintf(&src, "// Package %s is generated by bottle's benchmark (bench/workload/gomod.go).\npackage %s\n\n", pkg, pkg)
	if len(m.requires) > 0 {
		src.WriteString("import (\n")
		for _, r := range m.requires {
			fmt.Fprintf(&src, "\t%q\n", goModPath(r.mod))
		}
		src.WriteString(")\n\n")
	}
	fmt.Fprintf(&src, "// Version is the module's version.\nconst Version = %q\n\n// Deps are the versions of what it requires.\nvar Deps = []string{", ver)
	for _, r := range m.requires {
		p := goModPath(r.mod)
		fmt.Fprintf(&src, "%s.Version, ", p[strings.LastIndex(p, "/")+1:])
	}
	src.WriteString("}\n")

	files := []struct {
		name string
		data []byte
	}{
		{"go.mod", m.goMod()},
		{pkg + ".go", []byte(src.String())},
		{"data.go", goPad(pkg, m.path+"@"+ver, m.pad)},
	}
	if i == 0 {
		var list strings.Builder
		for j, mj := range ms {
			fmt.Fprintf(&list, "%s %s\n", mj.path, sel[j])
		}
		files = append(files, struct {
			name string
			data []byte
		}{"modules.txt", []byte(list.String())})
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		if err := addZipFile(zw, m.path+"@"+ver+"/"+f.name, f.data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// goPad is about n bytes of valid Go: comment lines of pseudo-random text,
// which compress about as badly as the size should stay on the wire.
func goPad(pkg, seed string, n int) []byte {
	sum := sha256.Sum256([]byte(seed))
	rng := rand.New(rand.NewChaCha8(sum))
	var b bytes.Buffer
	fmt.Fprintf(&b, "package %s\n\n// Generated filler: a module's size without a module's meaning.\n", pkg)
	line := make([]byte, 54)
	for b.Len() < n {
		for i := range line {
			line[i] = byte(rng.Uint32())
		}
		fmt.Fprintf(&b, "// %s\n", base64.StdEncoding.EncodeToString(line))
	}
	return b.Bytes()
}

func goSites(dir string, size Size) ([]Site, error) {
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(goRoot), "@v", "list")); err != nil {
		return nil, fmt.Errorf("gomod: %s holds no module proxy (run Prepare first): %w", dir, err)
	}
	files := http.FileServer(http.Dir(dir))
	return []Site{{Host: goProxyHost, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Only a module's @v files: no listings, and a proxy answers 404
		// for what it does not have (the go command then gives up: no
		// direct fallback is configured).
		if !strings.Contains(r.URL.Path, "/@v/") || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})}}, nil
}
