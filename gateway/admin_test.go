package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
)

// testConfig is the configuration of testNumbers as documents: tenant demo
// (deals, news on bizNumber) and tenant other (vip on vipNumber).
func testConfig() optin.ConfigSet {
	deals := optin.CampaignDoc{ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN", "DEALS"},
		Prompt: dealsPrompt, Confirmation: dealsConfirm, Help: dealsHelp}.WithDefaults()
	news := optin.CampaignDoc{ID: "news", Name: "ACME News", Keywords: []string{"NEWS"},
		Prompt: newsPrompt, Confirmation: newsConfirm, Help: dealsHelp, StopReply: newsStopReply}.WithDefaults()
	vip := optin.CampaignDoc{ID: "vip", Name: "Other VIP", Keywords: []string{"VIP"},
		Prompt: strings.ReplaceAll(dealsPrompt, "ACME Deals", "Other VIP"), Confirmation: dealsConfirm, Help: dealsHelp}.WithDefaults()
	return optin.ConfigSet{
		Tenants: map[string]optin.TenantDoc{
			"demo":  {ID: "demo", Name: "ACME", RevocationScope: "number"},
			"other": {ID: "other", Name: "Other", RevocationScope: "tenant"},
		},
		Campaigns: map[string]map[string]optin.CampaignDoc{
			"demo":  {"deals": deals, "news": news},
			"other": {"vip": vip},
		},
		Numbers: map[string]map[string]optin.NumberDoc{
			"demo":  {bizNumber: optin.NumberDoc{Number: bizNumber, Campaigns: []string{"deals", "news"}, StopReply: stopReply, KeywordPacks: []string{"es", "fr"}}.WithDefaults()},
			"other": {vipNumber: optin.NumberDoc{Number: vipNumber, Campaigns: []string{"vip"}, StopReply: stopReply}.WithDefaults()},
		},
	}
}

// newAdminHarness is a harness whose configuration lives in Redis
// (bootstrapped from testConfig), with the audit log behind evidence and
// verify.
func newAdminHarness(tb testing.TB, edit ...func(*gateway.Options)) *harness {
	tb.Helper()
	return newHarnessWith(tb, append([]func(*gateway.Options){adminOptions(tb)}, edit...)...)
}

// adminOptions bootstraps testConfig into the harness's store and serves
// the configuration and the audit log from it.
func adminOptions(tb testing.TB) func(*gateway.Options) {
	dir := filepath.Join(tb.TempDir(), "audit")
	return func(o *gateway.Options) {
		st := o.Store.(*store.Store)
		if _, err := st.BootstrapConfig(context.Background(), testConfig(), time.Now()); err != nil {
			tb.Fatal(err)
		}
		o.Numbers, o.Services.Config, o.Services.Audit, o.Services.Privacy, o.Services.Webhooks, o.Services.Consent = nil, st, st.AuditLog(dir), st.AuditLog(dir), st.WebhookAdmin(dir), st
		o.Console.Sessions = st
	}
}

// call sends method path with a JSON body (if not empty) and a bearer token.
func (h *harness) call(method, path, token, body string, header ...string) reply {
	h.tb.Helper()
	var req *http.Request
	var err error
	if body != "" {
		req, err = http.NewRequest(method, h.http.URL+path, strings.NewReader(body))
	} else {
		req, err = http.NewRequest(method, h.http.URL+path, nil)
	}
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return h.do(req)
}

// token creates a token of tenant with role, as the operator.
func (h *harness) token(tenant string, role optin.Role) (id, token string) {
	h.tb.Helper()
	r := h.call(http.MethodPost, "/v1/tenants/"+tenant+"/tokens", adminToken, fmt.Sprintf(`{"role":%q,"name":"test %s"}`, role, role))
	if r.status != http.StatusCreated {
		h.tb.Fatalf("POST tokens: %d %s; want 201", r.status, r.body)
	}
	var v struct{ ID, Token string }
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		h.tb.Fatal(err)
	}
	return v.ID, v.Token
}

const notFoundBody = `{"error":"not found"}` + "\n"

// adminRoute is one route of the admin API as the role matrix calls it.
type adminRoute struct {
	method, path, body string
	// allowed are the roles that may call it (the operator always may);
	// status is what an allowed call answers.
	allowed []optin.Role
	status  int
}

// adminRoutes are every admin route for tenant t; PUT and DELETE of
// configuration run as dry runs, so the matrix changes no configuration.
func adminRoutes(h *harness, t string) []adminRoute {
	const (
		A = optin.RoleAdmin
		S = optin.RoleSupport
		U = optin.RoleAuditor
		X = optin.RoleSender
	)
	p := "/v1/tenants/" + t
	num := url.PathEscape(bizNumber)
	camp, _ := json.Marshal(testConfig().Campaigns["demo"]["deals"])
	numb, _ := json.Marshal(testConfig().Numbers["demo"][bizNumber])
	sub := p + "/subscribers/" + url.PathEscape(person)
	return []adminRoute{
		{"GET", p, "", []optin.Role{A, S, U}, 200},
		{"PUT", p + "?dry_run=true", `{"name":"ACME","revocation_scope":"number"}`, []optin.Role{A}, 200},
		{"DELETE", p + "?dry_run=true", "", nil, 409}, // operator only; demo still has numbers
		{"GET", p + "/campaigns", "", []optin.Role{A, S, U}, 200},
		{"GET", p + "/campaigns/deals", "", []optin.Role{A, S, U}, 200},
		{"PUT", p + "/campaigns/deals?dry_run=true", string(camp), []optin.Role{A}, 200},
		{"DELETE", p + "/campaigns/news?dry_run=true", "", []optin.Role{A}, 409}, // still on bizNumber
		{"GET", p + "/numbers", "", []optin.Role{A, S, U}, 200},
		{"GET", p + "/numbers/" + num, "", []optin.Role{A, S, U}, 200},
		{"PUT", p + "/numbers/" + num + "?dry_run=true", string(numb), []optin.Role{A}, 200},
		{"DELETE", p + "/numbers/" + num + "?dry_run=true", "", []optin.Role{A}, 200},
		{"POST", p + "/tokens", `{"role":"auditor","name":"matrix"}`, []optin.Role{A}, 201},
		{"GET", p + "/tokens", "", []optin.Role{A}, 200},
		{"DELETE", p + "/tokens/{fresh}", "", []optin.Role{A}, 204},
		{"GET", sub, "", []optin.Role{S}, 200},
		{"GET", sub + "/history", "", []optin.Role{S}, 200},
		{"POST", sub + "/opt-out", `{"reason":"asked by phone"}`, []optin.Role{S}, 200},
		{"POST", sub + "/revocations", fmt.Sprintf(`{"channel":"email","revoked_at":%q,"note":"email of the 3rd"}`, h.clock.Now().Format(time.RFC3339)), []optin.Role{S}, 201},
		{"GET", sub + "/evidence", "", []optin.Role{U}, 200},
		{"GET", p + "/audit/verify", "", []optin.Role{U}, 200},
		{"GET", p + "/access-log", "", []optin.Role{A, U}, 200},
		{"GET", sub + "/export", "", []optin.Role{S}, 200},
		{"GET", p + "/webhooks", "", []optin.Role{A}, 200},
		{"PUT", p + "/webhooks/hook?dry_run=true", `{"url":"https://crm.example.com/optin"}`, []optin.Role{A}, 200},
		{"GET", p + "/webhooks/hook", "", []optin.Role{A}, 200},
		{"GET", p + "/webhooks/hook/dead-letters", "", []optin.Role{A}, 200},
		{"POST", p + "/webhooks/hook/replay", fmt.Sprintf(`{"since":%q}`, h.clock.Now().Format(time.RFC3339)), []optin.Role{A}, 202},
		{"DELETE", p + "/webhooks/hook?dry_run=true", "", []optin.Role{A}, 200},
		{"GET", p + "/consent?phone=" + url.QueryEscape(person) + "&campaign=deals", "", []optin.Role{X, S}, 200},
		{"GET", p + "/consent?phone=" + url.QueryEscape(person), "", []optin.Role{X, S}, 200},
		{"POST", p + "/consent/check", fmt.Sprintf(`{"phones":[%q]}`, person), []optin.Role{X, S}, 200},
		{"GET", p + "/campaigns/deals/subscribers", "", []optin.Role{X}, 200},
		{"GET", p + "/campaigns/deals/subscribers?format=csv", "", []optin.Role{X}, 200},
		{"DELETE", sub, "", []optin.Role{A}, 200}, // last: it erases the person
	}
}

// TestAdminRoleMatrix calls every admin route with every role: allowed
// (the route's status), 403 for the wrong role, 404 for another tenant's
// data and for a tenant that does not exist, with one body.
func TestAdminRoleMatrix(t *testing.T) {
	h := newAdminHarness(t)
	tokens := map[optin.Role]string{"operator": adminToken}
	others := map[optin.Role]string{}
	for _, r := range optin.Roles {
		_, tokens[r] = h.token("demo", r)
		_, others[r] = h.token("other", r)
	}
	h.putWebhook("hook", "https://crm.example.com/optin") // for the webhook routes
	path := func(rt adminRoute) string {
		if strings.Contains(rt.path, "{fresh}") {
			id, _ := h.token("demo", optin.RoleAuditor)
			return strings.ReplaceAll(rt.path, "{fresh}", id)
		}
		return rt.path
	}
	for _, rt := range adminRoutes(h, "demo") {
		for _, role := range append([]optin.Role{"operator"}, optin.Roles...) {
			want := http.StatusForbidden
			if role == "operator" || containsRole(rt.allowed, role) {
				want = rt.status
			}
			r := h.call(rt.method, path(rt), tokens[role], rt.body)
			if r.status != want {
				t.Errorf("%s %s as %s: status %d %s; want %d", rt.method, rt.path, role, r.status, r.body, want)
			}
			if want == http.StatusForbidden && r.body != `{"error":"forbidden"}`+"\n" {
				t.Errorf("%s %s as %s: body %q; want forbidden", rt.method, rt.path, role, r.body)
			}
			// A token of another tenant: 404, whatever its role.
			if role != "operator" {
				r := h.call(rt.method, path(rt), others[role], rt.body)
				if r.status != http.StatusNotFound || r.body != notFoundBody {
					t.Errorf("%s %s as %s of other: %d %q; want 404 %q", rt.method, rt.path, role, r.status, r.body, notFoundBody)
				}
			}
		}
	}
	// A tenant that does not exist: the same 404 to the operator.
	for _, rt := range adminRoutes(h, "nope") {
		if rt.method == "POST" && strings.HasSuffix(rt.path, "/tokens") || strings.Contains(rt.path, "{fresh}") {
			rt.path = strings.ReplaceAll(rt.path, "{fresh}", "tok_0000000000000000")
		}
		r := h.call(rt.method, rt.path, adminToken, rt.body)
		if rt.method == "PUT" && rt.path == "/v1/tenants/nope?dry_run=true" {
			if r.status != http.StatusOK { // a dry run of creating it
				t.Errorf("PUT %s: %d %s; want 200", rt.path, r.status, r.body)
			}
			continue
		}
		if r.status != http.StatusNotFound || r.body != notFoundBody {
			t.Errorf("%s %s as operator: %d %q; want 404 %q", rt.method, rt.path, r.status, r.body, notFoundBody)
		}
	}
	// Objects that do not exist in one's own tenant: the same 404.
	for _, p := range []string{"/v1/tenants/demo/campaigns/nope", "/v1/tenants/demo/numbers/%2B12025550109"} {
		r := h.call("GET", p, tokens[optin.RoleAdmin], "")
		if r.status != http.StatusNotFound || r.body != notFoundBody {
			t.Errorf("GET %s: %d %q; want 404 %q", p, r.status, r.body, notFoundBody)
		}
	}
	r := h.call("DELETE", "/v1/tenants/demo/tokens/tok_0000000000000000", tokens[optin.RoleAdmin], "")
	if r.status != http.StatusNotFound || r.body != notFoundBody {
		t.Errorf("DELETE unknown token: %d %q; want 404", r.status, r.body)
	}
	// Security events are counted.
	lines := h.scrape()
	for _, kind := range []string{"forbidden", "cross_tenant"} {
		found := false
		for l := range lines {
			if strings.HasPrefix(l, `optin_security_events_total{kind="`+kind+`"} `) && !strings.HasSuffix(l, " 0") {
				found = true
			}
		}
		if !found {
			t.Errorf("optin_security_events_total{kind=%q} not counted", kind)
		}
	}
}

func containsRole(rs []optin.Role, r optin.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestTenantListAndCreate: the operator lists all tenants and alone
// creates and deletes one; a token lists its own.
func TestTenantListAndCreate(t *testing.T) {
	h := newAdminHarness(t)
	_, adm := h.token("demo", optin.RoleAdmin)
	if r := h.call("GET", "/v1/tenants", adminToken, ""); r.status != 200 || !strings.Contains(r.body, `"id":"demo"`) || !strings.Contains(r.body, `"id":"other"`) {
		t.Fatalf("GET /v1/tenants as operator: %d %s", r.status, r.body)
	}
	if r := h.call("GET", "/v1/tenants", adm, ""); r.status != 200 || !strings.Contains(r.body, `"id":"demo"`) || strings.Contains(r.body, `"id":"other"`) {
		t.Fatalf("GET /v1/tenants as demo admin: %d %s; want demo only", r.status, r.body)
	}
	if r := h.call("PUT", "/v1/tenants/acme2", adm, `{"name":"ACME 2"}`); r.status != http.StatusNotFound {
		t.Fatalf("PUT another tenant as demo admin: %d %s; want 404", r.status, r.body)
	}
	r := h.call("PUT", "/v1/tenants/acme2", adminToken, `{"name":"ACME 2"}`)
	if r.status != http.StatusCreated || !strings.Contains(r.body, `"version":1`) || !strings.Contains(r.body, `"updated_by":"operator"`) || !strings.Contains(r.body, `"revocation_scope":"number"`) {
		t.Fatalf("PUT new tenant: %d %s; want 201 version 1", r.status, r.body)
	}
	if r := h.call("PUT", "/v1/tenants/acme2", adminToken, `{"name":"ACME 2"}`); r.status != 200 || !strings.Contains(r.body, `"version":1`) {
		t.Fatalf("PUT identical tenant: %d %s; want 200 version 1", r.status, r.body)
	}
	if r := h.call("PUT", "/v1/tenants/acme2", adminToken, `{"name":"ACME Two","version":1}`); r.status != 200 || !strings.Contains(r.body, `"version":2`) {
		t.Fatalf("PUT changed tenant: %d %s; want 200 version 2", r.status, r.body)
	}
	if r := h.call("PUT", "/v1/tenants/acme2", adminToken, `{"name":"ACME 3","version":1}`); r.status != http.StatusConflict || !strings.Contains(r.body, `"field":"version"`) {
		t.Fatalf("PUT stale version: %d %s; want 409 naming version", r.status, r.body)
	}
	if r := h.call("DELETE", "/v1/tenants/acme2", adminToken, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE tenant: %d %s; want 204", r.status, r.body)
	}
	if r := h.call("GET", "/v1/tenants/acme2", adminToken, ""); r.status != http.StatusNotFound || r.body != notFoundBody {
		t.Fatalf("GET deleted tenant: %d %s; want 404", r.status, r.body)
	}
}

// TestTokenRevocation: a revoked token is refused on the very next
// request; tokens are listed without their secret; the store keeps only
// hashes.
func TestTokenRevocation(t *testing.T) {
	h := newAdminHarness(t)
	_, adm := h.token("demo", optin.RoleAdmin)
	id, sup := h.token("demo", optin.RoleSupport)
	if r := h.call("GET", "/v1/tenants/demo", sup, ""); r.status != 200 {
		t.Fatalf("GET tenant with a live token: %d %s", r.status, r.body)
	}
	r := h.call("GET", "/v1/tenants/demo/tokens", adm, "")
	if r.status != 200 || !strings.Contains(r.body, id) || strings.Contains(r.body, sup) || strings.Contains(r.body, "hash") {
		t.Fatalf("GET tokens: %d %s; want the ids without tokens or hashes", r.status, r.body)
	}
	keys, err := h.rdb.HGetAll(context.Background(), "og:{cfg}:tokens").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range keys {
		if strings.Contains(v, sup) || strings.Contains(v, adm) {
			t.Fatal("Redis holds a token in the clear")
		}
	}
	if r := h.call("DELETE", "/v1/tenants/demo/tokens/"+id, adm, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE token: %d %s; want 204", r.status, r.body)
	}
	r = h.call("GET", "/v1/tenants/demo", sup, "")
	if r.status != http.StatusUnauthorized || r.body != `{"error":"missing or invalid bearer token"}`+"\n" || r.header.Get("WWW-Authenticate") == "" {
		t.Fatalf("GET with the revoked token: %d %q; want 401 with WWW-Authenticate", r.status, r.body)
	}
	if r := h.call("GET", "/v1/tenants/demo", "ogt_0123456789abcdef_"+strings.Repeat("A", 43), ""); r.status != http.StatusUnauthorized {
		t.Fatalf("GET with a made-up token: %d; want 401", r.status)
	}
	if r := h.call("POST", "/v1/tenants/demo/tokens", adm, `{"role":"root","name":"x"}`); r.status != 400 || !strings.Contains(r.body, `"field":"role"`) {
		t.Fatalf("POST token of an unknown role: %d %s; want 400 naming role", r.status, r.body)
	}
}

// TestAuthRateLimit: after ten failed authentications in a minute, the
// client IP gets 429 with Retry-After, even with a good token, until the
// minute is over.
func TestAuthRateLimit(t *testing.T) {
	h := newAdminHarness(t)
	for i := range gateway.DefaultAuthFailures {
		if r := h.call("GET", "/v1/tenants/demo", "wrong-token", ""); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d; want 401", i+1, r.status)
		}
	}
	r := h.call("GET", "/v1/tenants/demo", adminToken, "")
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d Retry-After %q; want 429 with Retry-After", gateway.DefaultAuthFailures, r.status, r.header.Get("Retry-After"))
	}
	h.clock.Advance(gateway.DefaultAuthWindow)
	if r := h.call("GET", "/v1/tenants/demo", adminToken, ""); r.status != 200 {
		t.Fatalf("a window later: %d %s; want 200", r.status, r.body)
	}
}

// TestCampaignValidation: every refused campaign answers 400 naming the
// field, and changes nothing.
func TestCampaignValidation(t *testing.T) {
	h := newAdminHarness(t)
	base := testConfig().Campaigns["demo"]["deals"]
	long := strings.Repeat("ACME Deals news. ", 40)
	tests := []struct {
		name, field string
		edit        func(*optin.CampaignDoc)
	}{
		{"no program name", "prompt", func(c *optin.CampaignDoc) {
			c.Prompt = "Reply {code} to confirm. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
		}},
		{"no frequency", "prompt", func(c *optin.CampaignDoc) {
			c.Prompt = "Reply {code} to confirm ACME Deals. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
		}},
		{"no rates", "prompt", func(c *optin.CampaignDoc) {
			c.Prompt = "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Reply HELP for help, STOP to cancel."
		}},
		{"no help", "prompt", func(c *optin.CampaignDoc) {
			c.Prompt = "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply STOP to cancel."
		}},
		{"no stop", "prompt", func(c *optin.CampaignDoc) {
			c.Prompt = "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help."
		}},
		{"no code", "prompt", func(c *optin.CampaignDoc) { c.Prompt = strings.ReplaceAll(c.Prompt, "{code}", "") }},
		{"code length", "code_length", func(c *optin.CampaignDoc) { c.CodeLength = 12 }},
		{"opt-out word", "keywords[1]", func(c *optin.CampaignDoc) { c.Keywords = []string{"JOIN", "CANCEL"} }},
		{"help word", "keywords[0]", func(c *optin.CampaignDoc) { c.Keywords = []string{"INFO"} }},
		{"keyword clash on a number", "keywords", func(c *optin.CampaignDoc) { c.Keywords = []string{"JOIN", "NEWS"} }},
		{"too many segments", "help", func(c *optin.CampaignDoc) { c.Help = long }},
		{"marketing stop reply", "stop_reply", func(c *optin.CampaignDoc) { c.StopReply = "You're out. Get 20% off at acme.example/sale!" }},
		{"max segments", "max_segments", func(c *optin.CampaignDoc) { c.MaxSegments = 11 }},
	}
	for _, tt := range tests {
		c := base
		c.Keywords = append([]string(nil), base.Keywords...)
		tt.edit(&c)
		body, _ := json.Marshal(c)
		r := h.call("PUT", "/v1/tenants/demo/campaigns/deals", adminToken, string(body))
		var got struct{ Error, Field string }
		_ = json.Unmarshal([]byte(r.body), &got)
		if r.status != http.StatusBadRequest || got.Field != tt.field || got.Error == "" {
			t.Errorf("%s: %d %s; want 400 naming %s", tt.name, r.status, r.body, tt.field)
		}
	}
	if r := h.call("PUT", "/v1/tenants/demo/campaigns/deals", adminToken, `{"code_length":"six"}`); r.status != 400 || !strings.Contains(r.body, `"field":"code_length"`) {
		t.Errorf("code_length of the wrong type: %d %s; want 400 naming code_length", r.status, r.body)
	}
	// A number whose campaigns clash, and an unknown pack.
	for name, tt := range map[string]struct{ body, field string }{
		"unknown campaign": {`{"campaigns":["deals","nope"],"stop_reply":"` + stopReply + `"}`, "campaigns[1]"},
		"unknown pack":     {`{"campaigns":["deals"],"stop_reply":"` + stopReply + `","keyword_packs":["xx"]}`, "keyword_packs[0]"},
		"reply mode":       {`{"campaigns":["deals"],"stop_reply":"` + stopReply + `","reply_mode":"fax"}`, "reply_mode"},
		"no stop reply":    {`{"campaigns":["deals"]}`, "stop_reply"},
	} {
		r := h.call("PUT", "/v1/tenants/demo/numbers/%2B12025550109", adminToken, tt.body)
		if r.status != 400 || !strings.Contains(r.body, `"field":"`+tt.field+`"`) {
			t.Errorf("number, %s: %d %s; want 400 naming %s", name, r.status, r.body, tt.field)
		}
	}
	// Nothing changed: deals is still version 1 and JOIN still prompts.
	if r := h.call("GET", "/v1/tenants/demo/campaigns/deals", adminToken, ""); !strings.Contains(r.body, `"version":1`) {
		t.Errorf("deals after refused changes: %s; want version 1", r.body)
	}
	if got := h.sms(person, bizNumber, "JOIN"); len(got) != 1 || !strings.HasPrefix(got[0], "Reply ") {
		t.Errorf("JOIN after refused changes: %q; want a prompt", got)
	}
}

// TestConfigChangesApply: a dry run changes nothing; a change applies at
// once on this instance and within a poll on another; deleting a campaign
// a number uses is refused.
func TestConfigChangesApply(t *testing.T) {
	h := newAdminHarness(t)
	other, err := gateway.New(gateway.Options{PublicURL: publicURL, TwilioAuthToken: twilioToken, AdminToken: adminToken,
		Store: h.store, Services: gateway.Services{Config: h.store}, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() { defer close(watched); other.WatchConfig(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() { cancel(); <-watched })

	newNum := "+12025550109"
	body := `{"campaigns":["news"],"stop_reply":"` + stopReply + `"}`
	r := h.call("PUT", "/v1/tenants/demo/numbers/"+url.PathEscape(newNum)+"?dry_run=true", adminToken, body)
	if r.status != 200 || !strings.Contains(r.body, `"action":"create"`) || !strings.Contains(r.body, `"field":"campaigns"`) {
		t.Fatalf("dry run: %d %s", r.status, r.body)
	}
	if r := h.post(inboundForm(newSid(), person, newNum, "NEWS")); r.status != http.StatusNotFound {
		t.Fatalf("sms to a number only dry-run: %d; want 404", r.status)
	}
	if r := h.call("PUT", "/v1/tenants/demo/numbers/"+newNum, adminToken, body); r.status != http.StatusCreated {
		t.Fatalf("PUT number: %d %s; want 201", r.status, r.body)
	}
	if got := h.sms(person, newNum, "NEWS"); len(got) != 1 || !strings.HasPrefix(got[0], "Reply ") {
		t.Fatalf("NEWS to the new number: %q; want a prompt", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		form := inboundForm(newSid(), person, newNum, "HELP")
		req, _ := http.NewRequest("POST", publicURL+webhookPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(twilio.SignatureHeader, twilio.Sign(twilioToken, publicURL+webhookPath, form))
		rec := httptest.NewRecorder()
		other.Handler().ServeHTTP(rec, req)
		if rec.Code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("other instance: %d five seconds after the change; want 200", rec.Code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r = h.call("DELETE", "/v1/tenants/demo/campaigns/news", adminToken, "")
	if r.status != http.StatusConflict || !strings.Contains(r.body, `"field":"campaigns"`) {
		t.Fatalf("DELETE a campaign in use: %d %s; want 409 naming campaigns", r.status, r.body)
	}
	r = h.call("DELETE", "/v1/tenants/demo/numbers/"+newNum+"?dry_run=true", adminToken, "")
	if r.status != 200 || !strings.Contains(r.body, `"action":"delete"`) {
		t.Fatalf("dry-run DELETE: %d %s", r.status, r.body)
	}
	if r := h.call("DELETE", "/v1/tenants/demo/numbers/"+newNum, adminToken, ""); r.status != http.StatusNoContent {
		t.Fatalf("DELETE number: %d %s", r.status, r.body)
	}
	if r := h.post(inboundForm(newSid(), person, newNum, "NEWS")); r.status != http.StatusNotFound {
		t.Fatalf("sms to a deleted number: %d; want 404", r.status)
	}
	// A campaign change carries its version into the events.
	c := testConfig().Campaigns["demo"]["deals"]
	c.Help = "ACME Deals: call 1-202-555-0199. Up to 4 msg/mo. Msg&data rates may apply. Reply STOP to cancel."
	b, _ := json.Marshal(c)
	if r := h.call("PUT", "/v1/tenants/demo/campaigns/deals", adminToken, string(b)); r.status != 200 || !strings.Contains(r.body, `"version":2`) {
		t.Fatalf("PUT deals: %d %s; want version 2", r.status, r.body)
	}
	if got := h.sms("+12125550124", bizNumber, "HELP"); len(got) != 1 || got[0] != c.Help {
		t.Fatalf("HELP after the change: %q; want %q", got, c.Help)
	}
}

// TestRevocationFromAnotherChannel: a revocation by email 12 business days
// back is applied at once, shows as late in the lookup, and counts in the
// metrics; the opt-out by hand needs a reason; both are in the access log.
func TestRevocationFromAnotherChannel(t *testing.T) {
	h := newAdminHarness(t)
	// Monday 30 November 2026, 10:00 Eastern; 12 business days earlier is
	// Tuesday 10 November (Veterans Day, 11 November, and Thanksgiving, 26
	// November, are no business days).
	h.clock.now = time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC)
	code := codeIn(t, h.sms(person, bizNumber, "JOIN")[0])
	h.sms(person, bizNumber, code)
	_, sup := h.token("demo", optin.RoleSupport)
	_, aud := h.token("demo", optin.RoleAuditor)
	sub := "/v1/tenants/demo/subscribers/" + url.PathEscape(person)

	r := h.call("POST", sub+"/revocations", sup, `{"channel":"fax","revoked_at":"2026-11-12T10:00:00-05:00"}`)
	if r.status != 400 || !strings.Contains(r.body, `"field":"channel"`) {
		t.Fatalf("unknown channel: %d %s; want 400 naming channel", r.status, r.body)
	}
	r = h.call("POST", sub+"/revocations", sup, `{"channel":"email","revoked_at":"2026-11-10T10:00:00-05:00","note":"email to support"}`)
	var got struct {
		BusinessDays int  `json:"business_days"`
		Late         bool `json:"late"`
		Campaigns    []struct{ Campaign, State string }
		Revocations  []struct {
			Channel      string
			BusinessDays int `json:"business_days"`
			Late         bool
		}
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != http.StatusCreated {
		t.Fatalf("POST revocation: %d %s", r.status, r.body)
	}
	if got.BusinessDays != 12 || !got.Late {
		t.Fatalf("revocation: business_days %d late %v; want 12 true", got.BusinessDays, got.Late)
	}
	for _, c := range got.Campaigns {
		if c.State != "unsubscribed" {
			t.Errorf("campaign %s: %s; want unsubscribed", c.Campaign, c.State)
		}
	}
	r = h.call("GET", sub, sup, "", gateway.ReasonHeader, "ticket 4711")
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || len(got.Revocations) != 1 || got.Revocations[0].BusinessDays != 12 || !got.Revocations[0].Late || got.Revocations[0].Channel != "email" {
		t.Fatalf("lookup: %s; want one late email revocation of 12 business days", r.body)
	}
	lines := h.scrape()
	if !lines["optin_revocation_breaches_total 1"] || !lines[`optin_revocation_delay_business_days_bucket{le="10"} 0`] || !lines[`optin_revocation_delay_business_days_bucket{le="15"} 1`] {
		t.Errorf("metrics: want one breach and one delay in (10, 15]")
	}
	if !h.logged("compliance breach: revocation applied late") {
		t.Error("no compliance breach logged")
	}

	// Opt-out by hand: the reason is required.
	if r := h.call("POST", sub+"/opt-out", sup, `{"campaign":"news"}`); r.status != 400 || !strings.Contains(r.body, `"field":"reason"`) {
		t.Fatalf("opt-out without a reason: %d %s; want 400 naming reason", r.status, r.body)
	}
	if r := h.call("POST", sub+"/opt-out", sup, `{"campaign":"nope","reason":"x"}`); r.status != 400 || !strings.Contains(r.body, `"field":"campaign"`) {
		t.Fatalf("opt-out of an unknown campaign: %d %s; want 400 naming campaign", r.status, r.body)
	}
	if r := h.call("POST", sub+"/opt-out", sup, `{"campaign":"news","reason":"asked on the phone"}`); r.status != 200 {
		t.Fatalf("opt-out: %d %s", r.status, r.body)
	}
	r = h.call("GET", sub+"/history", sup, "")
	if r.status != 200 || !strings.Contains(r.body, `"channel":"support"`) || !strings.Contains(r.body, `"note":"asked on the phone"`) {
		t.Fatalf("history: %d %s; want the opt-out by hand with its reason", r.status, r.body)
	}

	// The access log, newest first, to the auditor.
	r = h.call("GET", "/v1/tenants/demo/access-log", aud, "")
	var log struct {
		Items []optin.AccessEntry `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.body), &log); err != nil || r.status != 200 {
		t.Fatalf("access log: %d %s", r.status, r.body)
	}
	var actions []string
	for _, e := range log.Items {
		actions = append(actions, e.Action)
	}
	if want := "history opt_out lookup revocation"; strings.Join(actions, " ") != want {
		t.Fatalf("access log actions %q; want %q", strings.Join(actions, " "), want)
	}
	if e := log.Items[2]; e.Reason != "ticket 4711" || e.Role != optin.RoleSupport || e.Subscriber == "" || e.Actor == "" {
		t.Errorf("lookup entry %+v; want its reason, role, actor and subscriber", e)
	}
	if r := h.call("GET", "/v1/tenants/demo/access-log?limit=0", aud, ""); r.status != 400 || !strings.Contains(r.body, `"field":"limit"`) {
		t.Errorf("limit=0: %d %s; want 400 naming limit", r.status, r.body)
	}
}

// logged reports whether a log line with message msg was written.
func (h *harness) logged(msg string) bool {
	return h.logs.FilterMessage(msg).Len() > 0
}
