package ca

import (
	"crypto/ecdsa"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	c, err := New("demo", 0)
	if err != nil {
		t.Fatal(err)
	}
	cert := c.Cert
	if !cert.IsCA || !cert.BasicConstraintsValid || cert.MaxPathLen != 0 || !cert.MaxPathLenZero {
		t.Errorf("not a path-length-0 CA: IsCA=%v MaxPathLen=%d zero=%v", cert.IsCA, cert.MaxPathLen, cert.MaxPathLenZero)
	}
	if cert.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v", cert.KeyUsage)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key is %T", cert.PublicKey)
	}
	if cert.SerialNumber.BitLen() < 64 || cert.SerialNumber.BitLen() > 128 {
		t.Errorf("serial has %d bits", cert.SerialNumber.BitLen())
	}
	if !strings.Contains(cert.Subject.CommonName, "demo") {
		t.Errorf("subject %q does not name the bottle", cert.Subject)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life > DefaultLifetime+2*time.Hour || life < DefaultLifetime {
		t.Errorf("lifetime %v", life)
	}
	other, _ := New("demo", 0)
	if other.Cert.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two CAs share a serial")
	}
}

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	c, _ := New("b1", time.Hour*24)
	if err := c.Save(dir); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, KeyFile))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", st.Mode())
	}
	if err := c.Save(dir); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Errorf("second Save: %v", err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint() != c.Fingerprint() || !got.Key.Equal(c.Key) {
		t.Error("loaded CA differs")
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o640)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable key loaded: %v", err)
	}
	os.Chmod(filepath.Join(dir, KeyFile), 0o604)
	if _, err := Load(dir); err == nil {
		t.Error("world-readable key loaded")
	}
	// A key that does not match the certificate.
	os.Chmod(filepath.Join(dir, KeyFile), 0o600)
	d2 := filepath.Join(t.TempDir(), "other")
	c2, _ := New("b2", 0)
	c2.Save(d2)
	if _, err := LoadFiles(filepath.Join(dir, CertFile), filepath.Join(d2, KeyFile)); err == nil || !strings.Contains(err.Error(), "does not belong") {
		t.Errorf("mismatched key: %v", err)
	}
	if _, _, err := LoadCert(t.TempDir()); err == nil || !strings.Contains(err.Error(), "bottle ca init") {
		t.Errorf("LoadCert on empty dir: %v", err)
	}
}

func TestMint(t *testing.T) {
	c, _ := New("b", 0)
	roots := x509.NewCertPool()
	roots.AddCert(c.Cert)
	for _, host := range []string{"api.example.com", "10.1.2.3", "2001:db8::1", "[2001:db8::2]"} {
		leaf, err := c.Mint(host)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.Trim(host, "[]")
		if _, err := leaf.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("%s: leaf does not verify: %v", host, err)
		}
		isIP := net.ParseIP(name) != nil
		if isIP != (len(leaf.Leaf.IPAddresses) == 1) || isIP == (len(leaf.Leaf.DNSNames) == 1) {
			t.Errorf("%s: SANs dns=%v ip=%v", host, leaf.Leaf.DNSNames, leaf.Leaf.IPAddresses)
		}
		if leaf.Leaf.IsCA || leaf.Leaf.NotAfter.After(c.Cert.NotAfter) {
			t.Errorf("%s: IsCA=%v NotAfter %v past CA %v", host, leaf.Leaf.IsCA, leaf.Leaf.NotAfter, c.Cert.NotAfter)
		}
		if _, ok := leaf.PrivateKey.(*ecdsa.PrivateKey); !ok {
			t.Errorf("leaf key %T", leaf.PrivateKey)
		}
	}
	// A short-lived CA caps its leaves.
	short, _ := New("s", 2*time.Hour)
	leaf, _ := short.Mint("x.example.com")
	if !leaf.Leaf.NotAfter.Equal(short.Cert.NotAfter) {
		t.Errorf("leaf NotAfter %v; want CA's %v", leaf.Leaf.NotAfter, short.Cert.NotAfter)
	}
}

// TestLeafCacheSingleFlight: many goroutines asking for a new host at once
// cause exactly one mint, and all get the same certificate.
func TestLeafCacheSingleFlight(t *testing.T) {
	c, _ := New("b", 0)
	lc := NewLeafCache(c, 16)
	const n = 64
	var wg sync.WaitGroup
	certs := make([][]byte, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			leaf, err := lc.Get("api.example.com")
			if err != nil {
				t.Error(err)
				return
			}
			certs[i] = leaf.Certificate[0]
		}()
	}
	close(start)
	wg.Wait()
	if lc.Mints() != 1 {
		t.Errorf("%d mints for one host; want 1", lc.Mints())
	}
	for i := range certs {
		if string(certs[i]) != string(certs[0]) {
			t.Fatal("goroutines got different leaves")
		}
	}
	if _, err := lc.Get("API.example.com."); err != nil || lc.Mints() != 1 {
		t.Errorf("normalised name re-minted: %d mints", lc.Mints())
	}
}

func TestLeafCacheBounded(t *testing.T) {
	c, _ := New("b", 0)
	lc := NewLeafCache(c, 3)
	for _, h := range []string{"a.test", "b.test", "c.test", "a.test", "d.test"} {
		if _, err := lc.Get(h); err != nil {
			t.Fatal(err)
		}
	}
	if lc.Len() != 3 || lc.Mints() != 4 {
		t.Errorf("len %d mints %d; want 3 and 4", lc.Len(), lc.Mints())
	}
	// b.test was least recently used and is gone; a.test stayed.
	lc.Get("a.test")
	if lc.Mints() != 4 {
		t.Errorf("a.test evicted")
	}
	lc.Get("b.test")
	if lc.Mints() != 5 {
		t.Errorf("b.test not evicted")
	}
}

func BenchmarkMint(b *testing.B) {
	c, _ := New("b", 0)
	for b.Loop() {
		if _, err := c.Mint("api.example.com"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeafCacheHit(b *testing.B) {
	c, _ := New("b", 0)
	lc := NewLeafCache(c, 0)
	lc.Get("api.example.com")
	for b.Loop() {
		lc.Get("api.example.com")
	}
}
