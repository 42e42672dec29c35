package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/internal/termsafe"
	"bottle.dev/bottle/recipe"
)

// What a launch does with an agent recipe (Spec.Agent) besides its
// install layer (agentimage.go): its rules and credentials merged into
// the bottle's policy before anything is made, and its files, the prompt
// and the skills provisioned in the agent, as the agent user, once the
// self-test has passed.

// recipeName is how errors and notes name recipe r: "agent claude
// (builtin:claude.yaml)".
func recipeName(r *recipe.Recipe) string {
	if r.File == "" {
		return "agent " + termsafe.Line(r.Name)
	}
	return "agent " + termsafe.Line(r.Name) + " (" + termsafe.Line(r.File) + ")"
}

// checkAgent checks, before anything is made, what the launch will do
// with the recipe: its variables and paths, and the prompt and skills it
// is given, which need an agent that reads them and must be on the host.
func (st *launch) checkAgent() error {
	s, a := st.spec, st.spec.Agent
	if a == nil {
		for _, f := range []struct{ flag, val string }{{"--prompt", s.Prompt}, {"--skills", s.Skills}} {
			if f.val != "" {
				return fmt.Errorf("%s %s: there is no agent to read it; pass --agent NAME (or agent: in bottle.yaml), or drop %s", f.flag, termsafe.Line(f.val), f.flag)
			}
		}
		return nil
	}
	if err := CheckEnv(a.Env); err != nil {
		return fmt.Errorf("%s: env: %w", recipeName(a), err)
	}
	check := func(field, p string) error {
		if p == "" {
			return nil
		}
		if err := checkAgentPath(p); err != nil {
			return fmt.Errorf("%s: %s %q: %v", recipeName(a), field, termsafe.Line(p), err)
		}
		return nil
	}
	if err := check("instructions", a.Instructions); err != nil {
		return err
	}
	if err := check("skills", a.Skills); err != nil {
		return err
	}
	for i, f := range a.Files {
		if err := check(fmt.Sprintf("files[%d].path", i), f.Path); err != nil {
			return err
		}
	}
	if s.Prompt != "" {
		if a.Instructions == "" {
			return fmt.Errorf("--prompt %s: %s reads no instructions file (its recipe has no instructions:); drop --prompt, or say where the agent reads one with instructions: PATH in the recipe",
				termsafe.Line(s.Prompt), recipeName(a))
		}
		fi, err := os.Stat(s.Prompt)
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a file")
		}
		if err != nil {
			return fmt.Errorf("--prompt %s: %v; pass the file the agent is to read as its instructions", termsafe.Line(s.Prompt), err)
		}
	}
	if s.Skills != "" {
		if a.Skills == "" {
			return fmt.Errorf("--skills %s: %s reads no skills directory (its recipe has no skills:); drop --skills, or say where the agent reads them with skills: PATH in the recipe",
				termsafe.Line(s.Skills), recipeName(a))
		}
		fi, err := os.Stat(s.Skills)
		if err == nil && !fi.IsDir() {
			err = errors.New("not a directory")
		}
		if err != nil {
			return fmt.Errorf("--skills %s: %v; pass the directory of skills to copy into the agent", termsafe.Line(s.Skills), err)
		}
	}
	return nil
}

// checkAgentPath checks a path of a recipe: in the agent user's home
// ("~/…") or absolute, and clean (no "..", which a recipe has no use for).
func checkAgentPath(p string) error {
	rest, home := strings.CutPrefix(p, "~/")
	if !home {
		var abs bool
		if rest, abs = strings.CutPrefix(p, "/"); !abs {
			return errors.New(`want a path in the agent user's home ("~/…") or an absolute one`)
		}
	}
	if strings.ContainsAny(p, "\n\r\x00") {
		return errors.New("a path may not hold a line break or NUL")
	}
	for _, el := range strings.Split(strings.TrimSuffix(rest, "/"), "/") {
		if el == "" || el == "." || el == ".." {
			return errors.New("want a clean path to a file or directory (no '.', '..' or empty elements)")
		}
	}
	return nil
}

// agentPath is recipe path p in the agent: "~/" is home.
func agentPath(p, home string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return path.Join(home, rest)
	}
	return path.Clean(p)
}

// mergeAgentPolicy merges the recipe's rules and credentials into the
// policy the bottle starts with, so that what the sidecar enforces, what
// bottle allow list shows (with the origin), and the credentials resolved
// before the first step are all of the merged one. The user's rules win:
// what they already name is left out, and said. It checks the recipe's
// variables against the merged credentials.
func (st *launch) mergeAgentPolicy() error {
	a := st.spec.Agent
	if a == nil {
		return nil
	}
	who := "agent " + termsafe.Line(a.Name)
	if a.Policy != nil {
		out, added, skipped, err := allowlist.Merge(st.spec.Allowlist, st.policy, a.File, a.Policy, "agent "+a.Name)
		if err != nil {
			return fmt.Errorf("%s: adding its rules and credentials to the allowlist %s: %w", recipeName(a), termsafe.Line(st.spec.Allowlist), err)
		}
		pol, err := allowlist.Parse(st.spec.Allowlist, out)
		if err != nil {
			return fmt.Errorf("%s: the allowlist with its rules added is not valid:\n%w", recipeName(a), err)
		}
		st.policy, st.pol = out, pol
		for _, what := range added {
			note := who + " adds " + termsafe.Line(what)
			if name, ok := strings.CutPrefix(what, "credential "); ok {
				if vars := credentialVars(pol, strings.Fields(name)[0]); len(vars) > 0 {
					note += " (" + strings.Join(vars, ", ") + ")"
				}
			}
			st.policyNotes = append(st.policyNotes, note)
		}
		for _, what := range skipped {
			st.policyNotes = append(st.policyNotes, who+" does not add "+termsafe.Line(what))
		}
	}
	pct := strings.NewReplacer("%", "%%")
	return checkCredentialEnvOf(st.pol, a.Env, envOrigin{
		given: "env %s of " + pct.Replace(recipeName(a)),
		drop:  "drop %s from the recipe's env",
	})
}

// credentialVars are the variables of the agent that credential name of
// pol fills with its placeholders.
func credentialVars(pol *allowlist.Policy, name string) []string {
	for _, c := range pol.Credentials() {
		if c.Name == name {
			return agentVars(c)
		}
	}
	return nil
}

// The scripts provisioning runs in the agent for a recipe, each with its
// words as arguments ($1 …), never spliced in. Each begins with a comment
// that names it (the fake engine knows them by it).
const (
	// agentHomeScript prints the home of the user it runs as.
	agentHomeScript = `# bottle: the agent user's home
h=$(getent passwd "$(id -u)" 2>/dev/null | cut -d: -f6)
printf '%s\n' "${h:-$HOME}"`
	// agentReadScript prints file $1: exit 3 when there is none, 4 when
	// it is there but not a file.
	agentReadScript = `# bottle: read a file of the agent's
if [ -f "$1" ]; then exec cat -- "$1"; fi
if [ -e "$1" ] || [ -L "$1" ]; then exit 4; fi
exit 3`
	// agentWriteScript writes stdin to file $1, making its directory $3
	// first; with $2 "new", a file that is there is left as it is. It
	// prints what it did: written or exists.
	agentWriteScript = `# bottle: write a file of the agent's
set -e
mkdir -p -- "$3"
if [ "$2" = new ] && { [ -e "$1" ] || [ -L "$1" ]; }; then echo exists; exit 0; fi
cat > "$1.bottle-new"
mv -f -- "$1.bottle-new" "$1"
echo written`
	// agentMkdirScript makes directory $1.
	agentMkdirScript = `# bottle: make a directory of the agent's
mkdir -p -- "$1"`
	// agentOwnScript gives user $1 the entries $3 … of directory $2, what
	// the engine copied in (which is root's), and nothing else: the
	// directory may be one of the image's own (skills: /etc).
	agentOwnScript = `# bottle: give the agent user what was copied in
u=$1 d=$2
shift 2
for n; do chown -R -- "$u:" "$d/$n"; done`
)

// Exit statuses of agentReadScript.
const (
	readAbsent  = 3
	readNotFile = 4
)

// maxAgentFile bounds what provisioning reads of a file in the agent (a
// JSON configuration to merge into): the image's, not trusted with the
// host's memory.
const maxAgentFile = 1 << 20

// agentSh runs script as user in the agent, with args, stdin and its
// output kept up to maxAgentFile bytes.
func (st *launch) agentSh(ctx context.Context, user, script string, stdin []byte, args ...string) (string, error) {
	out := &limitedWriter{limit: maxAgentFile}
	e := ExecSpec{User: user, Argv: append([]string{"sh", "-c", script, "sh"}, args...), Stdout: out}
	if stdin != nil {
		e.Stdin = bytes.NewReader(stdin)
	}
	err := st.l.Backend.Exec(ctx, st.b.Agent, e)
	if err == nil && out.over {
		err = fmt.Errorf("more than %d bytes of output", maxAgentFile)
	}
	return out.buf.String(), err
}

// limitedWriter keeps the first limit bytes written to it.
type limitedWriter struct {
	buf   bytes.Buffer
	limit int
	over  bool
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.limit - w.buf.Len(); len(p) > room {
		w.over = true
		if room > 0 {
			w.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return w.buf.Write(p)
}

// provisionAgent writes the recipe's files in the agent, and copies the
// prompt and the skills there, as the agent user (so that what it writes
// is the agent's). It returns the notes that say what it did.
func (st *launch) provisionAgent(ctx context.Context) ([]string, error) {
	a, s, b := st.spec.Agent, st.spec, st.b
	if a == nil || len(a.Files) == 0 && s.Prompt == "" && s.Skills == "" {
		return nil, nil
	}
	who := "agent " + termsafe.Line(a.Name)
	out, err := st.agentSh(ctx, b.AgentUser, agentHomeScript, nil)
	if err != nil {
		return nil, fmt.Errorf("provisioning %s: the home of user %s: %w", who, b.AgentUser, err)
	}
	home := strings.TrimSpace(out)
	if !strings.HasPrefix(home, "/") || strings.ContainsAny(home, "\n\r\x00") || path.Clean(home) != home {
		return nil, fmt.Errorf("provisioning %s: the image says user %s's home is %q, not an absolute path", who, b.AgentUser, termsafe.Line(home))
	}
	expand := strings.NewReplacer("{mcp_url}", b.MCPURL, "{home}", home, "{workspace}", workspaceDir)
	var notes []string
	for _, f := range a.Files {
		note, err := st.writeAgentFile(ctx, agentPath(f.Path, home), []byte(expand.Replace(f.Content)))
		if err != nil {
			return nil, fmt.Errorf("provisioning %s: %s: %w", who, termsafe.Line(f.Path), err)
		}
		notes = append(notes, who+": "+termsafe.Line(f.Path)+" "+note)
	}
	if s.Prompt != "" {
		data, err := os.ReadFile(s.Prompt)
		if err != nil {
			return nil, fmt.Errorf("--prompt: %w", err)
		}
		dst := agentPath(a.Instructions, home)
		if _, err := st.agentSh(ctx, b.AgentUser, agentWriteScript, data, dst, "replace", path.Dir(dst)); err != nil {
			return nil, fmt.Errorf("provisioning %s: copying --prompt %s to %s: %w", who, termsafe.Line(s.Prompt), termsafe.Line(dst), err)
		}
		notes = append(notes, fmt.Sprintf("prompt %s copied to %s", termsafe.Line(s.Prompt), termsafe.Line(a.Instructions)))
	}
	if s.Skills != "" {
		note, err := st.copySkills(ctx, agentPath(a.Skills, home))
		if err != nil {
			return nil, fmt.Errorf("provisioning %s: copying --skills %s to %s: %w", who, termsafe.Line(s.Skills), termsafe.Line(a.Skills), err)
		}
		notes = append(notes, fmt.Sprintf("skills %s copied to %s (%s)", termsafe.Line(s.Skills), termsafe.Line(a.Skills), note))
	}
	return notes, nil
}

// writeAgentFile writes content to p in the agent, as the agent user: a
// new file as it is; over a .json file the image has, deep-merged (the
// recipe's values win); any other file that is there is left as it is.
// It returns what it did, for a note.
func (st *launch) writeAgentFile(ctx context.Context, p string, content []byte) (string, error) {
	user := st.b.AgentUser
	mode := "new"
	if strings.HasSuffix(p, ".json") {
		old, err := st.agentSh(ctx, user, agentReadScript, nil, p)
		var re *RunError
		switch {
		case errors.As(err, &re) && re.ExitCode == readAbsent:
		case errors.As(err, &re) && re.ExitCode == readNotFile:
			return "is in the image and not a file: left as it is", nil
		case err != nil:
			return "", fmt.Errorf("reading it: %w", err)
		default:
			merged, err := mergeJSON([]byte(old), content)
			if err != nil {
				return "is in the image and " + err.Error() + ": left as it is, the recipe's content not merged", nil
			}
			content, mode = merged, "replace"
		}
	}
	out, err := st.agentSh(ctx, user, agentWriteScript, content, p, mode, path.Dir(p))
	if err != nil {
		return "", err
	}
	switch strings.TrimSpace(out) {
	case "written":
		if mode == "replace" {
			return "merged into the image's", nil
		}
		return "written", nil
	case "exists":
		return "is in the image: left as it is, the recipe's content not written", nil
	}
	return "", fmt.Errorf("unexpected answer %q from the image's shell", termsafe.Line(out))
}

// copySkills copies the skills directory to dst in the agent: its
// directories and regular files, and nothing else (a symlink could bring
// any file of the host's with it). They are staged on the host first, so
// the engine copies exactly what was checked, then given to the agent user.
func (st *launch) copySkills(ctx context.Context, dst string) (string, error) {
	l, b := st.l, st.b
	build := filepath.Join(l.StateDir, ".build")
	if err := os.MkdirAll(build, 0o700); err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp(build, "bottle-skills-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	n, skipped, err := stageTree(st.spec.Skills, stage)
	if err != nil {
		return "", err
	}
	if _, err := st.agentSh(ctx, b.AgentUser, agentMkdirScript, nil, dst); err != nil {
		return "", err
	}
	if err := l.Backend.CopyIn(ctx, b.Agent, stage+"/.", dst); err != nil {
		return "", err
	}
	if b.AgentUser != "root" {
		ents, err := os.ReadDir(stage)
		if err != nil {
			return "", err
		}
		args := []string{b.AgentUser, dst}
		for _, e := range ents {
			args = append(args, e.Name())
		}
		if len(ents) > 0 {
			if _, err := st.agentSh(ctx, "0", agentOwnScript, nil, args...); err != nil {
				return "", err
			}
		}
	}
	note := plural(n, "file")
	if len(skipped) > 0 {
		note += "; left out, not a file or directory: " + strings.Join(skipped, ", ")
	}
	return note, nil
}

// stageTree copies the directories and regular files of src into dst (a
// directory that exists), following no symlink below src. It returns how
// many files it copied and what it left out (relative paths, escaped).
func stageTree(src, dst string) (int, []string, error) {
	root, err := filepath.EvalSymlinks(src) // the directory named; nothing below it is followed
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var skipped []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(to, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			n++
			return copyRegular(p, to, 0o644|info.Mode().Perm()&0o111)
		}
		skipped = append(skipped, termsafe.Line(filepath.ToSlash(rel)))
		return nil
	})
	return n, skipped, err
}

// copyRegular copies the regular file src to dst, a new file of mode.
func copyRegular(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
