package store

import (
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
	doc         string          // the hash's "doc" field; "" when none
	enrollments []campaignState // doc decoded; no codes
	dk          *dataKey        // the stored data key; nil when none
	codes       []readCode      // the code keys that exist; a campaign missing has none
	at          time.Time       // when read or written
}

// A readSet keeps slices, not maps: a Go map of one entry takes a group of
// eight slots, and tens of thousands of cached subscribers are heap the
// garbage collector marks (3 KB and 15 objects per subscriber with maps, 1.8 KB and
// 13 with slices: BenchmarkCacheMemory).

// campaignState is one enrollment of a readSet, its code left out.
type campaignState struct {
	campaign string
	e        optin.Enrollment
}

// readCode is one code key as read: the sealed value and, when it opens
// under the data key, the code.
type readCode struct {
	campaign, sealed string
	code             *optin.PendingCode
}

// code returns the code key of campaign as read; zero when none exists.
func (rs *readSet) code(campaign string) readCode {
	for _, rc := range rs.codes {
		if rc.campaign == campaign {
			return rc
		}
	}
	return readCode{}
}

// statesOf returns m as a readSet keeps it: codes left out, prompts copied.
func statesOf(m map[string]optin.Enrollment) []campaignState {
	out := make([]campaignState, 0, len(m))
	for id, e := range m {
		e.Code = nil
		e.Prompts = slices.Clone(e.Prompts)
		out = append(out, campaignState{id, e})
	}
	return out
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
	sub := optin.Subscriber{Tenant: tenant, ID: id, Version: rs.version, Enrollments: make(map[string]optin.Enrollment, len(rs.enrollments))}
	for _, cs := range rs.enrollments {
		e := cs.e
		e.Prompts = slices.Clone(e.Prompts)
		sub.Enrollments[cs.campaign] = e
	}
	for _, c := range campaigns {
		rc := rs.code(c)
		if rc.code == nil {
			continue
		}
		code := *rc.code
		e := sub.Enrollments[c]
		e.Code = &code
		sub.Enrollments[c] = e
	}
	return sub
}

// after returns the read set that applying a decision on rs made: version
// v, doc and enrollments (unchanged when doc is ""), dk stored (when not
// nil), and the codes written (keyed by campaign; sealed "" when deleted).
func (rs *readSet) after(v int64, doc string, enrollments map[string]optin.Enrollment, dk *dataKey, written map[string]readCode) *readSet {
	next := &readSet{version: v, doc: rs.doc, enrollments: rs.enrollments, dk: rs.dk, at: time.Now()}
	if doc != "" {
		next.doc, next.enrollments = doc, statesOf(enrollments)
	}
	if next.dk == nil && dk != nil {
		next.dk = &dataKey{aead: dk.aead, wrapped: dk.wrapped}
	}
	next.codes = make([]readCode, 0, len(rs.codes)+len(written))
	for _, rc := range rs.codes {
		if _, ok := written[rc.campaign]; !ok {
			next.codes = append(next.codes, rc)
		}
	}
	for c, rc := range written {
		if rc.sealed != "" {
			rc.campaign = c
			next.codes = append(next.codes, rc)
		}
	}
	return next
}
