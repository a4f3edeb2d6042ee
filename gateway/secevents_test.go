package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/security"
	"github.com/optin-gateway/optin-gateway/store"
)

// TestSecurityEventsReachTheStream: a bad signature, a bad token, a
// denied role, a token created, an export and consent checks become
// security events on the stream (the checks an access entry with their
// count), naming pseudonyms, tokens and route patterns, never a number.
func TestSecurityEventsReachTheStream(t *testing.T) {
	var sink *security.Sink
	h := newAdminHarness(t, func(o *gateway.Options) {
		sink = security.NewSink(security.Options{Backend: o.Store.(*store.Store)})
		o.Services.Security = sink
	})
	ctx := context.Background()
	h.sms(person, bizNumber, "JOIN")

	if r := h.postRaw(webhookPath, inboundForm(newSid(), person, bizNumber, "STOP").Encode(), "bm90IGEgc2lnbmF0dXJl"); r.status != http.StatusForbidden {
		t.Fatalf("forged webhook: %d; want 403", r.status)
	}
	if r := h.get("/v1/tenants/demo", "no-such-token-0123456789"); r.status != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d; want 401", r.status)
	}
	supportID, support := h.newToken("demo", "support")
	senderID, sender := h.newToken("demo", "sender")
	if r := h.get("/v1/tenants/demo/subscribers/%2B12125550123/export", sender); r.status != http.StatusForbidden {
		t.Fatalf("export by a sender token: %d; want 403", r.status)
	}
	if r := h.get("/v1/tenants/demo/subscribers/%2B12125550123/export", support); r.status != http.StatusOK {
		t.Fatalf("export by a support token: %d %s", r.status, r.body)
	}
	for range 3 {
		h.consent(sender, person, "")
	}
	if err := sink.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	byKind := map[string]security.Event{}
	if err := h.store.SecurityEvents(ctx, time.Time{}, func(raw []byte) error {
		if strings.Contains(string(raw), "2125550123") {
			t.Errorf("security event holds the number: %s", raw)
		}
		var e security.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		byKind[e.Kind] = e
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if e := byKind["bad_signature"]; e.Provider != "twilio" || e.Route != webhookPath || e.Source == "" {
		t.Errorf("bad_signature event = %+v; want provider twilio, the route, the source", e)
	}
	if _, ok := byKind["bad_token"]; !ok {
		t.Error("no bad_token event")
	}
	if e := byKind["forbidden"]; e.Actor != senderID || e.Route != "/v1/tenants/:tenant/subscribers/:phone/export" {
		t.Errorf("forbidden event = %+v; want the sender token on the export route pattern", e)
	}
	if e := byKind["token_created"]; e.Actor != "operator" || (e.Target != supportID && e.Target != senderID) {
		t.Errorf("token_created event = %+v; want the operator creating a token", e)
	}
	if e := byKind["export"]; e.Actor != supportID || e.Role != "support" || len(e.Subscriber) != 32 || e.Tenant != "demo" {
		t.Errorf("export event = %+v; want the support token, a pseudonym, tenant demo", e)
	}
	var checks []optin.AccessEntry
	if err := h.store.AccessEntries(ctx, time.Time{}, func(e optin.AccessEntry) error {
		if e.Action == security.ActionConsentCheck {
			checks = append(checks, e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Once in the tenant's access log, once in the outbox for the audit log.
	if len(checks) != 2 || checks[0].Count != 3 || checks[0].Actor != senderID || checks[0].ID != checks[1].ID {
		t.Errorf("consent check entries = %+v; want one entry of 3 checks by the sender token (log and outbox)", checks)
	}
}
