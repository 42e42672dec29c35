// Package images holds the build contexts bottle ships: the default agent
// image. (The sidecar image is Dockerfile.sidecar at the top of the
// repository: FROM scratch plus the static binary.)
package images

import (
	"embed"
	"os"
	"path/filepath"
)

//go:embed agent/Dockerfile
var files embed.FS

// AgentDockerfile returns the default agent Dockerfile.
func AgentDockerfile() []byte {
	b, _ := files.ReadFile("agent/Dockerfile")
	return b
}

// SidecarDockerfile is Dockerfile.sidecar, kept identical to the file at the
// top of the repository (a test checks it).
const SidecarDockerfile = `FROM scratch
COPY bottle-sidecar /bottle-sidecar
USER 65532:65532
EXPOSE 3128/tcp 53/udp 53/tcp
ENTRYPOINT ["/bottle-sidecar"]
CMD ["run", "--config-dir", "/etc/bottle", "--proxy-listen", ":3128", "--dns-listen", ":53"]
`

// WriteContext writes a build context (files by name) into a new directory
// under dir and returns its path.
func WriteContext(dir string, files map[string][]byte) (string, error) {
	ctx, err := os.MkdirTemp(dir, "bottle-build-")
	if err != nil {
		return "", err
	}
	for name, data := range files {
		mode := os.FileMode(0o644)
		if name == "bottle-sidecar" {
			mode = 0o755
		}
		if err := os.WriteFile(filepath.Join(ctx, name), data, mode); err != nil {
			os.RemoveAll(ctx)
			return "", err
		}
	}
	return ctx, nil
}
