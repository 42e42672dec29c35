package main

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
)

// gitRefs is GET /__git-refs?repo=PATH: the refs of the repository PATH
// under root ("acme/widget.git"), one "ID REF" line each, as
// `git for-each-ref` gives them — what a test reads to know whether a push
// landed, and that a refused one did not.
func gitRefs(root string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		repo := r.URL.Query().Get("repo")
		clean := filepath.Clean("/" + repo)
		if repo == "" || clean != "/"+repo || !strings.HasSuffix(repo, ".git") {
			http.Error(w, "want ?repo=PATH.git, a clean path under the git root", http.StatusBadRequest)
			return
		}
		out, err := exec.CommandContext(r.Context(), "git", "--git-dir", filepath.Join(root, clean), "for-each-ref", "--format=%(objectname) %(refname)").Output()
		if err != nil {
			http.Error(w, "git for-each-ref: "+err.Error(), http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(out)
	}
}
