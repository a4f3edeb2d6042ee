package gateway_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// Fictional numbers (+1 NPA 555 01XX) and generated secrets only.
const (
	bizNumber     = "+12025550100" // two campaigns: deals (JOIN, DEALS; default), news (NEWS)
	quietNumber   = "+12025550101" // the provider answers STOP and HELP itself
	shortCode     = "55555"
	vipNumber     = "+12025550102" // tenant "other", campaign vip (VIP)
	person        = "+12125550123"
	publicURL     = "https://optin.example.com"
	twilioToken   = "testtwiliotoken0123456789abcdef0"
	adminToken    = "test-admin-token-0123456789"
	webhookPath   = "/v1/webhooks/twilio/sms"
	dealsPrompt   = "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	newsPrompt    = "Reply {code} to confirm ACME News. Up to 2 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	dealsConfirm  = "You're subscribed to ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	newsConfirm   = "You're subscribed to ACME News. Reply STOP NEWS to cancel."
	dealsHelp     = "ACME Deals: help at example.com/help. Up to 4 msg/mo. Msg&data rates may apply. Reply STOP to cancel."
	stopReply     = "You're unsubscribed from ACME and will get no more messages. Reply START to rejoin."
	newsStopReply = "You're unsubscribed from ACME News. Reply NEWS to rejoin."
)

func testNumbers(tb testing.TB) map[string]*optin.Number {
	tb.Helper()
	deals := optin.Campaign{
		ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN", "DEALS"}, Version: 1,
		Prompt: dealsPrompt, Confirmation: dealsConfirm, Help: dealsHelp,
	}.WithDefaults()
	news := optin.Campaign{
		ID: "news", Name: "ACME News", Keywords: []string{"NEWS"}, Version: 3,
		Prompt: newsPrompt, Confirmation: newsConfirm, Help: dealsHelp, StopReply: newsStopReply,
	}.WithDefaults()
	vip := optin.Campaign{
		ID: "vip", Name: "Other VIP", Keywords: []string{"VIP"}, Version: 1,
		Prompt: strings.ReplaceAll(dealsPrompt, "ACME Deals", "Other VIP"), Confirmation: dealsConfirm, Help: dealsHelp,
	}.WithDefaults()
	// Tenant "other" revokes across its numbers (scope "tenant").
	otherScope := []optin.Campaign{deals, vip}
	nums := map[string]*optin.Number{
		bizNumber:   {Tenant: "demo", E164: bizNumber, Campaigns: []optin.Campaign{deals, news}, StopReply: stopReply, Packs: []string{"es", "fr"}},
		quietNumber: {Tenant: "demo", E164: quietNumber, Campaigns: []optin.Campaign{deals}, StopReply: stopReply, ProviderHandlesOptOut: true},
		shortCode:   {Tenant: "other", E164: shortCode, Campaigns: []optin.Campaign{deals}, StopReply: stopReply, Scope: otherScope},
		vipNumber:   {Tenant: "other", E164: vipNumber, Campaigns: []optin.Campaign{vip}, StopReply: stopReply, Scope: otherScope},
	}
	for _, n := range nums {
		if err := n.Validate(); err != nil {
			tb.Fatal(err)
		}
	}
	return nums
}

// clock is a settable clock for the server.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// harness is a gateway served over real HTTP on a real, private Redis.
type harness struct {
	tb    testing.TB
	redis *redistest.Server     // nil on a cluster
	rdb   redis.UniversalClient // for looking into Redis
	store *store.Store
	srv   *gateway.Server
	http  *httptest.Server
	clock *clock
	logs  *observer.ObservedLogs
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	if c := clusterUnderTest; c != nil && strings.HasPrefix(tb.Name(), clusterSuite+"/") {
		return newClusterHarness(tb, c)
	}
	return newHarnessWith(tb)
}

// newHarnessWith is newHarness on a private Redis, with server options
// changed by edit.
func newHarnessWith(tb testing.TB, edit ...func(*gateway.Options)) *harness {
	tb.Helper()
	srv := redistest.Start(tb)
	h := newHarnessOn(tb, srv.URL(), edit...)
	h.redis, h.rdb = srv, srv.Client(tb)
	return h
}

// newHarnessOn is a harness on the Redis (or Redis Cluster) at redisURL;
// its redis field is nil. edit, if any, changes the server's options.
func newHarnessOn(tb testing.TB, redisURL string, edit ...func(*gateway.Options)) *harness {
	tb.Helper()
	h := &harness{tb: tb, clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	key := make([]byte, store.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{URL: redisURL, MasterKey: key, Shards: 4})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	h.store = st
	core, logs := observer.New(zapcore.DebugLevel)
	h.logs = logs
	opts := gateway.Options{
		PublicURL:       publicURL,
		TwilioAuthToken: twilioToken,
		AdminToken:      adminToken,
		Numbers:         testNumbers(tb),
		Store:           st,
		Logger:          testLogger(tb, core),
		Now:             h.clock.Now,
		HTTP:            gateway.HTTPOptions{RequestTimeout: 3 * time.Second},
	}
	for _, e := range edit {
		e(&opts)
	}
	h.srv, err = gateway.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	tb.Cleanup(h.http.Close)
	return h
}

// reply is a webhook's answer.
type reply struct {
	status int
	header http.Header
	body   string
}

// messages returns the <Message> bodies of a TwiML reply.
func (r reply) messages(tb testing.TB) []string {
	tb.Helper()
	var doc struct {
		XMLName  xml.Name `xml:"Response"`
		Messages []string `xml:"Message"`
	}
	if err := xml.Unmarshal([]byte(r.body), &doc); err != nil {
		tb.Fatalf("reply %d %q is not TwiML: %v", r.status, r.body, err)
	}
	return doc.Messages
}

// inboundForm is an inbound SMS webhook as Twilio posts it.
func inboundForm(sid, from, to, body string) url.Values {
	return url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid},
		"AccountSid": {"AC" + strings.Repeat("0", 32)}, "MessagingServiceSid": {"MG" + strings.Repeat("0", 32)},
		"From": {from}, "To": {to}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
		"FromCity": {"WASHINGTON"}, "FromState": {"DC"}, "FromZip": {"20001"}, "FromCountry": {"US"},
		"ToCity": {""}, "ToState": {"DC"}, "ToZip": {""}, "ToCountry": {"US"},
	}
}

func newSid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "SM" + hex.EncodeToString(b)
}

// post sends form to the webhook, signed as Twilio signs it.
func (h *harness) post(form url.Values) reply {
	h.tb.Helper()
	return h.postRaw(webhookPath, form.Encode(), twilio.Sign(twilioToken, publicURL+webhookPath, form))
}

// postRaw sends a raw body with a given signature to path (and query).
func (h *harness) postRaw(pathAndQuery, body, sig string) reply {
	h.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, h.http.URL+pathAndQuery, strings.NewReader(body))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sig != "" {
		req.Header.Set(twilio.SignatureHeader, sig)
	}
	return h.do(req)
}

func (h *harness) do(req *http.Request) reply {
	h.tb.Helper()
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.tb.Fatal(err)
	}
	suiteLog.sawReply(string(b))
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// sms sends text from a person to a business number and returns the
// replies; it fails the test on any status but 200.
func (h *harness) sms(from, to, text string) []string {
	h.tb.Helper()
	r := h.post(inboundForm(newSid(), from, to, text))
	if r.status != http.StatusOK {
		h.tb.Fatalf("sms %q: status %d %s; want 200", text, r.status, r.body)
	}
	return r.messages(h.tb)
}

// codeIn returns the code of a prompt, the digits where {code} stands.
func codeIn(tb testing.TB, prompt string) string {
	tb.Helper()
	f := strings.Fields(prompt)
	if len(f) < 2 || f[0] != "Reply" {
		tb.Fatalf("%q is not a prompt", prompt)
	}
	return f[1]
}

// subscriberView mirrors the JSON of GET /v1/tenants/{t}/subscribers/{p}.
type subscriberView struct {
	Tenant     string `json:"tenant"`
	Subscriber string `json:"subscriber"`
	Version    int64  `json:"version"`
	Campaigns  []struct {
		Campaign  string        `json:"campaign"`
		State     string        `json:"state"`
		ChangedAt *time.Time    `json:"changed_at"`
		History   []optin.Event `json:"history"`
	} `json:"campaigns"`
}

func (h *harness) get(path, token string) reply {
	h.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, h.http.URL+path, nil)
	if err != nil {
		h.tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return h.do(req)
}

// subscriber fetches the support view of phone under tenant.
func (h *harness) subscriber(tenant, phone string) subscriberView {
	h.tb.Helper()
	r := h.get("/v1/tenants/"+tenant+"/subscribers/"+url.PathEscape(phone), adminToken)
	if r.status != http.StatusOK {
		h.tb.Fatalf("GET subscriber: status %d %s; want 200", r.status, r.body)
	}
	var v subscriberView
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		h.tb.Fatal(err)
	}
	return v
}

// campaignState returns the state of phone in one campaign of tenant. (The
// order of a tenant's campaigns in the view follows the configuration's
// map of numbers, so it is not fixed when several numbers share a tenant.)
func (h *harness) campaignState(tenant, phone, campaign string) string {
	h.tb.Helper()
	for _, c := range h.subscriber(tenant, phone).Campaigns {
		if c.Campaign == campaign {
			return c.State
		}
	}
	h.tb.Fatalf("tenant %s has no campaign %s", tenant, campaign)
	return ""
}

// states returns the state per campaign of phone under tenant "demo".
func (h *harness) states(phone string) map[string]string {
	h.tb.Helper()
	out := map[string]string{}
	for _, c := range h.subscriber("demo", phone).Campaigns {
		out[c.Campaign] = c.State
	}
	return out
}

// waitReady polls /readyz until it answers 200. After Redis comes back,
// go-redis's dial circuit breaker (open once PoolSize dials in a row have
// failed) probes once a second, so recovery takes up to about a second;
// the harness allows five.
func (h *harness) waitReady() {
	h.tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := h.get("/readyz", "")
		if r.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			h.tb.Fatalf("readyz = %d %s five seconds after Redis came back; want 200", r.status, r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
