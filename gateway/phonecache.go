package gateway

import (
	"sync"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// phoneCache remembers the numbers parsed lately. Parsing with
// libphonenumber runs a dozen regular expressions, some 15% of the
// webhook's CPU when profiled under load, while a person sends several
// messages in a row and every message goes to one of a few business
// numbers. Only numbers that parsed are kept; the cache is emptied when it
// reaches its size, which bounds memory whatever arrives. It lives in
// memory only: numbers never reach a key, a log line or a file through it.
// It is safe for concurrent use.
type phoneCache struct {
	mu    sync.RWMutex
	m     map[phoneKey]optin.Phone
	limit int
}

type phoneKey struct {
	raw      string
	business bool
}

// defaultPhoneCacheSize bounds the cache: some 100 bytes an entry.
const defaultPhoneCacheSize = 1 << 16

func newPhoneCache(limit int) *phoneCache {
	return &phoneCache{m: make(map[phoneKey]optin.Phone), limit: limit}
}

// parse is phone.Parse, cached.
func (c *phoneCache) parse(raw string) (optin.Phone, error) {
	return c.get(phoneKey{raw, false}, phone.Parse)
}

// parseBusiness is phone.ParseBusiness, cached.
func (c *phoneCache) parseBusiness(raw string) (optin.Phone, error) {
	return c.get(phoneKey{raw, true}, phone.ParseBusiness)
}

func (c *phoneCache) get(k phoneKey, parse func(string) (optin.Phone, error)) (optin.Phone, error) {
	c.mu.RLock()
	p, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := parse(k.raw)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.m) >= c.limit {
		clear(c.m)
	}
	c.m[k] = p
	c.mu.Unlock()
	return p, nil
}
