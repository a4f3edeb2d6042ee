package security_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/events/verify"
	"github.com/optin-gateway/optin-gateway/internal/recorder"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/security"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/storetest"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func openStore(tb testing.TB) *store.Store {
	st, _ := storetest.Open(tb, store.Options{Shards: 4})
	return st
}

// alerts records the alerts a sink raises.
type alerts = recorder.Log[security.Alert]

// t0 is when the clock of newSink starts.
var t0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// newSink returns a sink with the standard limits on a fresh store, its
// clock (set at t0) and the alerts it raises.
func newSink(tb testing.TB) (*security.Sink, *store.Store, *fakeClock, *alerts) {
	st := openStore(tb)
	clk := &fakeClock{t: t0}
	got := &alerts{}
	return security.NewSink(security.Options{
		Backend: st, Now: clk.Now, OnAlert: got.Add,
		Rules: security.Rules(security.Limits{SignatureFailuresPerMinute: 50, RevealsPerHour: 100, ErasuresPerHour: 20}),
	}), st, clk, got
}

// TestRevealRule: the reveals rule fires on the 101st reveal of one token
// within an hour, once, not for another token, and not when the first
// reveals have slid out of the window.
func TestRevealRule(t *testing.T) {
	sink, _, clk, got := newSink(t)
	ctx := context.Background()
	reveal := func(actor string, at time.Time) {
		clk.Set(at)
		sink.Record(security.Event{Kind: security.KindReveal, Tenant: "demo", Actor: actor, Role: "support", Subscriber: "ps" + at.Format("150405")})
	}
	flush := func() {
		if err := sink.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// 100 reveals over 49.5 minutes, flushed as they come: no alert.
	for i := range 100 {
		reveal("tok_a", t0.Add(time.Duration(i)*30*time.Second))
		if i%10 == 9 {
			flush()
		}
	}
	reveal("tok_b", t0.Add(50*time.Minute)) // another token's reveal counts for it
	flush()
	if a := got.All(); len(a) != 0 {
		t.Fatalf("after 100 reveals in an hour, alerts = %+v; want none", a)
	}
	// The 101st, 59 minutes after the first: the alert.
	reveal("tok_a", t0.Add(59*time.Minute))
	flush()
	a := got.All()
	if len(a) != 1 || a[0].Rule != "reveals" || a[0].Subject != "tok_a" || a[0].Count != 101 || a[0].Limit != 100 {
		t.Fatalf("after the 101st reveal, alerts = %+v; want one reveals alert for tok_a at 101", a)
	}
	// More in the same window: no second alert.
	reveal("tok_a", t0.Add(59*time.Minute+30*time.Second))
	flush()
	if a := got.All(); len(a) != 1 {
		t.Errorf("the 102nd reveal raised another alert: %+v", a)
	}

	// Another token: 100 reveals, then the 101st 61 minutes after the
	// first; the first ones have left the window.
	for i := range 100 {
		reveal("tok_c", t0.Add(time.Duration(i)*30*time.Second))
	}
	flush()
	reveal("tok_c", t0.Add(61*time.Minute))
	flush()
	if a := got.All(); len(a) != 1 {
		t.Errorf("a reveal 61 minutes after the first of 100 raised %+v; want no new alert", a[1:])
	}

	// An export counts like a reveal; an audience export counts its members.
	sink.Record(security.Event{Kind: security.KindAudience, Tenant: "demo", Actor: "tok_d", Count: 101, At: t0})
	flush()
	if a := got.All(); len(a) != 2 || a[1].Subject != "tok_d" || a[1].Count != 101 {
		t.Errorf("an audience export of 101 members: alerts %+v; want a reveals alert for tok_d", a)
	}
}

// TestSinkAggregatesFloods: 10,000 equal signature failures cost one
// stream entry with their count, and raise the signature_failures alert
// once; an erasure burst raises its alert; consent checks become one
// access entry per token.
func TestSinkAggregatesFloods(t *testing.T) {
	sink, st, _, got := newSink(t)
	ctx := context.Background()
	for range 10_000 {
		sink.Record(security.Event{Kind: security.KindBadSignature, Provider: "twilio", Source: "192.0.2.7", Route: "/v1/webhooks/twilio/sms"})
	}
	for i := range 21 {
		sink.Record(security.Event{Kind: security.KindErase, Tenant: "demo", Actor: "tok_admin", Subscriber: "ps" + string(rune('a'+i))})
	}
	for range 250 {
		sink.ConsentCheck("demo", "tok_sender", "sender", 1)
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var events []security.Event
	if err := st.SecurityEvents(ctx, time.Time{}, func(raw []byte) error {
		var e security.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		events = append(events, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(events) != 22 || events[0].Kind != security.KindBadSignature || events[0].Count != 10_000 {
		t.Fatalf("stream = %d events, first %+v; want 22, the first the 10,000 signature failures in one", len(events), events[0])
	}
	rules := map[string]string{}
	for _, a := range got.All() {
		rules[a.Rule] = a.Subject
	}
	if len(rules) != 2 || rules["signature_failures"] != "all" || rules["erasures"] != "demo" {
		t.Errorf("alerts = %+v; want signature_failures (all) and erasures (demo)", got.All())
	}
	var checks []optin.AccessEntry
	if err := st.AccessEntries(ctx, time.Time{}, func(e optin.AccessEntry) error {
		if e.Action == security.ActionConsentCheck {
			checks = append(checks, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The entry is in the access log's outbox (archived later); the tenant
	// stream holds it once the tenant exists, which it does not here.
	if len(checks) != 1 || checks[0].Count != 250 || checks[0].Actor != "tok_sender" {
		t.Errorf("consent check entries = %+v; want one of 250 by tok_sender", checks)
	}
}

// TestSinkCountsDrops: past MaxPending distinct events, and when the store
// is gone, events are counted as dropped, not queued without end.
func TestSinkCountsDrops(t *testing.T) {
	st := openStore(t)
	var dropped int
	sink := security.NewSink(security.Options{Backend: st, MaxPending: 10, OnDrop: func(n int) { dropped += n }})
	for i := range 15 {
		sink.Record(security.Event{Kind: "bad_token", Source: "192.0.2." + string(rune('0'+i%10)) + string(rune('0'+i/10))})
	}
	if err := sink.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if dropped != 5 {
		t.Errorf("dropped = %d; want 5 past MaxPending 10", dropped)
	}
	st.Close()
	sink.Record(security.Event{Kind: "bad_token"})
	if err := sink.Flush(context.Background()); err == nil {
		t.Error("Flush into a closed store = nil; want its error")
	}
	if dropped != 6 {
		t.Errorf("dropped = %d after a failed flush; want 6", dropped)
	}
}

// TestNotifierSigns: an alert reaches the operator's endpoint signed with
// the event webhooks' scheme.
func TestNotifierSigns(t *testing.T) {
	var mu sync.Mutex
	var body []byte
	var sig string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		body, sig = b, r.Header.Get("Optin-Signature")
		mu.Unlock()
	}))
	defer hs.Close()
	n := &security.Notifier{URL: hs.URL, Secret: "whsec_test"}
	n.Notify(security.Alert{Rule: "reveals", Subject: "tok_a", Count: 101, Limit: 100, Span: "1h0m0s", At: time.Now().UTC()})
	n.Wait()
	mu.Lock()
	defer mu.Unlock()
	if err := verify.Verify("whsec_test", sig, body, time.Now()); err != nil {
		t.Errorf("alert signature: %v (body %s)", err, body)
	}
	var a struct {
		Type  string `json:"type"`
		Rule  string `json:"rule"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Type != "security.alert" || a.Rule != "reveals" || a.Count != 101 {
		t.Errorf("alert body = %s, %v", body, err)
	}
}
