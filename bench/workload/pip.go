package workload

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// The pip scenario: `pip install` of one application whose dependency tree
// is about 30 pure-Python wheels, from a generated index in the shape of
// the public one: the simple API (PEP 503 HTML and PEP 691 JSON, chosen by
// the Accept header) on one host, and the wheels, with their core metadata
// files beside them (PEP 658), on another.
const (
	pipIndexHost = "pypi.bench.test"
	pipFilesHost = "files.pypi.bench.test"
	// pipRoot is the application the agent installs; its wheel carries
	// expected.txt, the whole tree, which Verify checks the venv against.
	pipRoot = "bench-app"
)

func pip() Scenario {
	return Scenario{
		Name:    "pip install, 30 wheels",
		Key:     "pip",
		Prepare: pipPrepare,
		Sites:   pipSites,
		Allow:   "  - host: " + pipIndexHost + "\n  - host: " + pipFilesHost + "\n",
		// A venv (Debian's python is externally managed, PEP 668), made
		// offline from the wheel ensurepip ships.
		Setup: `set -eu
python3 -m venv venv
echo "` + pipRoot + `" > requirements.txt
`,
		// A fresh, empty cache: pip fills it as a user's first install
		// does. PIP_CONFIG_FILE=/dev/null: no config file of the image's
		// may send pip elsewhere; the environment (PIP_CERT, the proxy
		// variables) still applies.
		Run: `set -eu
PIP_CONFIG_FILE=/dev/null venv/bin/pip install --no-input --disable-pip-version-check \
  --index-url https://` + pipIndexHost + `/simple/ --cache-dir "$PWD/pip-cache" -q -r requirements.txt
`,
		Verify: `set -eu
venv/bin/python - <<'EOF'
import importlib, importlib.metadata as md, pathlib, sys
import bench_app
want = pathlib.Path(bench_app.__file__).with_name("expected.txt").read_text().split("\n")
want = [w.split() for w in want if w.strip()]
bad = []
for name, version, module in want:
    try:
        got = md.version(name)
        importlib.import_module(module)
    except Exception as e:
        bad.append(f"{name}: {e!r}")
        continue
    if got != version:
        bad.append(f"{name}: version {got}, want {version}")
if len(want) < 2 or bad:
    sys.exit(f"pip install: {len(bad)} of {len(want)} distributions wrong: {bad}")
print(f"pip install: {len(want)} distributions installed and importable")
EOF
`,
	}
}

// A pipProject is one distribution of the generated index.
type pipProject struct {
	name     string // the project name, normalised (PEP 503): "bench-pkg-07"
	requires []int  // indices of the projects it depends on, all after it
	pad      int    // bytes of generated source beside __init__.py
}

// The versions of every project: the resolver sees two and takes the newer.
var pipVersions = []string{"1.0.0", "1.1.0"}

func (p pipProject) module() string { return strings.ReplaceAll(p.name, "-", "_") }

func (p pipProject) wheel(version string) string {
	return p.module() + "-" + version + "-py3-none-any.whl"
}

// pipTree is the dependency tree for size: project 0 is the application;
// every other project is required by one before it (so all are reachable)
// and some by a second, so the resolver meets shared dependencies.
func pipTree(size Size) []pipProject {
	n := 5
	if size == Full {
		n = 30
	}
	rng := rand.New(rand.NewPCG(17, 503)) // fixed: the same tree every run
	ps := make([]pipProject, n)
	for i := range ps {
		ps[i].name = fmt.Sprintf("bench-pkg-%02d", i)
		// Sizes of real wheels spread over two orders of magnitude.
		ps[i].pad = 2048 << rng.IntN(7)
		ps[i].pad += rng.IntN(ps[i].pad)
		if size == Quick {
			ps[i].pad = 2048 + rng.IntN(4096)
		}
	}
	ps[0].name = pipRoot
	for i := 1; i < n; i++ {
		parent := rng.IntN(i)
		ps[parent].requires = append(ps[parent].requires, i)
	}
	for i := 1; i < n-1; i++ {
		if rng.IntN(3) == 0 {
			j := i + 1 + rng.IntN(n-i-1)
			if !containsInt(ps[i].requires, j) {
				ps[i].requires = append(ps[i].requires, j)
			}
		}
	}
	return ps
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// genTime is every file's modification time in the zips (wheels, modules), so that the
// same tree makes the same bytes (and hashes) on every run.
var genTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// pipFile is one wheel of the index as the simple API lists it.
type pipFile struct {
	filename, sha256, metadataSHA256 string
	size                             int
}

// pipPrepare writes the index into dir: simple/ (index.html and
// index.json for the project list and for each project) and files/ (the
// wheels and their .metadata).
func pipPrepare(dir string, size Size) error {
	ps := pipTree(size)
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		return err
	}
	for i, p := range ps {
		var files []pipFile
		for _, v := range pipVersions {
			whl, metadata, err := pipWheel(ps, i, v)
			if err != nil {
				return fmt.Errorf("pip: wheel of %s %s: %w", p.name, v, err)
			}
			f := pipFile{filename: p.wheel(v), sha256: sha256Hex(whl), metadataSHA256: sha256Hex(metadata), size: len(whl)}
			if err := os.WriteFile(filepath.Join(dir, "files", f.filename), whl, 0o644); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "files", f.filename+".metadata"), metadata, 0o644); err != nil {
				return err
			}
			files = append(files, f)
		}
		if err := pipWritePage(filepath.Join(dir, "simple", p.name), p.name, files); err != nil {
			return err
		}
	}
	return pipWriteRoot(filepath.Join(dir, "simple"), ps)
}

// pipWheel builds project i's wheel at version v (a zip in the layout of
// the binary distribution format: the package, then NAME-V.dist-info with
// METADATA, WHEEL and RECORD last, RECORD naming every other file with its
// sha256) and returns it with its METADATA.
func pipWheel(ps []pipProject, i int, v string) (whl, metadata []byte, err error) {
	p := ps[i]
	mod := p.module()
	distInfo := mod + "-" + v + ".dist-info"

	var meta strings.Builder
	fmt.Fprintf(&meta, "Metadata-Version: 2.1\nName: %s\nVersion: %s\n", p.name, v)
	fmt.Fprintf(&meta, "Summary: Generated by bottle's benchmark (bench/workload/pip.go).\nRequires-Python: >=3.8\n")
	for _, j := range p.requires {
		fmt.Fprintf(&meta, "Requires-Dist: %s>=1.0\n", ps[j].name)
	}
	metadata = []byte(meta.String())

	var init strings.Builder
	fmt.Fprintf(&init, "\"\"\"%s %s, generated by bottle's benchmark.\"\"\"\n\n", p.name, v)
	for _, j := range p.requires {
		fmt.Fprintf(&init, "import %s  # noqa: F401 (a dependency must import)\n", ps[j].module())
	}
	fmt.Fprintf(&init, "\nVERSION = %q\n", v)

	files := []struct {
		name string
		data []byte
	}{
		{mod + "/__init__.py", []byte(init.String())},
		{mod + "/_data.py", pipPad(p.name+v, p.pad)},
	}
	if i == 0 {
		var want strings.Builder
		for _, q := range ps {
			fmt.Fprintf(&want, "%s %s %s\n", q.name, pipVersions[len(pipVersions)-1], q.module())
		}
		files = append(files, struct {
			name string
			data []byte
		}{mod + "/expected.txt", []byte(want.String())})
	}
	files = append(files, []struct {
		name string
		data []byte
	}{
		{distInfo + "/METADATA", metadata},
		{distInfo + "/WHEEL", []byte("Wheel-Version: 1.0\nGenerator: bottle-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")},
		{distInfo + "/top_level.txt", []byte(mod + "\n")},
	}...)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record strings.Builder
	for _, f := range files {
		if err := addZipFile(zw, f.name, f.data); err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(f.data)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.data))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", distInfo)
	if err := addZipFile(zw, distInfo+"/RECORD", []byte(record.String())); err != nil {
		return nil, nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), metadata, nil
}

// addZipFile stores one deflated file with the fixed time, mode 0644.
func addZipFile(zw *zip.Writer, name string, data []byte) error {
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: genTime}
	h.SetMode(0o644)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// pipPad is about n bytes of valid Python: string constants of
// pseudo-random text, which compress about as well as real source does
// not (so the wheel's size on the wire stays near n).
func pipPad(seed string, n int) []byte {
	sum := sha256.Sum256([]byte(seed))
	rng := rand.New(rand.NewChaCha8(sum))
	var b bytes.Buffer
	b.WriteString("# Generated filler: a wheel's size without a wheel's meaning.\nDATA = (\n")
	line := make([]byte, 54)
	for b.Len() < n {
		for i := range line {
			line[i] = byte(rng.Uint32())
		}
		fmt.Fprintf(&b, "    %q\n", base64.StdEncoding.EncodeToString(line))
	}
	b.WriteString(")\n")
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// pipWritePage writes one project's page in both forms of the simple API.
func pipWritePage(dir, name string, files []pipFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var h strings.Builder
	fmt.Fprintf(&h, "<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"1.1\">\n<title>Links for %s</title>\n</head>\n<body>\n<h1>Links for %s</h1>\n", name, name)
	type hashes struct {
		SHA256 string `json:"sha256"`
	}
	type jsonFile struct {
		Filename       string `json:"filename"`
		URL            string `json:"url"`
		Hashes         hashes `json:"hashes"`
		RequiresPython string `json:"requires-python"`
		CoreMetadata   hashes `json:"core-metadata"`
		// The older spelling of core-metadata (PEP 658), for pip < 23.3.
		DistInfoMetadata hashes `json:"data-dist-info-metadata"`
		Size             int    `json:"size"`
	}
	page := struct {
		Meta     map[string]string `json:"meta"`
		Name     string            `json:"name"`
		Files    []jsonFile        `json:"files"`
		Versions []string          `json:"versions"`
	}{Meta: map[string]string{"api-version": "1.1"}, Name: name, Versions: pipVersions}
	for _, f := range files {
		url := "https://" + pipFilesHost + "/files/" + f.filename
		fmt.Fprintf(&h, "<a href=\"%s#sha256=%s\" data-requires-python=\"%s\" data-dist-info-metadata=\"sha256=%s\" data-core-metadata=\"sha256=%s\">%s</a><br/>\n",
			url, f.sha256, html.EscapeString(">=3.8"), f.metadataSHA256, f.metadataSHA256, f.filename)
		page.Files = append(page.Files, jsonFile{
			Filename: f.filename, URL: url, Hashes: hashes{f.sha256}, RequiresPython: ">=3.8",
			CoreMetadata: hashes{f.metadataSHA256}, DistInfoMetadata: hashes{f.metadataSHA256}, Size: f.size,
		})
	}
	h.WriteString("</body>\n</html>\n")
	j, err := json.Marshal(page)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(h.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), j, 0o644)
}

// pipWriteRoot writes the project list, /simple/, in both forms.
func pipWriteRoot(dir string, ps []pipProject) error {
	var h strings.Builder
	h.WriteString("<!DOCTYPE html>\n<html>\n<head>\n<meta name=\"pypi:repository-version\" content=\"1.1\">\n<title>Simple index</title>\n</head>\n<body>\n")
	type project struct {
		Name string `json:"name"`
	}
	root := struct {
		Meta     map[string]string `json:"meta"`
		Projects []project         `json:"projects"`
	}{Meta: map[string]string{"api-version": "1.1"}}
	for _, p := range ps {
		fmt.Fprintf(&h, "<a href=\"/simple/%s/\">%s</a><br/>\n", p.name, p.name)
		root.Projects = append(root.Projects, project{p.name})
	}
	h.WriteString("</body>\n</html>\n")
	j, err := json.Marshal(root)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(h.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "index.json"), j, 0o644)
}

// The simple API's media types (PEP 691).
const (
	pipJSONType = "application/vnd.pypi.simple.v1+json"
	pipHTMLType = "application/vnd.pypi.simple.v1+html"
)

func pipSites(dir string, size Size) ([]Site, error) {
	if _, err := os.Stat(filepath.Join(dir, "simple", "index.json")); err != nil {
		return nil, fmt.Errorf("pip: %s holds no index (run Prepare first): %w", dir, err)
	}
	index := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := path.Clean(r.URL.Path)
		if p != "/simple" && !strings.HasPrefix(p, "/simple/") {
			http.NotFound(w, r)
			return
		}
		// /simple/NAME answers at /simple/NAME/, as the public index does.
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
			return
		}
		// A client that accepts the JSON form gets it (pip asks for it
		// first); any other gets HTML.
		file, ctype := "index.html", pipHTMLType
		if strings.Contains(r.Header.Get("Accept"), pipJSONType) {
			file, ctype = "index.json", pipJSONType
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p), file))
		if errors.Is(err, fs.ErrNotExist) {
			http.NotFound(w, r)
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Vary", "Accept")
		http.ServeContent(w, r, "", genTime, bytes.NewReader(b))
	})
	files := http.FileServer(http.Dir(dir))
	return []Site{
		{Host: pipIndexHost, Handler: index},
		{Host: pipFilesHost, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.HasPrefix(r.URL.Path, "/files/") || strings.HasSuffix(r.URL.Path, "/") {
				http.NotFound(w, r) // no listings, nothing outside files/
				return
			}
			files.ServeHTTP(w, r)
		})},
	}, nil
}
