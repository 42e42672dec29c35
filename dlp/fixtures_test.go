package dlp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"strings"
	"sync"
	"testing"
)

// The secrets the tests look for are made here, at test time, from each
// rule's own shape (config/gitleaks.toml), so that no file in the
// repository holds anything a scanner would take for a real secret.

// fixture is a secret of one rule family and the rule that must find it.
type fixture struct {
	name   string
	rule   string
	secret string
}

const (
	upperB32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	alnum    = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	word     = alnum + "_"
	digits   = "0123456789"
)

func randFrom(t testing.TB, alphabet string, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

var (
	pemOnce sync.Once
	pemKey  string
)

// privateKeyPEM returns a freshly generated RSA-2048 key as a PEM block
// (made once per test binary: generating it takes a while).
func privateKeyPEM(t testing.TB) string {
	pemOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		pemKey = string(pem.EncodeToMemory(&pem.Block{Type: "RSA " + "PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	})
	return pemKey
}

// fixtures returns one fresh secret of each rule family the tests cover.
func fixtures(t testing.TB) []fixture {
	t.Helper()
	return []fixture{
		// \b((?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b
		{"aws access key id", "aws-access-token", "AKIA" + randFrom(t, upperB32, 16)},
		// ghp_[0-9a-zA-Z]{36}
		{"github pat", "github-pat", "ghp_" + randFrom(t, alnum, 36)},
		// github_pat_\w{82}
		{"github fine-grained pat", "github-fine-grained-pat", "github_pat_" + randFrom(t, word, 82)},
		// glpat-[\w-]{20}
		{"gitlab pat", "gitlab-pat", "glpat-" + randFrom(t, alnum, 20)},
		// xoxb-[0-9]{10,13}-[0-9]{10,13}[a-zA-Z0-9-]*
		{"slack bot token", "slack-bot-token", "xoxb-" + randFrom(t, digits, 12) + "-" + randFrom(t, digits, 13) + "-" + randFrom(t, alnum, 24)},
		// \b((?:sk|rk)_(?:test|live|prod)_[a-zA-Z0-9]{10,99})(?:[\x60'"\s;]|\\[nr]|$)
		{"stripe secret key", "stripe-access-token", "sk_" + "live_" + randFrom(t, alnum, 24)},
		// -----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,}?KEY(?: BLOCK)?-----
		{"pem private key", "private-key", privateKeyPEM(t)},
	}
}
