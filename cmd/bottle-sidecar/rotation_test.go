package main

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"bottle.dev/bottle/secret"
)

// TestRotatedValueStillRefused: after a rotation (bottle secret refresh),
// the old value is still a secret of this bottle (a token rotated is not
// always revoked, and the agent may have come by it while it was in
// force): sent to another host, it is refused as the new one is.
func TestRotatedValueStillRefused(t *testing.T) {
	ph, v1, v2 := secret.NewPlaceholder("k"), testSecret(), testSecret()
	sc := startSidecarWith(t, credPolicy, func(sc *sidecar) { sc.writeCreds(ph, v1) })
	sc.waitInjected("a.test", v1)
	sc.writeCreds(ph, v2)
	sc.waitInjected("a.test", v2)
	for _, v := range []string{v2, v1} {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://b.test:%s/x", sc.port()), nil)
		req.Header.Set("X-Leak", v)
		resp, err := sc.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 {
			what := "the new value"
			if v == v1 {
				what = "the value before the rotation"
			}
			t.Errorf("%s sent to b.test: %d; want 403", what, resp.StatusCode)
		}
	}
}
