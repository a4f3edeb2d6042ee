package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest/observer"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// logHolds reports whether any line of logs (message or field) holds s.
func logHolds(tb testing.TB, logs *observer.ObservedLogs, s string) bool {
	tb.Helper()
	for _, e := range logs.All() {
		b, err := json.Marshal(e.ContextMap())
		if err != nil {
			tb.Fatal(err)
		}
		if strings.Contains(e.Message, s) || strings.Contains(string(b), s) {
			return true
		}
	}
	return false
}

// requestLine returns the fields of the last access log line.
func requestLine(tb testing.TB, logs *observer.ObservedLogs) map[string]any {
	tb.Helper()
	lines := logs.FilterMessage("request").All()
	if len(lines) == 0 {
		tb.Fatal("no access log line")
	}
	return lines[len(lines)-1].ContextMap()
}

// TestUnauthenticatedGarbageNotLogged: an unsigned Vonage webhook whose
// parameter name of ~31 KiB is repeated fails with a fixed reason in the
// log and a short error; neither holds the name. A method of 4 KiB is
// logged as "other".
func TestUnauthenticatedGarbageNotLogged(t *testing.T) {
	h := newProviderHarness(t, "")
	name := strings.Repeat("leakedname", 31<<10/10)
	body := url.QueryEscape(name) + "=1&" + url.QueryEscape(name) + "=2"
	req, _ := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/vonage/sms", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := h.do(req)
	if r.status != http.StatusBadRequest && r.status != http.StatusForbidden {
		t.Fatalf("unsigned Vonage webhook with a repeated %d-byte name: %d; want 400 or 403 (unsignable or repeated parameter)", len(name), r.status)
	}
	if strings.Contains(r.body, "leakedname") || len(r.body) > 200 {
		t.Errorf("answer %q (%d bytes) quotes the request; want a short, fixed error", r.body[:min(len(r.body), 80)], len(r.body))
	}
	if logHolds(t, h.logs, "leakedname") {
		t.Error("the log holds the unsigned request's parameter name")
	}
	if got := requestLine(t, h.logs)["error"]; got != "bad_request" && got != "bad_signature" {
		t.Errorf("access log error = %q; want a fixed reason (bad_request or bad_signature)", got)
	}

	method := strings.Repeat("M", 4<<10)
	req, _ = http.NewRequest(method, h.http.URL+"/healthz", nil)
	h.do(req)
	if logHolds(t, h.logs, method[:64]) {
		t.Error("the log holds a 4 KiB method")
	}
	if got := requestLine(t, h.logs)["method"]; got != "other" {
		t.Errorf("access log method = %q; want other", got)
	}
}

// TestRequestIDIsTheGateways: an X-Request-Id of the strict pattern is
// kept (log and answer); one of 8 KiB, or with other characters, is
// replaced by the gateway's own and appears in neither.
func TestRequestIDIsTheGateways(t *testing.T) {
	h := newHarness(t)
	own := regexp.MustCompile(`^[0-9a-f]{32}$`)
	for _, tc := range []struct {
		name, id string
		kept     bool
	}{
		{"a proxy's id", "req-42.a_B", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"8 KiB", strings.Repeat("x", 8<<10), false},
		{"65 characters", strings.Repeat("b", 65), false},
		{"a space", "a b", false},
		{"a number", "+12125550123", false},
		{"JSON", `{"admin":true}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.http.URL+"/healthz", nil)
			req.Header.Set("X-Request-Id", tc.id)
			r := h.do(req)
			got := r.header.Get("X-Request-Id")
			logged := requestLine(t, h.logs)["request_id"]
			switch {
			case tc.kept && (got != tc.id || logged != tc.id):
				t.Errorf("X-Request-Id %q: answered %q, logged %q; want it kept", tc.id, got, logged)
			case !tc.kept && (!own.MatchString(got) || logged != got):
				t.Errorf("X-Request-Id %.20q: answered %.80q, logged %.80q; want the gateway's own id in both", tc.id, got, logged)
			case !tc.kept && logHolds(t, h.logs, tc.id):
				t.Errorf("X-Request-Id %.20q is in the log", tc.id)
			}
		})
	}
	// Without one, each request gets a fresh id.
	a, b := h.get("/healthz", "").header.Get("X-Request-Id"), h.get("/healthz", "").header.Get("X-Request-Id")
	if !own.MatchString(a) || a == b {
		t.Errorf("generated ids %q, %q; want two different ids of 32 hex digits", a, b)
	}
}

// badMessageIDs are message ids a signed request must not get stored or
// logged: 5,000 characters of the provider's own alphabet, and ids that
// hold a phone number.
func badMessageIDs(prefix, alphabet string) map[string]string {
	return map[string]string{
		"5000 characters":      prefix + strings.Repeat(alphabet, 5000/len(alphabet)),
		"a number":             person,
		"a number in an id":    prefix + "-" + person,
		"digits of a number":   strings.TrimPrefix(person, "+"),
		"a number with spaces": prefix + " (212) 555-0123",
	}
}

// TestMessageIDsChecked: on every provider, a validly signed webhook whose
// message id is not of the provider's format is answered 400 naming the
// format; nothing is stored (Redis holds the same keys) and the id is not
// logged.
func TestMessageIDsChecked(t *testing.T) {
	h := newProviderHarness(t, "")
	ctx := context.Background()
	keys := func() int64 { return h.rdb.DBSize(ctx).Val() }
	cases := []struct {
		provider, prefix, alphabet string
		post                       func(id string) reply
	}{
		{"twilio", "SM", "0123456789abcdef", func(id string) reply {
			return h.post(inboundForm(id, person, bizNumber, "JOIN"))
		}},
		{"telnyx", "7ee4241c", "0123456789abcdef-", func(id string) reply {
			return h.postTelnyx(telnyxFixture(t, id, "JOIN"), h.clock.Now(), h.telnyxKey)
		}},
		{"vonage", "0A00", "0123456789ABCDEF", func(id string) reply {
			return h.postVonage(vonageFixture(t, id, "JOIN", h.clock.Now()), true, false, "")
		}},
		{"bandwidth", "1476207046829", "0123456789abcdefghijklmnopqrstuvwxyz", func(id string) reply {
			return h.postBandwidth(bandwidthEvents(t, false, id, "JOIN"), "bwcallback", h.bwPassword)
		}},
	}
	for _, tc := range cases {
		for what, id := range badMessageIDs(tc.prefix, tc.alphabet) {
			t.Run(tc.provider+"/"+what, func(t *testing.T) {
				before := keys()
				r := tc.post(id)
				if r.status != http.StatusBadRequest || !strings.Contains(r.body, "malformed "+tc.provider+" message id") {
					t.Errorf("signed %s webhook with message id %s: %d %.120s; want 400 malformed message id", tc.provider, what, r.status, r.body)
				}
				if strings.Contains(r.body, id) {
					t.Errorf("the answer repeats the id")
				}
				if after := keys(); after != before {
					t.Errorf("Redis keys %d → %d; want nothing stored", before, after)
				}
				if logHolds(t, h.logs, id) || logHolds(t, h.logs, "2125550123") {
					t.Errorf("the log holds the message id")
				}
			})
		}
	}
	// The providers' documented ids still pass.
	for _, tc := range []struct {
		provider string
		post     func() reply
	}{
		{"twilio", func() reply { return h.post(inboundForm(newSid(), person, bizNumber, "HELP")) }},
		{"telnyx", func() reply {
			return h.postTelnyx(telnyxFixture(t, "7ee4241c-f127-47e5-9c34-3aac291f8058", "HELP"), h.clock.Now(), h.telnyxKey)
		}},
		{"vonage", func() reply {
			return h.postVonage(vonageFixture(t, "0A0000000123ABCD1", "HELP", h.clock.Now()), true, false, "")
		}},
		{"vonage uuid", func() reply {
			return h.postVonage(vonageFixture(t, "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", "HELP", h.clock.Now()), true, false, "")
		}},
		{"bandwidth", func() reply {
			return h.postBandwidth(bandwidthEvents(t, false, "14762070468292kw2fuqty55yp2b2", "HELP"), "bwcallback", h.bwPassword)
		}},
	} {
		if r := tc.post(); r.status != http.StatusOK {
			t.Errorf("%s webhook with a documented id: %d %s; want 200", tc.provider, r.status, r.body)
		}
	}
}

// TestStatusMessageIDsChecked: a signed Twilio status callback with a
// MessageSid of 5,000 characters or holding a number is refused 400 and
// records nothing.
func TestStatusMessageIDsChecked(t *testing.T) {
	h := apiHarness(t)
	ctx := context.Background()
	rep := optin.Reply{Provider: "twilio", ID: "twilio:SMjoin:r0", Tenant: "demo", Subscriber: strings.Repeat("ab", 16), CausedBy: "SMjoin"}
	cbURL := gateway.StatusCallbackURL(publicURL, rep)
	for what, id := range badMessageIDs("SM", "0123456789abcdef") {
		before := h.rdb.DBSize(ctx).Val()
		f := statusForm(id, "delivered", "")
		r := h.postRaw(strings.TrimPrefix(cbURL, publicURL), f.Encode(), twilio.Sign(twilioToken, cbURL, f))
		if r.status != http.StatusBadRequest || !strings.Contains(r.body, "malformed twilio message id") {
			t.Errorf("status callback with MessageSid %s: %d %.120s; want 400", what, r.status, r.body)
		}
		if after := h.rdb.DBSize(ctx).Val(); after != before || logHolds(t, h.logs, id) {
			t.Errorf("status callback with MessageSid %s: Redis keys %d → %d, in the log %v; want nothing stored or logged", what, before, after, logHolds(t, h.logs, id))
		}
	}
}
