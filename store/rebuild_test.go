package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// rebuildNumber is a business number with two campaigns.
func rebuildNumber(tb testing.TB) *optin.Number {
	tb.Helper()
	deals := optin.Campaign{ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"}, Version: 2,
		Prompt: "Reply {code} to confirm ACME Deals.", Confirmation: "You're in.", Help: "ACME help."}.WithDefaults()
	news := optin.Campaign{ID: "news", Name: "ACME News", Keywords: []string{"NEWS"}, Version: 1,
		Prompt: "Reply {code} to confirm ACME News.", Confirmation: "You're in.", Help: "ACME help."}.WithDefaults()
	n := &optin.Number{Tenant: "demo", E164: "+12025550100", Campaigns: []optin.Campaign{deals, news}, StopReply: "Bye."}
	if err := n.Validate(); err != nil {
		tb.Fatal(err)
	}
	return n
}

// text runs one inbound message through Load, Decide and Apply.
func text(tb testing.TB, st *Store, n *optin.Number, from optin.Phone, body string, now time.Time, sid int) {
	tb.Helper()
	ctx := context.Background()
	in := optin.Inbound{Provider: "twilio", MessageID: fmt.Sprintf("SM%032d", sid), Text: body}
	sub, _, err := st.Load(ctx, n.Tenant, from, []string{"deals", "news"}, in)
	if err != nil {
		tb.Fatal(err)
	}
	dec := optin.Decide(sub, n, in, now, "1234567890")
	if _, _, err := st.Apply(ctx, sub, dec, in, []byte("<Response/>")); err != nil {
		tb.Fatal(err)
	}
}

// consent is what Rebuild restores of an enrollment.
type consent struct {
	State optin.State
	Since time.Time
}

// snapshot returns the consent state of every subscriber in Redis, by key.
func snapshot(tb testing.TB, st *Store) map[string]map[string]consent {
	tb.Helper()
	ctx := context.Background()
	out := map[string]map[string]consent{}
	iter := st.rdb.Scan(ctx, 0, subscriberPattern(), 1000).Iterator()
	for iter.Next(ctx) {
		doc, err := st.rdb.HGet(ctx, iter.Val(), "doc").Result()
		if err != nil {
			tb.Fatal(err)
		}
		var enr map[string]optin.Enrollment
		if err := json.Unmarshal([]byte(doc), &enr); err != nil {
			tb.Fatal(err)
		}
		m := map[string]consent{}
		for c, e := range enr {
			m[c] = consent{e.State, e.Since.UTC()}
		}
		out[iter.Val()] = m
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func TestRebuildRestoresEverySubscriberAfterFlushall(t *testing.T) {
	st, _ := newTestStore(t, 4)
	n := rebuildNumber(t)
	scripts := [][]string{
		{"JOIN"},
		{"JOIN", "123456"},
		{"JOIN", "123456", "STOP"},
		{"NEWS", "123456", "JOIN"},
		{"STOP"},
		{"JOIN", "123456", "STOP NEWS", "NEWS"},
		{"JOIN", "123456", "STOP", "JOIN", "123456"},
	}
	now := time.Now().UTC().Truncate(time.Second) // codes expire in Redis by the real clock
	sid := 0
	for _, npa := range []string{"202", "212", "312"} {
		for i := range 100 {
			from := optin.Phone(fmt.Sprintf("+1%s55501%02d", npa, i))
			for _, body := range scripts[(i+len(npa))%len(scripts)] {
				sid++
				now = now.Add(time.Second)
				text(t, st, n, from, body, now, sid)
			}
		}
	}
	opts := testArchiverOptions(t)
	before := snapshot(t, st)
	if len(before) != 300 {
		t.Fatalf("%d subscribers before; want 300", len(before))
	}
	seen := map[optin.State]int{}
	for _, m := range before {
		for _, c := range m {
			seen[c.State]++
		}
	}
	if seen[optin.StatePending] == 0 || seen[optin.StateSubscribed] == 0 || seen[optin.StateUnsubscribed] == 0 {
		t.Fatalf("states before = %v; want pending, subscribed and unsubscribed subscribers", seen)
	}
	archive(t, st, opts, uint64(outboxLen(t, st)))

	ctx := context.Background()
	if err := st.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	stats, err := st.AuditLog(opts.Dir).Rebuild(ctx)
	if err != nil {
		t.Fatalf("Rebuild = %v", err)
	}
	after := snapshot(t, st)
	if len(after) != len(before) {
		t.Errorf("%d subscribers after rebuild; want %d", len(after), len(before))
	}
	for key, want := range before {
		got := after[key]
		if len(got) != len(want) {
			t.Errorf("%s: %d campaigns after rebuild; want %d", key, len(got), len(want))
		}
		for c, w := range want {
			if g := got[c]; g.State != w.State || !g.Since.Equal(w.Since) {
				t.Errorf("%s %s after rebuild = %v since %v; want %v since %v", key, c, g.State, g.Since, w.State, w.Since)
			}
		}
	}
	t.Logf("rebuild: %+v", stats)
	if stats.Subscribers != 300 {
		t.Errorf("rebuild wrote %d subscribers; want 300", stats.Subscribers)
	}

	if _, err := st.AuditLog(opts.Dir).Rebuild(ctx); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Rebuild into a filled Redis = %v; want ErrNotEmpty", err)
	}
}

func TestRebuildAddsTheOutboxTail(t *testing.T) {
	st, _ := newTestStore(t, 4)
	n := rebuildNumber(t)
	now := time.Now().UTC().Truncate(time.Second) // codes expire in Redis by the real clock
	phones := []optin.Phone{"+12025550150", "+12025550151", "+12025550152"}
	for i, p := range phones {
		text(t, st, n, p, "JOIN", now.Add(time.Duration(i)*time.Second), 10+i)
		text(t, st, n, p, "123456", now.Add(time.Minute+time.Duration(i)*time.Second), 20+i)
	}
	opts := testArchiverOptions(t)
	archive(t, st, opts, 6)
	// Not archived yet: the STOP is only in the outbox.
	text(t, st, n, phones[0], "STOP", now.Add(time.Hour), 30)
	before := snapshot(t, st)

	// Redis keeps its outbox but loses the subscribers (a partial restore).
	ctx := context.Background()
	keys, err := st.rdb.Keys(ctx, subscriberPattern()).Result()
	if err != nil || len(keys) != 3 {
		t.Fatalf("subscriber keys = %v, %v; want 3", keys, err)
	}
	if err := st.rdb.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
	stats, err := st.AuditLog(opts.Dir).Rebuild(ctx)
	if err != nil {
		t.Fatalf("Rebuild = %v", err)
	}
	if stats.Records != 6 || stats.Pending != 2 {
		t.Errorf("Rebuild read %d records and %d outbox events; want 6 and 2 (the STOP revokes both campaigns)", stats.Records, stats.Pending)
	}
	after := snapshot(t, st)
	for key, want := range before {
		for c, w := range want {
			if g := after[key][c]; g.State != w.State || !g.Since.Equal(w.Since) {
				t.Errorf("%s %s after rebuild = %v since %v; want %v since %v", key, c, g.State, g.Since, w.State, w.Since)
			}
		}
	}
}

// TestRebuildSkipsDeliveryRecords: what became of a reply (a delivery
// record in the archive) changes no consent state, so rebuild restores
// exactly the transitions.
func TestRebuildSkipsDeliveryRecords(t *testing.T) {
	st, _ := newTestStore(t, 4)
	n := rebuildNumber(t)
	const p = optin.Phone("+12025550153")
	text(t, st, n, p, "JOIN", time.Now().UTC(), 40)
	before := snapshot(t, st)
	sub := st.pseudonyms.Pseudonym(n.Tenant, p)
	b, _ := json.Marshal(optin.Delivery{Kind: "delivery", Tenant: n.Tenant, Subscriber: sub, ReplyID: "twilio:SM40:r0", Status: optin.DeliveryDelivered, At: time.Now().UTC()})
	ctx := context.Background()
	if err := st.rdb.XAdd(ctx, &redis.XAddArgs{Stream: OutboxKey(shardOf(sub, st.shards)), Values: []any{"d", string(b)}}).Err(); err != nil {
		t.Fatal(err)
	}
	opts := testArchiverOptions(t)
	archive(t, st, opts, 2)
	if err := st.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuditLog(opts.Dir).Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, st)
	if len(after) != 1 {
		t.Fatalf("subscribers after rebuild = %d; want 1", len(after))
	}
	for key, cs := range after {
		if _, ok := cs[""]; ok || len(cs) != len(before[key]) {
			t.Errorf("%s after rebuild = %v; want the transitions only, %v", key, cs, before[key])
		}
	}
}

// TestRebuildLeavesErasedSubscribersOut: an erasure in the log drops
// what came before it; what came after is restored.
func TestRebuildLeavesErasedSubscribersOut(t *testing.T) {
	st, _ := newTestStore(t, 4)
	n := rebuildNumber(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	gone, back, kept := optin.Phone("+12125550101"), optin.Phone("+12125550102"), optin.Phone("+12125550103")
	for i, p := range []optin.Phone{gone, back, kept} {
		text(t, st, n, p, "JOIN", now, 10*i+1)
		text(t, st, n, p, "123456", now.Add(time.Second), 10*i+2)
	}
	for _, p := range []optin.Phone{gone, back} {
		if _, err := st.Erase(ctx, "demo", p, []string{"deals", "news"}, "operator", now.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	text(t, st, n, back, "NEWS", now.Add(3*time.Second), 99) // after the erasure
	opts := testArchiverOptions(t)
	archive(t, st, opts, uint64(outboxLen(t, st)))
	before := snapshot(t, st)
	if len(before) != 2 {
		t.Fatalf("%d subscribers before; want 2 (kept, and back again)", len(before))
	}
	if err := st.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuditLog(opts.Dir).Rebuild(ctx); err != nil {
		t.Fatalf("Rebuild = %v", err)
	}
	after := snapshot(t, st)
	if len(after) != 2 {
		t.Fatalf("subscribers after rebuild = %v; want the 2 of before", after)
	}
	for key, want := range before {
		if got := after[key]; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s after rebuild = %v; want %v", key, got, want)
		}
	}
}

// TestRebuildRestoresAudiencesAndSuppression: after a FLUSHALL, rebuild
// restores each campaign's audience set, the evidence id of every
// enrollment and the suppression entry of a person erased and not
// subscribed again; consent reads the same before and after.
func TestRebuildRestoresAudiencesAndSuppression(t *testing.T) {
	st, _ := newTestStore(t, 4)
	n := rebuildNumber(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	phones := []optin.Phone{"+12125550101", "+12125550102", "+12125550103", "+12125550104"}
	for i, p := range phones {
		text(t, st, n, p, "JOIN", now, 10*i+1)
		text(t, st, n, p, "123456", now.Add(time.Second), 10*i+2)
	}
	text(t, st, n, phones[3], "STOP", now.Add(2*time.Second), 98)
	if _, err := st.Erase(ctx, "demo", phones[0], []string{"deals", "news"}, "operator", now.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	audience := func() map[string]bool {
		out := map[string]bool{}
		if _, err := st.Audience(ctx, "demo", "deals", "", 2, func(m optin.AudienceMember) error {
			out[m.Subscriber] = true
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	members := func() map[string]bool {
		out := map[string]bool{}
		for s := range 4 {
			ids, err := st.rdb.ZRange(ctx, audienceKey(s, "demo", "deals"), 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range ids {
				out[id] = true
			}
		}
		return out
	}
	if got := audience(); len(got) != 2 {
		t.Fatalf("audience before = %v; want 2 (one erased, one stopped)", got)
	}
	before, err := st.Consent(ctx, "demo", phones)
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := members()
	opts := testArchiverOptions(t)
	archive(t, st, opts, uint64(outboxLen(t, st)))
	if err := st.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	stats, err := st.AuditLog(opts.Dir).Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := members(); fmt.Sprint(got) != fmt.Sprint(wantMembers) || stats.Suppressed != 1 {
		t.Errorf("audience after rebuild = %v, %d suppressed; want %v, 1", got, stats.Suppressed, wantMembers)
	}
	after, err := st.Consent(ctx, "demo", phones)
	if err != nil {
		t.Fatal(err)
	}
	for i := range phones {
		for _, c := range []string{"deals", "news"} {
			b, a := consentText(before[i].Consent(c)), consentText(after[i].Consent(c))
			if b != a {
				t.Errorf("person %d %s: consent %s before, %s after rebuild", i, c, b, a)
			}
		}
	}
	if got := after[0].Consent("deals"); got.State != optin.ConsentErased {
		t.Errorf("erased person after rebuild = %+v; want erased", got)
	}
	// Numbers are not in the archive: the rebuilt audience has none to give.
	if got := audience(); len(got) != 0 {
		t.Errorf("export after rebuild gave %d numbers; want none (numbers come back when people text again)", len(got))
	}
}

// consentText is a consent answer as text, its pointers followed.
func consentText(c optin.Consent) string {
	since, ev := "-", "-"
	if c.Since != nil {
		since = c.Since.UTC().String()
	}
	if c.Evidence != nil {
		ev = *c.Evidence
	}
	return fmt.Sprint(c.Campaign, " ", c.State, " ", c.Allowed, " ", since, " ", ev)
}
