package images

import (
	"os"
	"strings"
	"testing"
)

// TestSidecarDockerfileInSync: the embedded copy equals the instructions of
// Dockerfile.sidecar (comments aside).
func TestSidecarDockerfileInSync(t *testing.T) {
	data, err := os.ReadFile("../Dockerfile.sidecar")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n")+"\n" != SidecarDockerfile {
		t.Errorf("Dockerfile.sidecar and images.SidecarDockerfile differ:\n%s\n---\n%s", strings.Join(got, "\n"), SidecarDockerfile)
	}
	if !strings.Contains(string(AgentDockerfile()), "ARG BASE_IMAGE=") {
		t.Error("agent Dockerfile lacks BASE_IMAGE")
	}
}
