package store

import (
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/fastcache"
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
// Load opens them for each message (decodeReadSet). The cache keeps it
// encoded (appendReadSet), some 460 bytes with one code.
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
// decided without a read: one round trip (apply.lua) instead of two. A nil
// cache keeps nothing. Only Load uses it: lookups, exports and consent
// checks always read Redis.
//
// It holds no pointers the garbage collector would mark: each read set is
// kept encoded (appendReadSet) in fastcache's buckets of off-heap memory,
// so tens of thousands of cached subscribers cost the collector nothing.
// When they were Go objects (737 bytes and 7 objects a subscriber) they
// made the gateway's live heap ~40 MB, and every GC cycle marked for
// 20–50 ms under load: the webhooks that arrived meanwhile made most of
// the tail at half peak (docs/performance.md).
//
// It is bounded in bytes (cacheEntryBytes a subscriber): each bucket is a
// ring that overwrites its oldest writes first. And it forgets an entry
// unused for its idle time: an entry older than that is never returned,
// and two generations of half the budget each turn every idle/2 (the
// older one emptied), so no entry stays longer than the idle time even
// when no message comes.
type subscriberCache struct {
	gens atomic.Pointer[generations]
	idle time.Duration

	mu     sync.Mutex // guards turn and closed
	turn   *time.Timer
	closed bool
}

// generations is the current generation, which takes the writes, and the
// previous one, still read.
type generations struct{ cur, prev *fastcache.Cache }

// cacheEntryBytes is the budget of one subscriber in the cache: an encoded
// read set with its key is 600–900 bytes with a code or two.
const cacheEntryBytes = 1 << 10

// newSubscriberCache returns a cache of about size entries, each kept for
// idle after its last write; nil when size is negative.
func newSubscriberCache(size int, idle time.Duration) *subscriberCache {
	if size < 0 {
		return nil
	}
	c := &subscriberCache{idle: cmp(idle, DefaultSubscriberCacheIdle)}
	half := cmp(size, DefaultSubscriberCache) * cacheEntryBytes / 2
	c.gens.Store(&generations{cur: fastcache.New(half), prev: fastcache.New(half)})
	c.mu.Lock()
	c.turn = time.AfterFunc(c.idle/2, c.tick)
	c.mu.Unlock()
	return c
}

// cacheKey appends the key of subscriber id of tenant to b.
func cacheKey(b []byte, tenant, id string) []byte {
	b = append(b, tenant...)
	b = append(b, 0)
	return append(b, id...)
}

// get returns the read set kept for subscriber id of tenant.
func (c *subscriberCache) get(tenant, id string) (*readSet, bool) {
	if c == nil {
		return nil, false
	}
	var kb [96]byte
	k := cacheKey(kb[:0], tenant, id)
	g := c.gens.Load()
	// The entry is read into this buffer (on the heap only when larger)
	// and copied once, by parseReadSet, into the strings it returns.
	var vb [cacheEntryBytes]byte
	b, ok := g.cur.HasGet(vb[:0], k)
	if !ok {
		if b, ok = g.prev.HasGet(vb[:0], k); !ok {
			return nil, false
		}
	}
	rs, err := parseReadSet(b)
	if err != nil || time.Since(rs.at) > c.idle {
		return nil, false
	}
	return rs, true
}

func (c *subscriberCache) put(tenant, id string, rs *readSet) {
	if c == nil {
		return
	}
	var kb [96]byte
	k := cacheKey(kb[:0], tenant, id)
	g := c.gens.Load()
	var vb [cacheEntryBytes]byte // Set copies the value
	g.cur.Set(k, appendReadSet(vb[:0], rs))
	g.prev.Del(k)
}

func (c *subscriberCache) forget(tenant, id string) {
	if c == nil {
		return
	}
	var kb [96]byte
	k := cacheKey(kb[:0], tenant, id)
	g := c.gens.Load()
	g.cur.Del(k)
	g.prev.Del(k)
}

// tick turns the generations: the previous one, whose entries were all
// written more than idle/2 ago, is emptied and takes the writes from now
// on; and it sets the timer again.
func (c *subscriberCache) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	g := c.gens.Load()
	g.prev.Reset()
	c.gens.Store(&generations{cur: g.prev, prev: g.cur})
	c.turn.Reset(c.idle / 2)
}

// close stops the timer and forgets everything (fastcache keeps the
// memory for the caches the process makes next).
func (c *subscriberCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.turn.Stop()
	g := c.gens.Load()
	g.cur.Reset()
	g.prev.Reset()
}

// appendReadSet appends rs encoded to b: when (Unix nanoseconds) and the
// version as varints, then the doc, the wrapped key and each code's
// campaign and sealed value, each as a uvarint length and its bytes.
func appendReadSet(b []byte, rs *readSet) []byte {
	b = binary.AppendVarint(b, rs.at.UnixNano())
	b = binary.AppendVarint(b, rs.version)
	b = appendField(b, rs.doc)
	b = appendField(b, rs.wrapped)
	for _, c := range rs.codes {
		b = appendField(appendField(b, c.campaign), c.sealed)
	}
	return b
}

func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errCacheEntry = errors.New("store: malformed subscriber cache entry")

// parseReadSet decodes what appendReadSet wrote. The strings share one
// copy of b.
func parseReadSet(b []byte) (*readSet, error) {
	s := string(b)
	pos := 0
	varint := func() (int64, bool) {
		v, n := binary.Varint(b[pos:])
		pos += n
		return v, n > 0
	}
	field := func() (string, bool) {
		l, n := binary.Uvarint(b[pos:])
		if n <= 0 || l > uint64(len(b)-pos-n) {
			return "", false
		}
		pos += n
		f := s[pos : pos+int(l)]
		pos += int(l)
		return f, true
	}
	at, ok1 := varint()
	v, ok2 := varint()
	doc, ok3 := field()
	wrapped, ok4 := field()
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, errCacheEntry
	}
	rs := &readSet{version: v, doc: doc, wrapped: wrapped, at: time.Unix(0, at)}
	for pos < len(b) {
		campaign, ok1 := field()
		sealed, ok2 := field()
		if !ok1 || !ok2 {
			return nil, errCacheEntry
		}
		rs.codes = append(rs.codes, codeKeyV{campaign, sealed})
	}
	return rs, nil
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
