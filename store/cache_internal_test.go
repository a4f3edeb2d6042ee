package store

import (
	"reflect"
	"testing"
	"time"
)

// TestReadSetEncoding: a read set comes out of the cache as it went in,
// whatever its parts hold, and a damaged entry is a miss, never a wrong
// read set.
func TestReadSetEncoding(t *testing.T) {
	at := time.Unix(0, time.Now().UnixNano())
	sets := []*readSet{
		{at: at},
		{version: 7, doc: `{"s":"subscribed"}`, wrapped: "v1:AAAA", at: at},
		{version: 1 << 40, doc: "\x00\xff", wrapped: "", codes: []codeKeyV{{"deals", "sealed-1"}, {"", ""}, {"news", string(make([]byte, 300))}}, at: at},
	}
	for _, rs := range sets {
		b := appendReadSet(nil, rs)
		got, err := parseReadSet(b)
		if err != nil {
			t.Fatalf("%+v: %v", rs, err)
		}
		if !got.at.Equal(rs.at) || got.version != rs.version || got.doc != rs.doc || got.wrapped != rs.wrapped || !reflect.DeepEqual(got.codes, rs.codes) {
			t.Errorf("round trip: got %+v, want %+v", got, rs)
		}
		for cut := 1; cut < len(b); cut++ {
			if got, err := parseReadSet(b[:cut]); err == nil && len(got.codes) == len(rs.codes) && got.wrapped == rs.wrapped && got.doc == rs.doc {
				t.Errorf("%d of %d bytes parsed as the whole read set", cut, len(b))
			}
		}
	}
	if _, err := parseReadSet([]byte{0x80}); err == nil {
		t.Error("a truncated varint parsed")
	}
}

// TestCacheGenerations: an entry is returned until its idle time, and
// two turns of the generations (one idle time) drop it even if nobody asks.
func TestCacheGenerations(t *testing.T) {
	c := newSubscriberCache(100, time.Hour) // the timer does not fire in the test
	defer c.close()
	c.put("demo", "a", &readSet{version: 1, at: time.Now()})
	c.put("demo", "old", &readSet{version: 1, at: time.Now().Add(-2 * time.Hour)})
	if rs, ok := c.get("demo", "a"); !ok || rs.version != 1 {
		t.Fatalf("get after put: %v %v", rs, ok)
	}
	if _, ok := c.get("demo", "old"); ok {
		t.Error("an entry older than the idle time was returned")
	}
	if _, ok := c.get("other", "a"); ok {
		t.Error("another tenant's entry was returned")
	}
	c.tick()
	if _, ok := c.get("demo", "a"); !ok {
		t.Error("the entry went at the first turn; it should stay in the previous generation")
	}
	c.put("demo", "b", &readSet{version: 2, at: time.Now()})
	c.tick()
	if _, ok := c.get("demo", "a"); ok {
		t.Error("the entry is still there after two turns")
	}
	if rs, ok := c.get("demo", "b"); !ok || rs.version != 2 {
		t.Errorf("an entry written after the first turn went at the second: %v %v", rs, ok)
	}
	c.forget("demo", "b")
	if _, ok := c.get("demo", "b"); ok {
		t.Error("a forgotten entry was returned")
	}
	c.close()
	c.tick() // after close: no turn, no timer
}
