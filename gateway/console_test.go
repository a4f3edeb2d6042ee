package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
