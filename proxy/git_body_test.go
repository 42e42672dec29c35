package proxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"bottle.dev/bottle/allowlist"
	"bottle.dev/bottle/gitgate"
	"bottle.dev/bottle/internal/chunky"
	"bottle.dev/bottle/secret"
	"bottle.dev/bottle/secret/guard"
)

// TestPushBodyChainPassesEveryByte: a push's body through the wrappers as
// handleRequest and guardRequest put them on it (countingBody, the guard
// with a credential bound to the host, DLP in block mode and in report
// mode, stopReader), read in irregular chunks, is spooled by
// gitgate.Receive byte for byte as it came.
func TestPushBodyChainPassesEveryByte(t *testing.T) {
	pol, err := allowlist.Parse("policy.yaml", []byte(strings.ReplaceAll(gitPolicy, "{{GIT}}", "443")))
	if err != nil {
		t.Fatal(err)
	}
	f := &secret.File{Version: secret.Version}
	for _, cr := range pol.Credentials() {
		f.Credentials = append(f.Credentials, secret.Value{Name: cr.Name, Placeholder: secret.NewPlaceholder(cr.Name), Value: newSecretValue(t)})
	}
	set, err := guard.New(pol.Credentials(), f)
	if err != nil {
		t.Fatal(err)
	}
	d := dlpAdapter{testDetector(t)}
	size := 32 << 20
	in := make([]byte, size)
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range in {
		in[i] = byte(rng.Uint32())
	}
	cmd := zeroID + " 1111111111111111111111111111111111111111 refs/heads/agent/x\x00report-status"
	copy(in, fmt.Sprintf("%04x%s0000PACK", len(cmd)+4, cmd))
	for _, block := range []bool{true, false} {
		var body io.ReadCloser = &countingBody{ReadCloser: io.NopCloser(chunky.New(bytes.NewReader(in), rand.New(rand.NewPCG(1, uint64(size))), 20000))}
		body = set.RequestBody(body, "git.test")
		if _, ok := body.(*guard.Body); !ok {
			t.Fatal("no guard")
		}
		sec := &reqSecrets{set: set}
		if block {
			body = readCloser{d.NewReader(body, true, func(Finding) {}), body}
		} else {
			scanned := d.NewReader(io.LimitReader(body, DLPReportMax), false, func(Finding) {})
			body = readCloser{io.MultiReader(scanned, body), body}
		}
		body = readCloser{stopReader{body, sec}, body}
		push, err := gitgate.Receive(body, gitgate.Limits{Dir: t.TempDir(), MaxPack: 1 << 30})
		if err != nil {
			t.Fatalf("block=%v: %v", block, err)
		}
		rc, n := push.Body()
		out, _ := io.ReadAll(rc)
		push.Close()
		if n != int64(len(in)) || !bytes.Equal(out, in) {
			i := 0
			for i < min(len(out), len(in)) && out[i] == in[i] {
				i++
			}
			t.Errorf("block=%v: spool of %d bytes, %d in, first difference at %d", block, n, len(in), i)
		}
	}
}
