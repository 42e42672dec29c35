// Package ca mints the certificate authority of one bottle and the leaf
// certificates its proxy presents to the agent. Each bottle has its own CA, so
// trusting it inside one bottle says nothing about any other.
package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names inside a CA directory (the sidecar's config dir uses the same).
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// DefaultLifetime bounds how long a bottle CA is valid: longer than any
// bottle is expected to live, short enough that a leaked key stops mattering.
const DefaultLifetime = 365 * 24 * time.Hour

// CA is a bottle's certificate authority: the certificate and its key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey

	certDER []byte
}

// New mints a CA whose subject names the bottle.
func New(bottle string, lifetime time.Duration) (*CA, error) {
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	key, serial, err := newKeyAndSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			// Shown by tools that list trusted roots: say which bottle it is.
			CommonName:   "bottle CA for " + bottle,
			Organization: []string{"bottle"},
		},
		// Backdated a little so a clock skew between host and VM does not
		// make a fresh CA "not yet valid".
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(lifetime),
		// A CA signs certificates and revocation lists and nothing else.
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// MaxPathLen 0: the CA may sign leaves only, never an intermediate,
		// so a stolen key cannot mint a sub-CA that outlives it.
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}
	// SubjectKeyId lets clients link leaves (AuthorityKeyId) to this CA; Go
	// derives it from the public key when unset.
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, certDER: der}, nil
}

// newKeyAndSerial makes the key and serial of a new certificate. ECDSA
// P-256: a leaf costs about 0.1 ms to mint (a P-256 key is one scalar
// multiplication), against about 50 ms for RSA-2048 (a prime search), so a
// first contact with a host costs the agent nothing it notices; and every
// client accepts it.
func newKeyAndSerial() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := randomSerial()
	return key, serial, err
}

// randomSerial returns a 128-bit random serial number (RFC 5280 allows up to
// 20 octets; CA/B Forum asks for at least 64 bits of randomness).
func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// CertPEM returns the CA certificate in PEM form.
func (c *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.certDER})
}

// Fingerprint is the SHA-256 of the certificate, as colon-separated hex.
func (c *CA) Fingerprint() string {
	sum := sha256.Sum256(c.certDER)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// Save writes ca.crt (0644) and ca.key (0600) into dir, creating dir (0700).
// It refuses to overwrite an existing CA: replacing a bottle's CA would
// silently break every client that trusts the old one.
func (c *CA) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(c.Key)
	if err != nil {
		return err
	}
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	for _, p := range []string{keyPath, certPath} {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%s already exists; a CA is never overwritten (remove it first if you mean to replace it)", p)
		}
	}
	if err := writeNew(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNew(certPath, c.CertPEM(), 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	return nil
}

// writeNew creates path with perm (never widening an existing file) and
// writes data to it.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// Load reads ca.crt and ca.key from dir.
func Load(dir string) (*CA, error) {
	return LoadFiles(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile))
}

// LoadFiles reads a CA from a certificate and a key file. A key file that
// group or others can read is refused: the key must stay with the bottle.
func LoadFiles(certPath, keyPath string) (*CA, error) {
	st, err := os.Stat(keyPath)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("CA key %s is readable by others (mode %04o); run: chmod 600 %s", keyPath, st.Mode().Perm(), keyPath)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	return parse(certPath, certPEM, keyPath, keyPEM)
}

func parse(certPath string, certPEM []byte, keyPath string, keyPEM []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", certPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("%s is not a CA certificate", certPath)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%s: no PEM key block", keyPath)
	}
	var key *ecdsa.PrivateKey
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "PRIVATE KEY":
		var k any
		k, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err == nil {
			var ok bool
			if key, ok = k.(*ecdsa.PrivateKey); !ok {
				err = errors.New("not an ECDSA key; bottle CAs are ECDSA P-256")
			}
		}
	default:
		err = fmt.Errorf("unexpected PEM block %q", kb.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to %s", keyPath, certPath)
	}
	if time.Now().After(cert.NotAfter) {
		return nil, fmt.Errorf("%s expired on %s; mint a new CA", certPath, cert.NotAfter.Format(time.DateOnly))
	}
	return &CA{Cert: cert, Key: key, certDER: cb.Bytes}, nil
}

// LoadCert reads only the CA certificate (for export); the key is not read.
func LoadCert(dir string) (*x509.Certificate, []byte, error) {
	p := filepath.Join(dir, CertFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%s does not exist; create a CA with 'bottle ca init --dir %s'", p, dir)
	} else if err != nil {
		return nil, nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: no PEM CERTIFICATE block", p)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return cert, b.Bytes, nil
}

// Fingerprint of a DER certificate, as colon-separated SHA-256 hex.
func Fingerprint(der []byte) string { return (&CA{certDER: der}).Fingerprint() }
