package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/storetest"
)

// newMetricsHarness is a harness whose store reports to the server's
// metrics, with the benchmark routes on when bench is set.
func newMetricsHarness(tb testing.TB, bench bool) (*harness, *gateway.Metrics) {
	tb.Helper()
	h := &harness{tb: tb, clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	m := gateway.NewMetrics()
	st, srv := storetest.Open(tb, store.Options{Shards: 4, Observe: m.ObserveRedis})
	h.store, h.redis = st, srv
	var err error
	h.srv, err = gateway.New(gateway.Options{
		PublicURL: publicURL, TwilioAuthToken: twilioToken, AdminToken: adminToken,
		Numbers: testNumbers(tb), Store: st, Now: h.clock.Now, Metrics: m, HTTP: gateway.HTTPOptions{BenchRoutes: bench}, Logger: testLogger(tb),
	})
	if err != nil {
		tb.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	tb.Cleanup(h.http.Close)
	return h, m
}

// scrape returns the lines of /metrics.
func (h *harness) scrape() map[string]bool {
	h.tb.Helper()
	r := h.get("/metrics", adminToken)
	if r.status != http.StatusOK {
		h.tb.Fatalf("GET /metrics: status %d; want 200", r.status)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(r.body, "\n") {
		lines[l] = true
	}
	return lines
}

func TestMetrics(t *testing.T) {
	h, m := newMetricsHarness(t, false)
	code := codeIn(t, h.sms(person, bizNumber, "JOIN")[0])
	h.sms(person, bizNumber, code)
	h.sms(person, bizNumber, "STOP")
	if r := h.postRaw(webhookPath, inboundForm(newSid(), person, bizNumber, "JOIN").Encode(), "AAAAAAAAAAAAAAAAAAAAAAAAAAA="); r.status != http.StatusForbidden {
		t.Fatalf("forged webhook: status %d; want 403", r.status)
	}
	m.SetArchiverLag(2500 * time.Millisecond)
	m.SetOutboundQueueDepth(7)

	lines := h.scrape()
	for _, want := range []string{
		`optin_webhooks_total{outcome="prompted",provider="twilio"} 1`,
		`optin_webhooks_total{outcome="confirmed",provider="twilio"} 1`,
		`optin_webhooks_total{outcome="opt_out",provider="twilio"} 1`,
		`optin_webhooks_total{outcome="bad_signature",provider="twilio"} 1`,
		`optin_signature_failures_total{provider="twilio"} 1`,
		`optin_transitions_total{from="none",to="pending"} 1`,
		`optin_transitions_total{from="pending",to="subscribed"} 1`,
		`optin_transitions_total{from="subscribed",to="unsubscribed"} 1`,
		`optin_redis_duration_seconds_count{op="evalsha"} 3`,
		`optin_http_request_duration_seconds_count{code="200",route="/v1/webhooks/twilio/sms"} 3`,
		`optin_archiver_lag_seconds 2.5`,
		`optin_outbound_queue_depth 7`,
		`optin_reply_failures_total{provider="twilio"} 0`,
		`# TYPE go_goroutines gauge`,
	} {
		if !lines[want] {
			t.Errorf("/metrics has no line %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", h.get("/metrics", adminToken).body)
	}
}

func TestBenchRoutes(t *testing.T) {
	h, _ := newMetricsHarness(t, true)
	form := url.Values{"Body": {"JOIN"}, "From": {person}, "To": {bizNumber}, "MessageSid": {newSid()}}
	const baseline = "/bench/baseline"
	tests := []struct {
		name       string
		path, body string
		sig        string
		wantStatus int
		wantBody   string
	}{
		{"hello", "/bench/hello", "", "", 200, "hello\n"},
		{"baseline signed", baseline, form.Encode(), twilio.Sign(twilioToken, publicURL+baseline, form), 200, `<?xml version="1.0" encoding="UTF-8"?><Response/>`},
		{"baseline signed for the webhook", baseline, form.Encode(), twilio.Sign(twilioToken, publicURL+webhookPath, form), 403, ""},
		{"baseline unsigned", baseline, form.Encode(), "", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.postRaw(tt.path, tt.body, tt.sig)
			if r.status != tt.wantStatus {
				t.Fatalf("POST %s: status %d %s; want %d", tt.path, r.status, r.body, tt.wantStatus)
			}
			if tt.wantBody != "" && r.body != tt.wantBody {
				t.Fatalf("POST %s: body %q; want %q", tt.path, r.body, tt.wantBody)
			}
		})
	}
	if got := h.redis.Client(t).DBSize(context.Background()).Val(); got != 0 {
		t.Errorf("DBSIZE after the bench routes = %d; want 0 (they never touch Redis)", got)
	}
}

func TestBenchRoutesOffByDefault(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/bench/hello", "/bench/baseline"} {
		if r := h.postRaw(path, "", ""); r.status != http.StatusNotFound {
			t.Errorf("POST %s without BenchRoutes: status %d; want 404", path, r.status)
		}
	}
}
