package dlp

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// benign returns samples of ordinary agent traffic, made at test time:
// JSON API bodies, a minified JavaScript file (from the Go installation),
// a gzipped tarball and git pack data of this module's own source.
func benign(t testing.TB) map[string][]byte {
	t.Helper()
	s := map[string][]byte{"json api bodies": jsonBodies(t)}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	js := filepath.Join(strings.TrimSpace(string(goroot)), "src/internal/trace/traceviewer/static/webcomponents.min.js")
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatalf("the minified JavaScript sample: %v (the Go installation's trace viewer; pick another .min.js if it moved)", err)
	}
	s["minified javascript"] = b
	s["gzipped tarball"] = tarball(t, "..")
	s["git pack data"] = gitPack(t, "..")
	return s
}

// jsonBodies are requests an agent makes: a model API call with tools and
// code in its prompt, a package manifest with integrity hashes, a pull
// request, a cache and telemetry call with key-ish names.
func jsonBodies(t testing.TB) []byte {
	t.Helper()
	code, err := os.ReadFile("reader.go")
	if err != nil {
		t.Fatal(err)
	}
	bodies := []any{
		map[string]any{
			"model": "claude-sonnet-4-5", "max_tokens": 8192, "stream": true,
			"metadata": map[string]any{"user_id": "session_7f3a9c2e4b1d4e8f9a0b1c2d3e4f5a6b"},
			"system":   "You are a coding agent. Use the tools to read and edit files.",
			"tools": []any{map[string]any{"name": "read_file", "description": "Read a file",
				"input_schema": map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string"}}, "required": []string{"path"}}}},
			"messages": []any{
				map[string]any{"role": "user", "content": "Refactor the reader; the cache_key and token_count fields moved."},
				map[string]any{"role": "assistant", "content": []any{map[string]any{"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "read_file", "input": map[string]any{"path": "dlp/reader.go"}}}},
				map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": string(code)}}},
				map[string]any{"role": "user", "content": []any{map[string]any{"type": "image", "source": map[string]any{"type": "base64", "media_type": "image/png", "data": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3, 0xff, 0x10}, 600))}}}},
			},
		},
		map[string]any{
			"name": "web-app", "version": "1.4.2",
			"dependencies": map[string]string{"react": "^18.3.1", "lodash": "4.17.21"},
			"packages": map[string]any{"node_modules/lodash": map[string]string{
				"resolved":  "https://registry.example.com/lodash/-/lodash-4.17.21.tgz",
				"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg==",
			}},
		},
		map[string]any{
			"title": "parser: accept a trailing dot", "head": "fix/trailing-dot", "base": "main",
			"body": "Fixes #12. Commit 3f9c2a1b7e4d5c6f8a9b0c1d2e3f4a5b6c7d8e9f; sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.",
		},
		// What generic-api-key takes for secrets: a content hash as a
		// cache key, an idempotency key, a pagination cursor.
		map[string]any{"cache_key": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		map[string]any{"idempotency_key": "123e4567-e89b-12d3-a456-426614174000", "amount": 1200},
		map[string]any{"items": []int{1, 2, 3}, "next_page_token": "eyJvZmZzZXQiOjEwMH0"},
		map[string]any{
			"cache_key": "user-profile-v2", "api_key_name": "production-readonly", "token_type": "refresh",
			"session_token_ttl": 3600, "auth_method": "oauth2", "secret_name": "db-password-rotation",
			"request_id": "req_8c2f1e4a6b9d3e7f", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
			"uuid": "123e4567-e89b-12d3-a456-426614174000", "etag": "W/\"5e15153d-120f\"",
		},
	}
	var b bytes.Buffer
	for _, v := range bodies {
		if err := json.NewEncoder(&b).Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// tarball is a gzipped tar of the Go files of dir (this module's source).
func tarball(t testing.TB, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for _, f := range sources(t, dir) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: f, Mode: 0o644, Size: int64(len(data)), ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	gz.Close()
	return b.Bytes()
}

// sources are the non-test Go files under dir, outside testdata.
func sources(t testing.TB, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "testdata" || strings.HasPrefix(e.Name(), ".")) && p != dir {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 20 {
		t.Fatalf("only %d Go files under %s", len(files), dir)
	}
	slices.Sort(files)
	return files
}

// gitPack commits the Go files of dir to a new repository and returns
// the pack git pack-objects makes of it (as a push would send).
func gitPack(t testing.TB, dir string) []byte {
	t.Helper()
	repo := t.TempDir()
	for _, f := range sources(t, dir) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(repo, filepath.FromSlash(strings.TrimPrefix(filepath.ToSlash(f), "../")))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git := func(stdin io.Reader, args ...string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Stdin = stdin
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+repo)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	git(nil, "init", "-q")
	git(nil, "add", ".")
	git(nil, "commit", "-q", "-m", "source")
	return git(strings.NewReader("HEAD\n"), "pack-objects", "--revs", "--stdout", "-q")
}

// TestBenignTraffic: ordinary traffic gives no finding, as a field and as
// a stream, with the default rules.
func TestBenignTraffic(t *testing.T) {
	d := detector(t)
	for name, b := range benign(t) {
		t.Run(name, func(t *testing.T) {
			if fs := d.Scan(b); len(fs) > 0 {
				t.Errorf("%d bytes: findings %v", len(b), fs)
			}
			_, fs, err := stream(t, bytes.NewReader(b), false)
			if err != nil || len(fs) > 0 {
				t.Errorf("streamed: %v, findings %v", err, fs)
			}
		})
	}
}

// TestGenericAPIKeyIsNoisy is why offRules leaves generic-api-key out: on
// the same ordinary traffic it fires. (If gitleaks tames it, this fails:
// then reconsider.)
func TestGenericAPIKeyIsNoisy(t *testing.T) {
	d, err := newDetector(nil)
	if err != nil {
		t.Fatal(err)
	}
	hits := map[string]int{}
	for name, b := range benign(t) {
		for _, f := range d.Scan(b) {
			hits[fmt.Sprintf("%s in %s", f.RuleID, name)]++
		}
	}
	t.Logf("with every default rule, on ordinary traffic: %v", hits)
	if hits["generic-api-key in json api bodies"] == 0 {
		t.Errorf("generic-api-key found nothing in the JSON bodies: %v", hits)
	}
	for k := range hits {
		if !strings.HasPrefix(k, "generic-api-key ") {
			t.Errorf("another rule fires on ordinary traffic: %s (leave it out too, or fix the sample)", k)
		}
	}
}
