package workload

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// NPMHost is the simulated npm registry.
const NPMHost = "registry.npm.bench.test"

// registryPlaceholder stands for the registry's origin in the stored
// packuments; the handler puts the request's own origin there, so the
// tarballs are fetched from wherever the packument came from (the unit test's
// loopback server, or the simulated internet's name).
const registryPlaceholder = "@@REGISTRY@@"

// npmCount is how many packages the registry serves: all of them are in the
// tree that the top-level dependencies pull.
func npmCount(size Size) int {
	if size == Full {
		return 100
	}
	return 20
}

func npmName(i int) string { return fmt.Sprintf("bench-pkg-%03d", i) }

func npm() Scenario {
	return Scenario{
		Name:    "npm install, 100 packages (20 with --quick)",
		Key:     "npm",
		Prepare: prepareNPM,
		Sites: func(dir string, size Size) ([]Site, error) {
			h, err := NPMRegistry(filepath.Join(dir, "npm"))
			return []Site{{Host: NPMHost, Handler: h}}, err
		},
		Allow: "  - host: " + NPMHost + "\n",
		// A fresh cache in the fresh working directory; no lock file, so the
		// whole tree is resolved from the packuments.
		Setup: `cat > .npmrc <<EOF
registry=https://` + NPMHost + `/
cache=$PWD/.npm-cache
update-notifier=false
fund=false
audit=false
EOF
cat > package.json <<'EOF'
{"name": "bench-app", "version": "1.0.0", "private": true,
 "dependencies": {"bench-pkg-000": "^1.0.0", "bench-pkg-001": "^1.0.0", "bench-pkg-002": "^1.0.0"}}
EOF
rm -rf node_modules package-lock.json .npm-cache`,
		Run: `npm install --no-audit --no-fund --loglevel=error`,
		// Every package of the tree is installed, unpacked, with every
		// dependency it names installed too: the count is the root's
		// benchTotal, so the check does not depend on the size.
		Verify: `node -e '
const fs = require("fs");
const root = JSON.parse(fs.readFileSync("node_modules/bench-pkg-000/package.json"));
const names = fs.readdirSync("node_modules").filter(n => fs.existsSync("node_modules/" + n + "/package.json"));
for (const n of names) {
  const p = JSON.parse(fs.readFileSync("node_modules/" + n + "/package.json"));
  if (!fs.existsSync("node_modules/" + n + "/index.js")) throw new Error(n + ": not unpacked");
  for (const d of Object.keys(p.dependencies || {}))
    if (!fs.existsSync("node_modules/" + d + "/package.json")) throw new Error(n + ": dependency " + d + " missing");
}
if (names.length !== root.benchTotal) throw new Error(names.length + " packages installed, want " + root.benchTotal);
console.log(names.length + " packages installed");
'`,
	}
}

// npmDeps is package i's dependencies: a binary tree from package 0, so
// the three top-level dependencies (0, 1, 2) pull every package, most of
// them at depth four to six.
func npmDeps(i, n int) []int {
	var d []int
	for _, c := range []int{2*i + 1, 2*i + 2} {
		if c < n {
			d = append(d, c)
		}
	}
	return d
}

// prepareNPM writes dir/npm/NAME.json (a packument, with the placeholder
// for the registry's origin) and dir/npm/tarballs/NAME-1.0.0.tgz.
func prepareNPM(dir string, size Size) error {
	n := npmCount(size)
	out := filepath.Join(dir, "npm")
	if err := os.MkdirAll(filepath.Join(out, "tarballs"), 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(17, 1))
	for i := range n {
		name := npmName(i)
		deps := map[string]string{}
		for _, d := range npmDeps(i, n) {
			deps[npmName(d)] = "^1.0.0"
		}
		manifest := map[string]any{"name": name, "version": "1.0.0", "main": "index.js", "license": "MIT",
			"description": "a generated package of bottle's benchmark", "dependencies": deps}
		if i == 0 {
			manifest["benchTotal"] = n
		}
		pj, _ := json.MarshalIndent(manifest, "", "  ")
		tgz, err := npmTarball(pj, rng)
		if err != nil {
			return err
		}
		file := name + "-1.0.0.tgz"
		if err := os.WriteFile(filepath.Join(out, "tarballs", file), tgz, 0o644); err != nil {
			return err
		}
		s512 := sha512.Sum512(tgz)
		s1 := sha1.Sum(tgz)
		version := map[string]any{}
		for k, v := range manifest {
			version[k] = v
		}
		version["_id"] = name + "@1.0.0"
		version["dist"] = map[string]any{
			"tarball":   registryPlaceholder + "/" + name + "/-/" + file,
			"integrity": "sha512-" + base64.StdEncoding.EncodeToString(s512[:]),
			"shasum":    hex.EncodeToString(s1[:]),
		}
		packument := map[string]any{"_id": name, "name": name, "dist-tags": map[string]string{"latest": "1.0.0"},
			"versions": map[string]any{"1.0.0": version}, "time": map[string]string{"1.0.0": "2026-01-01T00:00:00.000Z"}}
		b, _ := json.Marshal(packument)
		if err := os.WriteFile(filepath.Join(out, name+".json"), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// npmTarball is a package's tarball: package.json and a few files of
// pseudo-random source (a few KB each, so gzip has work to do).
func npmTarball(pj []byte, rng *rand.Rand) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	src := func(kb int) []byte {
		var b strings.Builder
		for b.Len() < kb<<10 {
			fmt.Fprintf(&b, "exports.f%x = function (a) { return a * %d + %d; };\n", rng.Uint64(), rng.IntN(1000), rng.IntN(1000))
		}
		return []byte(b.String())
	}
	files := []struct {
		name string
		data []byte
	}{
		{"package/package.json", pj},
		{"package/index.js", src(2 + rng.IntN(6))},
		{"package/lib/util.js", src(1 + rng.IntN(12))},
		{"package/README.md", []byte("# generated\n\nA package of bottle's benchmark.\n")},
		{"package/LICENSE", []byte("MIT\n")},
	}
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NPMRegistry serves what prepareNPM wrote into dir: GET /NAME is the
// packument, with the request's origin as the tarballs' registry, and GET
// /NAME/-/FILE.tgz the tarball. Everything is read once, up front.
func NPMRegistry(dir string) (http.Handler, error) {
	packuments := map[string][]byte{}
	tarballs := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			if packuments[name], err = os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	tb, err := os.ReadDir(filepath.Join(dir, "tarballs"))
	if err != nil {
		return nil, err
	}
	for _, e := range tb {
		if tarballs[e.Name()], err = os.ReadFile(filepath.Join(dir, "tarballs", e.Name())); err != nil {
			return nil, err
		}
	}
	if len(packuments) == 0 {
		return nil, fmt.Errorf("%s: no packuments (was the scenario prepared?)", dir)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := strings.TrimPrefix(r.URL.Path, "/")
		if name, file, ok := strings.Cut(p, "/-/"); ok {
			b, found := tarballs[file]
			if !found || !strings.HasPrefix(file, name+"-") {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
			return
		}
		b, found := packuments[p]
		if !found {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"error":"not found"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(bytes.ReplaceAll(b, []byte(registryPlaceholder), []byte("https://"+r.Host)))
	}), nil
}
