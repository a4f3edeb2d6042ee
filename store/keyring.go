package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// MasterKey is one master key of a Keyring: an id that tags what it wraps,
// and MasterKeySize bytes.
type MasterKey struct {
	ID  string
	Key []byte
}

// DefaultKeyID is the id of the single key of OPTIN_MASTER_KEY.
const DefaultKeyID = "k0"

// ErrErased is returned when a value was sealed under a data key that no
// longer exists: its subscriber was erased.
var ErrErased = errors.New("subscriber erased")

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// ValidKeyID reports whether id can name a master key: 1 to 32 letters,
// digits, "-" or "_".
func ValidKeyID(id string) bool { return keyIDPattern.MatchString(id) }

// Keyring holds the key-encryption keys (KEKs) derived from the master
// keys, newest first. Data keys are wrapped under the newest and unwrapped
// under whichever their tag names. It is safe for concurrent use.
type Keyring struct {
	keks []kek // newest first
}

type kek struct {
	id   string
	aead cipher.AEAD // under HKDF(master, "optin-gateway kek v1")
}

// NewKeyring derives the KEKs of keys, given newest first. Ids must be
// valid (ValidKeyID) and distinct, keys MasterKeySize bytes.
func NewKeyring(keys []MasterKey) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("store: no master key")
	}
	r := &Keyring{}
	seen := map[string]bool{}
	for _, k := range keys {
		if !ValidKeyID(k.ID) {
			return nil, fmt.Errorf("store: master key id %q: want 1 to 32 of A-Z a-z 0-9 - _", k.ID)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("store: master key id %q given twice", k.ID)
		}
		seen[k.ID] = true
		if len(k.Key) != MasterKeySize {
			return nil, fmt.Errorf("store: master key %s is %d bytes; want %d", k.ID, len(k.Key), MasterKeySize)
		}
		a, err := derivedAEAD(k.Key, "optin-gateway kek v1")
		if err != nil {
			return nil, err
		}
		r.keks = append(r.keks, kek{id: k.ID, aead: a})
	}
	return r, nil
}

// Newest returns the id of the key that wraps new data keys.
func (r *Keyring) Newest() string { return r.keks[0].id }

func (r *Keyring) find(id string) *kek {
	for i := range r.keks {
		if r.keks[i].id == id {
			return &r.keks[i]
		}
	}
	return nil
}

func derivedAEAD(master []byte, info string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, master, nil, info, 32)
	if err != nil {
		return nil, fmt.Errorf("store: derive %s: %w", info, err)
	}
	return newAEAD(key)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// wrap seals data key dk under the newest KEK, bound to ad: "<key id>." and
// the base64 of nonce and ciphertext.
func (r *Keyring) wrap(dk []byte, ad string) (string, error) {
	k := &r.keks[0]
	return k.id + "." + sealRaw(k.aead, dk, ad), nil
}

// unwrap opens what wrap made, under the KEK its tag names. It returns the
// key id it was wrapped under.
func (r *Keyring) unwrap(wrapped, ad string) ([]byte, string, error) {
	id, body, ok := strings.Cut(wrapped, ".")
	if !ok {
		return nil, "", errors.New("wrapped data key malformed")
	}
	k := r.find(id)
	if k == nil {
		return nil, id, fmt.Errorf("data key wrapped under master key %q, which is not configured", id)
	}
	dk, err := openRaw(k.aead, body, ad)
	if err != nil {
		return nil, id, fmt.Errorf("unwrap data key (master key %s): %w", id, err)
	}
	return dk, id, nil
}

// dataKey is a subscriber's data key as Load found or made it.
type dataKey struct {
	aead    cipher.AEAD
	wrapped string // as stored in Redis
	fresh   bool   // made by Load: apply.lua stores it unless one exists
}

// adOf binds a sealed value to its tenant, subscriber and purpose.
func adOf(tenant, id, purpose string) string {
	return tenant + "\x00" + id + "\x00" + purpose
}

// newDataKey makes a random data key for subscriber id of tenant, wrapped
// under the newest KEK.
func (r *Keyring) newDataKey(tenant, id string) (*dataKey, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	a, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	w, err := r.wrap(raw, adOf(tenant, id, "dk"))
	if err != nil {
		return nil, err
	}
	return &dataKey{aead: a, wrapped: w, fresh: true}, nil
}

// openDataKey unwraps a stored data key.
func (r *Keyring) openDataKey(tenant, id, wrapped string) (*dataKey, error) {
	raw, _, err := r.unwrap(wrapped, adOf(tenant, id, "dk"))
	if err != nil {
		return nil, err
	}
	a, err := newAEAD(raw)
	if err != nil {
		return nil, err
	}
	return &dataKey{aead: a, wrapped: wrapped}, nil
}

// sealRaw encrypts plain bound to ad: base64 of a random nonce and the
// ciphertext.
func sealRaw(a cipher.AEAD, plain []byte, ad string) string {
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plain)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawStdEncoding.EncodeToString(a.Seal(nonce, nonce, plain, []byte(ad)))
}

// openRaw decrypts what sealRaw made.
func openRaw(a cipher.AEAD, sealed, ad string) ([]byte, error) {
	ct, err := base64.RawStdEncoding.DecodeString(sealed)
	n := a.NonceSize()
	if err != nil || len(ct) < n {
		return nil, errors.New("sealed value malformed")
	}
	pt, err := a.Open(nil, ct[:n], ct[n:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("open sealed value: %w", err)
	}
	return pt, nil
}

// sealedPrefix marks a sealed text field.
const sealedPrefix = "enc:"

// seal encrypts a text field under dk, bound to ad.
func (dk *dataKey) seal(plain []byte, ad string) string {
	return sealedPrefix + sealRaw(dk.aead, plain, ad)
}

// open decrypts what seal made; ErrErased when dk is nil.
func (dk *dataKey) open(sealed, ad string) ([]byte, error) {
	enc, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, errors.New("not sealed")
	}
	if dk == nil {
		return nil, ErrErased
	}
	return openRaw(dk.aead, enc, ad)
}
