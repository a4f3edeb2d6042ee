package gateway_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/twiliofake"
	"github.com/optin-gateway/optin-gateway/spool"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// newSpoolHarness is a harness whose server spools revocations.
func newSpoolHarness(tb testing.TB) (*harness, *spool.Spool) {
	tb.Helper()
	sp := newSpool(tb)
	return newHarnessWith(tb, func(o *gateway.Options) { o.Services.Spool = sp }), sp
}

func newSpool(tb testing.TB) *spool.Spool {
	tb.Helper()
	key := make([]byte, store.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	sp, err := spool.Open(filepath.Join(tb.TempDir(), "spool"), key)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { sp.Close() })
	return sp
}

// TestStopWhileRedisSlow: a revocation that Redis does not take within
// the request timeout is spooled and answered, not 503.
func TestStopWhileRedisSlow(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr())
	sp := newSpool(t)
	h := newHarnessOn(t, proxy.URL(), func(o *gateway.Options) {
		o.Services.Spool, o.HTTP.RequestTimeout = sp, time.Second // the setup below must make it on a loaded machine
	})
	from := "+12025550145"
	h.sms(from, bizNumber, codeIn(t, h.sms(from, bizNumber, "JOIN")[0]))
	proxy.SetDelay(2500 * time.Millisecond) // well over the request timeout, under go-redis's 5 s read timeout (the replay)
	start := time.Now()
	r := h.post(inboundForm(newSid(), from, bizNumber, "STOP"))
	took := time.Since(start)
	if r.status != http.StatusOK || !slices.Equal(r.messages(t), []string{stopReply}) {
		t.Fatalf("STOP with Redis slower than the timeout: %d %q; want 200 and the stop confirmation", r.status, r.body)
	}
	if r := h.post(inboundForm(newSid(), from, bizNumber, "HELP")); r.status != http.StatusServiceUnavailable {
		t.Errorf("HELP with Redis slower than the timeout: %d; want 503", r.status)
	}
	proxy.SetDelay(0)
	st := h.replay(sp)
	if s := h.states(from)["deals"]; s != "unsubscribed" || st.Applied != 1 {
		t.Errorf("after replay: deals %q, %+v; want unsubscribed, 1 applied", s, st)
	}
	t.Logf("injected: 2.5 s per chunk between gateway and Redis, request timeout 1 s; STOP answered 200 after %v, spooled, applied on replay", took.Round(time.Millisecond))
}

// replay applies the spool through the server, as serve's replayer does.
func (h *harness) replay(sp *spool.Spool) spool.Stats {
	h.tb.Helper()
	st, err := sp.Replay(func(r []byte) error { return h.srv.ReplaySpooled(context.Background(), r) })
	if err != nil {
		h.tb.Fatalf("Replay: %v", err)
	}
	return st
}

// TestStopWhileRedisDown stops Redis: revocations are answered 200 with
// their confirmation and spooled, everything else gets 503; when Redis is
// back the spool is replayed, every STOP takes effect at the time it was
// received, and a retry of a spooled message changes nothing.
func TestStopWhileRedisDown(t *testing.T) {
	h, sp := newSpoolHarness(t)
	all, newsOnly, quiet := "+12025550140", "+12025550141", "+12025550142"
	for _, p := range []string{all, newsOnly} {
		h.sms(p, bizNumber, codeIn(t, h.sms(p, bizNumber, "JOIN")[0]))
		h.sms(p, bizNumber, codeIn(t, h.sms(p, bizNumber, "NEWS")[0]))
	}
	h.sms(quiet, quietNumber, codeIn(t, h.sms(quiet, quietNumber, "JOIN")[0]))

	h.redis.Stop(t)
	stopAt := h.clock.Now()
	stop := inboundForm(newSid(), all, bizNumber, "please STOP")
	tests := []struct {
		name    string
		form    url.Values
		status  int
		replies []string
	}{
		{"STOP", stop, http.StatusOK, []string{stopReply}},
		{"retried STOP", stop, http.StatusOK, []string{stopReply}},
		{"STOP NEWS", inboundForm(newSid(), newsOnly, bizNumber, "STOP NEWS"), http.StatusOK, []string{newsStopReply}},
		{"STOP where the provider answers", inboundForm(newSid(), quiet, quietNumber, "STOP"), http.StatusOK, nil},
		{"JOIN", inboundForm(newSid(), "+12025550143", bizNumber, "JOIN"), http.StatusServiceUnavailable, nil},
		{"HELP", inboundForm(newSid(), all, bizNumber, "HELP"), http.StatusServiceUnavailable, nil},
		{"a code", inboundForm(newSid(), all, bizNumber, "123456"), http.StatusServiceUnavailable, nil},
	}
	for _, tt := range tests {
		r := h.post(tt.form)
		if r.status != tt.status {
			t.Fatalf("%s with Redis down: %d %s; want %d", tt.name, r.status, r.body, tt.status)
		}
		if r.status == http.StatusServiceUnavailable {
			if r.header.Get("Retry-After") == "" {
				t.Errorf("%s with Redis down: 503 without Retry-After", tt.name)
			}
			continue
		}
		if got := r.messages(t); !slices.Equal(got, tt.replies) {
			t.Errorf("%s with Redis down: replies %q; want %q", tt.name, got, tt.replies)
		}
	}
	if p, _ := sp.Pending(); !p {
		t.Fatal("spool empty after revocations with Redis down")
	}

	h.clock.Advance(10 * 60e9) // Redis comes back ten minutes later
	h.redis.Restart(t)
	h.waitReady()
	st := h.replay(sp)
	t.Logf("injected: Redis stopped; 4 revocations spooled (one a retry), 3 other messages got 503; replay: %+v", st)
	if st.Applied != 4 || st.Corrupt != 0 {
		t.Errorf("replay = %+v; want 4 applied, none corrupt", st)
	}
	if s := h.states(all); s["deals"] != "unsubscribed" || s["news"] != "unsubscribed" {
		t.Errorf("after replay %s = %v; want both unsubscribed", all, s)
	}
	if s := h.states(newsOnly); s["deals"] != "subscribed" || s["news"] != "unsubscribed" {
		t.Errorf("after replay %s = %v; want deals subscribed, news unsubscribed", newsOnly, s)
	}
	if s := h.states(quiet)["deals"]; s != "unsubscribed" {
		t.Errorf("after replay %s deals = %q; want unsubscribed", quiet, s)
	}
	for _, c := range h.subscriber("demo", all).Campaigns {
		ev := c.History[0]
		if ev.Cause.MessageID != stop.Get("MessageSid") || !ev.At.Equal(stopAt) {
			t.Errorf("%s revocation event: message %s at %v; want %s at %v (when it was received)", c.Campaign, ev.Cause.MessageID, ev.At, stop.Get("MessageSid"), stopAt)
		}
		if len(c.History) != 3 {
			t.Errorf("%s history has %d events; want 3 (the retried STOP applied once)", c.Campaign, len(c.History))
		}
	}
	if p, _ := sp.Pending(); p {
		t.Error("spool still pending after a replay")
	}
	// Twilio retrying the spooled STOP now gets the stored (empty) answer:
	// the person already had the confirmation.
	if r := h.post(stop); r.status != http.StatusOK || len(r.messages(t)) != 0 {
		t.Errorf("retry after replay: %d %q; want 200 and no second confirmation", r.status, r.body)
	}
	// Replaying again (a crash before the batch was deleted) changes nothing.
	if st := h.replay(sp); st.Applied != 0 {
		t.Errorf("second replay = %+v; want nothing to do", st)
	}
}

// TestStopWhileRedisDownWithoutSpool: without a spool a revocation gets
// 503 like everything else, so the provider's retry carries it.
func TestStopWhileRedisDownWithoutSpool(t *testing.T) {
	h := newHarness(t)
	h.redis.Stop(t)
	if r := h.post(inboundForm(newSid(), "+12025550144", bizNumber, "STOP")); r.status != http.StatusServiceUnavailable {
		t.Errorf("STOP with Redis down and no spool: %d; want 503", r.status)
	}
}

// TestSpooledStopInAPIMode: on a number that replies through the API, a
// STOP spooled while Redis is down is answered with an empty TwiML and
// confirmed exactly once, through the API, after the replay.
func TestSpooledStopInAPIMode(t *testing.T) {
	sp := newSpool(t)
	h := newHarnessWith(t, func(o *gateway.Options) {
		o.ReplyModes = map[string]gateway.ReplyMode{bizNumber: gateway.ReplyAPI}
		o.Services.Outbound = o.Store.(*store.Store)
		o.Services.Spool = sp
	})
	fake := twiliofake.Start(t)
	startSender(t, h, fake)
	h.sms(person, bizNumber, "JOIN")
	prompt := waitAccepted(t, fake, 1)[0].Body
	h.sms(person, bizNumber, codeIn(t, prompt))
	waitAccepted(t, fake, 2)

	h.redis.Stop(t)
	r := h.post(inboundForm(newSid(), person, bizNumber, "STOP"))
	if r.status != http.StatusOK || len(r.messages(t)) != 0 {
		t.Fatalf("STOP with Redis down in api mode: %d %q; want 200 and an empty <Response/>", r.status, r.body)
	}
	h.redis.Restart(t)
	h.waitReady()
	if st := h.replay(sp); st.Applied != 1 {
		t.Fatalf("replay = %+v; want 1 applied", st)
	}
	got := waitAccepted(t, fake, 3)
	if got[2].Body != stopReply {
		t.Errorf("third send = %q; want the stop confirmation", got[2].Body)
	}
	time.Sleep(300 * time.Millisecond) // a second confirmation would be sent by now
	confirmations := 0
	for _, m := range fake.Accepted() {
		if m.Body == stopReply {
			confirmations++
		}
	}
	if confirmations != 1 {
		t.Errorf("stop confirmations sent = %d; want exactly 1", confirmations)
	}
	if s := h.states(person)["deals"]; s != "unsubscribed" {
		t.Errorf("after replay deals = %q; want unsubscribed", s)
	}
}
