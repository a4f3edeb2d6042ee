package gateway_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// outboxEvents returns every audit event in the outbox streams.
func outboxEvents(tb testing.TB, h *harness) []optin.Event {
	tb.Helper()
	rdb := h.rdb
	var out []optin.Event
	for shard := range h.store.Shards() {
		msgs, err := rdb.XRange(context.Background(), store.OutboxKey(shard), "-", "+").Result()
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range msgs {
			var ev optin.Event
			if err := json.Unmarshal([]byte(m.Values["e"].(string)), &ev); err != nil {
				tb.Fatal(err)
			}
			out = append(out, ev)
		}
	}
	return out
}

// lastMatch returns the match of the newest outbox event of subscriber
// phone under tenant demo.
func lastMatch(tb testing.TB, h *harness, phone string) optin.Match {
	tb.Helper()
	hist := h.subscriber("demo", phone).Campaigns[0].History
	if len(hist) == 0 || hist[0].Match == nil {
		tb.Fatalf("no event with a match for %s: %+v", phone, hist)
	}
	return *hist[0].Match
}

// TestRevocationsEndToEnd sends revocations in other languages and fuzzy
// forms through signed webhooks and checks the state, the reply and the
// audit record's marker.
func TestRevocationsEndToEnd(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, from, text string
		want             optin.Match
	}{
		{"Spanish", "+12025550140", "Parar", optin.Match{Rule: optin.RuleWord, Matched: "parar", Pack: "es", PackVersion: 1}},
		{"French", "+12025550141", "ARRÊT", optin.Match{Rule: optin.RuleWord, Matched: "arret", Pack: "fr", PackVersion: 1}},
		{"typo", "+12025550142", "stpo", optin.Match{Rule: optin.RuleTypo, Matched: "stpo → stop", Pack: "en", PackVersion: 1, Fuzzy: true}},
		{"phrase", "+12025550143", "Please take me off your list", optin.Match{Rule: optin.RulePhrase, Matched: "take me off", Pack: "en", PackVersion: 1, Fuzzy: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := codeIn(t, h.sms(tt.from, bizNumber, "JOIN")[0])
			h.sms(tt.from, bizNumber, code)
			got := h.sms(tt.from, bizNumber, tt.text)
			if len(got) != 1 || got[0] != stopReply {
				t.Fatalf("%q: replies %q; want the stop confirmation", tt.text, got)
			}
			if s := h.states(tt.from); s["deals"] != "unsubscribed" || s["news"] != "unsubscribed" {
				t.Fatalf("%q: states %v; want every campaign unsubscribed", tt.text, s)
			}
			if m := lastMatch(t, h, tt.from); m != tt.want {
				t.Errorf("%q: audit match %+v; want %+v", tt.text, m, tt.want)
			}
			// A second revocation is recorded, not answered.
			if again := h.sms(tt.from, bizNumber, "STOP"); len(again) != 0 {
				t.Errorf("second STOP: replies %q; want none", again)
			}
			if hist := h.subscriber("demo", tt.from).Campaigns[0].History; hist[0].From != optin.StateUnsubscribed || hist[0].To != optin.StateUnsubscribed {
				t.Errorf("second STOP not on record: newest event %v → %v", hist[0].From, hist[0].To)
			}
		})
	}
	// The outbox carries the markers too: it is what the archive keeps.
	fuzzy := 0
	for _, ev := range outboxEvents(t, h) {
		if ev.Match != nil && ev.Match.Fuzzy {
			fuzzy++
		}
	}
	if fuzzy != 4 {
		t.Errorf("outbox holds %d fuzzy-marked events; want 4 (typo and phrase, two campaigns each)", fuzzy)
	}
}

// TestRevokeAllScope checks the tenant revocation scope: a STOP sent to
// one business number revokes the tenant's campaign on its other number.
func TestRevokeAllScope(t *testing.T) {
	h := newHarness(t)
	const from = "+12025550144"
	h.sms(from, shortCode, codeIn(t, h.sms(from, shortCode, "JOIN")[0]))
	h.sms(from, vipNumber, codeIn(t, h.sms(from, vipNumber, "VIP")[0]))
	states := func() map[string]string {
		out := map[string]string{}
		for _, c := range h.subscriber("other", from).Campaigns {
			out[c.Campaign] = c.State
		}
		return out
	}
	if s := states(); s["deals"] != "subscribed" || s["vip"] != "subscribed" {
		t.Fatalf("before STOP: %v; want both subscribed", s)
	}
	if got := h.sms(from, shortCode, "STOP"); len(got) != 1 {
		t.Fatalf("STOP: replies %q; want one confirmation", got)
	}
	if s := states(); s["deals"] != "unsubscribed" || s["vip"] != "unsubscribed" {
		t.Errorf("after STOP to %s: %v; want the vip campaign of %s revoked too", shortCode, s, vipNumber)
	}
}
