package store

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"

	"github.com/optin-gateway/optin-gateway/optin"
)

// MasterKeySize is the length in bytes of OPTIN_MASTER_KEY.
const MasterKeySize = 32

// Pseudonymizer turns a tenant's subscriber phone number into a stable
// pseudonym: HMAC-SHA256 under a key derived from the master key with HKDF,
// over the tenant id and the E.164 number, hex of the first 16 bytes. The
// same number gets unrelated pseudonyms under different tenants. It is safe
// for concurrent use.
type Pseudonymizer struct {
	pool sync.Pool // of hash.Hash
}

// NewPseudonymizer derives the pseudonym key from master.
func NewPseudonymizer(master []byte) (*Pseudonymizer, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("store: master key is %d bytes; want %d", len(master), MasterKeySize)
	}
	key, err := hkdf.Key(sha256.New, master, nil, "optin-gateway pseudonym v1", 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive pseudonym key: %w", err)
	}
	p := &Pseudonymizer{}
	p.pool.New = func() any { return hmac.New(sha256.New, key) }
	return p, nil
}

// Pseudonym returns the pseudonym of phone under tenant.
func (p *Pseudonymizer) Pseudonym(tenant string, phone optin.Phone) string {
	h := p.pool.Get().(hash.Hash)
	defer p.pool.Put(h)
	h.Reset()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(phone.E164()))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
