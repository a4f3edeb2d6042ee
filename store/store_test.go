package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

const (
	bizNumber = "+12025550100"
	person    = optin.Phone("+12125550123")
)

func newKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, store.MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		tb.Fatal(err)
	}
	return k
}

// openStore opens a store (4 shards, the subscriber cache on) on a Redis
// of its own, its options changed by each of with.
func openStore(tb testing.TB, with ...func(*store.Options)) (*store.Store, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb)
	return openInstances(tb, srv, 1, with...)[0].st, srv
}

// noCache turns the subscriber cache off: every Load reads Redis.
func noCache(o *store.Options) { o.SubscriberCache = -1 }

func testNumber(tb testing.TB) *optin.Number {
	tb.Helper()
	c := optin.Campaign{
		ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"}, Version: 1,
		Prompt:       "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel.",
		Confirmation: "You're subscribed to ACME Deals. Reply STOP to cancel.",
		Help:         "ACME Deals: help at example.com/help. Reply STOP to cancel.",
	}.WithDefaults()
	n := &optin.Number{Tenant: "demo", E164: bizNumber, Campaigns: []optin.Campaign{c}, StopReply: "You're unsubscribed."}
	if err := n.Validate(); err != nil {
		tb.Fatal(err)
	}
	return n
}

// now is the decisions' clock: the real one, since Redis expires the code
// keys at the times the decisions give them.
var now = time.Now().UTC().Truncate(time.Millisecond)

// decide loads the subscriber, decides text and returns both.
func decide(tb testing.TB, st *store.Store, n *optin.Number, sid, text string) (optin.Subscriber, optin.Decision, optin.Inbound) {
	tb.Helper()
	in := optin.Inbound{Provider: "twilio", MessageID: sid, Text: text}
	sub, stored, err := st.Load(context.Background(), n.Tenant, person, []string{"deals"}, in)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	if stored != nil {
		tb.Fatalf("Load(%s) found a stored reply %q; want none", sid, stored)
	}
	return sub, optin.Decide(sub, n, in, now, "4839201234"), in
}

func TestPseudonym(t *testing.T) {
	key := newKey(t)
	p, err := store.NewPseudonymizer(key)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := store.NewPseudonymizer(newKey(t))
	a := p.Pseudonym("demo", person)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(a) {
		t.Errorf("Pseudonym = %q; want 32 hex digits", a)
	}
	if b := p.Pseudonym("demo", person); b != a {
		t.Errorf("Pseudonym twice = %q, %q; want the same", a, b)
	}
	if b := p.Pseudonym("acme", person); b == a {
		t.Errorf("Pseudonym under another tenant = %q; want a different one", b)
	}
	if b := other.Pseudonym("demo", person); b == a {
		t.Errorf("Pseudonym under another master key = %q; want a different one", b)
	}
	if _, err := store.NewPseudonymizer(key[:16]); err == nil {
		t.Error("NewPseudonymizer(16 bytes) = nil error; want one")
	}
}

// slot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash
// tag, or of the whole key without one, modulo 16384.
func slot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func TestSlotMatchesRedis(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{"123456789": 12739, "foo": 12182, "{user1000}.following": 3443, "x{user1000}y": 3443} {
		if got := slot(key); got != want {
			t.Errorf("slot(%q) = %d; want %d", key, got, want)
		}
	}
}

// TestOneMessageOneSlot checks that every key one message writes (state,
// code, idempotency record, outbox, history, data key) lands in one hash slot, so
// the script runs unchanged on Redis Cluster, and that no key holds the
// phone number.
func TestOneMessageOneSlot(t *testing.T) {
	st, srv := openStore(t)
	n := testNumber(t)
	sub, dec, in := decide(t, st, n, "SM0001", "JOIN")
	if _, _, err := st.Apply(context.Background(), sub, dec, in, []byte("<Response/>")); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Client(t).Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 6 {
		t.Fatalf("keys after one JOIN = %q; want 6 (state, code, idempotency, outbox, history, data key)", keys)
	}
	for _, k := range keys {
		if slot(k) != slot(keys[0]) {
			t.Errorf("key %q in slot %d, key %q in slot %d; want one slot", k, slot(k), keys[0], slot(keys[0]))
		}
		if strings.Contains(k, "2125550123") {
			t.Errorf("key %q holds the phone number", k)
		}
	}
}

func TestApplyConflict(t *testing.T) {
	st, _ := openStore(t)
	n := testNumber(t)
	sub, dec, in := decide(t, st, n, "SM0001", "JOIN")
	v, _, err := st.Apply(context.Background(), sub, dec, in, []byte("a"))
	if err != nil || v != 1 {
		t.Fatalf("first Apply = v%d, %v; want v1, nil", v, err)
	}
	// A second message decided on the same, now stale, state.
	in2 := optin.Inbound{Provider: "twilio", MessageID: "SM0002", Text: "STOP"}
	dec2 := optin.Decide(sub, n, in2, now, "4839201234")
	if _, _, err := st.Apply(context.Background(), sub, dec2, in2, []byte("b")); !errors.Is(err, optin.ErrConflict) {
		t.Fatalf("Apply on a stale version = %v; want ErrConflict", err)
	}
	// Nothing of the refused message was written: it can be decided again.
	sub2, dec3, in3 := decide(t, st, n, "SM0002", "STOP")
	if sub2.Version != 1 {
		t.Fatalf("version after the conflict = %d; want 1", sub2.Version)
	}
	if _, _, err := st.Apply(context.Background(), sub2, dec3, in3, []byte("b")); err != nil {
		t.Fatalf("Apply after reloading = %v; want nil", err)
	}
}

func TestApplyDuplicate(t *testing.T) {
	t.Run("cached", func(t *testing.T) { testApplyDuplicate(t, false) })
	t.Run("no cache", func(t *testing.T) { testApplyDuplicate(t, true) })
}

// testApplyDuplicate: a processed message applied again writes nothing and
// gets the stored reply; with the cache off, Load already returns it.
func testApplyDuplicate(t *testing.T, off bool) {
	var with []func(*store.Options)
	if off {
		with = append(with, noCache)
	}
	st, srv := openStore(t, with...)
	n := testNumber(t)
	sub, dec, in := decide(t, st, n, "SM0001", "JOIN")
	reply := []byte(`<?xml version="1.0" encoding="UTF-8"?><Response><Message>first</Message></Response>`)
	if _, _, err := st.Apply(context.Background(), sub, dec, in, reply); err != nil {
		t.Fatal(err)
	}
	size := srv.Client(t).DBSize(context.Background()).Val()
	// The same message again, even decided on the new state, writes nothing
	// and answers the stored reply byte for byte.
	sub2, _, err := st.Load(context.Background(), n.Tenant, person, []string{"deals"}, optin.Inbound{Provider: "twilio", MessageID: "SM0002"})
	if err != nil {
		t.Fatal(err)
	}
	dec2 := optin.Decide(sub2, n, in, now, "1111111111")
	_, stored, err := st.Apply(context.Background(), sub2, dec2, in, []byte("second"))
	if !errors.Is(err, optin.ErrDuplicate) || !bytes.Equal(stored, reply) {
		t.Fatalf("Apply of a processed message = %q, %v; want the first reply, ErrDuplicate", stored, err)
	}
	if _, loaded, err := st.Load(context.Background(), n.Tenant, person, []string{"deals"}, in); err != nil || (off && !bytes.Equal(loaded, reply)) || (!off && loaded != nil) {
		t.Fatalf("Load of a processed message = %q, %v; want %s", loaded, err, map[bool]string{true: "the first reply", false: "none (Apply finds it)"}[off])
	}
	if got := srv.Client(t).DBSize(context.Background()).Val(); got != size {
		t.Errorf("keys %d → %d after a duplicate; want no change", size, got)
	}
}

// TestExpiries checks that the pending code expires with the code and the
// idempotency record after the configured time, and that the code is
// gone once confirmed.
func TestExpiries(t *testing.T) {
	st, srv := openStore(t)
	rdb := srv.Client(t)
	n := testNumber(t)
	sub, dec, in := decide(t, st, n, "SM0001", "JOIN")
	if _, _, err := st.Apply(context.Background(), sub, dec, in, []byte("r")); err != nil {
		t.Fatal(err)
	}
	ttls := map[string]time.Duration{}
	for _, k := range rdb.Keys(context.Background(), "*").Val() {
		ttls[strings.Split(k, ":")[2]] = rdb.PTTL(context.Background(), k).Val()
	}
	if got := ttls["idem"]; got <= store.DefaultIdempotencyTTL-time.Minute || got > store.DefaultIdempotencyTTL {
		t.Errorf("idempotency TTL = %v; want about %v", got, store.DefaultIdempotencyTTL)
	}
	if got := ttls["code"]; got <= n.Campaigns[0].CodeTTL-time.Minute || got > n.Campaigns[0].CodeTTL {
		t.Errorf("code TTL = %v; want about %v", got, n.Campaigns[0].CodeTTL)
	}
	for _, kind := range []string{"sub", "hist", "outbox"} {
		if got := ttls[kind]; got != -1 {
			t.Errorf("%s TTL = %v; want none (-1)", kind, got)
		}
	}
	if _, ok := ttls["code"]; !ok {
		t.Fatalf("no code key after JOIN; keys %v", ttls)
	}
	// Confirming deletes the code key.
	code := dec.Next.Enrollment("deals").Code.Code
	sub, dec, in = decide(t, st, n, "SM0002", code)
	if dec.Outcome != optin.OutcomeConfirmed {
		t.Fatalf("code reply outcome = %v; want confirmed", dec.Outcome)
	}
	if _, _, err := st.Apply(context.Background(), sub, dec, in, []byte("r")); err != nil {
		t.Fatal(err)
	}
	for _, k := range rdb.Keys(context.Background(), "*").Val() {
		if strings.Contains(k, ":code:") {
			t.Errorf("code key %s left after confirmation", k)
		}
	}
}

func TestUnavailable(t *testing.T) {
	st, srv := openStore(t)
	uncached, srv2 := openStore(t, noCache)
	srv.Stop(t)
	srv2.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	in := optin.Inbound{Provider: "twilio", MessageID: "SM1", Text: "JOIN"}
	if _, _, err := uncached.Load(ctx, "demo", person, []string{"deals"}, in); !errors.Is(err, optin.ErrUnavailable) {
		t.Errorf("Load (cache off) with Redis stopped = %v; want ErrUnavailable", err)
	}
	// With the cache, Load needs no Redis; Apply does.
	sub, _, err := st.Load(ctx, "demo", person, []string{"deals"}, in)
	if err != nil {
		t.Fatalf("Load (cached) with Redis stopped = %v; want nil", err)
	}
	n := testNumber(t)
	_, _, err = st.Apply(ctx, sub, optin.Decide(sub, n, in, now, "4839201234"), in, []byte("r"))
	if !errors.Is(err, optin.ErrUnavailable) {
		t.Errorf("Apply with Redis stopped = %v; want ErrUnavailable", err)
	}
	if err := st.Ping(ctx); !errors.Is(err, optin.ErrUnavailable) {
		t.Errorf("Ping with Redis stopped = %v; want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "2125550123") {
		t.Errorf("error %q holds the phone number", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct{ name, url, want string }{
		{"bad scheme", "http://127.0.0.1:1", "redis url"},
		{"nobody listening", "redis://127.0.0.1:1/0", "store unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := store.Open(ctx, store.Options{URL: tt.url, MasterKey: newKey(t)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%s) = %v; want an error saying %q", tt.url, err, tt.want)
			}
		})
	}
}

func TestBacklog(t *testing.T) {
	st, srv := openStore(t)
	ctx := context.Background()
	if b, err := st.Backlog(ctx, time.Now()); err != nil || b != (store.Backlog{}) {
		t.Fatalf("Backlog of an empty Redis = %+v, %v; want zero", b, err)
	}
	n := testNumber(t)
	sub, dec, in := decide(t, st, n, "SM0001", "JOIN")
	if _, _, err := st.Apply(ctx, sub, dec, in, []byte("r")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Client(t).XAdd(ctx, &redis.XAddArgs{Stream: store.OutQueueKey(2), Values: []any{"r", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	b, err := st.Backlog(ctx, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if b.Queued != 1 || b.ArchiveLag < 59*time.Second || b.ArchiveLag > 2*time.Minute {
		t.Errorf("Backlog a minute after one JOIN and one queued reply = %+v; want 1 queued, lag about 1m", b)
	}
}
