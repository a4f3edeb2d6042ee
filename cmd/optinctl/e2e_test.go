package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

const (
	e2eAdminToken  = "e2e-operator-token"
	e2eTwilioToken = "e2etwiliotoken00000000000000000000"
	e2eNumber      = "+12025550100"
	e2eSubscriber  = "+12025550123"
)

// gatewayUnderTest is a real gateway on a private Redis, its configuration
// in Redis and empty, served over HTTP on a loopback port.
type gatewayUnderTest struct {
	url string
	env map[string]string
}

func startGateway(t *testing.T) *gatewayUnderTest {
	t.Helper()
	srv := redistest.Start(t)
	key := make([]byte, store.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{URL: srv.URL(), MasterKey: key, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + h.Listener.Addr().String()
	gw, err := gateway.New(gateway.Options{
		PublicURL:       publicURL,
		TwilioAuthToken: e2eTwilioToken,
		AdminToken:      e2eAdminToken,
		Store:           st,
		Services:        gateway.Services{Config: st},
		Logger:          zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Config.Handler = gw.Handler()
	h.Start()
	t.Cleanup(h.Close)
	return &gatewayUnderTest{url: publicURL, env: map[string]string{"OPTIN_URL": publicURL, "OPTIN_TOKEN": e2eAdminToken}}
}

// sms posts a signed Twilio inbound message and returns the TwiML answer;
// any status but 200 fails the test.
func (g *gatewayUnderTest) sms(t *testing.T, sid, body string) string {
	t.Helper()
	status, b := g.smsStatus(t, sid, body)
	if status != http.StatusOK {
		t.Fatalf("webhook %q: %d %s", body, status, b)
	}
	return b
}

// smsStatus posts a signed Twilio inbound message and returns the status
// and body of the answer.
func (g *gatewayUnderTest) smsStatus(t *testing.T, sid, body string) (int, string) {
	t.Helper()
	form := url.Values{"MessageSid": {sid}, "AccountSid": {"AC00000000000000000000000000000000"},
		"From": {e2eSubscriber}, "To": {e2eNumber}, "Body": {body}}
	u := g.url + "/v1/webhooks/twilio/sms"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilio.Sign(e2eTwilioToken, u, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const e2eCampaigns = `tenants:
  - id: acme
    name: ACME
    campaigns:
      - id: deals
        name: ACME Deals
        keywords: [JOIN]
        prompt: "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to ACME Deals. Reply STOP to cancel."
        help: "ACME Deals: help at 1-202-555-0199. Up to 4 msg/mo. Msg&data rates may apply. Reply STOP to cancel."
%s    numbers:
      - number: "+12025550100"
        campaigns: [%s]
        stop_reply: "You're unsubscribed from ACME and will get no more messages. Reply START to rejoin."
`

const e2eNews = `      - id: news
        name: ACME News
        keywords: [NEWS]
        prompt: "Reply {code} to confirm ACME News. Up to 2 msg/wk. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
        confirmation: "You're subscribed to ACME News. Reply STOP to cancel."
        help: "ACME News: help at 1-202-555-0199. Up to 2 msg/wk. Msg&data rates may apply. Reply STOP to cancel."
`

// TestEndToEnd drives optinctl against a running gateway: apply a
// campaigns file, and a signed webhook uses the new keyword at once; apply
// without a campaign and --prune removes it; -o json output parses.
func TestEndToEnd(t *testing.T) {
	g := startGateway(t)
	both := writeFile(t, strings.Replace(strings.Replace(e2eCampaigns, "%s", e2eNews, 1), "%s", "deals, news", 1))

	dealsOnly := writeFile(t, strings.Replace(strings.Replace(e2eCampaigns, "%s", "", 1), "%s", "deals", 1))
	args := []string{"apply", "-f", dealsOnly}
	mustCode(t, ctlEnv(t, g.env, args...), 0, args...)

	args = []string{"apply", "-f", both, "--dry-run"}
	r := ctlEnv(t, g.env, args...)
	mustCode(t, r, 7, args...)
	// The server plans: news is new; the number, which adds news, is
	// planned with its other campaigns and then shown with the file's.
	for _, want := range []string{"+ campaign acme/news (create)", "~ number acme/+12025550100 (update)\n    campaigns: [\"deals\"] → [\"deals\",\"news\"]\n", "1 to create, 1 to update, 0 to delete, 2 unchanged"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := g.sms(t, "SM00000000000000000000000000000001", "NEWS"); strings.Contains(got, "ACME News") {
		t.Fatalf("after a dry run, NEWS answers %s; want news not configured yet", got)
	}

	args = []string{"apply", "-f", both}
	mustCode(t, ctlEnv(t, g.env, args...), 0, args...)
	if got := g.sms(t, "SM00000000000000000000000000000002", "NEWS"); !strings.Contains(got, "to confirm ACME News") {
		t.Fatalf("after apply, NEWS answers %s; want the ACME News prompt", got)
	}
	args = []string{"apply", "-f", both, "--dry-run"}
	mustCode(t, ctlEnv(t, g.env, args...), 0, args...) // no drift

	args = []string{"get", "campaigns", "-t", "acme", "-o", "json"}
	r = ctlEnv(t, g.env, args...)
	mustCode(t, r, 0, args...)
	ids := campaignIDs(t, r.stdout)
	if strings.Join(ids, ",") != "deals,news" {
		t.Fatalf("get campaigns -o json = %v; want [deals news]", ids)
	}

	args = []string{"apply", "-f", dealsOnly, "--prune"}
	mustCode(t, ctlEnv(t, g.env, args...), 0, args...)
	r = ctlEnv(t, g.env, "get", "campaigns", "-t", "acme", "-o", "json")
	mustCode(t, r, 0, "get", "campaigns")
	if ids := campaignIDs(t, r.stdout); strings.Join(ids, ",") != "deals" {
		t.Fatalf("after --prune, campaigns = %v; want [deals]", ids)
	}
	if got := g.sms(t, "SM00000000000000000000000000000003", "NEWS STOP"); strings.Contains(got, "ACME News") {
		t.Errorf("after --prune, the pruned campaign still answers: %s", got)
	}

	// A support token made with optinctl sees the subscriber NEWS created.
	r = ctlEnv(t, g.env, "tokens", "create", "-t", "acme", "--role", "support", "--name", "e2e", "-o", "json")
	mustCode(t, r, 0, "tokens", "create")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok.Token == "" {
		t.Fatalf("tokens create -o json = %q (%v); want a token", r.stdout, err)
	}
	env := map[string]string{"OPTIN_URL": g.url, "OPTIN_TOKEN": tok.Token}
	args = []string{"subscriber", "show", e2eSubscriber, "-t", "acme", "-o", "json", "--reason", "e2e test"}
	r = ctlEnv(t, env, args...)
	mustCode(t, r, 0, args...)
	var view map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &view); err != nil {
		t.Fatalf("subscriber show -o json does not parse: %v\n%s", err, r.stdout)
	}
	// The history table reads the server's events, their cause an object.
	args = []string{"subscriber", "history", e2eSubscriber, "-t", "acme", "--reason", "e2e test"}
	r = ctlEnv(t, env, args...)
	mustCode(t, r, 0, args...)
	if !strings.Contains(r.stdout, "twilio SM00000000000000000000000000000002") {
		t.Errorf("subscriber history lacks the cause of the prompt (twilio and its message id):\n%s", r.stdout)
	}
}

// ctlEnv runs optinctl in-process with exactly env.
func ctlEnv(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return ctl(t, nil, env, "", args...)
}

func campaignIDs(t *testing.T, out string) []string {
	t.Helper()
	var v struct {
		Items []optin.CampaignDoc `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("-o json does not parse: %v\n%s", err, out)
	}
	ids := make([]string, 0, len(v.Items))
	for _, c := range v.Items {
		ids = append(ids, c.ID)
	}
	return ids
}
