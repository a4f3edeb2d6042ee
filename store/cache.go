package store

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults of the subscriber cache (Options.SubscriberCache and
// Options.SubscriberCacheIdle).
const (
	DefaultSubscriberCache     = 50_000
	DefaultSubscriberCacheIdle = 5 * time.Minute
)

// readSet is everything a decision on one subscriber is based on, as one
// Load read it or as this store last wrote it, exactly as Redis holds it:
// the version and document of its hash, its wrapped data key and the
// sealed code keys of some of its campaigns. apply.lua compares each part
// by value with what Redis holds before it writes, so a decision made on a
// read set that is out of date (written since by another instance, erased,
// re-keyed, a code expired) is never applied: the script answers with the
// current read set instead. A readSet is never changed once made.
//
// It keeps nothing in clear that Redis keeps sealed: the data key stays
// wrapped under the master key and the codes sealed under the data key;
// Load opens them for each message (decodeReadSet). And it is small, few
// objects of which few hold pointers, since tens of thousands of cached
// subscribers are heap the garbage collector marks (BenchmarkCacheMemory:
// 3 KB and 15 objects per subscriber when it kept the decoded state in
// maps).
type readSet struct {
	version int64
	doc     string     // the hash's "doc" field; "" when none
	wrapped string     // the data key as stored; "" when none
	codes   []codeKeyV // the code keys that exist; a campaign missing has none
	at      time.Time  // when read or written
}

// codeKeyV is the value of one campaign's code key.
type codeKeyV struct{ campaign, sealed string }

// code returns the sealed code of campaign; "" when none exists.
func (rs *readSet) code(campaign string) string {
	for _, c := range rs.codes {
		if c.campaign == campaign {
			return c.sealed
		}
	}
	return ""
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

// after returns the read set that applying a decision on rs made: version
// v, doc (unchanged when ""), the data key wrapped (unchanged when ""),
// and the codes written (by campaign; "" when deleted).
func (rs *readSet) after(v int64, doc, wrapped string, written map[string]string) *readSet {
	next := &readSet{version: v, doc: rs.doc, wrapped: rs.wrapped, at: time.Now()}
	if doc != "" {
		next.doc = doc
	}
	if next.wrapped == "" {
		next.wrapped = wrapped
	}
	next.codes = make([]codeKeyV, 0, len(rs.codes)+len(written))
	for _, c := range rs.codes {
		if _, ok := written[c.campaign]; !ok {
			next.codes = append(next.codes, c)
		}
	}
	for c, sealed := range written {
		if sealed != "" {
			next.codes = append(next.codes, codeKeyV{c, sealed})
		}
	}
	return next
}
