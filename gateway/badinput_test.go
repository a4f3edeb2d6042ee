package gateway_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// dbsize counts the keys in Redis (on every master of a cluster).
func dbsize(tb testing.TB, h *harness) int64 {
	tb.Helper()
	var n atomic.Int64
	count := func(ctx context.Context, rdb *redis.Client) error {
		k, err := rdb.DBSize(ctx).Result()
		n.Add(k)
		return err
	}
	var err error
	if cc, ok := h.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(context.Background(), count)
	} else {
		err = count(context.Background(), h.rdb.(*redis.Client))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return n.Load()
}

func TestBadInput(t *testing.T) {
	h := newHarness(t)
	good := inboundForm(newSid(), "+12025550180", bizNumber, "JOIN")
	sig := twilio.Sign(twilioToken, publicURL+webhookPath, good)
	// without returns a body lacking key and its valid signature.
	without := func(key string) (string, string) {
		f := inboundForm(newSid(), "+12025550180", bizNumber, "JOIN")
		f.Del(key)
		return f.Encode(), twilio.Sign(twilioToken, publicURL+webhookPath, f)
	}
	noSid, noSidSig := without("MessageSid")
	noFrom, noFromSig := without("From")
	noTo, noToSig := without("To")
	tests := []struct {
		name      string
		body, sig string
		want      int
		wantError string
	}{
		{"no signature", good.Encode(), "", http.StatusForbidden, "X-Twilio-Signature"},
		{"wrong signature", good.Encode(), twilio.Sign("someothertoken", publicURL+webhookPath, good), http.StatusForbidden, "X-Twilio-Signature"},
		{"signed for another host", good.Encode(), twilio.Sign(twilioToken, "https://evil.example.com"+webhookPath, good), http.StatusForbidden, "X-Twilio-Signature"},
		{"body changed after signing", strings.Replace(good.Encode(), "JOIN", "STOP", 1), sig, http.StatusForbidden, "X-Twilio-Signature"},
		{"malformed body", "From=%zz&To=1", sig, http.StatusBadRequest, "malformed"},
		{"missing MessageSid", noSid, noSidSig, http.StatusBadRequest, "MessageSid"},
		{"missing From", noFrom, noFromSig, http.StatusBadRequest, "From"},
		{"missing To", noTo, noToSig, http.StatusBadRequest, "To"},
		{"From not a number", bodyWith("From", "hello"), sigWith("From", "hello"), http.StatusBadRequest, "From: invalid phone number"},
		{"From without +", bodyWith("From", "2025550180"), sigWith("From", "2025550180"), http.StatusBadRequest, "From: invalid phone number"},
		{"unknown To", bodyWith("To", "+12025550199"), sigWith("To", "+12025550199"), http.StatusNotFound, "not a number of this gateway"},
		{"oversized body", good.Encode() + "&Pad=" + strings.Repeat("x", gateway.DefaultMaxBodyBytes), sig, http.StatusRequestEntityTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := dbsize(t, h)
			r := h.postRaw(webhookPath, tt.body, tt.sig)
			if r.status != tt.want {
				t.Fatalf("status = %d %s; want %d", r.status, r.body, tt.want)
			}
			if !strings.Contains(r.body, tt.wantError) {
				t.Errorf("body = %s; want it to say %q", r.body, tt.wantError)
			}
			if got := dbsize(t, h); got != keys {
				t.Errorf("Redis keys %d → %d; a refused request must change nothing", keys, got)
			}
		})
	}
	if n := h.logs.FilterField(zap.String("security_event", "bad_signature")).Len(); n != 4 {
		t.Errorf("security events logged = %d; want 4", n)
	}
}

func bodyWith(key, value string) string {
	f := inboundForm("SM"+strings.Repeat("1", 32), "+12025550180", bizNumber, "JOIN")
	f.Set(key, value)
	return f.Encode()
}

func sigWith(key, value string) string {
	f := inboundForm("SM"+strings.Repeat("1", 32), "+12025550180", bizNumber, "JOIN")
	f.Set(key, value)
	return twilio.Sign(twilioToken, publicURL+webhookPath, f)
}

// TestRedisGoesAway stops Redis mid-test: webhooks get 503 with
// Retry-After and nothing half-written; after a restart the retried message
// goes through and nothing acknowledged before is lost.
func TestRedisGoesAway(t *testing.T) {
	h := newHarness(t)
	from := "+12025550181"
	code := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
	h.redis.Stop(t)
	form := inboundForm(newSid(), from, bizNumber, code)
	r := h.post(form)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("Redis down: %d Retry-After=%q; want 503 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	if r := h.get("/readyz", ""); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with Redis down = %d; want 503", r.status)
	}
	if r := h.get("/healthz", ""); r.status != http.StatusOK {
		t.Errorf("healthz with Redis down = %d; want 200", r.status)
	}
	h.redis.Restart(t)
	h.waitReady()
	r = h.post(form)
	if r.status != http.StatusOK {
		t.Fatalf("retry after restart: %d %s; want 200", r.status, r.body)
	}
	if got := r.messages(t); len(got) != 1 || got[0] != dealsConfirm {
		t.Fatalf("retry after restart: replies %q; want the confirmation (the pending code survived)", got)
	}
	if s := h.states(from)["deals"]; s != "subscribed" {
		t.Fatalf("after restart deals = %q; want subscribed", s)
	}
}

// TestRedisGoesAwayUnderLoad stops Redis while webhooks keep coming and
// starts it again: every answer is 200 or 503 with Retry-After, every 200
// is on record afterwards, and webhooks succeed again soon after Redis is
// back (go-redis's dial circuit breaker probes once a second, so within
// about a second; the test allows three).
func TestRedisGoesAwayUnderLoad(t *testing.T) {
	for _, tt := range []struct {
		name string
		stop func(*redistest.Server, testing.TB)
	}{
		{"SIGTERM", (*redistest.Server).Stop},
		{"SIGKILL", (*redistest.Server).Kill},
	} {
		t.Run(tt.name, func(t *testing.T) { testRedisGoesAwayUnderLoad(t, tt.name, tt.stop) })
	}
}

func testRedisGoesAwayUnderLoad(t *testing.T, how string, stopRedis func(*redistest.Server, testing.TB)) {
	h := newHarness(t)
	const workers = 6
	type result struct {
		from       string
		start, end time.Time
		status     int
		retryAfter string
	}
	var (
		mu      sync.Mutex
		results []result
		seq     int
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				i := seq
				seq++
				mu.Unlock()
				npas := []int{202, 212, 303, 415, 312, 617}
				from := fmt.Sprintf("+1%03d55501%02d", npas[i/100%len(npas)], i%100)
				start := time.Now()
				r := h.post(inboundForm(newSid(), from, shortCode, "JOIN"))
				mu.Lock()
				results = append(results, result{from, start, time.Now(), r.status, r.header.Get("Retry-After")})
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // a steady load, not a flood
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	stopRedis(h.redis, t)
	down := time.Now()
	time.Sleep(300 * time.Millisecond)
	h.redis.Restart(t)
	up := time.Now()
	time.Sleep(3 * time.Second)
	close(stop)
	wg.Wait()

	ok, unavailable := 0, 0
	var recovered time.Time
	checked := map[string]bool{}
	for _, r := range results {
		switch r.status {
		case http.StatusOK:
			ok++
			if r.start.After(up) && (recovered.IsZero() || r.end.Before(recovered)) {
				recovered = r.end
			}
			if checked[r.from] {
				continue
			}
			checked[r.from] = true
			if s := h.campaignState("other", r.from, "deals"); s != "pending" {
				t.Errorf("acknowledged JOIN from %s lost: state %q; want pending", r.from, s)
			}
		case http.StatusServiceUnavailable:
			unavailable++
			if r.retryAfter == "" {
				t.Errorf("503 without Retry-After")
			}
			if r.start.After(up.Add(3 * time.Second)) {
				t.Errorf("503 for a request sent %v after Redis was back; want 200", r.start.Sub(up))
			}
		default:
			t.Errorf("status %d; want 200 or 503", r.status)
		}
	}
	if recovered.IsZero() {
		t.Fatalf("no webhook succeeded in the 3 s after Redis was back")
	}
	t.Logf("injected: Redis stopped (%s) under load of %d workers, down %v; %d requests: %d acknowledged, all on record; %d answered 503 with Retry-After; first 200 %v after Redis answered PING again",
		how, workers, up.Sub(down).Round(time.Millisecond), len(results), ok, unavailable, recovered.Sub(up).Round(time.Millisecond))
	// Expected: under a second (the breaker's probe interval); the margin
	// is for a loaded machine.
	if d := recovered.Sub(up); d > 2*time.Second {
		t.Errorf("first 200 %v after Redis was back; want about a second at most", d)
	}
}

func TestAdminAPI(t *testing.T) {
	h := newHarness(t)
	h.sms(person, bizNumber, "JOIN")
	tests := []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/v1/tenants/demo/subscribers/" + person, "", http.StatusUnauthorized},
		{"wrong token", "/v1/tenants/demo/subscribers/" + person, "nope", http.StatusUnauthorized},
		{"plus literal", "/v1/tenants/demo/subscribers/" + person, adminToken, http.StatusOK},
		{"plus escaped", "/v1/tenants/demo/subscribers/%2B" + person[1:], adminToken, http.StatusOK},
		{"unknown tenant", "/v1/tenants/nobody/subscribers/" + person, adminToken, http.StatusNotFound},
		{"not a number", "/v1/tenants/demo/subscribers/12345", adminToken, http.StatusBadRequest},
		{"unknown route", "/v1/tenants/demo/nothing", adminToken, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.get(tt.path, tt.token)
			if r.status != tt.want {
				t.Fatalf("GET %s = %d %s; want %d", tt.path, r.status, r.body, tt.want)
			}
			if tt.want == http.StatusOK && !strings.Contains(r.body, `"state":"pending"`) {
				t.Errorf("GET %s = %s; want deals pending", tt.path, r.body)
			}
		})
	}
}

// TestLogsHoldNoPersonalData scans every log line of a whole flow for the
// phone number, the code and the message texts.
func TestLogsHoldNoPersonalData(t *testing.T) {
	h := newHarness(t)
	from := "+12025550182"
	code := codeIn(t, h.sms(from, bizNumber, "JOIN")[0])
	h.sms(from, bizNumber, "Is this the deals list")
	h.sms(from, bizNumber, code)
	h.get("/v1/tenants/demo/subscribers/"+from, adminToken)
	h.postRaw(webhookPath, inboundForm(newSid(), from, bizNumber, "STOP").Encode(), "bad")
	secrets := []string{from, from[1:], from[2:], code, "Is this the deals list", adminToken, twilioToken}
	lines := h.logs.All()
	if len(lines) < 5 {
		t.Fatalf("%d log lines; want one per request", len(lines))
	}
	for _, e := range lines {
		line := logLine(e)
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line holds %q: %s", s, line)
			}
		}
		if e.ContextMap()["request_id"] == "" {
			t.Errorf("log line without request_id: %s", line)
		}
	}
}

// logLine is a log entry as text: its message and its fields.
func logLine(e observer.LoggedEntry) string {
	var b strings.Builder
	b.WriteString(e.Message)
	for k, v := range e.ContextMap() {
		b.WriteString(" " + k + "=")
		b.WriteString(toString(v))
	}
	return b.String()
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	return ""
}

// slowStore delays Load so that a request is in flight during shutdown.
type slowStore struct {
	gateway.Store
	delay   time.Duration
	started chan struct{}
	once    sync.Once
}

func (s *slowStore) Load(ctx context.Context, tenant string, p optin.Phone, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error) {
	s.once.Do(func() { close(s.started) })
	time.Sleep(s.delay)
	return s.Store.Load(ctx, tenant, p, campaigns, in)
}

func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t)
	slow := &slowStore{Store: h.store, delay: 300 * time.Millisecond, started: make(chan struct{})}
	srv, err := gateway.New(gateway.Options{
		PublicURL: publicURL, TwilioAuthToken: twilioToken, AdminToken: adminToken,
		Numbers: testNumbers(t), Store: slow, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(addr) }()
	form := inboundForm(newSid(), "+12025550183", bizNumber, "JOIN")
	var status int
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Until Serve listens (a loaded machine may take a while to get there).
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+webhookPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(twilio.SignatureHeader, twilio.Sign(twilioToken, publicURL+webhookPath, form))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			resp.Body.Close()
			status = resp.StatusCode
			return
		}
	}()
	select {
	case <-slow.started:
	case <-done:
		t.Fatalf("the request ended (status %d) before it reached the store; want it in flight", status)
	case err := <-served:
		t.Fatalf("Serve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-done
	if status != http.StatusOK {
		t.Errorf("in-flight request during shutdown: status %d; want 200", status)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown = %v; want nil", err)
	}
}
