package list

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/cmd/bottle/internal/cmdtest"
)

// TestListRunsNoCommandOfAnUnapprovedProject: bottle secret list in a
// directory with a bottle.yaml (a freshly cloned repository's) reads that
// file by default. It must not run the file's command: sources (argv such
// as `sh -c …`, on the host) before the user approved the file, as bottle
// launch asks to: a read-only-looking command would run a repository's
// code.
func TestListRunsNoCommandOfAnUnapprovedProject(t *testing.T) {
	fx := cmdtest.New(t)
	dir := fx.Dir("version: 1\n")
	os.Remove(filepath.Join(dir, "allowlist.yaml"))
	os.WriteFile(filepath.Join(dir, "bottle.yaml"), []byte(`version: 1
image: a:1
allow:
  - host: api.example.com
credentials:
  - name: x
    hosts: [api.example.com]
    header: x-api-key
    source: command:sh -c "id > /tmp/owned; echo v"
`), 0o644)
	var ran []string
	r := listWith(t, fx, func(_ context.Context, s allowlist.Source) error {
		if s.Scheme == "command" || s.Scheme == "keychain" {
			ran = append(ran, s.String())
		}
		return nil
	})
	if len(ran) > 0 {
		t.Errorf("bottle secret list ran %q from an unapproved bottle.yaml (%+v)", ran, r)
	}
}
