package proxy

// The git gate in the proxy. A request to a repository the allowlist
// declares (`git:`, allowlist.GitRepoFor), whichever rule admits it, is
// one of git's smart-HTTP exchanges, and two of them are the gate's:
//
//   - GET …/info/refs?service=git-receive-pack, the advertisement before a
//     push: it is asked upstream without Accept-Encoding (so the answer is
//     identity-encoded; a gzip one is decoded all the same), and the answer
//     gets "no-thin" among its capabilities (gitgate.NoThin), so that the
//     client sends a pack that holds every object it adds: a thin one
//     would hold deltas against objects the gate never sees.
//   - POST …/git-receive-pack, the push: before anything is sent upstream,
//     the body is decoded (Content-Encoding), read whole into the spool
//     (gitgate.Receive, bounded by Config.GitMaxPack), each ref-update
//     command is judged by the repository's entry (GitRepo.Decide), and
//     the pack is decoded and every object it adds scanned for the
//     credentials' real values and DLP patterns (gitgate.Inspect). A
//     refusal is answered as git's own receive-pack answers one (HTTP 200,
//     report-status with "ng" for every ref, the details as `remote:`
//     lines: gitgate.WriteReport), and the upstream is never dialled. An
//     accepted push is forwarded from the spool, with the credential the
//     guard put on its headers.
//
// The gate runs in handleRequest, after the decision and guardRequest,
// rather than in roundTrip: a refusal is then an answer like every other
// refusal (no transport, no in-flight registration to undo), and the
// guard has already judged the headers and put the credential on them
// (Inject edits r.Header, which the gate leaves alone: it replaces only
// the body). The guard's (and DLP's) wrapping of the body reads the push
// as it is spooled: scanning the raw pack that way is mostly pointless
// (objects are zlib-compressed), but harmless, and it still refuses a
// value that a client stored uncompressed. The gate's own scan of the
// decoded objects is what counts; the spooled body that is forwarded is
// not scanned again.
//
// Everything else to a declared repository (other info/refs, upload-pack:
// fetch and clone) passes as any request does.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/gitgate"
	"bottle.dev/bottle/internal/audit"
	"bottle.dev/bottle/internal/shquote"
	"bottle.dev/bottle/secret/guard"
)

// MaxPushes is how many pushes the gate spools and inspects at once; a
// further one waits for a slot (as long as its client waits, and at most
// PushWait), so that the spool's disk and the decoder's memory stay
// bounded by MaxPushes times the largest push.
const MaxPushes = 4

// PushWait is how long a push waits for a slot before it is refused (503).
const PushWait = 5 * time.Minute

// maxAuditCommits bounds the commit ids a git-push audit line lists.
const maxAuditCommits = 50

// maxAuditFindings bounds the findings a git-push audit line names (a
// push of a file of a million keys has a million findings); the last
// says how many more there were.
const maxAuditFindings = 100

// maxFindingLines bounds the `remote:` lines that name findings.
const maxFindingLines = 20

// gitReq is what the gate knows of a request to a declared repository.
type gitReq struct {
	repo   *allowlist.GitRepo
	advert bool // the receive-pack advertisement: no-thin goes into its answer
}

// gitScanner is the gate's scan of pushed content: the real values of the
// credentials in every encoding the guard knows ("value:NAME"), and the
// DLP patterns (their gitleaks rule ids). The whole of each object is
// scanned, in report mode as in block mode (DLPReportMax bounds request
// bodies only; a push is bounded by Config.GitMaxPack).
type gitScanner struct {
	set *guard.Set
	dlp Patterns // nil: the values only
}

func (g gitScanner) Scan(r io.Reader, found func(rule string, offset int64)) error {
	if g.dlp != nil {
		// Report mode: the reader hands every byte on as it scans, and
		// ScanValues reads it to its end.
		r = g.dlp.NewReader(r, false, func(f Finding) { found(f.RuleID, f.Offset) })
	}
	return g.set.ScanValues(r, func(name string, off int64) { found("value:"+name, off) })
}

// gitRequest is the gate's part of handleRequest, for an admitted request
// whose guard has run. It returns a response only to refuse (or to answer
// a push itself).
func (s *Server) gitRequest(r *http.Request, rs *reqState) *http.Response {
	repo, svc := rs.gen.p.GitRepoFor(rs.req.Host, rs.in.path)
	if repo == nil {
		return s.undeclaredPush(r, rs)
	}
	switch {
	case svc == allowlist.GitInfoRefs && r.Method == http.MethodGet && r.URL.Query().Get("service") == "git-receive-pack":
		rs.git = &gitReq{repo: repo, advert: true}
		// The advertisement is edited: ask for it identity-encoded.
		r.Header.Del("Accept-Encoding")
	case svc == allowlist.GitReceivePack && r.Method == http.MethodPost:
		rs.git = &gitReq{repo: repo}
		return s.gatePush(r, rs, repo)
	case svc == allowlist.GitReceivePack:
		// git sends only POST there; whatever a server would make of
		// another method, it must not reach it past the gate.
		return s.pushMethod(r, rs, repo)
	}
	return nil
}

// undeclaredPush refuses a push (its advertisement or its POST) to a
// repository no entry declares, on a host some entry does: a broad host
// rule may admit it, but the gate scopes and scans only the repositories
// it knows, and a forge may take a push under another spelling of a
// declared one (GitHub's paths ignore case: /ACME/Widget.git is
// acme/widget) that would then bypass the gate. Fetch and clone of such a
// repository pass as the policy says.
func (s *Server) undeclaredPush(r *http.Request, rs *reqState) *http.Response {
	// The host first: most requests go to hosts no entry names, and
	// pushEndpoint cleans the path.
	if !slices.ContainsFunc(rs.gen.p.Git(), func(g *allowlist.GitRepo) bool { return g.Host == rs.req.Host }) || !pushEndpoint(r, rs.in.path) {
		return nil
	}
	repo := requestRepo(rs)
	d := allowlist.Decision{Rule: allowlist.RuleDefault, Cause: allowlist.CauseGitRef,
		Reason: fmt.Sprintf("a push to %s, which no git: entry declares; pushes to %s go through the git gate, which takes them only for the repositories git: declares", repo, rs.req.Host)}
	if rs.gen.p.Mode() != allowlist.Enforce {
		d.Allowed, d.WouldDeny = true, true
		rs.decided(d)
		return nil
	}
	rs.decided(d)
	// The suggestion signs in as the host's other repositories do.
	var like *allowlist.GitRepo
	for _, g := range rs.gen.p.Git() {
		if g.Host == rs.req.Host && g.Credential != "" {
			like = &allowlist.GitRepo{Credential: g.Credential}
			break
		}
	}
	a := denyAnswer(r.Method, rs.req.Host, rs.req.Port, rs.in.path, d, s.gitAddCommand(like, repo, "refs/heads/agent/**"))
	s.finish(rs, a.status, "")
	return a.response(r)
}

// pushMethod refuses a request to a declared repository's receive-pack
// endpoint by another method than POST, which the gate would not judge.
func (s *Server) pushMethod(r *http.Request, rs *reqState, repo *allowlist.GitRepo) *http.Response {
	why := fmt.Sprintf("%s to git-receive-pack; git pushes with POST, which the bottle's git gate judges", r.Method)
	rs.decided(allowlist.Decision{Rule: repo.ID, Cause: allowlist.CauseGitPack, Reason: "push refused: " + why})
	drain(r.Body, s.maxPack())
	a := newAnswer(http.StatusMethodNotAllowed, "bottle: push refused: "+why+"\n")
	a.header.Set("Allow", http.MethodPost)
	a.header.Set("Proxy-Status", proxyStatus("http_request_denied", why))
	s.finish(rs, a.status, "")
	return a.response(r)
}

// pushEndpoint says whether a request addresses a receive-pack endpoint
// of some repository: POST …/git-receive-pack, or its advertisement (GET
// …/info/refs?service=git-receive-pack). Names are compared without case,
// as a forge may.
func pushEndpoint(r *http.Request, path string) bool {
	segs, err := allowlist.CleanPath(path)
	n := len(segs)
	switch {
	case err != nil || n == 0:
		return false
	case strings.EqualFold(segs[n-1], "git-receive-pack"):
		return true
	case n >= 2 && strings.EqualFold(segs[n-2], "info") && strings.EqualFold(segs[n-1], "refs"):
		return strings.EqualFold(r.URL.Query().Get("service"), "git-receive-pack")
	}
	return false
}

// gitResponse adds no-thin to the receive-pack advertisement (a gzip one
// decoded first). It runs before guardResponse, which then redacts the
// body it reads.
func (s *Server) gitResponse(resp *http.Response, rs *reqState) {
	if rs.git == nil || !rs.git.advert || resp.StatusCode != http.StatusOK || resp.Body == nil || resp.Body == http.NoBody {
		return
	}
	body := resp.Body
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))) {
	case "", "identity":
	case "gzip", "x-gzip":
		// Asked without Accept-Encoding; an upstream may gzip anyway.
		r = &lazyGzip{src: body}
		resp.Header.Del("Content-Encoding")
	default:
		// An encoding the gate cannot read: the advertisement passes as it
		// is, and a thin pack the client then sends is refused.
		return
	}
	resp.Body = readCloser{gitgate.NoThin(r), body}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
}

// lazyGzip decodes a gzip stream, opening it on the first read (a gzip
// reader reads the header when it is made, and roundTrip must not block
// on the upstream's body).
type lazyGzip struct {
	src io.Reader
	zr  *gzip.Reader
	err error
}

func (l *lazyGzip) Read(p []byte) (int, error) {
	if l.zr == nil && l.err == nil {
		l.zr, l.err = gzip.NewReader(l.src)
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.zr.Read(p)
}

// gitSlot waits for one of the MaxPushes slots, and returns its release.
func (s *Server) gitSlot(ctx context.Context) (func(), error) {
	t := time.NewTimer(PushWait)
	defer t.Stop()
	select {
	case s.gitSem <- struct{}{}:
		return sync.OnceFunc(func() { <-s.gitSem }), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("the sidecar is inspecting %d pushes already and none ended within %s", MaxPushes, PushWait)
	}
}

// gatePush reads a push into the spool, judges its commands and inspects
// its pack. It returns the refusal, or nil with r's body replaced by the
// spooled push, to be forwarded.
func (s *Server) gatePush(r *http.Request, rs *reqState, repo *allowlist.GitRepo) *http.Response {
	release, err := s.gitSlot(r.Context())
	if err != nil {
		a := newAnswer(http.StatusServiceUnavailable, "bottle: push not taken: "+err.Error()+"; push again in a moment\n")
		a.header.Set("Proxy-Status", proxyStatus("proxy_internal_response", "too many pushes at once"))
		s.decidePush(rs, repo, allowlist.CauseGitPack, "push not taken: "+err.Error(), nil, nil, nil)
		s.finish(rs, a.status, "")
		return a.response(r)
	}
	body := io.Reader(http.NoBody)
	if r.Body != nil {
		body = r.Body
	}
	decoded := false
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		if body, err = gitgate.DecodeBody(body, ce); err != nil {
			release()
			return s.pushPackError(r, rs, repo, nil, false, err)
		}
		decoded = true
	}
	push, err := gitgate.Receive(body, gitgate.Limits{Dir: s.cfg.GitSpool, MaxPack: s.cfg.GitMaxPack})
	if err != nil {
		// A push too large still has its commands (when they fit), so
		// that git can show the refusal on each ref.
		if push != nil {
			defer push.Close()
		}
		release()
		// The guard or DLP stopped the body as it was read: their refusal.
		if resp := s.bodyRefusal(r, rs); resp != nil {
			return resp
		}
		if !errors.Is(err, gitgate.ErrTooLarge) && !errors.Is(err, gitgate.ErrMalformed) {
			if b := rs.body; b != nil && b.readErr() != nil {
				return s.badBody(r, rs, b.readErr())
			}
		}
		return s.pushPackError(r, rs, repo, push, false, err)
	}
	// From here the spool is removed, and the slot freed, when the
	// request ends, whichever way: answered, failed, or the client gone
	// (the server cancels its context when the handler returns).
	done := sync.OnceFunc(func() { push.Close(); release() })
	context.AfterFunc(r.Context(), done)
	if len(push.Commands) == 0 {
		// The probe git sends before a large push ("0000"): it carries the
		// authentication round trip, and nothing to judge.
		s.forwardPush(r, push, decoded)
		return nil
	}
	if resp := s.judgePush(r, rs, repo, push); resp != nil {
		done()
		return resp
	}
	s.forwardPush(r, push, decoded)
	return nil
}

// judgePush judges a push's commands and inspects its pack, and returns
// the refusal, or nil (and the audit line says what was let through).
func (s *Server) judgePush(r *http.Request, rs *reqState, repo *allowlist.GitRepo, push *gitgate.Push) *http.Response {
	enforce := rs.gen.p.Mode() == allowlist.Enforce
	refs := make([]gitgate.RefStatus, len(push.Commands))
	var refused []refusedRef
	for i, c := range push.Commands {
		refs[i] = gitgate.RefStatus{Ref: c.Ref, OK: true}
		if ok, why := repo.Decide(c.Old, c.New, c.Ref); !ok {
			refs[i] = gitgate.RefStatus{Ref: c.Ref, Reason: "bottle: " + why}
			refused = append(refused, refusedRef{c, why})
		}
	}
	if len(refused) > 0 {
		var whys []string
		for _, rr := range refused {
			whys = append(whys, rr.String())
		}
		reason := "push refused: " + strings.Join(whys, "; ")
		if enforce {
			rejectOthers(refs, "bottle: push refused: another ref was rejected")
			s.decidePush(rs, repo, allowlist.CauseGitRef, reason, push, refs, nil)
			return s.pushReport(r, rs, push, refs, s.refMessages(rs, repo, refused))
		}
		// Report mode: the push goes on, marked would-deny.
		s.decidePush(rs, repo, allowlist.CauseGitRef, reason, push, okRefs(refs), nil)
		rs.d.Allowed, rs.d.WouldDeny = true, true
		setDecision(&rs.rec, rs.d)
	}
	var sc gitgate.Scanner
	if repo.Scan != allowlist.GitScanOff {
		sc = gitScanner{set: s.secrets.Load(), dlp: s.cfg.DLP}
	}
	res, err := push.Inspect(r.Context(), sc, repo.GitleaksAllow)
	if err != nil {
		return s.pushPackError(r, rs, repo, push, true, err)
	}
	if len(res.Findings) == 0 {
		if len(refused) == 0 {
			s.decidePush(rs, repo, allowlist.CauseAllowed, "", push, refs, res)
		} else {
			rs.rec.Git = s.gitRecord(repo, push, okRefs(refs), res)
		}
		return nil
	}
	var names []string
	value := false // a credential's real value: blocked in every scan and allowlist mode that scans
	for _, f := range res.Findings {
		names = append(names, f.String())
		value = value || strings.HasPrefix(f.Rule, "value:")
	}
	reason := "push blocked: " + strings.Join(names, "; ")
	if !value && (repo.Scan == allowlist.GitScanReport || !enforce) {
		// Audited, and forwarded.
		s.decidePush(rs, repo, allowlist.CauseGitSecret, reason, push, okRefs(refs), res)
		rs.d.Allowed, rs.d.WouldDeny = true, true
		setDecision(&rs.rec, rs.d)
		return nil
	}
	for i := range refs {
		refs[i] = gitgate.RefStatus{Ref: refs[i].Ref, Reason: "bottle: push blocked: a secret in the pushed commits"}
	}
	s.decidePush(rs, repo, allowlist.CauseGitSecret, reason, push, refs, res)
	return s.pushReport(r, rs, push, refs, findingMessages(res.Findings))
}

// rejectOthers marks every ref not yet rejected with why.
func rejectOthers(refs []gitgate.RefStatus, why string) {
	for i := range refs {
		if refs[i].OK {
			refs[i] = gitgate.RefStatus{Ref: refs[i].Ref, Reason: why}
		}
	}
}

// okRefs is refs all accepted (report mode: they are sent upstream).
func okRefs(refs []gitgate.RefStatus) []gitgate.RefStatus {
	out := make([]gitgate.RefStatus, len(refs))
	for i, r := range refs {
		out[i] = gitgate.RefStatus{Ref: r.Ref, OK: true}
	}
	return out
}

// refusedRef is a command the entry refuses, and why.
type refusedRef struct {
	gitgate.Command
	why string
}

// String is the refusal as a message says it, naming the ref.
func (rr refusedRef) String() string {
	if strings.Contains(rr.why, rr.Ref) {
		return rr.why
	}
	return rr.Ref + ": " + rr.why
}

// refMessages say what was refused, what the entry allows, and the
// command that would let the agent push a refused ref (not for a delete,
// which the agent's entry keeps from it on purpose).
func (s *Server) refMessages(rs *reqState, repo *allowlist.GitRepo, refused []refusedRef) []string {
	var msgs []string
	for _, rr := range refused {
		msgs = append(msgs, "bottle: push refused: "+rr.String())
	}
	if len(repo.Push) == 0 {
		msgs = append(msgs, fmt.Sprintf("bottle: %s (%s) is read-only: its entry has no push: globs", repo.Repo(), repo.ID))
	} else {
		m := fmt.Sprintf("bottle: %s (%s) takes pushes to %s only", repo.Repo(), repo.ID, strings.Join(repo.Push, ", "))
		if !repo.Delete && slices.ContainsFunc(refused, func(rr refusedRef) bool { return rr.Delete() }) {
			m += ", and deletes no ref (its entry has no delete: true)"
		}
		msgs = append(msgs, m)
	}
	rr := refused[0]
	if rr.Delete() || !strings.HasPrefix(rr.Ref, "refs/") {
		return msgs
	}
	if line := s.gitAddCommand(repo, repo.Repo(), rr.Ref); len(line) <= audit.MaxField {
		msgs = append(msgs, "bottle: to allow it, run on the host: "+line)
	}
	return msgs
}

// gitAddCommand is the `bottle git add` that declares repoArg with the
// settings of entry (nil: none), and push glob more besides: it replaces
// an entry for the same repository, so every setting is spelled out.
func (s *Server) gitAddCommand(entry *allowlist.GitRepo, repoArg, more string) string {
	cmd := []string{"bottle", "git", "add", repoArg}
	if entry != nil {
		for _, g := range entry.Push {
			cmd = append(cmd, "--push", g)
		}
	}
	cmd = append(cmd, "--push", more)
	if entry != nil {
		if entry.Delete {
			cmd = append(cmd, "--delete")
		}
		if entry.Credential != "" {
			cmd = append(cmd, "--credential", entry.Credential)
		}
		if entry.Scan != allowlist.GitScanBlock {
			cmd = append(cmd, "--scan", entry.Scan.String())
		}
		if entry.GitleaksAllow {
			cmd = append(cmd, "--gitleaks-allow")
		}
	}
	if s.cfg.Bottle != "" {
		cmd = append(cmd, "--bottle", s.cfg.Bottle)
	}
	return shquote.Join(cmd)
}

// requestRepo is the repository a push addresses, as `bottle git add`
// takes it: "git.example.com/acme/widget" (the entry's path may be a
// glob).
func requestRepo(rs *reqState) string {
	p := strings.Trim(rs.in.path, "/")
	for _, end := range []string{"/git-receive-pack", "/info/refs"} {
		if len(p) >= len(end) && strings.EqualFold(p[len(p)-len(end):], end) {
			p = p[:len(p)-len(end)]
			break
		}
	}
	p = strings.TrimSuffix(strings.Trim(p, "/"), ".git")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	return rs.req.Host + "/" + p
}

// findingMessages name each finding (never the match), and say what to
// do.
func findingMessages(fs []gitgate.Finding) []string {
	var msgs []string
	for i, f := range fs {
		if i == maxFindingLines {
			msgs = append(msgs, fmt.Sprintf("bottle: push blocked: and %d more", len(fs)-i))
			break
		}
		if name, ok := strings.CutPrefix(f.Rule, "value:"); ok {
			// The audit's "value:NAME", in words for the agent.
			f.Rule = "the value of credential " + name
		}
		msgs = append(msgs, "bottle: push blocked: "+f.String())
	}
	return append(msgs,
		"bottle: remove the secret from the commits that hold it (git reset, git commit --amend, or git rebase -i for an older one), then push again",
		"bottle: the secret is in the history until then: a later commit that deletes the file does not take it out")
}

// pushPackError refuses a push the gate cannot inspect: too large,
// malformed, thin, or whose body could not be decoded. push is nil when
// its commands are unknown: then git is told with a plain HTTP error;
// whole says it holds the whole body (Inspect refused it), not only its
// first bytes (Receive found it too large).
func (s *Server) pushPackError(r *http.Request, rs *reqState, repo *allowlist.GitRepo, push *gitgate.Push, whole bool, err error) *http.Response {
	var why string
	switch {
	case errors.Is(err, gitgate.ErrTooLarge):
		why = err.Error() + "; push fewer commits at a time"
	case errors.Is(err, gitgate.ErrThin):
		why = "thin pack (deltas against objects it does not hold, which the gate cannot inspect); push again with git push --no-thin"
	default:
		why = "the gate could not read the push: " + err.Error()
	}
	drain(r.Body, s.maxPack())
	if push == nil || len(push.Commands) == 0 {
		s.decidePush(rs, repo, allowlist.CauseGitPack, "push refused: "+why, push, nil, nil)
		a := newAnswer(http.StatusForbidden, "bottle: push refused: "+why+"\n")
		a.header.Set("Proxy-Status", proxyStatus("http_request_denied", why))
		s.finish(rs, a.status, "")
		return a.response(r)
	}
	refs := make([]gitgate.RefStatus, len(push.Commands))
	for i, c := range push.Commands {
		refs[i] = gitgate.RefStatus{Ref: c.Ref, Reason: "bottle: push refused: " + shortPackReason(err)}
	}
	s.decidePush(rs, repo, allowlist.CauseGitPack, "push refused: "+why, push, refs, nil)
	if errors.Is(err, gitgate.ErrTooLarge) && !whole {
		rs.rec.Git.Bytes = 0 // push holds its first bytes only
	}
	return s.pushReport(r, rs, push, refs, []string{"bottle: push refused: " + why})
}

func shortPackReason(err error) string {
	switch {
	case errors.Is(err, gitgate.ErrTooLarge):
		return "too large"
	case errors.Is(err, gitgate.ErrThin):
		return "thin pack"
	}
	return "malformed push"
}

func (s *Server) maxPack() int64 { return s.cfg.GitMaxPack }

// drain reads what is left of a refused push's body (up to limit), so that
// the client, still sending, reads the answer instead of a reset.
func drain(body io.Reader, limit int64) {
	if body != nil {
		io.Copy(io.Discard, io.LimitReader(body, limit))
	}
}

// pushReport answers a refused push as git's receive-pack would: 200, and
// a report git prints as "! [remote rejected] REF (REASON)" with the
// messages as `remote:` lines.
func (s *Server) pushReport(r *http.Request, rs *reqState, push *gitgate.Push, refs []gitgate.RefStatus, msgs []string) *http.Response {
	// What the messages quote from the push (a path, a ref name) never
	// shows the agent a credential's value.
	set := s.secrets.Load()
	for i := range msgs {
		msgs[i] = set.Scrub(msgs[i])
	}
	for i := range refs {
		refs[i].Reason = set.Scrub(refs[i].Reason)
	}
	var b bytes.Buffer
	if err := gitgate.WriteReport(&b, push.Caps, refs, msgs); err != nil {
		// Cannot happen on a buffer.
		a := newAnswer(http.StatusForbidden, "bottle: push refused\n")
		s.finish(rs, a.status, err.Error())
		return a.response(r)
	}
	a := newAnswer(http.StatusOK, b.String())
	a.header.Set("Content-Type", gitgate.ResultType)
	a.header.Set("X-Bottle-Decision", "deny")
	a.header.Set("X-Bottle-Rule", rs.d.Rule)
	s.finish(rs, a.status, "")
	return a.response(r)
}

// decidePush makes the request's audit line the push's (kind git-push)
// and records the decision: cause CauseAllowed lets it through.
func (s *Server) decidePush(rs *reqState, repo *allowlist.GitRepo, cause allowlist.Cause, reason string, push *gitgate.Push, refs []gitgate.RefStatus, res *gitgate.Result) {
	d := allowlist.Decision{Rule: repo.ID, Cause: cause, Reason: reason}
	if cause == allowlist.CauseAllowed {
		d = rs.d // the rule that admitted it
	}
	rs.decided(d)
	rs.rec.Kind = audit.KindGitPush
	rs.rec.Git = s.gitRecord(repo, push, refs, res)
}

// gitRecord is the push's account for the audit. What the agent chose
// (ref names, paths) has the credentials' values and DLP matches taken out
// and is clipped.
func (s *Server) gitRecord(repo *allowlist.GitRepo, push *gitgate.Push, refs []gitgate.RefStatus, res *gitgate.Result) *audit.GitPush {
	g := &audit.GitPush{Repo: repo.Repo(), Entry: repo.ID, Scan: repo.Scan.String(), Refs: []audit.GitRef{}}
	if push == nil {
		return g
	}
	_, g.Bytes = push.Body()
	for i, c := range push.Commands {
		ref := audit.GitRef{Ref: s.auditText(c.Ref), Old: c.Old, New: c.New, Status: "ok"}
		if i < len(refs) && !refs[i].OK {
			ref.Status, ref.Reason = "rejected", s.auditText(refs[i].Reason)
		}
		g.Refs = append(g.Refs, ref)
	}
	if res != nil {
		g.Objects = res.Objects
		g.Commits = res.Commits[:min(len(res.Commits), maxAuditCommits)]
		for i, f := range res.Findings {
			if i == maxAuditFindings {
				g.Findings = append(g.Findings, fmt.Sprintf("and %d more", len(res.Findings)-i))
				break
			}
			g.Findings = append(g.Findings, s.auditText(f.String()))
		}
	}
	return g
}

// auditText is str as an audit line may hold it: no credential's value or
// placeholder, no DLP match, bounded.
func (s *Server) auditText(str string) string {
	str = s.secrets.Load().Scrub(str)
	if s.cfg.DLP != nil {
		str = cutFindings(s.cfg.DLP, str)
	}
	return audit.Clip(str)
}

// forwardPush makes the spooled push r's body: its length known (no
// chunked encoding, no trailers), decoded when it was gzip-encoded. The
// headers stay as the guard left them, credential included. GetBody
// reads it again from the spool, so that the transport can send it anew
// on a fresh connection when a pooled one turns out closed before it took
// a byte. The spool goes when the request ends (gatePush), not when the
// transport closes a body.
func (s *Server) forwardPush(r *http.Request, push *gitgate.Push, decoded bool) {
	body, n := push.Body()
	r.Body = body
	r.ContentLength = n
	r.GetBody = func() (io.ReadCloser, error) {
		b, _ := push.Body()
		return b, nil
	}
	r.TransferEncoding = nil
	r.Trailer = nil
	r.Header.Del("Transfer-Encoding")
	r.Header.Del("Content-Length")
	if decoded {
		r.Header.Del("Content-Encoding")
	}
}
