package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/browsertest"
)

// Texts a subscriber sends that cause transitions, so that the gateway
// stores them (as read) and the console shows them: a revocation phrase
// around a script element, and a repeated revocation with terminal escape
// sequences inside.
const (
	scriptSMS = "remove me <script>alert(1)</script> please"
	escapeSMS = "take me off \x1b[31mnow\x1b[0m"
)

// newSupportToken creates a token of role on tenant demo through the API.
func (h *harness) newToken(tenant, role string) (id, token string) {
	h.tb.Helper()
	r := h.call(http.MethodPost, "/v1/tenants/"+tenant+"/tokens", adminToken, `{"role":"`+role+`","name":"console test"}`)
	if r.status != http.StatusCreated {
		h.tb.Fatalf("create %s token: status %d %s; want 201", role, r.status, r.body)
	}
	var v struct{ ID, Token string }
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		h.tb.Fatal(err)
	}
	return v.ID, v.Token
}

// consoleSubscriber makes person a subscriber of deals whose history
// holds scriptSMS and escapeSMS: JOIN, code, the two revocations, JOIN,
// code.
func (h *harness) consoleSubscriber(from string) {
	h.tb.Helper()
	h.sms(from, bizNumber, h.codeOf(from))
	h.sms(from, bizNumber, scriptSMS)
	h.sms(from, bizNumber, escapeSMS)
	h.sms(from, bizNumber, h.codeOf(from))
}

// supportConsole makes person a subscriber (consoleSubscriber) and
// returns a console client signed in with a new support token of demo,
// with the token's id and secret.
func (h *harness) supportConsole() (cc *consoleClient, id, token string) {
	h.tb.Helper()
	id, token = h.newToken("demo", "support")
	h.consoleSubscriber(person)
	cc = h.consoleClient()
	cc.signIn(token, "")
	return cc, id, token
}

// codeOf sends JOIN from from and returns the code of the prompt.
func (h *harness) codeOf(from string) string {
	h.tb.Helper()
	return codeIn(h.tb, h.sms(from, bizNumber, "JOIN")[0])
}

// accessActions lists the actions of tenant demo's access log, newest first.
func (h *harness) accessActions() []string {
	h.tb.Helper()
	r := h.get("/v1/tenants/demo/access-log", adminToken)
	if r.status != http.StatusOK {
		h.tb.Fatalf("access log: status %d %s", r.status, r.body)
	}
	var v struct {
		Items []struct{ Action, Reason string }
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		h.tb.Fatal(err)
	}
	var out []string
	for _, it := range v.Items {
		out = append(out, it.Action+":"+it.Reason)
	}
	return out
}

// TestConsoleInBrowser drives the support console in headless Chromium:
// sign in, search, reveal, read the timeline, opt out, see the new state.
func TestConsoleInBrowser(t *testing.T) {
	h := newAdminHarness(t)
	_, token := h.newToken("demo", "support")
	h.consoleSubscriber(person)

	ctx := browsertest.Start(t)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	submit := func(name, button string) {
		t.Helper()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(button)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("%s: status %d; want 200", name, resp.Status)
		}
		browsertest.Screenshot(t, ctx, name)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	// Sign in.
	step("open", chromedp.Navigate(h.http.URL+"/console"))
	browsertest.Screenshot(t, ctx, "1-sign-in-page")
	step("type token", chromedp.SendKeys(chromedp.ID("token"), token))
	submit("2-signed-in", "sign-in")
	if got := text("#tenant"); got != "demo" {
		t.Fatalf("tenant shown = %q; want demo", got)
	}

	// Search: the number is masked.
	step("type search", chromedp.SendKeys(chromedp.ID("phone"), person), chromedp.SendKeys(chromedp.ID("search-reason"), "ticket 42"))
	submit("3-search", "search")
	if got, want := text("#number"), "+1212•••0123"; got != want {
		t.Errorf("number after search = %q; want %q", got, want)
	}
	if got := text("#states tr[data-campaign=deals] .state"); got != "subscribed" {
		t.Errorf("deals state = %q; want subscribed", got)
	}

	// The timeline shows the texts as text: no script element, the
	// escape character made visible.
	timeline := text("#timeline")
	for _, want := range []string{"<script>alert(1)</script>", `\x1b[31mnow\x1b[0m`, dealsConfirm, stopReply, "phrase"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	if strings.Contains(timeline, "\x1b") {
		t.Errorf("timeline holds a raw ESC:\n%s", timeline)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
	if err != nil {
		t.Fatal(err)
	}
	if scripts != 0 {
		t.Errorf("%d script elements in the page; want 0", scripts)
	}

	// Reveal: the whole number, and a reveal in the access log.
	step("type reveal reason", chromedp.SendKeys(chromedp.ID("reveal-reason"), "caller verified"))
	submit("4-revealed", "reveal")
	if got := text("#number"); got != person {
		t.Errorf("number after reveal = %q; want %q", got, person)
	}
	if got := h.accessActions(); len(got) < 2 || got[0] != "reveal:caller verified" || got[1] != "lookup:ticket 42" {
		t.Errorf("access log = %q; want reveal, then lookup, with their reasons", got)
	}

	// Opt out of deals with a reason; the page shows the new state.
	step("fill opt-out", chromedp.SetValue(chromedp.ID("opt-out-campaign"), "deals"),
		chromedp.SendKeys(chromedp.ID("opt-out-reason"), "asked by phone"))
	submit("5-opted-out", "opt-out")
	if got := text("#states tr[data-campaign=deals] .state"); got != "unsubscribed" {
		t.Errorf("deals state after opt-out = %q; want unsubscribed", got)
	}
	if got := text("#notice"); !strings.Contains(got, "deals") {
		t.Errorf("notice = %q; want it to name deals", got)
	}
	if got := text("#timeline li:first-child"); !strings.Contains(got, "asked by phone") || !strings.Contains(got, "support") {
		t.Errorf("newest event = %q; want the opt-out by hand with its reason", got)
	}
	if got := h.campaignState("demo", person, "deals"); got != "unsubscribed" {
		t.Errorf("API state of deals = %q; want unsubscribed", got)
	}

	// Sign out: back to the sign-in page.
	submit("6-signed-out", "sign-out")
	if _, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("sign-in-form"))); err != nil {
		t.Errorf("no sign-in form after sign-out: %v", err)
	}
}

// consoleClient is a browser without JavaScript: a cookie jar, forms
// posted with the CSRF tokens of the last page.
type consoleClient struct {
	h      *harness
	client *http.Client
	page   reply
}

func (h *harness) consoleClient() *consoleClient {
	h.tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		h.tb.Fatal(err)
	}
	return &consoleClient{h: h, client: &http.Client{Jar: jar}}
}

func (cc *consoleClient) do(req *http.Request) reply {
	cc.h.tb.Helper()
	resp, err := cc.client.Do(req)
	if err != nil {
		cc.h.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		cc.h.tb.Fatal(err)
	}
	cc.page = reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
	return cc.page
}

// post sends form to the console's path, with header pairs.
func (cc *consoleClient) post(path string, form url.Values, header ...string) reply {
	cc.h.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, cc.h.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		cc.h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return cc.do(req)
}

func (cc *consoleClient) get(path string) reply {
	cc.h.tb.Helper()
	req, err := http.NewRequest(http.MethodGet, cc.h.http.URL+path, nil)
	if err != nil {
		cc.h.tb.Fatal(err)
	}
	return cc.do(req)
}

// signIn posts token (and tenant, for the operator) and wants the search page.
func (cc *consoleClient) signIn(token, tenant string) {
	cc.h.tb.Helper()
	r := cc.post("/console/sign-in", url.Values{"token": {token}, "tenant": {tenant}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="sign-out"`) {
		cc.h.tb.Fatalf("sign in: status %d; want 200 and a signed-in page:\n%s", r.status, r.body)
	}
}

var (
	csrfRe   = regexp.MustCompile(`action="(/console/[a-z-]+)"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"`)
	handleRe = regexp.MustCompile(`name="handle" value="([^"]+)"`)
)

// form is the fields of the last page's form to path, with its CSRF token
// and the subscriber's handle.
func (cc *consoleClient) form(path string, kv ...string) url.Values {
	cc.h.tb.Helper()
	f := url.Values{}
	for _, m := range csrfRe.FindAllStringSubmatch(cc.page.body, -1) {
		if m[1] == path {
			f.Set("csrf", html.UnescapeString(m[2]))
		}
	}
	if f.Get("csrf") == "" {
		cc.h.tb.Fatalf("no form to %s on the page:\n%s", path, cc.page.body)
	}
	if m := handleRe.FindStringSubmatch(cc.page.body); m != nil && path != "/console/search" {
		f.Set("handle", html.UnescapeString(m[1]))
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// search looks phone up and wants 200.
func (cc *consoleClient) search(phone, reason string) reply {
	cc.h.tb.Helper()
	r := cc.post("/console/search", cc.form("/console/search", "phone", phone, "reason", reason))
	if r.status != http.StatusOK {
		cc.h.tb.Fatalf("search: status %d; want 200:\n%s", r.status, r.body)
	}
	return r
}

// TestConsoleHeaders checks the security headers of every console page
// and the session cookie's attributes: Secure only over HTTPS, which
// X-Forwarded-Proto tells only from a trusted (loopback or private) peer.
func TestConsoleHeaders(t *testing.T) {
	h := newAdminHarness(t)
	_, token := h.newToken("demo", "support")
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	cc := h.consoleClient()
	pages := map[string]reply{"sign-in page": cc.get("/console")}
	cc.signIn(token, "")
	pages["search page"] = cc.page
	pages["subscriber page"] = cc.search(person, "headers")
	pages["bad csrf"] = cc.post("/console/search", url.Values{"csrf": {"x"}})
	for name, r := range pages {
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q; want %q", name, k, got, v)
			}
		}
		if strings.Contains(strings.ToLower(r.body), "<script") {
			t.Errorf("%s holds a script element", name)
		}
	}

	signIn := func(remote, proto string) *http.Cookie {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, "/console/sign-in", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = remote
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		rec := httptest.NewRecorder()
		h.srv.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("sign in from %s (%q): status %d; want 303", remote, proto, rec.Code)
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("sign in: %d cookies; want 1", len(cookies))
		}
		return cookies[0]
	}
	for _, tt := range []struct {
		name, remote, proto string
		secure              bool
	}{
		{"plain HTTP", "127.0.0.1:40000", "", false},
		{"HTTPS behind a loopback proxy", "127.0.0.1:40000", "https", true},
		{"HTTPS behind a private proxy", "10.0.0.7:40000", "https", true},
		{"X-Forwarded-Proto from a public peer", "203.0.113.9:40000", "https", false},
	} {
		ck := signIn(tt.remote, tt.proto)
		if ck.Secure != tt.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console" {
			t.Errorf("%s: cookie Secure=%v HttpOnly=%v SameSite=%v Path=%q; want Secure=%v, HttpOnly, Strict, /console",
				tt.name, ck.Secure, ck.HttpOnly, ck.SameSite, ck.Path, tt.secure)
		}
		if strings.Contains(ck.Value, token) || strings.Contains(ck.Value, "ogt_") {
			t.Errorf("%s: the cookie shows the token in clear", tt.name)
		}
	}
}

// TestConsoleCSRF refuses forms without the session's token for their
// action or from another site: 403, nothing done, nothing recorded.
func TestConsoleCSRF(t *testing.T) {
	h := newAdminHarness(t)
	cc, _, token := h.supportConsole()
	cc.search(person, "before")
	optOut := cc.form("/console/opt-out", "campaign", "deals", "reason", "forged")
	reveal := cc.form("/console/reveal", "reason", "forged")
	wrongAction := url.Values{}
	for k, v := range optOut {
		wrongAction[k] = v
	}
	wrongAction.Set("csrf", reveal.Get("csrf")) // the reveal form's token on the opt-out form
	noToken := url.Values{}
	for k, v := range optOut {
		noToken[k] = v
	}
	noToken.Del("csrf")
	for _, tt := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", noToken, nil},
		{"another form's token", wrongAction, nil},
		{"cross-site", optOut, []string{"Sec-Fetch-Site", "cross-site"}},
		{"another origin", optOut, []string{"Origin", "https://evil.example"}},
		{"null origin without Sec-Fetch-Site", optOut, []string{"Origin", "null"}},
	} {
		r := cc.post("/console/opt-out", tt.form, tt.header...)
		if r.status != http.StatusForbidden || !strings.Contains(r.body, "reload the page") {
			t.Errorf("%s: status %d; want 403 with the stale-form page:\n%s", tt.name, r.status, r.body)
		}
	}
	if got := h.accessActions(); len(got) != 1 || got[0] != "lookup:before" {
		t.Errorf("access log = %q; want only the search", got)
	}
	if got := h.campaignState("demo", person, "deals"); got != "subscribed" {
		t.Errorf("deals after forged opt-outs = %q; want subscribed", got)
	}
	// A session of another sign-in (another CSRF secret) does not accept
	// this session's tokens either.
	other := h.consoleClient()
	other.signIn(token, "")
	if r := other.post("/console/opt-out", optOut); r.status != http.StatusForbidden {
		t.Errorf("another session's token: status %d; want 403", r.status)
	}
	// The same form, genuine, works: the reason is required.
	cc.search(person, "again")
	r := cc.post("/console/opt-out", cc.form("/console/opt-out", "campaign", "deals", "reason", " "))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, "A reason is required") {
		t.Errorf("opt-out without reason: status %d; want 400 naming the reason", r.status)
	}
	if got := h.campaignState("demo", person, "deals"); got != "subscribed" {
		t.Errorf("deals after an opt-out without reason = %q; want subscribed", got)
	}
	r = cc.post("/console/opt-out", cc.form("/console/opt-out", "campaign", "deals", "reason", "asked"))
	if r.status != http.StatusOK || h.campaignState("demo", person, "deals") != "unsubscribed" {
		t.Errorf("genuine opt-out: status %d, deals %s; want 200, unsubscribed", r.status, h.campaignState("demo", person, "deals"))
	}
}

// TestConsoleSessions: a revoked token ends its session on the next
// request; a handle of one tenant means nothing in another's session; a
// bad token, an operator without tenant and a role without lookups get
// clear pages.
func TestConsoleSessions(t *testing.T) {
	h := newAdminHarness(t)
	cc, id, _ := h.supportConsole()
	cc.search(person, "revocation test")
	reveal := cc.form("/console/reveal", "reason", "after revocation")
	if r := h.call(http.MethodDelete, "/v1/tenants/demo/tokens/"+id, adminToken, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete token: status %d", r.status)
	}
	r := cc.post("/console/reveal", reveal)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `id="sign-in-form"`) || strings.Contains(html.UnescapeString(r.body), person) {
		t.Errorf("reveal after the token's revocation: status %d; want 401 and the sign-in page without the number:\n%s", r.status, r.body)
	}
	if r := cc.get("/console"); !strings.Contains(r.body, `id="sign-in-form"`) {
		t.Errorf("GET /console after revocation is not the sign-in page:\n%s", r.body)
	}
	if got := h.accessActions(); len(got) != 1 {
		t.Errorf("access log = %q; want the search only", got)
	}

	// A handle from tenant demo in a session of tenant other: not found.
	_, demoTok := h.newToken("demo", "support")
	_, otherTok := h.newToken("other", "support")
	demo := h.consoleClient()
	demo.signIn(demoTok, "")
	demo.search(person, "handle test")
	handleForm := demo.form("/console/reveal", "reason", "cross tenant")
	other := h.consoleClient()
	other.signIn(otherTok, "")
	f := other.form("/console/search")
	f.Set("handle", handleForm.Get("handle"))
	f.Set("reason", "cross tenant")
	if r := other.post("/console/search", f); r.status != http.StatusNotFound || strings.Contains(html.UnescapeString(r.body), person) || strings.Contains(r.body, "•••0123") {
		t.Errorf("another tenant's handle: status %d; want 404 without the number:\n%s", r.status, r.body)
	}
	// Operator: signs in with a tenant; without one, a clear refusal.
	op := h.consoleClient()
	if r := op.post("/console/sign-in", url.Values{"token": {adminToken}}); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "needs the id of an existing tenant") {
		t.Errorf("operator without tenant: status %d; want 401 asking for the tenant", r.status)
	}
	op.signIn(adminToken, "demo")
	op.search(person, "operator")
	// Bad token, bad number, auditor.
	if r := h.consoleClient().post("/console/sign-in", url.Values{"token": {"ogt_nope"}}); r.status != http.StatusUnauthorized || !strings.Contains(r.body, "not valid") {
		t.Errorf("bad token: status %d; want 401 saying the token is not valid", r.status)
	}
	if r := demo.post("/console/search", demo.form("/console/search", "phone", "12345", "reason", "typo")); r.status != http.StatusBadRequest ||
		!strings.Contains(r.body, "international form") || !strings.Contains(r.body, `id="search-form"`) {
		t.Errorf("bad number: status %d; want 400 explaining the form, search form kept:\n%s", r.status, r.body)
	}
	if r := demo.post("/console/search", demo.form("/console/search", "phone", person)); r.status != http.StatusBadRequest || !strings.Contains(r.body, "A reason is required") {
		t.Errorf("search without reason: status %d; want 400", r.status)
	}
	_, audTok := h.newToken("demo", "auditor")
	aud := h.consoleClient()
	aud.signIn(audTok, "")
	if !strings.Contains(aud.page.body, "may not look subscribers up") || strings.Contains(aud.page.body, `id="search-form"`) {
		t.Errorf("auditor's page offers a search:\n%s", aud.page.body)
	}
}

// TestConsoleLogsHoldNoPersonalData runs a whole console session (search,
// reveal, opt-out) and scans every log line for the number, the token,
// the subscriber's texts (script element, escape sequence) and the
// agent's reasons.
func TestConsoleLogsHoldNoPersonalData(t *testing.T) {
	h := newAdminHarness(t)
	cc, _, token := h.supportConsole()
	cc.search(person, "reason-search-7731")
	if r := cc.post("/console/reveal", cc.form("/console/reveal", "reason", "reason-reveal-7732")); r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), person) {
		t.Fatalf("reveal: status %d; want 200 with the number", r.status)
	}
	if r := cc.post("/console/opt-out", cc.form("/console/opt-out", "campaign", "*", "reason", "reason-optout-7733")); r.status != http.StatusOK {
		t.Fatalf("opt-out: status %d; want 200", r.status)
	}
	cc.post("/console/search", cc.form("/console/search", "phone", person+"<script>\x1b[31m", "reason", "bad input"))
	secrets := []string{person, person[1:], person[2:], token, "<script", "script>", "\x1b", "alert(1)",
		"reason-search", "reason-reveal", "reason-optout", "take me off", "remove me"}
	lines := h.logs.All()
	consoleLines := 0
	for _, e := range lines {
		line := logLine(e)
		if strings.Contains(line, "/console") {
			consoleLines++
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line holds %q: %q", s, line)
			}
		}
	}
	if consoleLines < 4 {
		t.Errorf("%d log lines of console routes; want one per request", consoleLines)
	}
}

// TestConsoleSessionAcrossGateways: the session lives in Redis, so a
// second gateway on the same Redis accepts its cookie, and with the same
// key material the subscriber handles of the first; a gateway on another
// Redis does not know the session.
func TestConsoleSessionAcrossGateways(t *testing.T) {
	key := bytes.Repeat([]byte{0x5a}, 32) // a generated test key, no secret
	withKey := func(k []byte) func(*gateway.Options) { return func(o *gateway.Options) { o.Console.Key = k } }
	h := newAdminHarness(t, withKey(key))
	twin := newHarnessOn(t, h.redis.URL(), adminOptions(t), withKey(key))
	stranger := newAdminHarness(t, withKey(key))
	cc, _, _ := h.supportConsole()
	cc.search(person, "across gateways")
	reveal := cc.form("/console/reveal", "reason", "on the twin")
	u, _ := url.Parse(h.http.URL + "/console")
	cookies := cc.client.Jar.Cookies(u)
	// send GETs /console, or POSTs form to /console/reveal, with the cookie.
	send := func(h *harness, form url.Values) reply {
		t.Helper()
		method, path, body := http.MethodGet, "/console", io.Reader(nil)
		if form != nil {
			method, path, body = http.MethodPost, "/console/reveal", strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, h.http.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return h.do(req)
	}
	for _, tt := range []struct {
		name     string
		h        *harness
		signedIn bool
	}{{"same Redis", twin, true}, {"another Redis", stranger, false}} {
		r := send(tt.h, nil)
		if got := strings.Contains(r.body, `id="sign-out"`); r.status != http.StatusOK || got != tt.signedIn {
			t.Errorf("%s: status %d, signed in %v; want 200, %v", tt.name, r.status, got, tt.signedIn)
		}
	}
	if r := send(twin, reveal); r.status != http.StatusOK || !strings.Contains(html.UnescapeString(r.body), person) {
		t.Errorf("reveal on the twin with the first gateway's handle: status %d; want 200 with the number", r.status)
	}
}
