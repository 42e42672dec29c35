package main

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"strings"
	"sync"
)

// Request is one request the simulated internet's web server received, as
// GET /__requests lists them: what a test needs to see which credential an
// origin was sent (the proxy injects them) and that a value never arrived.
type Request struct {
	Method  string              `json:"method"`
	Host    string              `json:"host"`
	Path    string              `json:"path"`
	Query   string              `json:"query,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"` // Authorization, X-Api-Key and every X-* header
	Body    string              `json:"body,omitempty"`    // the first maxBody bytes, but for git's
}

const maxBody = 64 << 10

// maxRequests bounds the log (the oldest go first): a test that floods the
// simulated internet must not grow it without end.
const maxRequests = 10000

// requestLog keeps every request but the tests' own (/__…).
type requestLog struct {
	mu   sync.Mutex
	reqs []Request
}

// wrap records each request, then hands it to next.
func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/__") {
			l.add(r)
		}
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) add(r *http.Request) {
	rec := Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: map[string][]string{}}
	for k, v := range r.Header {
		if k == "Authorization" || strings.HasPrefix(k, "X-") {
			rec.Headers[k] = v
		}
	}
	// Git's bodies are packs, and large: only the others are kept, and
	// given back whole to the handler.
	if r.Body != nil && !strings.Contains(r.URL.Path, "git/") {
		head, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
		rec.Body = string(head)
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	}
	l.mu.Lock()
	if len(l.reqs) == maxRequests {
		l.reqs = append(l.reqs[:0], l.reqs[1:]...)
	}
	l.reqs = append(l.reqs, rec)
	l.mu.Unlock()
}

// ServeHTTP is /__requests: GET lists the requests as JSON, DELETE forgets
// them.
func (l *requestLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch r.Method {
	case http.MethodDelete:
		l.reqs = nil
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(append([]Request{}, l.reqs...))
	default:
		http.Error(w, "GET or DELETE", http.StatusMethodNotAllowed)
	}
}

// echo is /echo?header=NAME: it sends the request's header NAME back, in
// the body ("NAME: VALUE") and in the response header X-Echo. An origin
// that repeats a key is what the proxy must redact.
func echo(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("header")
	v := r.Header.Get(name)
	w.Header().Set("X-Echo", v)
	fmt.Fprintf(w, "%s: %s\n", http.CanonicalHeaderKey(name), v)
}

// privateGit serves the git repositories at /private-git/ to a client
// that sends user:password in Basic auth, and answers 401 to any other:
// the origin a credential of kind basic_user is tested against. The
// password is --git-password, and changes with POST /__git-password (the
// rotation test).
type privateGit struct {
	mu       sync.Mutex
	user     string
	password string
	backend  http.Handler
}

func newPrivateGit(root, user, password string) *privateGit {
	return &privateGit{user: user, password: password, backend: &cgi.Handler{
		Path: "/usr/lib/git-core/git-http-backend",
		Root: "/private-git",
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=" + user},
	}}
}

func (g *privateGit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	wantUser, wantPass := g.user, g.password
	g.mu.Unlock()
	user, pass, ok := r.BasicAuth()
	if !ok || wantPass == "" || user != wantUser || subtle.ConstantTimeCompare([]byte(pass), []byte(wantPass)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="fakenet private git"`)
		http.Error(w, "authentication required", http.StatusUnauthorized)
		return
	}
	g.backend.ServeHTTP(w, r)
}

// setPassword is POST /__git-password: the body is the new password.
func (g *privateGit) setPassword(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST the new password", http.StatusMethodNotAllowed)
		return
	}
	p, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
	g.mu.Lock()
	g.password = string(p)
	g.mu.Unlock()
}
