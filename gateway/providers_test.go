package gateway_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/bandwidth"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
	"github.com/optin-gateway/optin-gateway/store"
)

// providerHarness is a harness with the Telnyx and Vonage webhooks.
type providerHarness struct {
	*harness
	telnyxKey    ed25519.PrivateKey
	vonageSecret string
	bwPassword   string
}

func newProviderHarness(tb testing.TB, vonageMethod string) *providerHarness {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	secretBytes := make([]byte, 16)
	_, _ = rand.Read(secretBytes)
	ph := &providerHarness{telnyxKey: priv, vonageSecret: hex.EncodeToString(secretBytes), bwPassword: "bw-" + hex.EncodeToString(secretBytes[:8])}
	bw, err := bandwidth.New("bwcallback", ph.bwPassword)
	if err != nil {
		tb.Fatal(err)
	}
	tx, err := telnyx.New(base64.StdEncoding.EncodeToString(pub))
	if err != nil {
		tb.Fatal(err)
	}
	vg, err := vonage.New(ph.vonageSecret, vonageMethod)
	if err != nil {
		tb.Fatal(err)
	}
	ph.harness = newHarnessWith(tb, func(o *gateway.Options) {
		o.Services.Outbound = o.Store.(*store.Store)
		o.Providers = []provider.Provider{tx, vg, bw}
	})
	return ph
}

// queued returns how many replies wait in the outbound queues.
func (h *harness) queued() int64 {
	h.tb.Helper()
	var n int64
	for shard := range h.store.Shards() {
		n += h.redis.Client(h.tb).XLen(context.Background(), store.OutQueueKey(shard)).Val()
	}
	return n
}

// drained waits until the outbound queues are empty: the senders sent
// every queued reply.
func (h *harness) drained() {
	h.tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.queued() != 0 {
		if time.Now().After(deadline) {
			h.tb.Fatal("the queued replies were not sent within 20s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// deliveries returns the delivery records in the audit outbox.
func (h *harness) deliveries() []optin.Delivery {
	h.tb.Helper()
	var out []optin.Delivery
	for shard := range h.store.Shards() {
		for _, m := range h.redis.Client(h.tb).XRange(context.Background(), store.OutboxKey(shard), "-", "+").Val() {
			raw, ok := m.Values["d"].(string)
			if !ok {
				continue
			}
			var d optin.Delivery
			if err := json.Unmarshal([]byte(raw), &d); err != nil {
				h.tb.Fatal(err)
			}
			out = append(out, d)
		}
	}
	return out
}

// blockedBy checks that the person is unsubscribed from every campaign
// with one provider_opt_out event each, whose cause is want (its
// MessageID not compared when empty).
func (h *harness) blockedBy(want optin.Cause) {
	h.tb.Helper()
	for _, c := range h.subscriber("demo", person).Campaigns {
		n := 0
		for _, ev := range c.History {
			if ev.Reason != optin.OutcomeProviderOptOut {
				continue
			}
			n++
			got := ev.Cause
			if want.MessageID == "" {
				got.MessageID = ""
			}
			if got != want {
				h.tb.Errorf("%s event cause = %+v; want %+v", c.Campaign, ev.Cause, want)
			}
		}
		if c.State != "unsubscribed" || n != 1 {
			h.tb.Errorf("%s = %q with %d provider_opt_out events; want unsubscribed, 1", c.Campaign, c.State, n)
		}
	}
}

// readFixture decodes the JSON file name of testdata as a T.
func readFixture[T any](tb testing.TB, name string) T {
	tb.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// telnyxFixture returns Telnyx's documented message.received sample with
// its id and text replaced.
func telnyxFixture(tb testing.TB, id, text string) []byte {
	tb.Helper()
	ev := readFixture[map[string]any](tb, "telnyx_message_received.json")
	p := ev["data"].(map[string]any)["payload"].(map[string]any)
	p["id"], p["text"] = id, text
	b, err := json.Marshal(ev)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// postTelnyx posts body signed as Telnyx signs it: Ed25519 over
// timestamp|body with key.
func (h *providerHarness) postTelnyx(body []byte, at time.Time, key ed25519.PrivateKey) reply {
	h.tb.Helper()
	ts := strconv.FormatInt(at.Unix(), 10)
	sig := ed25519.Sign(key, append([]byte(ts+"|"), body...))
	req, err := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/telnyx/sms", strings.NewReader(string(body)))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(telnyx.TimestampHeader, ts)
	req.Header.Set(telnyx.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	return h.do(req)
}

func TestTelnyxInbound(t *testing.T) {
	h := newProviderHarness(t, "")
	now := h.clock.Now()

	// The documented sample as it is: an ordinary text, nothing to do.
	raw, err := os.ReadFile("testdata/telnyx_message_received.json")
	if err != nil {
		t.Fatal(err)
	}
	if r := h.postTelnyx(raw, now, h.telnyxKey); r.status != http.StatusOK || r.body != "" {
		t.Fatalf("sample payload: %d %q; want 200 and an empty body", r.status, r.body)
	}

	join := telnyxFixture(t, "7ee4241c-f127-47e5-9c34-3aac291f0001", "JOIN")
	if r := h.postTelnyx(join, now, h.telnyxKey); r.status != http.StatusOK {
		t.Fatalf("JOIN: %d %s; want 200", r.status, r.body)
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Errorf("after JOIN via Telnyx deals = %q; want pending", s["deals"])
	}
	if n := h.queued(); n != 1 {
		t.Errorf("queued replies = %d; want the prompt", n)
	}
	// Telnyx retries: the same message id changes nothing and queues nothing.
	if r := h.postTelnyx(join, now.Add(time.Second), h.telnyxKey); r.status != http.StatusOK {
		t.Fatalf("retried JOIN: %d %s; want 200", r.status, r.body)
	}
	if n := h.queued(); n != 1 {
		t.Errorf("queued replies after a retry = %d; want 1", n)
	}
	v := h.subscriber("demo", person)
	if ev := v.Campaigns[0].History; len(ev) != 1 || ev[0].Cause.Provider != "telnyx" || ev[0].Cause.MessageID != "7ee4241c-f127-47e5-9c34-3aac291f0001" {
		t.Errorf("history = %+v; want one event caused by the Telnyx message", ev)
	}

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	stop := telnyxFixture(t, "7ee4241c-f127-47e5-9c34-3aac291f0002", "STOP")
	for _, tc := range []struct {
		name   string
		post   func() reply
		status int
	}{
		{"signed by another key", func() reply { return h.postTelnyx(stop, now, otherKey) }, http.StatusForbidden},
		{"stale timestamp", func() reply { return h.postTelnyx(stop, now.Add(-6*time.Minute), h.telnyxKey) }, http.StatusForbidden},
		{"timestamp from the future", func() reply { return h.postTelnyx(stop, now.Add(6*time.Minute), h.telnyxKey) }, http.StatusForbidden},
		{"body changed after signing", func() reply {
			ts := strconv.FormatInt(now.Unix(), 10)
			sig := ed25519.Sign(h.telnyxKey, append([]byte(ts+"|"), stop...))
			req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/telnyx/sms", strings.NewReader(strings.Replace(string(stop), "STOP", "STAY", 1)))
			req.Header.Set(telnyx.TimestampHeader, ts)
			req.Header.Set(telnyx.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
			return h.do(req)
		}, http.StatusForbidden},
		{"timestamp changed after signing", func() reply {
			sig := ed25519.Sign(h.telnyxKey, append([]byte(strconv.FormatInt(now.Unix(), 10)+"|"), stop...))
			req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/telnyx/sms", strings.NewReader(string(stop)))
			req.Header.Set(telnyx.TimestampHeader, strconv.FormatInt(now.Unix()+1, 10))
			req.Header.Set(telnyx.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
			return h.do(req)
		}, http.StatusForbidden},
		{"no signature", func() reply {
			req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/telnyx/sms", strings.NewReader(string(stop)))
			return h.do(req)
		}, http.StatusForbidden},
		{"malformed JSON, signed", func() reply { return h.postTelnyx([]byte(`{"data":`), now, h.telnyxKey) }, http.StatusBadRequest},
		{"oversized body", func() reply {
			return h.postTelnyx([]byte(`{"pad":"`+strings.Repeat("x", gateway.DefaultMaxBodyBytes)+`"}`), now, h.telnyxKey)
		}, http.StatusRequestEntityTooLarge},
		{"not our number", func() reply {
			return h.postTelnyx([]byte(strings.Replace(string(stop), "+12025550100", "+12025550199", 1)), now, h.telnyxKey)
		}, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := tc.post(); r.status != tc.status {
				t.Errorf("%s: %d %s; want %d", tc.name, r.status, r.body, tc.status)
			}
		})
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Errorf("after refused requests deals = %q; want still pending", s["deals"])
	}
	// A status event (message.sent) is answered and skipped.
	sent := []byte(strings.Replace(string(stop), `"message.received"`, `"message.sent"`, 1))
	if r := h.postTelnyx(sent, now, h.telnyxKey); r.status != http.StatusOK {
		t.Errorf("message.sent event: %d %s; want 200", r.status, r.body)
	}
	if r := h.postTelnyx(stop, now, h.telnyxKey); r.status != http.StatusOK {
		t.Fatalf("STOP: %d %s", r.status, r.body)
	}
	if s := h.states(person); s["deals"] != "unsubscribed" {
		t.Errorf("after STOP via Telnyx deals = %q; want unsubscribed", s["deals"])
	}
}

// vonageFixture returns Vonage's documented inbound SMS sample with its id
// and text replaced and a fresh timestamp.
func vonageFixture(tb testing.TB, id, text string, at time.Time) map[string]string {
	tb.Helper()
	p := readFixture[map[string]string](tb, "vonage_inbound.json")
	p["messageId"], p["text"], p["timestamp"] = id, text, strconv.FormatInt(at.Unix(), 10)
	return p
}

// postVonage posts params as a form (or JSON) after signing them.
func (h *providerHarness) postVonage(params map[string]string, sign bool, asJSON bool, method string) reply {
	h.tb.Helper()
	p := map[string]string{}
	for k, v := range params {
		p[k] = v
	}
	if sign {
		p["sig"] = vonage.Sign(h.vonageSecret, method, p)
	}
	var body, ctype string
	if asJSON {
		b, _ := json.Marshal(p)
		body, ctype = string(b), "application/json"
	} else {
		f := url.Values{}
		for k, v := range p {
			f.Set(k, v)
		}
		body, ctype = f.Encode(), "application/x-www-form-urlencoded"
	}
	req, err := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/vonage/sms", strings.NewReader(body))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	return h.do(req)
}

func TestVonageInbound(t *testing.T) {
	for _, method := range []string{vonage.MD5Hash, vonage.SHA256} {
		t.Run(method, func(t *testing.T) {
			h := newProviderHarness(t, method)
			now := h.clock.Now()
			join := vonageFixture(t, "0A0000000123ABCD1", "JOIN", now)
			if r := h.postVonage(join, true, false, method); r.status != http.StatusOK {
				t.Fatalf("JOIN as a form: %d %s; want 200", r.status, r.body)
			}
			if s := h.states(person); s["deals"] != "pending" {
				t.Errorf("after JOIN via Vonage deals = %q; want pending", s["deals"])
			}
			// The same messageId again, even as JSON: nothing new.
			if r := h.postVonage(join, true, true, method); r.status != http.StatusOK {
				t.Fatalf("retried JOIN as JSON: %d %s; want 200", r.status, r.body)
			}
			if n := h.queued(); n != 1 {
				t.Errorf("queued replies = %d; want 1", n)
			}
			stop := vonageFixture(t, "0A0000000123ABCD2", "STOP", now)
			for _, tc := range []struct {
				name   string
				post   func() reply
				status int
			}{
				{"unsigned", func() reply { return h.postVonage(stop, false, false, method) }, http.StatusForbidden},
				{"wrong secret", func() reply {
					p := map[string]string{}
					for k, v := range stop {
						p[k] = v
					}
					p["sig"] = vonage.Sign("not-the-secret", method, p)
					return h.postVonage(p, false, false, method)
				}, http.StatusForbidden},
				{"text changed after signing", func() reply {
					p := map[string]string{}
					for k, v := range stop {
						p[k] = v
					}
					p["sig"] = vonage.Sign(h.vonageSecret, method, p)
					p["text"] = "STAY"
					return h.postVonage(p, false, false, method)
				}, http.StatusForbidden},
				{"stale timestamp", func() reply {
					return h.postVonage(vonageFixture(t, "0A0000000123ABCD3", "STOP", now.Add(-6*time.Minute)), true, false, method)
				}, http.StatusForbidden},
				{"malformed JSON", func() reply {
					req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/vonage/sms", strings.NewReader(`{"msisdn":`))
					req.Header.Set("Content-Type", "application/json")
					return h.do(req)
				}, http.StatusBadRequest},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if r := tc.post(); r.status != tc.status {
						t.Errorf("%s: %d %s; want %d", tc.name, r.status, r.body, tc.status)
					}
				})
			}
			if r := h.postVonage(stop, true, true, method); r.status != http.StatusOK {
				t.Fatalf("STOP as JSON: %d %s; want 200", r.status, r.body)
			}
			v := h.subscriber("demo", person)
			if c := v.Campaigns[0]; c.State != "unsubscribed" || c.History[0].Cause.Provider != "vonage" || c.History[0].Cause.MessageID != "0A0000000123ABCD2" {
				t.Errorf("after STOP via Vonage: %q, latest cause %+v; want unsubscribed by vonage 0A0000000123ABCD2", c.State, c.History[0].Cause)
			}
		})
	}
}
