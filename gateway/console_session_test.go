package gateway_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
)

// consoleSessionKeys returns the names of the console session records in
// the harness's Redis.
func (h *harness) consoleSessionKeys() []string {
	h.tb.Helper()
	keys, err := h.rdb.Keys(context.Background(), "og:{console}:sess:*").Result()
	if err != nil {
		h.tb.Fatal(err)
	}
	return keys
}

// signedIn reports whether GET /console shows a signed-in page.
func (cc *consoleClient) signedIn() bool {
	cc.h.tb.Helper()
	r := cc.get("/console")
	if r.status != http.StatusOK {
		cc.h.tb.Fatalf("GET /console: status %d", r.status)
	}
	return strings.Contains(r.body, `id="sign-out"`)
}

// copyOf is another browser holding a copy of cc's session cookie.
func (cc *consoleClient) copyOf() *consoleClient {
	cc.h.tb.Helper()
	u, _ := url.Parse(cc.h.http.URL + "/console")
	jar, err := cookiejar.New(nil)
	if err != nil {
		cc.h.tb.Fatal(err)
	}
	jar.SetCookies(u, cc.client.Jar.Cookies(u))
	return &consoleClient{h: cc.h, client: &http.Client{Jar: jar}}
}

// TestConsoleSignOutEndsEveryCopy: signing out deletes the session on the
// server, so a copy of the cookie taken before (another browser, a stolen
// cookie) stops working at once, for pages and for forms.
func TestConsoleSignOutEndsEveryCopy(t *testing.T) {
	h := newAdminHarness(t)
	cc, _, _ := h.supportConsole()
	records := h.consoleSessionKeys()
	cookies := cc.client.Jar.Cookies(mustURL(t, h.http.URL+"/console"))
	stolen := cc.copyOf()
	if !stolen.signedIn() {
		t.Fatal("the copied cookie is not signed in before sign-out")
	}
	search := stolen.form("/console/search", "phone", person, "reason", "stolen cookie")
	if r := cc.post("/console/sign-out", cc.form("/console/sign-out")); r.status != http.StatusOK || !strings.Contains(r.body, `id="sign-in-form"`) {
		t.Fatalf("sign out: status %d; want 200 and the sign-in page", r.status)
	}
	if stolen.signedIn() {
		t.Error("the copied cookie is still signed in after sign-out")
	}
	r := stolen.post("/console/search", search)
	if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `id="sign-in-form"`) || strings.Contains(r.body, "•••0123") {
		t.Errorf("search with the copied cookie after sign-out: status %d; want 401 and the sign-in page:\n%s", r.status, r.body)
	}
	if got := h.accessActions(); len(got) != 0 {
		t.Errorf("access log = %q; want nothing", got)
	}
	// The record, one per session, is named by a hash of the cookie's
	// value, not by the value; sign-out deleted it.
	if len(records) != 1 {
		t.Errorf("%d session records after sign-in; want 1", len(records))
	}
	for _, k := range records {
		for _, ck := range cookies {
			if strings.Contains(k, ck.Value) {
				t.Errorf("the session record %s is named by the cookie's value", k)
			}
		}
	}
	if n := len(h.consoleSessionKeys()); n != 0 {
		t.Errorf("%d session records after sign-out; want 0", n)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestConsoleRevokedTokenEndsItsSessions: deleting a token through the
// admin API deletes every console session it opened, and only those; an
// operator session ends when OPTIN_ADMIN_TOKEN changes.
func TestConsoleRevokedTokenEndsItsSessions(t *testing.T) {
	h := newAdminHarness(t)
	id, token := h.newToken("demo", "support")
	_, kept := h.newToken("demo", "support")
	first, second, other := h.consoleClient(), h.consoleClient(), h.consoleClient()
	first.signIn(token, "")
	second.signIn(token, "")
	other.signIn(kept, "")
	if n := len(h.consoleSessionKeys()); n != 3 {
		t.Fatalf("%d session records; want 3", n)
	}
	if r := h.call(http.MethodDelete, "/v1/tenants/demo/tokens/"+id, adminToken, ""); r.status != http.StatusNoContent {
		t.Fatalf("delete token: status %d", r.status)
	}
	if n := len(h.consoleSessionKeys()); n != 1 {
		t.Errorf("%d session records after the revocation; want 1 (the other token's)", n)
	}
	if n := h.rdb.Exists(context.Background(), "og:{console}:tok:"+id).Val(); n != 0 {
		t.Errorf("the revoked token's set of sessions is still there")
	}
	for name, cc := range map[string]*consoleClient{"first": first, "second": second} {
		if cc.signedIn() {
			t.Errorf("%s session of the revoked token is still signed in", name)
		}
	}
	if !other.signedIn() {
		t.Error("the other token's session ended with the revocation")
	}

	// The operator's session, on a gateway of the same Redis whose
	// operator token is another: ended, everywhere.
	op := h.consoleClient()
	op.signIn(adminToken, "demo")
	rotated := newHarnessOn(t, h.redis.URL(), adminOptions(t), func(o *gateway.Options) { o.AdminToken = "another-admin-token-0123456789" })
	moved := op.copyOf() // cookies name no port: the jar sends it to rotated too
	moved.h = rotated
	if moved.signedIn() {
		t.Error("an operator session survives a change of the operator token")
	}
	if op.signedIn() {
		t.Error("the ended operator session still works on the gateway that opened it")
	}
}

// TestConsoleIdleTimeout: a session not used for the idle timeout ends,
// each request restarts the count, and no session outlives 8 hours
// however busy (the gateway's fake clock).
func TestConsoleIdleTimeout(t *testing.T) {
	h := newAdminHarness(t)
	_, token := h.newToken("demo", "support")
	cc := h.consoleClient()
	cc.signIn(token, "")
	idleFor(t, h, cc, 29*time.Minute, true, "signed out after 29 idle minutes; want signed in (default 30m)")
	idleFor(t, h, cc, 29*time.Minute, true, "signed out 29 minutes after the last request; want signed in")
	idleFor(t, h, cc, 30*time.Minute, false, "still signed in after 30 idle minutes")
	if n := len(h.consoleSessionKeys()); n != 0 {
		t.Errorf("%d session records after the idle timeout; want 0", n)
	}

	busy := h.consoleClient()
	busy.signIn(token, "")
	for elapsed := 20 * time.Minute; elapsed <= gateway.ConsoleSessionMax; elapsed += 20 * time.Minute {
		h.clock.Advance(20 * time.Minute)
		if got, want := busy.signedIn(), elapsed < gateway.ConsoleSessionMax; got != want {
			t.Fatalf("a session used every 20 minutes, %v after sign-in: signed in %v; want %v", elapsed, got, want)
		}
	}

	// A shorter idle timeout, as OPTIN_CONSOLE_IDLE_TIMEOUT sets it.
	short := newAdminHarness(t, func(o *gateway.Options) { o.Console.Idle = 5 * time.Minute })
	_, tok := short.newToken("demo", "support")
	sc := short.consoleClient()
	sc.signIn(tok, "")
	idleFor(t, short, sc, 4*time.Minute, true, "idle timeout 5m: signed out after 4 minutes")
	idleFor(t, short, sc, 5*time.Minute, false, "idle timeout 5m: still signed in after 5 idle minutes")
}

// idleFor advances h's clock by d and fails with complaint unless cc is
// then signed in as want says.
func idleFor(t *testing.T, h *harness, cc *consoleClient, d time.Duration, want bool, complaint string) {
	t.Helper()
	h.clock.Advance(d)
	if cc.signedIn() != want {
		t.Fatal(complaint)
	}
}

// TestConsoleWithoutSessionStore: a gateway without a session store does
// not serve the console.
func TestConsoleWithoutSessionStore(t *testing.T) {
	h := newAdminHarness(t, func(o *gateway.Options) { o.Console.Sessions = nil })
	for _, path := range []string{"/console", "/console/console.css"} {
		if r := h.get(path, ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s: status %d; want 404", path, r.status)
		}
	}
	if r := h.consoleClient().post("/console/sign-in", url.Values{"token": {adminToken}, "tenant": {"demo"}}); r.status != http.StatusNotFound {
		t.Errorf("POST /console/sign-in: status %d; want 404", r.status)
	}
}
