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
	"strings"

	"bottle.dev/bottle/images"
	"bottle.dev/bottle/internal/termsafe"
)

// sidecarBinary finds a static bottle-sidecar: the one given, one beside the
// bottle executable, or one built from the checkout in the working directory.
func (l *Launcher) sidecarBinary(ctx context.Context, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "bottle-sidecar")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	root, err := findCheckout()
	if err != nil {
		return "", errors.New("no bottle-sidecar binary beside the bottle executable and no bottle source checkout here; put bottle-sidecar next to bottle")
	}
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
	return tag, l.buildIfMissing(ctx, tag, map[string][]byte{"Dockerfile": []byte(images.SidecarDockerfile), "bottle-sidecar": data}, nil)
}

func (l *Launcher) agentImage(ctx context.Context, s Spec) (string, error) {
	if s.Image != "" {
		return s.Image, nil
	}
	df := images.AgentDockerfile()
	if s.Dockerfile != "" {
		var err error
		if df, err = os.ReadFile(s.Dockerfile); err != nil {
			return "", err
		}
	}
	args := map[string]string{}
	if s.AgentBase != "" {
		args["BASE_IMAGE"] = s.AgentBase
	}
	tag := "bottle-agent:" + hashFiles(df, []byte(s.AgentBase))
	return tag, l.buildIfMissing(ctx, tag, map[string][]byte{"Dockerfile": df}, args)
}

func (l *Launcher) buildIfMissing(ctx context.Context, tag string, files map[string][]byte, args map[string]string) error {
	if ok, err := l.Backend.ImageExists(ctx, tag); err != nil {
		return err
	} else if ok {
		return nil
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
	var progress io.Writer
	if l.Verbose && l.Progress != nil {
		// A build runs the image's own commands: what they print is not
		// trusted with the terminal.
		progress = &termsafe.Writer{W: l.Progress}
	}
	return l.Backend.Build(ctx, BuildSpec{Tag: tag, Dockerfile: filepath.Join(dir, "Dockerfile"), Context: dir, Args: args,
		Labels: map[string]string{LabelManaged: "true"}, Progress: progress})
}
