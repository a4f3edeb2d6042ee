package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
)

func TestWholeFlow(t *testing.T) {
	h := newHarness(t)
	got := h.sms(person, bizNumber, "JOIN")
	if len(got) != 1 || !strings.HasPrefix(got[0], "Reply ") || !strings.HasSuffix(got[0], "Reply HELP for help, STOP to cancel.") {
		t.Fatalf("JOIN replies = %q; want the deals prompt", got)
	}
	code := codeIn(t, got[0])
	if len(code) != optin.DefaultCodeLength {
		t.Fatalf("code %q has %d digits; want %d", code, len(code), optin.DefaultCodeLength)
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Fatalf("after JOIN deals = %q; want pending", s["deals"])
	}
	if got := h.sms(person, bizNumber, code); !slices.Equal(got, []string{dealsConfirm}) {
		t.Fatalf("code replies = %q; want %q", got, dealsConfirm)
	}
	if s := h.states(person); s["deals"] != "subscribed" || s["news"] != "none" {
		t.Fatalf("after code states = %v; want deals subscribed, news none", s)
	}
	if got := h.sms(person, bizNumber, "STOP"); !slices.Equal(got, []string{stopReply}) {
		t.Fatalf("STOP replies = %q; want %q", got, stopReply)
	}
	v := h.subscriber("demo", person)
	for _, c := range v.Campaigns {
		if c.State != "unsubscribed" {
			t.Errorf("after STOP %s = %q; want unsubscribed", c.Campaign, c.State)
		}
		if c.ChangedAt == nil {
			t.Errorf("after STOP %s changed_at = null; want a time", c.Campaign)
		}
	}
	var deals []optin.Event
	for _, c := range v.Campaigns {
		if c.Campaign == "deals" {
			deals = c.History
		}
	}
	wantChain := []string{"none→pending", "pending→subscribed", "subscribed→unsubscribed"}
	var chain []string
	for _, ev := range slices.Backward(deals) {
		chain = append(chain, ev.From.String()+"→"+ev.To.String())
	}
	if !slices.Equal(chain, wantChain) {
		t.Errorf("deals history = %v; want %v", chain, wantChain)
	}
	if len(deals) > 0 {
		first := deals[len(deals)-1]
		if len(first.Replies) != 1 || strings.Contains(first.Replies[0], code) || !strings.Contains(first.Replies[0], optin.MaskedCode) {
			t.Errorf("prompt event replies = %q; want the prompt with the code masked", first.Replies)
		}
		if first.Cause.Provider != "twilio" || !strings.HasPrefix(first.Cause.MessageID, "SM") || first.Cause.Words != "join" {
			t.Errorf("prompt event cause = %+v; want twilio, SM…, join", first.Cause)
		}
	}
	if v.Subscriber == "" || strings.Contains(v.Subscriber, "2125550123") {
		t.Errorf("subscriber id = %q; want a pseudonym", v.Subscriber)
	}
}

// TestStateTable drives every cell of DESIGN.md's state table through HTTP.
func TestStateTable(t *testing.T) {
	// reach brings a fresh person into a state of the deals campaign and
	// returns the live code, if any.
	reach := func(h *harness, from, state string) string {
		switch state {
		case "none":
			return ""
		case "pending":
			return codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
		case "subscribed":
			h.sms(from, bizNumber, codeIn(t, h.sms(from, bizNumber, "JOIN")[0]))
		case "unsubscribed":
			h.sms(from, bizNumber, "JOIN")
			h.sms(from, bizNumber, "STOP")
		}
		return ""
	}
	prompt := func(got []string) bool { return len(got) == 1 && strings.HasPrefix(got[0], "Reply ") }
	tests := []struct {
		from, text string // text "<code>" is the live code, "<wrong>" a wrong one
		want       string // deals state afterwards
		reply      func([]string) bool
	}{
		{"none", "STOP", "unsubscribed", func(r []string) bool { return slices.Equal(r, []string{stopReply}) }},
		{"pending", "STOP", "unsubscribed", func(r []string) bool { return slices.Equal(r, []string{stopReply}) }},
		{"subscribed", "STOP", "unsubscribed", func(r []string) bool { return slices.Equal(r, []string{stopReply}) }},
		// One confirmation per revocation: already unsubscribed, no reply.
		{"unsubscribed", "STOP", "unsubscribed", func(r []string) bool { return len(r) == 0 }},
		{"subscribed", "please stop texting me", "unsubscribed", func(r []string) bool { return slices.Equal(r, []string{stopReply}) }},
		{"pending", "Opt out", "unsubscribed", func(r []string) bool { return slices.Equal(r, []string{stopReply}) }},
		{"none", "HELP", "none", func(r []string) bool { return slices.Equal(r, []string{dealsHelp}) }},
		{"pending", "info", "pending", func(r []string) bool { return slices.Equal(r, []string{dealsHelp}) }},
		{"subscribed", "Help", "subscribed", func(r []string) bool { return slices.Equal(r, []string{dealsHelp}) }},
		{"unsubscribed", "HELP", "unsubscribed", func(r []string) bool { return slices.Equal(r, []string{dealsHelp}) }},
		{"none", "JOIN", "pending", prompt},
		{"unsubscribed", "START", "pending", prompt},
		{"unsubscribed", "unstop", "pending", prompt},
		{"pending", "DEALS", "pending", prompt},
		{"subscribed", "JOIN", "subscribed", func(r []string) bool { return len(r) == 1 && strings.Contains(r[0], "already subscribed") }},
		{"pending", "<code>", "subscribed", func(r []string) bool { return slices.Equal(r, []string{dealsConfirm}) }},
		{"pending", "<wrong>", "pending", func(r []string) bool { return len(r) == 0 }},
		{"none", "123456", "none", func(r []string) bool { return len(r) == 0 }},
		{"subscribed", "123456", "subscribed", func(r []string) bool { return len(r) == 0 }},
		{"none", "hello there", "none", func(r []string) bool { return len(r) == 0 }},
		{"pending", "hello there", "pending", func(r []string) bool { return len(r) == 0 }},
		{"subscribed", "thanks!", "subscribed", func(r []string) bool { return len(r) == 0 }},
		{"unsubscribed", "who is this?", "unsubscribed", func(r []string) bool { return len(r) == 0 }},
	}
	h := newHarness(t)
	for i, tt := range tests {
		t.Run(tt.from+"/"+tt.text, func(t *testing.T) {
			from := fmt.Sprintf("+1202555%04d", 110+i)
			code := reach(h, from, tt.from)
			text := tt.text
			switch text {
			case "<code>":
				text = code
			case "<wrong>":
				text = wrongCode(code)
			}
			got := h.sms(from, bizNumber, text)
			if !tt.reply(got) {
				t.Errorf("%s + %q: replies %q", tt.from, text, got)
			}
			if s := h.states(from)["deals"]; s != tt.want {
				t.Errorf("%s + %q: deals = %q; want %q", tt.from, text, s, tt.want)
			}
		})
	}
}

func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func TestCodeAttemptsAndExpiry(t *testing.T) {
	h := newHarness(t)
	t.Run("five wrong codes void it", func(t *testing.T) {
		from := "+12025550150"
		code := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
		for i := range optin.DefaultMaxAttempts {
			if got := h.sms(from, bizNumber, wrongCode(code)); len(got) != 0 {
				t.Fatalf("wrong code %d: replies %q; want none", i+1, got)
			}
		}
		if s := h.states(from)["deals"]; s != "none" {
			t.Fatalf("after %d wrong codes deals = %q; want none", optin.DefaultMaxAttempts, s)
		}
		h.wantExpired(t, "voided code", from, code, "none")
	})
	t.Run("expired code", func(t *testing.T) {
		from := "+12025550151"
		code := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
		h.clock.Advance(optin.DefaultCodeTTL + time.Second)
		h.wantExpired(t, "expired code", from, code, "pending")
		fresh := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
		if fresh == code {
			t.Fatalf("JOIN after expiry re-sent the expired code")
		}
		if got := h.sms(from, bizNumber, fresh); !slices.Equal(got, []string{dealsConfirm}) {
			t.Fatalf("fresh code: replies %q; want confirmation", got)
		}
	})
	t.Run("code after STOP is expired", func(t *testing.T) {
		from := "+12025550152"
		code := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
		h.sms(from, bizNumber, "STOP")
		h.wantExpired(t, "code after STOP", from, code, "unsubscribed")
	})
	t.Run("prompts are rate limited", func(t *testing.T) {
		from := "+12025550153"
		first := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
		for i := 1; i < optin.DefaultMaxPrompts; i++ {
			if got := codeIn(t, h.sms(from, bizNumber, "JOIN")[0]); got != first {
				t.Fatalf("resend %d: code %q; want the same code %q", i, got, first)
			}
		}
		if got := h.sms(from, bizNumber, "JOIN"); len(got) != 0 {
			t.Fatalf("prompt %d within the hour: replies %q; want none", optin.DefaultMaxPrompts+1, got)
		}
		h.clock.Advance(optin.DefaultPromptWindow)
		if got := h.sms(from, bizNumber, "JOIN"); len(got) != 1 {
			t.Fatalf("prompt after the window: replies %q; want a prompt", got)
		}
	})
}

func TestStopScopes(t *testing.T) {
	h := newHarness(t)
	from := "+12025550160"
	h.sms(from, bizNumber, codeIn(t, h.sms(from, bizNumber, "JOIN")[0]))
	h.sms(from, bizNumber, codeIn(t, h.sms(from, bizNumber, "NEWS")[0]))
	if s := h.states(from); s["deals"] != "subscribed" || s["news"] != "subscribed" {
		t.Fatalf("states = %v; want both subscribed", s)
	}
	if got := h.sms(from, bizNumber, "STOP NEWS"); !slices.Equal(got, []string{newsStopReply}) {
		t.Fatalf("STOP NEWS replies = %q; want %q", got, newsStopReply)
	}
	if s := h.states(from); s["deals"] != "subscribed" || s["news"] != "unsubscribed" {
		t.Fatalf("after STOP NEWS states = %v; want deals subscribed, news unsubscribed", s)
	}
	if got := h.sms(from, bizNumber, "ＳＴＯＰ"); !slices.Equal(got, []string{stopReply}) {
		t.Fatalf("fullwidth STOP replies = %q; want %q", got, stopReply)
	}
	if s := h.states(from); s["deals"] != "unsubscribed" || s["news"] != "unsubscribed" {
		t.Fatalf("after STOP states = %v; want both unsubscribed", s)
	}
}

func TestProviderHandlesOptOut(t *testing.T) {
	h := newHarness(t)
	from := "+12025550161"
	h.sms(from, quietNumber, codeIn(t, h.sms(from, quietNumber, "JOIN")[0]))
	if got := h.sms(from, quietNumber, "HELP"); len(got) != 0 {
		t.Errorf("HELP replies = %q; want none (the provider answers)", got)
	}
	if got := h.sms(from, quietNumber, "STOP"); len(got) != 0 {
		t.Errorf("STOP replies = %q; want none (the provider answers)", got)
	}
	if s := h.states(from)["deals"]; s != "unsubscribed" {
		t.Errorf("after STOP deals = %q; want unsubscribed", s)
	}
	// Twilio's OptOutType marks a revocation it recognised itself.
	other := "+12025550162"
	h.sms(other, quietNumber, codeIn(t, h.sms(other, quietNumber, "JOIN")[0]))
	form := inboundForm(newSid(), other, quietNumber, "Arrêtez")
	form.Set("OptOutType", "STOP")
	if r := h.post(form); r.status != http.StatusOK || len(r.messages(t)) != 0 {
		t.Errorf("OptOutType=STOP: %d %q; want 200 and no reply", r.status, r.body)
	}
	if s := h.states(other)["deals"]; s != "unsubscribed" {
		t.Errorf("after OptOutType=STOP deals = %q; want unsubscribed", s)
	}
}

func TestShortCodeAndTenants(t *testing.T) {
	h := newHarness(t)
	from := "+12025550163"
	h.sms(from, shortCode, "JOIN")
	if s := h.campaignState("other", from, "deals"); s != "pending" {
		t.Errorf("short code JOIN: other/deals = %q; want pending", s)
	}
	if s := h.states(from)["deals"]; s != "none" {
		t.Errorf("tenant demo sees %q for a person who only texted tenant other; want none", s)
	}
}

func TestRetriedMessageSid(t *testing.T) {
	h := newHarness(t)
	from := "+12025550170"
	form := inboundForm(newSid(), from, bizNumber, "JOIN")
	first := h.post(form)
	before := h.subscriber("demo", from)
	rt := h.store.RoundTrips()
	again := h.post(form)
	if again.status != first.status || again.body != first.body {
		t.Fatalf("retry = %d %q; want %d %q byte for byte", again.status, again.body, first.status, first.body)
	}
	if n := h.store.RoundTrips() - rt; n != 1 {
		t.Errorf("retry took %d round trips; want 1", n)
	}
	after := h.subscriber("demo", from)
	if after.Version != before.Version || len(after.Campaigns[0].History) != len(before.Campaigns[0].History) {
		t.Errorf("retry changed the subscriber: v%d → v%d", before.Version, after.Version)
	}
}

func TestConcurrentCopiesOfOneMessage(t *testing.T) {
	h := newHarness(t)
	from := "+12025550171"
	form := inboundForm(newSid(), from, bizNumber, "JOIN")
	const copies = 20
	replies := make([]reply, copies)
	var wg sync.WaitGroup
	for i := range copies {
		wg.Go(func() { replies[i] = h.post(form) })
	}
	wg.Wait()
	for i, r := range replies {
		if r.status != http.StatusOK || r.body != replies[0].body {
			t.Errorf("copy %d = %d %q; want 200 %q", i, r.status, r.body, replies[0].body)
		}
	}
	v := h.subscriber("demo", from)
	if v.Version != 1 || len(v.Campaigns[0].History) != 1 {
		t.Errorf("%d copies: version %d, %d events; want 1 and 1", copies, v.Version, len(v.Campaigns[0].History))
	}
	if n := outboxLen(t, h); n != 1 {
		t.Errorf("%d copies: outbox holds %d events; want 1", copies, n)
	}
}

// TestConcurrentMessagesOneSubscriber sends 50 different messages from one
// person at once. Every transition must start where the one before it
// ended (the history is a serial order) and the state must be its end.
func TestConcurrentMessagesOneSubscriber(t *testing.T) {
	h := newHarness(t)
	from := "+12025550172"
	texts := []string{"JOIN", "STOP", "NEWS", "HELP", "STOP NEWS", "DEALS", "hi", "START", "123456", "STOP DEALS"}
	const n = 50
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = h.post(inboundForm(newSid(), from, bizNumber, texts[i%len(texts)])).status
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("message %d (%q): status %d; want 200", i, texts[i%len(texts)], s)
		}
	}
	v := h.subscriber("demo", from)
	events := 0
	for _, c := range v.Campaigns {
		events += len(c.History)
		prev := optin.StateNone
		for _, ev := range slices.Backward(c.History) {
			if ev.From != prev {
				t.Errorf("%s: event %s starts at %v; the one before ended at %v", c.Campaign, ev.ID, ev.From, prev)
			}
			prev = ev.To
		}
		if prev.String() != c.State {
			t.Errorf("%s: state %q; the last event ended at %v", c.Campaign, c.State, prev)
		}
	}
	if got := outboxLen(t, h); got != events {
		t.Errorf("outbox holds %d events; history %d", got, events)
	}
}

func outboxLen(tb testing.TB, h *harness) int {
	tb.Helper()
	rdb := h.rdb
	total := 0
	for shard := range h.store.Shards() {
		n, err := rdb.XLen(context.Background(), store.OutboxKey(shard)).Result()
		if err != nil {
			tb.Fatal(err)
		}
		total += int(n)
	}
	return total
}

// wantExpired checks that code, sent by from, gets the expired reply and
// leaves deals in state.
func (h *harness) wantExpired(t *testing.T, what, from, code, state string) {
	t.Helper()
	if got := h.sms(from, bizNumber, code); len(got) != 1 || !strings.Contains(got[0], "expired") {
		t.Fatalf("%s: replies %q; want the expired reply", what, got)
	}
	if s := h.states(from)["deals"]; s != state {
		t.Fatalf("%s: deals = %q; want %s", what, s, state)
	}
}

// wantOneRoundTripPerMessage sends JOIN, HELP, hello and STOP from each of
// people numbers, +1 202 555 first onwards, to bizNumber, and checks that
// each message cost the store one round trip (why says what that one is).
func (h *harness) wantOneRoundTripPerMessage(t *testing.T, people, first int, why string) {
	t.Helper()
	texts := []string{"JOIN", "HELP", "hello", "STOP"}
	before := h.store.RoundTrips()
	for i := range people {
		for _, text := range texts {
			h.sms(fmt.Sprintf("+1202555%04d", first+i), bizNumber, text)
		}
	}
	msgs := people * len(texts)
	perMsg := float64(h.store.RoundTrips()-before) / float64(msgs)
	t.Logf("round trips per message: %.2f over %d messages", perMsg, msgs)
	if perMsg != 1 {
		t.Errorf("round trips per message = %.2f; want 1 (%s)", perMsg, why)
	}
}

func TestRoundTripsPerMessage(t *testing.T) {
	// The configuration in Redis is served from a snapshot: no round trip.
	for name, newH := range map[string]func(testing.TB) *harness{
		"static":          newHarness,
		"config in Redis": func(tb testing.TB) *harness { return newAdminHarness(tb) },
	} {
		t.Run(name, func(t *testing.T) {
			newH(t).wantOneRoundTripPerMessage(t, 20, 100, "the script; Load is served by the subscriber cache or guesses a new sender")
		})
	}
}

func TestWebhookURLWithQuery(t *testing.T) {
	h := newHarness(t)
	form := inboundForm(newSid(), "+12025550173", bizNumber, "JOIN")
	path := webhookPath + "?source=tv&campaign=spring"
	if r := h.postRaw(path, form.Encode(), twilio.Sign(twilioToken, publicURL+path, form)); r.status != http.StatusOK {
		t.Fatalf("query URL signed with its query: %d %s; want 200", r.status, r.body)
	}
	// Signing the query parameters as if they were POST parameters is wrong.
	merged := inboundForm(newSid(), "+12025550173", bizNumber, "HELP")
	merged.Set("source", "tv")
	if r := h.postRaw(path, inboundForm(merged.Get("MessageSid"), "+12025550173", bizNumber, "HELP").Encode(),
		twilio.Sign(twilioToken, publicURL+webhookPath, merged)); r.status != http.StatusForbidden {
		t.Fatalf("query merged into the signed params: %d; want 403", r.status)
	}
}
