package config

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/optin-gateway/optin-gateway/store"
)

// MasterKey is one master key of OPTIN_MASTER_KEYS: an id that tags the
// data keys it wraps, and MasterKeySize bytes.
type MasterKey struct {
	ID  string
	Key []byte
}

// SingleKeyID is the id of OPTIN_MASTER_KEY's key among master keys: data
// keys wrapped while it was the only key carry it, so when moving to
// OPTIN_MASTER_KEYS give the old key this id.
const SingleKeyID = "k0"

// loadKeys applies OPTIN_MASTER_KEYS and OPTIN_PSEUDONYM_KEY (each also as
// _FILE) after the single master key is known: with OPTIN_MASTER_KEYS the
// pseudonym key is required (it must stay the key the pseudonyms were
// made with); with OPTIN_MASTER_KEY alone it defaults to that key.
func (c *Config) loadKeys(getenv func(string) string, single setting) error {
	keys := setting{"OPTIN_MASTER_KEYS", ""}
	pseudo := setting{"OPTIN_PSEUDONYM_KEY", ""}
	if err := keys.setSecret(getenv, "OPTIN_MASTER_KEYS"); err != nil {
		return err
	}
	if err := pseudo.setSecret(getenv, "OPTIN_PSEUDONYM_KEY"); err != nil {
		return err
	}
	if pseudo.value != "" {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(pseudo.value))
		if err != nil || len(k) != MasterKeySize {
			return fmt.Errorf("config: %s: must be base64 of %d bytes", pseudo.name, MasterKeySize)
		}
		c.PseudonymKey = k
	}
	if keys.value == "" {
		if c.MasterKey != nil {
			c.MasterKeys = []MasterKey{{ID: SingleKeyID, Key: c.MasterKey}}
			if c.PseudonymKey == nil {
				c.PseudonymKey = c.MasterKey
			}
		}
		return nil
	}
	if single.value != "" {
		return fmt.Errorf("config: %s and %s are both set; set only one (name the old key %q in %s)", single.name, keys.name, SingleKeyID, keys.name)
	}
	seen := map[string]bool{}
	for i, pair := range strings.Split(keys.value, ",") {
		id, b64, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !store.ValidKeyID(id) {
			return fmt.Errorf("config: %s: entry %d: want id=base64 with an id of 1 to 32 of A-Z a-z 0-9 - _, newest first", keys.name, i+1)
		}
		if seen[id] {
			return fmt.Errorf("config: %s: key id %q given twice", keys.name, id)
		}
		seen[id] = true
		k, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(k) != MasterKeySize {
			return fmt.Errorf("config: %s: key %q: must be base64 of %d bytes (openssl rand -base64 %d)", keys.name, id, MasterKeySize, MasterKeySize)
		}
		c.MasterKeys = append(c.MasterKeys, MasterKey{ID: id, Key: k})
	}
	if c.PseudonymKey == nil {
		return fmt.Errorf("config: %s: required when %s is set: the key pseudonyms derive from (the old OPTIN_MASTER_KEY, so that pseudonyms do not change)", pseudo.name, keys.name)
	}
	c.MasterKey = c.MasterKeys[0].Key
	return nil
}
