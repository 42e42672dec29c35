package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRequestLog: requests are recorded with the headers credentials go
// in and their bodies (which reach the handler whole), the tests' own are
// not, and DELETE forgets them.
func TestRequestLog(t *testing.T) {
	log := &requestLog{}
	mux := http.NewServeMux()
	mux.Handle("/__requests", log)
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.Copy(w, r.Body) })
	srv := httptest.NewServer(log.wrap(mux))
	defer srv.Close()

	req, _ := http.NewRequest("POST", srv.URL+"/v1/x?key=q", strings.NewReader("the body"))
	req.Header.Set("X-Api-Key", "k1")
	req.Header.Set("Authorization", "Bearer b1")
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "the body" {
		t.Errorf("the handler got %q", b)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/echo?header=x-api-key", nil)
	req.Header.Set("X-Api-Key", "k2")
	resp, _ = http.DefaultClient.Do(req)
	if b, _ := io.ReadAll(resp.Body); string(b) != "X-Api-Key: k2\n" || resp.Header.Get("X-Echo") != "k2" {
		t.Errorf("echo: %q %v", b, resp.Header)
	}
	resp, _ = http.Get(srv.URL + "/__requests")
	var got []Request
	json.NewDecoder(resp.Body).Decode(&got)
	if len(got) != 2 || got[0].Method != "POST" || got[0].Path != "/v1/x" || got[0].Query != "key=q" || got[0].Body != "the body" ||
		got[0].Headers["X-Api-Key"][0] != "k1" || got[0].Headers["Authorization"][0] != "Bearer b1" || got[0].Headers["Accept"] != nil ||
		got[1].Path != "/echo" {
		t.Errorf("log: %+v", got)
	}
	req, _ = http.NewRequest("DELETE", srv.URL+"/__requests", nil)
	http.DefaultClient.Do(req)
	resp, _ = http.Get(srv.URL + "/__requests")
	if b, _ := io.ReadAll(resp.Body); strings.TrimSpace(string(b)) != "[]" {
		t.Errorf("after DELETE: %s", b)
	}
}

// TestPrivateGit: only the user and the password of the moment get
// through; everything else is asked for Basic auth.
func TestPrivateGit(t *testing.T) {
	g := newPrivateGit("/nonexistent", "x-access-token", "pw1")
	g.backend = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "repo") })
	mux := http.NewServeMux()
	mux.Handle("/private-git/", g)
	mux.HandleFunc("/__git-password", g.setPassword)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tryAt := func(method, path, user, pass string) int {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("0000"))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("401 without a Basic challenge: %v", resp.Header)
		}
		return resp.StatusCode
	}
	try := func(user, pass string) int { return tryAt("GET", "/private-git/acme/widget.git/info/refs", user, pass) }
	push := func(user, pass string) int {
		return tryAt("POST", "/private-git/acme/widget.git/git-receive-pack", user, pass)
	}
	if a, b, c, d := try("", ""), try("x-access-token", "pw2"), try("other", "pw1"), try("x-access-token", "pw1"); a != 401 || b != 401 || c != 401 || d != 200 {
		t.Errorf("none %d, wrong password %d, wrong user %d, right %d", a, b, c, d)
	}
	// A push wants the credential as much as a fetch does.
	if a, b, c := push("", ""), push("x-access-token", "pw2"), push("x-access-token", "pw1"); a != 401 || b != 401 || c != 200 {
		t.Errorf("receive-pack: none %d, wrong password %d, right %d", a, b, c)
	}
	http.Post(srv.URL+"/__git-password", "text/plain", strings.NewReader("pw2"))
	if a, b := try("x-access-token", "pw1"), try("x-access-token", "pw2"); a != 401 || b != 200 {
		t.Errorf("after the change: old %d, new %d", a, b)
	}
}

// TestGitRefs: /__git-refs lists a repository's refs, and names nothing
// outside the git root.
func TestGitRefs(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	root := t.TempDir()
	repo := filepath.Join(root, "acme", "widget.git")
	work := t.TempDir()
	for _, c := range [][]string{
		{"git", "init", "-q", "--bare", repo},
		{"git", "-C", work, "init", "-q", "-b", "main"},
		{"git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "first"},
		{"git", "-C", work, "push", "-q", repo, "main", "main:refs/heads/agent/x"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	head, _ := exec.Command("git", "-C", work, "rev-parse", "HEAD").Output()
	id := strings.TrimSpace(string(head))
	srv := httptest.NewServer(gitRefs(root))
	defer srv.Close()
	get := func(q string) (int, string) {
		resp, err := http.Get(srv.URL + "/__git-refs?repo=" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("acme/widget.git"); code != 200 || body != id+" refs/heads/agent/x\n"+id+" refs/heads/main\n" {
		t.Errorf("refs: %d %q", code, body)
	}
	for _, bad := range []string{"", "../etc.git", "acme/../../x.git", "acme/widget", "/acme/widget.git"} {
		if code, _ := get(bad); code != 400 {
			t.Errorf("repo=%q: %d", bad, code)
		}
	}
	if code, _ := get("acme/none.git"); code != 404 {
		t.Errorf("a repository that is not there: %d", code)
	}
}
