package workload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// The git scenario: a clone of one branch of a generated repository over
// smart HTTP, then a fetch of a second branch that carries a batch of new
// commits on top of it — the two things an agent does with a repository.
//
// The repository is written by git fast-import from a fixed seed, so the
// same commits come out of every run (commit ids hash content, author and
// date only); Verify knows the ids. Most of it is random bytes, which
// neither zlib nor git's deltas shrink, so the pack on the wire is as big
// as the history: the point is to measure moving a few hundred MB through
// the sidecar, not git's compression.

// gitHost is the simulated git server's name.
const gitHost = "git.bench.test"

// gitRepo is the bare repository under the scenario's directory, and the
// path of its URL.
const gitRepo = "bench.git"

// gitShape is how big one size of the repository is.
type gitShape struct {
	mainCommits, nextCommits int // on refs/heads/main; then on refs/heads/next, on top of main
	blobPaths                int // files of random bytes, rewritten in turn by each commit
	minBlob, maxBlob         int // each rewrite's size, uniform in [minBlob, maxBlob)
	textFiles                int // small compressible files, one edited per commit
}

func gitShapeOf(size Size) gitShape {
	if size == Full {
		// ~300 MiB in main's history (300 rewrites of ~1 MiB), a checkout
		// of ~100 MiB, and ~30 MiB more for the fetch.
		return gitShape{mainCommits: 300, nextCommits: 30, blobPaths: 100, minBlob: 512 << 10, maxBlob: 1536 << 10, textFiles: 50}
	}
	// ~20 MiB in main's history, ~2 MiB to fetch.
	return gitShape{mainCommits: 40, nextCommits: 4, blobPaths: 20, minBlob: 256 << 10, maxBlob: 768 << 10, textFiles: 10}
}

// files is how many files the checkout of main holds: every blob path
// written at least once, every text file, and the README.
func (s gitShape) files() int {
	return min(s.blobPaths, s.mainCommits) + s.textFiles + 1
}

// The tips Prepare writes, per size. They follow from the generator
// alone (TestGitPrepare checks the Quick ones; the Full ones were taken
// from a run of Prepare at Full): change the generator and these change.
const (
	gitQuickMain = "1e0daf0c0a1b0dc5025d36f0009d124d2d8c9c46"
	gitQuickNext = "7bb9dfd8f05d83731f336249f2761cedbc4e0d8b"
	gitFullMain  = "b21383f21eab02b4a97b1ff51bd34d31a65007fe"
	gitFullNext  = "803a3b3fc8e8c313914cfe4cec047b4063b171e0"
)

func git() Scenario {
	q, f := gitShapeOf(Quick), gitShapeOf(Full)
	return Scenario{
		Name:    "git clone and fetch, ~300 MB",
		Key:     "git",
		Prepare: prepareGit,
		Sites:   gitSites,
		Allow:   "  - host: " + gitHost + "\n",
		// Nothing to configure: no identity is needed to clone or fetch.
		Setup: "rm -rf clone\n",
		// libcurl, unlike curl(1) and Go, does not read SSL_CERT_FILE: a
		// run that names its roots only there gives them to git too.
		Run: `set -e
if [ -z "${GIT_SSL_CAINFO:-}" ] && [ -n "${SSL_CERT_FILE:-}" ]; then export GIT_SSL_CAINFO="$SSL_CERT_FILE"; fi
git clone --quiet --single-branch --branch main https://` + gitHost + `/` + gitRepo + ` clone
git -C clone fetch --quiet origin next:refs/remotes/origin/next
`,
		Verify: fmt.Sprintf(`set -e
cd clone
head=$(git rev-parse HEAD)
case "$head" in
%s) files=%d next=%s ;;
%s) files=%d next=%s ;;
*) echo "verify: HEAD is $head, not a tip Prepare writes" >&2; exit 1 ;;
esac
n=$(git ls-files | wc -l)
[ "$n" -eq "$files" ] || { echo "verify: the index has $n files, want $files" >&2; exit 1; }
n=$(find . -path ./.git -prune -o -type f -print | wc -l)
[ "$n" -eq "$files" ] || { echo "verify: the checkout has $n files, want $files" >&2; exit 1; }
[ -z "$(git status --porcelain)" ] || { echo "verify: the checkout differs from HEAD" >&2; exit 1; }
got=$(git rev-parse refs/remotes/origin/next)
[ "$got" = "$next" ] || { echo "verify: fetched next is $got, want $next" >&2; exit 1; }
git cat-file -e "$next^{tree}"
[ "$(git rev-list --count "$head..$next")" -gt 0 ]
`, gitQuickMain, q.files(), gitQuickNext, gitFullMain, f.files(), gitFullNext),
	}
}

// prepareGit writes the bare repository dir/bench.git with main and next.
func prepareGit(dir string, size Size) error {
	repo := filepath.Join(dir, gitRepo)
	if err := os.RemoveAll(repo); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if err := runGit(ctx, nil, "init", "--quiet", "--bare", repo); err != nil {
		return err
	}
	cmd := gitCommand(ctx, "--git-dir", repo, "fast-import", "--quiet", "--date-format=raw")
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git fast-import: %w", err)
	}
	w := bufio.NewWriterSize(in, 1<<20)
	genErr := writeGitHistory(w, gitShapeOf(size))
	if genErr == nil {
		genErr = w.Flush()
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	if genErr != nil {
		return fmt.Errorf("writing the history to git fast-import: %w", genErr)
	}
	// A clone points HEAD at the branch the server's HEAD names.
	if err := runGit(ctx, nil, "--git-dir", repo, "symbolic-ref", "HEAD", "refs/heads/main"); err != nil {
		return err
	}
	// One pack with a reachability bitmap, as a real server keeps it: the
	// clone's "counting objects" then costs the server nothing worth
	// measuring. The random blobs are reused as they are (no -f).
	return runGit(ctx, nil, "--git-dir", repo, "repack", "-a", "-d", "-b", "-q")
}

// writeGitHistory writes the fast-import stream of main, then next.
func writeGitHistory(w io.Writer, s gitShape) error {
	rng := rand.New(rand.NewChaCha8([32]byte{'b', 'o', 't', 't', 'l', 'e', '-', 'g', 'i', 't'}))
	bytesRng := rand.NewChaCha8([32]byte{'b', 'o', 't', 't', 'l', 'e', '-', 'b', 'l', 'o', 'b'})
	buf := make([]byte, s.maxBlob)
	when := int64(1_700_000_000)
	mark := 0
	commit := func(ref string, i int, first bool) error {
		mark++
		when += 60
		ident := fmt.Sprintf("Bench <bench@bench.test> %d +0000", when)
		msg := fmt.Sprintf("commit %d on %s", i, strings.TrimPrefix(ref, "refs/heads/"))
		fmt.Fprintf(w, "commit %s\nmark :%d\nauthor %s\ncommitter %s\ndata %d\n%s\n", ref, mark, ident, ident, len(msg), msg)
		// Each commit's parent is the one written before it: next's first
		// is on main's tip.
		if !first {
			fmt.Fprintf(w, "from :%d\n", mark-1)
		} else {
			readme := "A repository generated for bottle's benchmark (bench/workload/git.go).\n"
			fmt.Fprintf(w, "M 100644 inline README\ndata %d\n%s\n", len(readme), readme)
		}
		n := s.minBlob + rng.IntN(s.maxBlob-s.minBlob)
		bytesRng.Read(buf[:n])
		fmt.Fprintf(w, "M 100644 inline blobs/%03d.bin\ndata %d\n", i%s.blobPaths, n)
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		t := i % s.textFiles
		text := gitText(i, t)
		_, err := fmt.Fprintf(w, "\nM 100644 inline src/file%02d.txt\ndata %d\n%s\n", t, len(text), text)
		return err
	}
	// The first commits write the text files in turn: main must be long
	// enough to have written each, for files() to count it.
	if s.mainCommits < s.textFiles {
		return errors.New("fewer commits than text files")
	}
	for i := range s.mainCommits {
		if err := commit("refs/heads/main", i, i == 0); err != nil {
			return err
		}
	}
	for i := s.mainCommits; i < s.mainCommits+s.nextCommits; i++ {
		if err := commit("refs/heads/next", i, false); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, "done\n")
	return err
}

// gitText is a small source-like file: compressible, as code is.
func gitText(commit, file int) string {
	var b strings.Builder
	for line := range 40 {
		fmt.Fprintf(&b, "// file %d, line %d, last changed by commit %d\n", file, line, commit)
	}
	return b.String()
}

// gitSites serves dir's repositories with git-http-backend (smart HTTP,
// protocol v2 when the client asks for it).
func gitSites(dir string, _ Size) ([]Site, error) {
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("git --exec-path (the git server needs git installed): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("the git server needs git-http-backend: %w", err)
	}
	return []Site{{Host: gitHost, Handler: &cgi.Handler{
		Path: backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + dir,
			"GIT_HTTP_EXPORT_ALL=1",
			// The repository was written on the host by another user
			// than the server's; safe.directory is honoured from the
			// command-line scope, which these variables are.
			"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory", "GIT_CONFIG_VALUE_0=*",
		},
	}}}, nil
}

func gitCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.WaitDelay = 10 * time.Second
	// The host's own configuration (signing, hooks, templates) must not
	// change what is generated.
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	return cmd
}

func runGit(ctx context.Context, stdout io.Writer, args ...string) error {
	cmd := gitCommand(ctx, args...)
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}
