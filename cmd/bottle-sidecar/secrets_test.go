package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"bottle.dev/bottle/internal/atomicfile"
	"bottle.dev/bottle/internal/contract"
	"bottle.dev/bottle/secret"
)

const credPolicy = `version: 1
allow:
  - host: a.test
    ports: [{{PORT}}]
  - host: b.test
    ports: [{{PORT}}]
  - cidr: 127.0.0.1/32
    ports: [{{PORT}}]
credentials:
  - name: k
    hosts: [a.test]
    header: x-api-key
    source: env:K
`

// writeCreds writes the credentials file with value v for k (and its
// placeholder ph).
func (sc *sidecar) writeCreds(ph, v string) {
	sc.t.Helper()
	f := &secret.File{Credentials: []secret.Value{{Name: "k", Placeholder: ph, Value: v}}}
	data, err := f.Marshal()
	if err != nil {
		sc.t.Fatal(err)
	}
	if err := atomicfile.Write(filepath.Join(sc.dir, "credentials.json"), data); err != nil {
		sc.t.Fatal(err)
	}
}

func testSecret() string {
	b := make([]byte, 20)
	rand.Read(b)
	return "tsv-" + hex.EncodeToString(b)
}

// waitInjected sends requests to host until the origin has seen want as
// X-Api-Key.
func (sc *sidecar) waitInjected(host, want string) {
	sc.t.Helper()
	c := sc.client()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://%s:%s/x", host, sc.port()), nil)
		if resp, err := c.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		lines := strings.Split(strings.TrimSpace(sc.saw.String()), "\n")
		if lines[len(lines)-1] == "key="+want {
			return
		}
		if time.Now().After(deadline) {
			sc.t.Fatalf("the origin never saw key=%q; it saw:\n%s\nsidecar:\n%s", want, sc.saw.String(), sc.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCredentialsReload: the sidecar injects the value of the credentials
// file in its config dir, and takes a rotated value from the next request;
// a bad file is refused (without its content in the log) and the value in
// force stays; a policy change applies to the credentials too; a removed
// file means no credentials. No value is ever in the sidecar's log, its status file or its
// audit.
func TestCredentialsReload(t *testing.T) {
	ph, v1, v2 := secret.NewPlaceholder("k"), testSecret(), testSecret()
	sc := startSidecarWith(t, credPolicy, func(sc *sidecar) { sc.writeCreds(ph, v1) })
	sc.waitInjected("a.test", v1)

	// Rotation, which the status file confirms (bottle secret refresh
	// waits on it).
	sc.writeCreds(ph, v2)
	sc.waitInjected("a.test", v2)
	want := contract.Hash(readFileBytes(t, filepath.Join(sc.dir, "credentials.json")))
	st := sc.waitCredsStatus(want)
	if !st.CredentialsOK || st.CredentialsError != "" || !st.OK {
		t.Errorf("status after a rotation: %+v", st)
	}

	// A bad file: refused, v2 stays.
	bad := `{"version": 1, "credentials": [{"name": "k", "value": "` + v1 + `"`
	if err := atomicfile.Write(filepath.Join(sc.dir, "credentials.json"), []byte(bad)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(sc.stderr.String(), "credentials rejected") {
		if time.Now().After(deadline) {
			t.Fatalf("the bad file was not reported:\n%s", sc.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	sc.waitInjected("a.test", v2)
	st = sc.waitCredsStatus(contract.Hash([]byte(bad)))
	if st.CredentialsOK || !strings.Contains(st.CredentialsError, "credentials.json") || !strings.Contains(st.CredentialsError, "the previous values stay in force") || !st.OK {
		t.Errorf("status after a bad credentials file: %+v", st)
	}

	// The policy binds k to b.test instead: a.test gets nothing now.
	sc.writeCreds(ph, v2)
	sc.writePolicy(strings.Replace(credPolicy, "hosts: [a.test]", "hosts: [b.test]", 1))
	sc.waitInjected("b.test", v2)
	sc.waitInjected("a.test", "")

	// The file removed: no credentials at all.
	os.Remove(filepath.Join(sc.dir, "credentials.json"))
	sc.waitInjected("b.test", "")

	// Back, and SIGHUP (which re-reads both files) changes nothing.
	sc.writeCreds(ph, v1)
	sc.waitInjected("b.test", v1)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	sc.waitInjected("b.test", v1)

	sc.stop()
	for name, text := range map[string]string{"the sidecar's log": sc.stderr.String(), "its stdout (the audit)": sc.stdout.String(), "its status file": readFile(t, filepath.Join(sc.state, "reload.json"))} {
		for _, v := range []string{v1, v2, ph} {
			if strings.Contains(text, v) {
				t.Errorf("%s holds a secret:\n%s", name, text)
			}
		}
	}
	if !strings.Contains(sc.stdout.String(), `"credential":"k"`) {
		t.Errorf("the audit does not name the credential injected:\n%s", sc.stdout.String())
	}
}

// TestCredentialsBadAtStart: a credentials file that does not parse stops
// the sidecar at start, naming the file, never its content.
func TestCredentialsBadAtStart(t *testing.T) {
	dir := t.TempDir()
	v := testSecret()
	os.WriteFile(filepath.Join(dir, "credentials.json"), []byte(`{"credentials": [{"value": "`+v+`"}]`), 0o600)
	os.WriteFile(filepath.Join(dir, "allowlist.yaml"), []byte(strings.ReplaceAll(credPolicy, "{{PORT}}", "443")), 0o644)
	var stderr strings.Builder
	code := run(t.Context(), []string{"run", "--config-dir", dir, "--proxy-listen", "127.0.0.1:0", "--mcp-listen", "", "--upstream-dns", "127.0.0.1:53"}, io.Discard, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "credentials.json") || strings.Contains(stderr.String(), v) {
		t.Errorf("exit %d:\n%s", code, stderr.String())
	}
}

// waitCredsStatus waits until the status file says the sidecar read the
// credentials file of hash want.
func (sc *sidecar) waitCredsStatus(want string) contract.ReloadStatus {
	sc.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := contract.ReadStatus(filepath.Join(sc.state, "reload.json"))
		if err == nil && st.CredentialsTried == want {
			return st
		}
		if time.Now().After(deadline) {
			sc.t.Fatalf("the status file never named credentials %s: %+v %v", want, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readFileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signV4 signs r (a GET without a body) with AWS Signature Version 4, as an
// SDK would: host and x-amz-date signed, the empty payload's hash.
func signV4(r *http.Request, keyID, secretKey string, at time.Time) {
	date := at.UTC().Format("20060102T150405Z")
	r.Header.Set("X-Amz-Date", date)
	r.Header.Set("Authorization", v4Authorization(r.Method, r.Host, r.URL.EscapedPath(), date, keyID, secretKey))
}

// v4Authorization is the Authorization header of a GET of path on host at
// date, signed with keyID and secretKey.
func v4Authorization(method, host, path, date, keyID, secretKey string) string {
	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	mac := func(k []byte, s string) []byte { m := hmac.New(sha256.New, k); m.Write([]byte(s)); return m.Sum(nil) }
	scope := date[:8] + "/us-east-1/sts/aws4_request"
	canon := method + "\n" + path + "\n\nhost:" + host + "\nx-amz-date:" + date + "\n\nhost;x-amz-date\n" + sum("")
	k := mac([]byte("AWS4"+secretKey), date[:8])
	for _, part := range []string{"us-east-1", "sts", "aws4_request"} {
		k = mac(k, part)
	}
	sig := hex.EncodeToString(mac(k, "AWS4-HMAC-SHA256\n"+date+"\n"+scope+"\n"+sum(canon)))
	return "AWS4-HMAC-SHA256 Credential=" + keyID + "/" + scope + ", SignedHeaders=host;x-amz-date, Signature=" + sig
}

// TestAWSResigned: a request the agent signs with the placeholder keys
// reaches the upstream signed with the real ones (a signature the real
// secret key verifies), and one signed with other keys is refused.
func TestAWSResigned(t *testing.T) {
	pol := strings.Replace(credPolicy, "    header: x-api-key\n    source: env:K\n",
		"    aws:\n      access_key_id: env:AK\n      secret_access_key: env:SK\n", 1)
	real := secret.AWS{AccessKeyID: "EXAMPLEKEYID" + strings.ToUpper(hex.EncodeToString([]byte("tkey"))), SecretAccessKey: testSecret(),
		PlaceholderKeyID: secret.NewAWSKeyID()}
	ph := secret.NewPlaceholder("k")
	sc := startSidecarWith(t, pol, func(sc *sidecar) {
		data, _ := (&secret.File{Credentials: []secret.Value{{Name: "k", Placeholder: ph, AWS: &real}}}).Marshal()
		atomicfile.Write(filepath.Join(sc.dir, "credentials.json"), data)
	})
	c := sc.client()
	host := "a.test:" + sc.port()
	for _, tc := range []struct {
		name          string
		keyID, secret string
		want          int
	}{
		{"placeholder keys", real.PlaceholderKeyID, ph, 200},
		{"the placeholder key id with another secret", real.PlaceholderKeyID, testSecret(), 403},
	} {
		req, _ := http.NewRequest("GET", "https://"+host+"/x", nil)
		signV4(req, tc.keyID, tc.secret, time.Now())
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Fatalf("%s: %d %q", tc.name, resp.StatusCode, body)
		}
		if tc.want != 200 {
			continue
		}
		got := <-sc.sawReq
		want := v4Authorization("GET", got.Host, "/x", got.Header.Get("X-Amz-Date"), real.AccessKeyID, real.SecretAccessKey)
		if got.Header.Get("Authorization") != want {
			t.Errorf("%s: the upstream got Authorization %q; want one signed with the real keys", tc.name, got.Header.Get("Authorization"))
		}
	}
}

// TestDLPWired: gitleaks' patterns (package dlp) judge what the agent
// sends: a GitHub token in a header is audited as would-deny with its rule
// id (dlp: report, the default), and refused with dlp: block.
func TestDLPWired(t *testing.T) {
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, 36)
	rand.Read(b)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	token := "ghp_" + string(b) // made here: no file holds one
	sc := startSidecar(t, sidecarPolicy)
	send := func() int {
		req, _ := http.NewRequest("GET", fmt.Sprintf("https://a.test:%s/dlp", sc.port()), nil)
		req.Header.Set("X-Note", "token "+token)
		resp, err := sc.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := send(); st != 200 {
		t.Fatalf("report: %d", st)
	}
	blocked := sc.writePolicy(strings.Replace(sidecarPolicy, "version: 1\n", "version: 1\ndlp: block\n", 1))
	sc.waitTried(blocked)
	if st := send(); st != 403 {
		t.Fatalf("block: %d", st)
	}
	sc.stop()
	audit := sc.stdout.String()
	if !strings.Contains(audit, `"decision":"would-deny","rule":"allow[0]","cause":"dlp"`) || !strings.Contains(audit, `"decision":"deny","rule":"default","cause":"dlp"`) ||
		!strings.Contains(audit, `"dlp":["github-pat"]`) || strings.Contains(audit, token) || strings.Contains(sc.stderr.String(), token) {
		t.Errorf("audit:\n%s", audit)
	}
}
