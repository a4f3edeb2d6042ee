package store

import (
	"maps"
	"slices"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Defaults of the subscriber cache (Options.SubscriberCache and
// Options.SubscriberCacheIdle).
const (
	DefaultSubscriberCache     = 50_000
	DefaultSubscriberCacheIdle = 5 * time.Minute
)

// readSet is everything a decision on one subscriber is based on, as one
// Load read it or as this store last wrote it: the version and document of
// its hash, its data key and the code keys of some of its campaigns.
// apply.lua compares each part by value with what Redis holds before it
// writes, so a decision made on a read set that is out of date (written
// since by another instance, erased, re-keyed, a code expired) is never
// applied: the script answers with the current read set instead. A
// readSet is never changed once made.
type readSet struct {
	version     int64
	doc         string                      // the hash's "doc" field; "" when none
	enrollments map[string]optin.Enrollment // doc decoded; no codes
	dk          *dataKey                    // the stored data key; nil when none
	codes       map[string]readCode         // campaign → its code key; missing: none
	at          time.Time                   // when read or written
}

// readCode is one code key as read: the sealed value and, when it opens
// under the data key, the code.
type readCode struct {
	sealed string
	code   *optin.PendingCode
}

// wrapped is the data key as stored; "" when none is.
func (rs *readSet) wrapped() string {
	if rs.dk == nil {
		return ""
	}
	return rs.dk.wrapped
}

// subscriberCache keeps the read sets this store last wrote or was told
// of, so that a message on a subscriber this instance has seen lately is
// decided without a read: one round trip (apply.lua) instead of two. It is
// bounded (least recently used entries go first) and forgets an entry left
// unused for its idle time; a nil cache keeps nothing. Only Load uses it:
// lookups, exports and consent checks always read Redis.
type subscriberCache struct {
	entries *lru.Cache[string, *readSet]
	idle    time.Duration
	sweep   *time.Timer

	mu     sync.Mutex
	closed bool
}

// newSubscriberCache returns a cache of at most size entries, each kept
// for idle after its last write; nil when size is negative. A timer drops
// idle entries even when no message comes.
func newSubscriberCache(size int, idle time.Duration) *subscriberCache {
	if size < 0 {
		return nil
	}
	entries, err := lru.New[string, *readSet](cmp(size, DefaultSubscriberCache))
	if err != nil {
		panic(err) // only for a size of 0, which cmp rules out
	}
	c := &subscriberCache{entries: entries, idle: cmp(idle, DefaultSubscriberCacheIdle)}
	c.mu.Lock()
	c.sweep = time.AfterFunc(c.idle, c.tick)
	c.mu.Unlock()
	return c
}

func cacheKey(tenant, id string) string { return tenant + "\x00" + id }

// get returns the read set kept for subscriber id of tenant.
func (c *subscriberCache) get(tenant, id string) (*readSet, bool) {
	if c == nil {
		return nil, false
	}
	rs, ok := c.entries.Get(cacheKey(tenant, id))
	if !ok || time.Since(rs.at) > c.idle {
		return nil, false
	}
	return rs, true
}

func (c *subscriberCache) put(tenant, id string, rs *readSet) {
	if c != nil {
		c.entries.Add(cacheKey(tenant, id), rs)
	}
}

func (c *subscriberCache) forget(tenant, id string) {
	if c != nil {
		c.entries.Remove(cacheKey(tenant, id))
	}
}

// tick drops the entries idle for longer than the idle time, oldest first,
// and sets the timer again.
func (c *subscriberCache) tick() {
	c.dropIdle(time.Now())
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.sweep.Reset(c.idle / 4)
	}
}

func (c *subscriberCache) dropIdle(now time.Time) {
	for {
		k, rs, ok := c.entries.GetOldest()
		if !ok || now.Sub(rs.at) <= c.idle {
			return
		}
		c.entries.Remove(k)
	}
}

// close stops the timer and forgets everything.
func (c *subscriberCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	c.sweep.Stop()
	c.mu.Unlock()
	c.entries.Purge()
}

// subscriber returns the subscriber rs describes, with the codes of
// campaigns, as a Load result: its own copy of everything, which the
// caller may change.
func (rs *readSet) subscriber(tenant, id string, campaigns []string) optin.Subscriber {
	sub := optin.Subscriber{Tenant: tenant, ID: id, Version: rs.version, Enrollments: cloneEnrollments(rs.enrollments)}
	for _, c := range campaigns {
		rc, ok := rs.codes[c]
		if !ok || rc.code == nil {
			continue
		}
		code := *rc.code
		e := sub.Enrollments[c]
		e.Code = &code
		sub.Enrollments[c] = e
	}
	return sub
}

// cloneEnrollments copies m deeply enough that changing the copy (its
// prompts, its codes) leaves m as it was.
func cloneEnrollments(m map[string]optin.Enrollment) map[string]optin.Enrollment {
	out := make(map[string]optin.Enrollment, len(m))
	for id, e := range m {
		e.Prompts = slices.Clone(e.Prompts)
		if e.Code != nil {
			code := *e.Code
			e.Code = &code
		}
		out[id] = e
	}
	return out
}

// withoutCodes is cloneEnrollments with the codes left out, as a readSet
// keeps enrollments.
func withoutCodes(m map[string]optin.Enrollment) map[string]optin.Enrollment {
	out := cloneEnrollments(m)
	for id, e := range out {
		e.Code = nil
		out[id] = e
	}
	return out
}

// after returns the read set that applying a decision on rs made: version
// v, doc (unchanged when ""), dk stored (when stored), the written codes
// set and the deleted ones gone.
func (rs *readSet) after(v int64, doc string, enrollments map[string]optin.Enrollment, dk *dataKey, codes map[string]readCode) *readSet {
	next := &readSet{version: v, doc: rs.doc, enrollments: rs.enrollments, dk: rs.dk, codes: maps.Clone(rs.codes), at: time.Now()}
	if doc != "" {
		next.doc, next.enrollments = doc, withoutCodes(enrollments)
	}
	if next.dk == nil && dk != nil {
		next.dk = &dataKey{aead: dk.aead, wrapped: dk.wrapped}
	}
	if next.codes == nil {
		next.codes = map[string]readCode{}
	}
	for c, rc := range codes {
		if rc.sealed == "" {
			delete(next.codes, c)
		} else {
			next.codes[c] = rc
		}
	}
	return next
}
