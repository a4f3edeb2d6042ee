package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// instance is one gateway's store as the cache tests drive it.
type instance struct {
	name string
	st   *store.Store
}

// openInstances opens n stores (4 shards), each with a subscriber cache of
// its own, on one Redis with the same keys, as n gateway instances would,
// their options changed by each of with.
func openInstances(t testing.TB, srv *redistest.Server, n int, with ...func(*store.Options)) []instance {
	t.Helper()
	key := newKey(t)
	out := make([]instance, n)
	for i := range out {
		o := store.Options{URL: srv.URL(), MasterKey: key, Shards: 4}
		for _, f := range with {
			f(&o)
		}
		st, err := store.Open(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = instance{name: fmt.Sprintf("instance %d", i), st: st}
	}
	return out
}

// twoInstances opens two instances on a Redis of their own, and the test
// number.
func twoInstances(t *testing.T) (*redistest.Server, *store.Store, *store.Store, *optin.Number) {
	t.Helper()
	srv := redistest.Start(t)
	inst := openInstances(t, srv, 2)
	return srv, inst[0].st, inst[1].st, testNumber(t)
}

// handled is what one message came to.
type handled struct {
	outcome string
	reply   string
}

// handle runs one message as the gateway does: load, decide, apply, again
// on a conflict. It returns the outcome (or "duplicate"), the reply (the
// decision's replies joined) and the round trips it took.
func handle(t testing.TB, st *store.Store, n *optin.Number, p optin.Phone, sid, text string) (handled, uint64) {
	t.Helper()
	ctx := context.Background()
	in := optin.Inbound{Provider: "twilio", MessageID: sid, Text: text}
	before := st.RoundTrips()
	for range 5 {
		sub, stored, err := st.Load(ctx, n.Tenant, p, []string{"deals"}, in)
		if err != nil {
			t.Fatalf("Load(%s): %v", sid, err)
		}
		if stored != nil {
			return handled{"duplicate", string(stored)}, st.RoundTrips() - before
		}
		dec := optin.Decide(sub, n, in, now, "4839201234")
		reply := strings.Join(dec.Replies, "|")
		_, stored, err = st.Apply(ctx, sub, dec, in, []byte(reply))
		switch {
		case err == nil:
			return handled{dec.Outcome.String(), reply}, st.RoundTrips() - before
		case errors.Is(err, optin.ErrDuplicate):
			return handled{"duplicate", string(stored)}, st.RoundTrips() - before
		case !errors.Is(err, optin.ErrConflict):
			t.Fatalf("Apply(%s): %v", sid, err)
		}
	}
	t.Fatalf("message %s: 5 conflicts in a row", sid)
	return handled{}, 0
}

// TestCacheEquivalence drives the same random messages (keywords, right
// and wrong codes, HELP, STOP, noise, retries of earlier messages, expired
// codes and erasures) through two cached instances on one Redis, taking
// turns at random, and through one store without a cache on another
// Redis: every message comes to the same outcome and reply, and the
// subscribers end in the same state. No message takes more than two
// round trips.
func TestCacheEquivalence(t *testing.T) {
	shared := redistest.Start(t)
	cached := openInstances(t, shared, 2)
	refSrv := redistest.Start(t)
	ref := openInstances(t, refSrv, 1, noCache)[0]
	n := testNumber(t)
	phones := []optin.Phone{"+12025550100", "+12025550101", "+12025550102"}
	texts := []string{"JOIN", "JOIN", "483920", "483920", "111111", "HELP", "STOP", "hello", "START"}
	rng := rand.New(rand.NewPCG(1, 2))
	type message struct {
		p         optin.Phone
		sid, text string
	}
	var sent []message
	trips := map[uint64]int{}
	ctx := context.Background()
	for i := range 400 {
		p := phones[rng.IntN(len(phones))]
		inst := cached[rng.IntN(len(cached))]
		switch r := rng.IntN(40); {
		case r == 0:
			// An erasure, on either instance.
			a, err := inst.st.Erase(ctx, n.Tenant, p, []string{"deals"}, "support", now)
			b, err2 := ref.st.Erase(ctx, n.Tenant, p, []string{"deals"}, "support", now)
			if err != nil || err2 != nil || a != b {
				t.Fatalf("step %d: Erase = %v, %v; reference %v, %v", i, a, err, b, err2)
			}
			continue
		case r == 1:
			// The pending code expires (Redis drops the key).
			for _, srv := range []*redistest.Server{shared, refSrv} {
				rdb := srv.Client(t)
				for _, k := range rdb.Keys(ctx, "*:code:*").Val() {
					rdb.Del(ctx, k)
				}
			}
			continue
		}
		m := message{p, fmt.Sprintf("SM%04d", i), texts[rng.IntN(len(texts))]}
		if len(sent) > 0 && rng.IntN(8) == 0 {
			m = sent[rng.IntN(len(sent))] // a provider's retry
		}
		sent = append(sent, m)
		p, sid, text := m.p, m.sid, m.text
		got, rt := handle(t, inst.st, n, p, sid, text)
		want, _ := handle(t, ref.st, n, p, sid, text)
		if got != want {
			t.Fatalf("step %d: %s %q from %s on %s = %+v; without a cache %+v", i, sid, text, p, inst.name, got, want)
		}
		trips[rt]++
		if rt > 2 {
			t.Errorf("step %d: %s took %d round trips; want at most 2", i, sid, rt)
		}
	}
	for _, p := range phones {
		sub, _, err := cached[0].st.Lookup(ctx, n.Tenant, p)
		refSub, _, err2 := ref.st.Lookup(ctx, n.Tenant, p)
		if err != nil || err2 != nil {
			t.Fatal(err, err2)
		}
		if sub.Version != refSub.Version || !reflect.DeepEqual(sub.Enrollments, refSub.Enrollments) {
			t.Errorf("%s ends v%d %+v; without a cache v%d %+v", p, sub.Version, sub.Enrollments, refSub.Version, refSub.Enrollments)
		}
	}
	t.Logf("messages by round trips: %v", trips)
	if trips[1] == 0 || trips[2] == 0 {
		t.Errorf("round trips %v; want both one (cache hits, new senders) and two (stale entries)", trips)
	}
}

// TestCacheRoundTrips: a new sender and a cache hit take one round trip;
// a message on an instance whose entry another instance made stale takes
// two, and the next one again one.
func TestCacheRoundTrips(t *testing.T) {
	_, a, b, n := twoInstances(t)
	p := optin.Phone("+12025550103")
	steps := []struct {
		st      *store.Store
		sid     string
		text    string
		outcome string
		trips   uint64
	}{
		{a, "SM1", "JOIN", "prompted", 1},    // new sender: Load guesses
		{a, "SM2", "483920", "confirmed", 1}, // cache hit
		{b, "SM3", "HELP", "help", 2},        // cold cache on b: stale guess
		{b, "SM4", "STOP", "opt_out", 1},     // b's entry is current
		{a, "SM5", "JOIN", "prompted", 2},    // a's entry is stale: b wrote since
		{a, "SM5", "JOIN", "duplicate", 1},   // a retry: Apply finds the record
		{a, "SM6", "483920", "confirmed", 1}, // hit
		{b, "SM7", "HELP", "help", 2},        // b's entry stale
	}
	for _, s := range steps {
		got, rt := handle(t, s.st, n, p, s.sid, s.text)
		if got.outcome != s.outcome || rt != s.trips {
			t.Errorf("%s %q = %s in %d round trips; want %s in %d", s.sid, s.text, got.outcome, rt, s.outcome, s.trips)
		}
	}
}

// TestCacheErasure: an erasure on another instance leaves this one's entry
// stale; the next message from the number starts afresh under a new data
// key, and the old one is gone from this instance's cache.
func TestCacheErasure(t *testing.T) {
	srv, a, b, n := twoInstances(t)
	p := optin.Phone("+12025550104")
	ctx := context.Background()
	handle(t, a, n, p, "SM1", "JOIN")
	if got, _ := handle(t, a, n, p, "SM2", "483920"); got.outcome != "confirmed" {
		t.Fatalf("code reply = %s; want confirmed", got.outcome)
	}
	rdb := srv.Client(t)
	before := rdb.Keys(ctx, "*:dk:*").Val()
	if ok, err := b.Erase(ctx, n.Tenant, p, []string{"deals"}, "support", now); !ok || err != nil {
		t.Fatalf("Erase = %v, %v", ok, err)
	}
	got, rt := handle(t, a, n, p, "SM3", "JOIN")
	if got.outcome != "prompted" || rt != 2 {
		t.Errorf("JOIN after an erasure elsewhere = %s in %d round trips; want prompted in 2", got.outcome, rt)
	}
	sub, events, err := b.Lookup(ctx, n.Tenant, p)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Version != 1 || sub.Enrollment("deals").State != optin.StatePending || len(events) != 1 || events[0].Erased {
		t.Errorf("after erasure and JOIN: v%d %s, %d events (%+v); want v1 pending, one readable event", sub.Version, sub.Enrollment("deals").State, len(events), events)
	}
	after := rdb.Keys(ctx, "*:dk:*").Val()
	if len(before) != 1 || len(after) != 1 {
		t.Fatalf("data keys %v → %v; want one each", before, after)
	}
	if rdb.Get(ctx, after[0]).Val() == "" {
		t.Error("no data key after the JOIN")
	}
	// Erasing on this instance drops its entry at once: the next message
	// needs no stale round trip.
	if _, err := a.Erase(ctx, n.Tenant, p, []string{"deals"}, "support", now); err != nil {
		t.Fatal(err)
	}
	if got, rt := handle(t, a, n, p, "SM4", "JOIN"); got.outcome != "prompted" || rt != 1 {
		t.Errorf("JOIN after an erasure here = %s in %d round trips; want prompted in 1", got.outcome, rt)
	}
}
