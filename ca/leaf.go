package ca

import (
	"container/list"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// LeafLifetime is how long a minted leaf is valid (never past the CA).
const LeafLifetime = 7 * 24 * time.Hour

// Mint signs a fresh leaf for host, a DNS name or an IP literal.
func (c *CA) Mint(host string) (*tls.Certificate, error) {
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if host == "" {
		return nil, errors.New("mint: empty host")
	}
	key, serial, err := newKeyAndSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(LeafLifetime)
	if notAfter.After(c.Cert.NotAfter) {
		notAfter = c.Cert.NotAfter // a leaf must not outlive its issuer
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour), // clock skew between sidecar and agent
		NotAfter:     notAfter,
		// ECDSA keys sign; they are never used for key encipherment.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, // and IsCA false: a leaf can sign nothing
	}
	// Clients match the SAN, never the CN: an IP literal needs an IP SAN.
	if a, err := netip.ParseAddr(host); err == nil {
		tmpl.IPAddresses = []net.IP{a.AsSlice()}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.Key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{
		// The chain sent to clients: leaf, then the bottle CA (clients that
		// trust the CA need not have it sent, but some verify paths like it).
		Certificate: [][]byte{der, c.certDER},
		PrivateKey:  key,
		Leaf:        leaf,
	}, nil
}

// LeafCache hands out leaves for hosts, minting each at most once at a time
// (concurrent first contact with one host waits for a single mint) and
// keeping at most Max of them, least recently used first out.
type LeafCache struct {
	ca  *CA
	max int

	mu       sync.Mutex
	order    *list.List // of *cacheEntry, most recent at the front
	entries  map[string]*list.Element
	inflight map[string]*mintCall
	mints    int
}

type cacheEntry struct {
	host string
	cert *tls.Certificate
}

type mintCall struct {
	done chan struct{}
	cert *tls.Certificate
	err  error
}

// DefaultCacheSize bounds the leaf cache: an agent talks to tens of hosts.
const DefaultCacheSize = 1024

// NewLeafCache returns a cache of at most max leaves signed by c.
func NewLeafCache(c *CA, max int) *LeafCache {
	if max <= 0 {
		max = DefaultCacheSize
	}
	return &LeafCache{ca: c, max: max, order: list.New(), entries: map[string]*list.Element{}, inflight: map[string]*mintCall{}}
}

// renewBefore: a cached leaf this close to expiry is minted again.
const renewBefore = time.Hour

// Get returns the leaf for host, minting it if needed.
func (lc *LeafCache) Get(host string) (*tls.Certificate, error) {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	lc.mu.Lock()
	if el, ok := lc.entries[host]; ok {
		e := el.Value.(*cacheEntry)
		if time.Until(e.cert.Leaf.NotAfter) > renewBefore {
			lc.order.MoveToFront(el)
			lc.mu.Unlock()
			return e.cert, nil
		}
		lc.order.Remove(el)
		delete(lc.entries, host)
	}
	if call, ok := lc.inflight[host]; ok {
		lc.mu.Unlock()
		<-call.done
		return call.cert, call.err
	}
	call := &mintCall{done: make(chan struct{})}
	lc.inflight[host] = call
	lc.mints++
	lc.mu.Unlock()

	call.cert, call.err = lc.ca.Mint(host)

	lc.mu.Lock()
	delete(lc.inflight, host)
	if call.err == nil {
		lc.entries[host] = lc.order.PushFront(&cacheEntry{host: host, cert: call.cert})
		for lc.order.Len() > lc.max {
			last := lc.order.Back()
			lc.order.Remove(last)
			delete(lc.entries, last.Value.(*cacheEntry).host)
		}
	}
	lc.mu.Unlock()
	close(call.done)
	return call.cert, call.err
}

// Mints reports how many leaves the cache has minted (for tests and metrics).
func (lc *LeafCache) Mints() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.mints
}

// Len reports how many leaves are cached.
func (lc *LeafCache) Len() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return lc.order.Len()
}
