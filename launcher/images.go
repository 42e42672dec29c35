package launcher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"bottle.dev/bottle/images"
	"bottle.dev/bottle/internal/termsafe"
)

// findSidecar finds a static bottle-sidecar: the one given, one beside the
// bottle executable, or — when neither — the checkout in the working
// directory to build it from (bin is then "").
func findSidecar(given string) (bin, checkout string, err error) {
	if given != "" {
		st, err := os.Stat(given)
		if err == nil && !st.Mode().IsRegular() {
			err = errors.New("not a file")
		}
		if err != nil {
			return "", "", fmt.Errorf("bottle-sidecar %s: %v", given, err)
		}
		return given, "", nil
	}
	dir := "the bottle executable's directory"
	if exe, err := os.Executable(); err == nil {
		dir = filepath.Dir(exe)
		p := filepath.Join(dir, "bottle-sidecar")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, "", nil
		}
	}
	root, err := findCheckout()
	if err != nil {
		return "", "", fmt.Errorf("no bottle-sidecar beside bottle (in %s) and no bottle source checkout here to build it from; put bottle-sidecar next to bottle: CGO_ENABLED=0 go build -o %s ./cmd/bottle-sidecar (in a checkout of bottle)",
			dir, filepath.Join(dir, "bottle-sidecar"))
	}
	return "", root, nil
}

// FindSidecar says where a launch would take bottle-sidecar from (given:
// the one to use, "" to look), for bottle doctor.
func FindSidecar(given string) (string, error) {
	bin, root, err := findSidecar(given)
	if err != nil {
		return "", err
	}
	if bin != "" {
		return bin, nil
	}
	return "built at launch from the checkout in " + root + " (go build, CGO_ENABLED=0)", nil
}

// sidecarBinary finds bottle-sidecar, building it from the checkout when
// that is where it comes from.
func (l *Launcher) sidecarBinary(ctx context.Context, given string) (string, error) {
	bin, root, err := findSidecar(given)
	if err != nil || bin != "" {
		return bin, err
	}
	return l.buildSidecar(ctx, root)
}

// buildSidecar builds a static bottle-sidecar from the checkout in root.
func (l *Launcher) buildSidecar(ctx context.Context, root string) (string, error) {
	out := filepath.Join(l.StateDir, ".build", "bottle-sidecar")
	l.note("building bottle-sidecar from %s", root)
	// Static: the sidecar image is FROM scratch, with no C library.
	build := Cmd{Argv: []string{"go", "build", "-trimpath", "-o", out, "./cmd/bottle-sidecar"}, Dir: root, Env: []string{"CGO_ENABLED=0"}}
	if err := OrExec(l.Runner).Run(ctx, build); err != nil {
		return "", fmt.Errorf("building bottle-sidecar in %s with CGO_ENABLED=0: %w", root, err)
	}
	return out, nil
}

func findCheckout() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(data), "module bottle.dev/bottle\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not in a checkout")
		}
		dir = parent
	}
}

func hashFiles(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (l *Launcher) sidecarImage(ctx context.Context, bin string) (string, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	tag := "bottle-sidecar:" + hashFiles(data, []byte(images.SidecarDockerfile))
	return tag, l.buildIfMissing(ctx, tag, map[string][]byte{"Dockerfile": []byte(images.SidecarDockerfile), "bottle-sidecar": data}, nil, false)
}

// agentBuild is how a launch has its agent image: as given, or built
// from the user's Dockerfile with its directory as the context, or from
// bottle's own.
type agentBuild struct {
	tag        string
	given      bool              // Spec.Image: used as it is
	dockerfile string            // the user's Dockerfile (absolute); its directory is the context
	files      map[string][]byte // else the context of bottle's own Dockerfile
	args       map[string]string
	// sum hashes what the image is made from on the host; bases are the
	// images it is built FROM, whose IDs on the engine go into the tag
	// too (agentTag).
	sum   string
	bases []string
}

// planAgent reads what the agent image is made from: the Dockerfile,
// BASE_IMAGE, every file of the context that a build would send
// (.dockerignore is respected; without one, .git is left out), and the
// base images it names. agentTag then tags it by all of that and the base
// images' IDs, so an unchanged image is not rebuilt, and a changed file or
// a base image rebuilt under the same name is.
func planAgent(s Spec) (agentBuild, error) {
	if s.Image != "" {
		return agentBuild{tag: s.Image, given: true}, nil
	}
	args := map[string]string{}
	if s.AgentBase != "" {
		args["BASE_IMAGE"] = s.AgentBase
	}
	if s.Dockerfile == "" {
		df := images.AgentDockerfile()
		return agentBuild{sum: hashFiles(df, []byte(s.AgentBase)), bases: DockerfileBases(df, args), files: map[string][]byte{"Dockerfile": df}, args: args}, nil
	}
	abs, err := filepath.Abs(s.Dockerfile)
	if err != nil {
		return agentBuild{}, err
	}
	df, err := os.ReadFile(abs)
	if err != nil {
		return agentBuild{}, fmt.Errorf("--dockerfile: %w", err)
	}
	sum, err := hashContext(filepath.Dir(abs))
	if err != nil {
		return agentBuild{}, fmt.Errorf("the build context of %s (its directory): %w", s.Dockerfile, err)
	}
	return agentBuild{sum: hashFiles(df, []byte(s.AgentBase), []byte(sum)), bases: DockerfileBases(df, args), dockerfile: abs, args: args}, nil
}

// agentTag tags a built agent image: by what planAgent hashed, and by the
// ID the engine gives each of its base images ("" for one it does not
// have, which the build fetches).
func (l *Launcher) agentTag(ctx context.Context, a *agentBuild) error {
	if a.given {
		return nil
	}
	parts := [][]byte{[]byte(a.sum)}
	for _, base := range a.bases {
		id, err := l.Backend.ImageID(ctx, base)
		if err != nil {
			return fmt.Errorf("the agent image's base %s: %w", base, err)
		}
		parts = append(parts, []byte(base), []byte(id))
	}
	a.tag = "bottle-agent:" + hashFiles(parts...)
	return nil
}

// DockerfileBases are the images a Dockerfile builds FROM, with build
// args (over the ARG defaults before the first FROM) put in: not scratch,
// not an earlier stage, and not one whose name still holds a variable
// after that (it cannot be known here).
func DockerfileBases(df []byte, buildArgs map[string]string) []string {
	vars := map[string]string{}
	stages := map[string]bool{}
	var bases []string
	seenFrom := false
	for _, line := range dockerfileLines(string(df)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "ARG":
			if seenFrom {
				continue
			}
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				vars[k] = strings.Trim(v, `"'`)
			}
		case "FROM":
			seenFrom = true
			rest := f[1:]
			for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
				rest = rest[1:]
			}
			if len(rest) == 0 {
				continue
			}
			img := os.Expand(rest[0], func(k string) string {
				if v, ok := buildArgs[k]; ok {
					return v
				}
				return vars[k]
			})
			if img != "" && img != "scratch" && !stages[strings.ToLower(img)] && !strings.Contains(img, "$") && !slices.Contains(bases, img) {
				bases = append(bases, img)
			}
			if len(rest) >= 3 && strings.EqualFold(rest[1], "AS") {
				stages[strings.ToLower(rest[2])] = true
			}
		}
	}
	return bases
}

// dockerfileLines are a Dockerfile's instructions: comments dropped,
// continued lines joined.
func dockerfileLines(df string) []string {
	var out []string
	cur := ""
	for _, line := range strings.Split(df, "\n") {
		t := strings.TrimSpace(line)
		if cur == "" && strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur += strings.TrimSuffix(t, "\\") + " "
			continue
		}
		out = append(out, cur+t)
		cur = ""
	}
	if cur != "" {
		out = append(out, cur)
	}
	return out
}

// agentImage builds the agent image unless it is given, or there already
// and not to be rebuilt.
func (l *Launcher) agentImage(ctx context.Context, a agentBuild, rebuild bool) error {
	switch {
	case a.given:
		return nil
	case a.dockerfile == "":
		return l.buildIfMissing(ctx, a.tag, a.files, a.args, rebuild)
	}
	if !rebuild {
		if ok, err := l.Backend.ImageExists(ctx, a.tag); err != nil || ok {
			return err
		}
	}
	l.note("building %s from %s", a.tag, termsafe.Line(a.dockerfile))
	return l.Backend.Build(ctx, BuildSpec{Tag: a.tag, Dockerfile: a.dockerfile, Context: filepath.Dir(a.dockerfile), Args: a.args,
		Labels: map[string]string{LabelManaged: "true"}, Progress: l.buildProgress(), NoCache: rebuild})
}

// buildProgress is where a build's output goes: the progress stream with
// -v, escaped (a build runs the image's own commands, and what they print
// is not trusted with the terminal); nowhere otherwise.
func (l *Launcher) buildProgress() io.Writer {
	if l.Verbose && l.Progress != nil {
		return &termsafe.Writer{W: l.Progress}
	}
	return nil
}

func (l *Launcher) buildIfMissing(ctx context.Context, tag string, files map[string][]byte, args map[string]string, rebuild bool) error {
	if !rebuild {
		if ok, err := l.Backend.ImageExists(ctx, tag); err != nil {
			return err
		} else if ok {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Join(l.StateDir, ".build"), 0o700); err != nil {
		return err
	}
	dir, err := images.WriteContext(filepath.Join(l.StateDir, ".build"), files)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l.note("building %s", tag)
	return l.Backend.Build(ctx, BuildSpec{Tag: tag, Dockerfile: filepath.Join(dir, "Dockerfile"), Context: dir, Args: args,
		Labels: map[string]string{LabelManaged: "true"}, Progress: l.buildProgress(), NoCache: rebuild})
}
