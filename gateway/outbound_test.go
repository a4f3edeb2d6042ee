package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/internal/twiliofake"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
)

// apiHarness is a harness whose bizNumber replies through the API.
func apiHarness(tb testing.TB) *harness {
	tb.Helper()
	var st *store.Store
	h := newHarnessWith(tb, func(o *gateway.Options) {
		st = o.Store.(*store.Store)
		o.ReplyModes = map[string]gateway.ReplyMode{bizNumber: gateway.ReplyAPI}
		o.Services.Outbound = st
	})
	return h
}

// startSender runs an outbound worker against the fake until the test ends.
func startSender(tb testing.TB, h *harness, fake *twiliofake.Fake) {
	tb.Helper()
	tw, err := twilio.NewSender(twilio.SenderOptions{AccountSid: twiliofake.AccountSid, Password: twiliofake.AuthToken, HTTPClient: fake.HTTPClient()})
	if err != nil {
		tb.Fatal(err)
	}
	runSenders(tb, h, map[string]outbound.Sender{"twilio": tw})
}

// runSenders runs an outbound worker with senders on the harness's store
// until the test ends.
func runSenders(tb testing.TB, h *harness, senders map[string]outbound.Sender) {
	tb.Helper()
	w, err := outbound.New(outbound.Options{
		Queue: h.store, Senders: senders, Numbers: testNumbers(tb),
		Rates:          map[string]float64{bizNumber: 1000},
		StatusCallback: func(r optin.Reply) string { return gateway.StatusCallbackURL(publicURL, r) },
		Tuning: lanes.Tuning{
			BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, LeaseTTL: time.Second, Poll: 5 * time.Millisecond,
			Logger: testLogger(tb, zaptest.NewLogger(tb).Core()), Now: h.clock.Now,
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })
	tb.Cleanup(func() { cancel(); wg.Wait() })
}

// waitAccepted waits until the fake accepted n messages and returns them.
func waitAccepted(tb testing.TB, fake *twiliofake.Fake, n int) []twiliofake.Message {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := fake.Accepted()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			tb.Fatalf("fake accepted %d messages; want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAPIReplyMode(t *testing.T) {
	h := apiHarness(t)
	fake := twiliofake.Start(t)

	// The webhook answers at once, with nothing to say.
	form := inboundForm(newSid(), person, bizNumber, "JOIN")
	r := h.post(form)
	if r.status != http.StatusOK || len(r.messages(t)) != 0 {
		t.Fatalf("JOIN in api mode: %d %q; want 200 and an empty <Response/>", r.status, r.body)
	}
	// A retried webhook queues nothing again.
	if again := h.post(form); again.status != http.StatusOK || again.body != r.body {
		t.Fatalf("retried JOIN: %d %q; want %q", again.status, again.body, r.body)
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Fatalf("after JOIN deals = %q; want pending", s["deals"])
	}
	queued := int64(0)
	for shard := range h.store.Shards() {
		queued += h.redis.Client(t).XLen(context.Background(), store.OutQueueKey(shard)).Val()
	}
	if queued != 1 {
		t.Fatalf("queued replies = %d; want 1", queued)
	}

	startSender(t, h, fake)
	got := waitAccepted(t, fake, 1)
	if got[0].To != person || got[0].From != bizNumber || !strings.HasPrefix(got[0].Body, "Reply ") {
		t.Fatalf("sent %+v; want the deals prompt from %s to %s", got[0], bizNumber, person)
	}
	cb, err := url.Parse(got[0].StatusCallback)
	if err != nil || !strings.HasPrefix(got[0].StatusCallback, publicURL+"/v1/webhooks/twilio/status?") || cb.Query().Get("c") != form.Get("MessageSid") {
		t.Errorf("StatusCallback = %q; want the status route naming the JOIN message", got[0].StatusCallback)
	}

	// The code comes back; the confirmation goes out through the API too.
	if msgs := h.sms(person, bizNumber, codeIn(t, got[0].Body)); len(msgs) != 0 {
		t.Errorf("code in api mode replied %q in the webhook; want nothing", msgs)
	}
	if got := waitAccepted(t, fake, 2); got[1].Body != dealsConfirm {
		t.Errorf("second reply = %q; want %q", got[1].Body, dealsConfirm)
	}
	if s := h.states(person); s["deals"] != "subscribed" {
		t.Fatalf("after code deals = %q; want subscribed", s["deals"])
	}

	// The person texted STOP to Twilio meanwhile: Twilio refuses the next
	// reply with 21610, and the subscriber follows.
	fake.FailWith(func(to, body string, attempt int) *twiliofake.Failure { return &twiliofake.OptedOut })
	h.sms(person, bizNumber, "HELP")
	deadline := time.Now().Add(20 * time.Second)
	for h.states(person)["deals"] != "unsubscribed" {
		if time.Now().After(deadline) {
			t.Fatalf("deals = %q 20s after a 21610; want unsubscribed", h.states(person)["deals"])
		}
		time.Sleep(10 * time.Millisecond)
	}
	v := h.subscriber("demo", person)
	for _, c := range v.Campaigns {
		if c.State != "unsubscribed" || len(c.History) == 0 {
			t.Fatalf("%s = %q with %d events; want unsubscribed", c.Campaign, c.State, len(c.History))
		}
		ev := c.History[0]
		if ev.Reason != optin.OutcomeProviderOptOut || ev.Cause.Provider != "twilio" || ev.Cause.Signal != "21610" {
			t.Errorf("%s latest event = %v %+v; want provider_opt_out by twilio with signal 21610", c.Campaign, ev.Reason, ev.Cause)
		}
	}
	if n := fake.Attempts(); n != 3 {
		t.Errorf("create requests = %d; want 3 (a 21610 is not retried)", n)
	}
}

// statusForm is a delivery status callback as Twilio posts it.
func statusForm(sid, status, errorCode string) url.Values {
	f := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {twiliofake.AccountSid}, "From": {bizNumber}, "To": {person}, "ApiVersion": {"2010-04-01"},
	}
	if errorCode != "" {
		f.Set("ErrorCode", errorCode)
	}
	return f
}

func TestTwilioStatusCallback(t *testing.T) {
	h := apiHarness(t)
	// A subscribed person, so that a 21610 has something to end.
	code := codeIn(t, promptVia(t, h))
	h.sms(person, bizNumber, code)
	sub := h.subscriber("demo", person).Subscriber
	rep := optin.Reply{Provider: "twilio", ID: "twilio:SMjoin:r0", Tenant: "demo", Subscriber: sub, CausedBy: "SMjoin"}
	cbURL := gateway.StatusCallbackURL(publicURL, rep)
	path := strings.TrimPrefix(cbURL, publicURL)
	post := func(form url.Values, sig string) reply {
		return h.postRaw(path, form.Encode(), sig)
	}
	sign := func(form url.Values) string { return twilio.Sign(twilioToken, cbURL, form) }

	for _, tc := range []struct {
		name   string
		form   url.Values
		sig    func(url.Values) string
		status int
	}{
		{"delivered", statusForm("SM0000000000000000000000000000a001", "delivered", ""), sign, http.StatusNoContent},
		{"sent", statusForm("SM0000000000000000000000000000a001", "sent", ""), sign, http.StatusNoContent},
		{"undelivered with a carrier error", statusForm("SM0000000000000000000000000000a001", "undelivered", "30003"), sign, http.StatusNoContent},
		{"bad signature", statusForm("SM0000000000000000000000000000a001", "delivered", ""), func(url.Values) string { return "AAAAAAAAAAAAAAAAAAAAAAAAAAA=" }, http.StatusForbidden},
		{"no signature", statusForm("SM0000000000000000000000000000a001", "delivered", ""), func(url.Values) string { return "" }, http.StatusForbidden},
		{"signed for another URL", statusForm("SM0000000000000000000000000000a001", "delivered", ""), func(f url.Values) string {
			return twilio.Sign(twilioToken, publicURL+"/v1/webhooks/twilio/status", f)
		}, http.StatusForbidden},
		{"no status", statusForm("SM0000000000000000000000000000a001", "", ""), sign, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := post(tc.form, tc.sig(tc.form)); r.status != tc.status {
				t.Errorf("POST status %s: %d %s; want %d", tc.name, r.status, r.body, tc.status)
			}
		})
	}
	if s := h.states(person); s["deals"] != "subscribed" {
		t.Fatalf("after plain statuses deals = %q; want subscribed", s["deals"])
	}
	// The accepted statuses are on the audit trail of the JOIN message.
	var got []string
	for _, d := range h.deliveries() {
		if d.ReplyID != rep.ID {
			continue // the sender's own records of the replies it sent
		}
		if d.CausedBy != "SMjoin" || d.ProviderMessageID != "SM0000000000000000000000000000a001" {
			t.Errorf("delivery %+v; want caused by SMjoin, reply %s, SMout1", d, rep.ID)
		}
		got = append(got, string(d.Status)+d.ErrorCode)
	}
	if strings.Join(got, ",") != "delivered,sent,undelivered30003" {
		t.Errorf("delivery records = %v; want delivered, sent, undelivered30003", got)
	}

	// A 21610 in a status callback ends consent, once however often it
	// comes.
	for range 2 {
		f := statusForm("SM0000000000000000000000000000a002", "failed", "21610")
		if r := post(f, sign(f)); r.status != http.StatusNoContent {
			t.Fatalf("POST failed/21610: %d %s; want 204", r.status, r.body)
		}
	}
	h.blockedBy(optin.Cause{Provider: "twilio", MessageID: rep.ID, Signal: "21610"})
}

// promptVia sends JOIN in api mode and returns the prompt as queued.
func promptVia(t *testing.T, h *harness) string {
	t.Helper()
	fake := twiliofake.Start(t)
	h.sms(person, bizNumber, "JOIN")
	startSender(t, h, fake)
	return waitAccepted(t, fake, 1)[0].Body
}

func TestTwilioOptOutTypeIsRecorded(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		text, optOutType, wantState string
	}{
		{"STOP", "STOP", "unsubscribed"},
		{"START", "START", "pending"},
	} {
		form := inboundForm(newSid(), person, quietNumber, tc.text)
		form.Set("OptOutType", tc.optOutType)
		if r := h.post(form); r.status != http.StatusOK {
			t.Fatalf("%s with OptOutType=%s: %d %s", tc.text, tc.optOutType, r.status, r.body)
		}
		v := h.subscriber("demo", person)
		for _, c := range v.Campaigns {
			if c.Campaign != "deals" {
				continue
			}
			if c.State != tc.wantState || len(c.History) == 0 || c.History[0].Cause.Signal != tc.optOutType {
				t.Errorf("after %s deals = %q, latest cause %+v; want %s with signal %s", tc.text, c.State, c.History, tc.wantState, tc.optOutType)
			}
		}
	}
}

// TestAPIModeRoundTrips: queueing the replies costs no extra round trip;
// they go into the same script as the state change.
func TestAPIModeRoundTrips(t *testing.T) {
	h := apiHarness(t)
	const people = 10
	h.wantOneRoundTripPerMessage(t, people, 150, "one script that also queues; Load needs none")
	if n := h.queued(); n != people*3 {
		t.Errorf("queued replies = %d; want %d (prompt, help, stop reply per person)", n, people*3)
	}
}

// TestQueuedRepliesAreSealed: a queued reply holds the person's number and
// a prompt holds its live code; neither is in clear in Redis.
func TestQueuedRepliesAreSealed(t *testing.T) {
	h := apiHarness(t)
	h.sms(person, bizNumber, "JOIN")
	entries := 0
	for shard := range h.store.Shards() {
		msgs, err := h.redis.Client(t).XRange(context.Background(), store.OutQueueKey(shard), "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			entries++
			raw := fmt.Sprint(m.Values)
			for _, clear := range []string{person[2:], "Reply ", "ACME Deals"} {
				if strings.Contains(raw, clear) {
					t.Errorf("queue entry holds %q in clear: %s", clear, raw)
				}
			}
		}
	}
	if entries != 1 {
		t.Fatalf("queued entries = %d; want 1", entries)
	}
}
