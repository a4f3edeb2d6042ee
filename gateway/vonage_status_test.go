package gateway_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// TestVonageDeliveryReceipt: a signed delivery receipt with err-code 9 (the
// person opted out at Vonage) for a reply the gateway sent moves the
// subscriber to unsubscribed; receipts land on the audit trail.
func TestVonageDeliveryReceipt(t *testing.T) {
	h := newProviderHarness(t, vonage.SHA256)
	const sentID = "0A0000000123ABCD9"
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"message-count":"1","messages":[{"to":"12125550123","message-id":%q,"status":"0","remaining-balance":"3.14159265","message-price":"0.03330000","network":"12345"}]}`, sentID)
	}))
	t.Cleanup(api.Close)
	vg, err := vonage.NewSender("abcd1234", "testsecret0123", api.URL, api.Client())
	if err != nil {
		t.Fatal(err)
	}
	runSenders(t, h.harness, map[string]outbound.Sender{"vonage": vg})
	if r := h.postVonage(vonageFixture(t, "0A0000000123ABCD1", "JOIN", h.clock.Now()), true, false, vonage.SHA256); r.status != http.StatusOK {
		t.Fatalf("JOIN: %d %s", r.status, r.body)
	}
	h.drained()
	dlr := readFixture[map[string]string](t, "vonage_delivery_receipt.json")
	dlr["messageId"], dlr["timestamp"] = sentID, strconv.FormatInt(h.clock.Now().Unix(), 10)
	delivered := map[string]string{}
	for k, v := range dlr {
		delivered[k] = v
	}
	delivered["status"], delivered["err-code"] = "delivered", "0"
	for _, p := range []map[string]string{delivered, dlr} {
		if r := h.postVonage(p, true, false, vonage.SHA256); r.status != http.StatusOK {
			t.Fatalf("receipt %s: %d %s; want 200", p["status"], r.status, r.body)
		}
	}
	unsigned := h.postVonage(dlr, false, false, vonage.SHA256)
	if unsigned.status != http.StatusForbidden {
		t.Errorf("unsigned receipt: %d; want 403", unsigned.status)
	}
	var got []string
	for _, d := range h.deliveries() {
		got = append(got, string(d.Status)+d.ErrorCode+"/"+d.CausedBy)
	}
	if want := fmt.Sprint([]string{"queued/0A0000000123ABCD1", "delivered/0A0000000123ABCD1", "failed9/0A0000000123ABCD1"}); fmt.Sprint(got) != want {
		t.Errorf("delivery records = %v; want %s", got, want)
	}
	if c := h.subscriber("demo", person).Campaigns[0]; c.State != "unsubscribed" || c.History[0].Cause.Provider != "vonage" || c.History[0].Cause.Signal != "9" {
		t.Errorf("after err-code 9: %q, latest cause %+v; want unsubscribed by vonage 9", c.State, c.History[0].Cause)
	}
}
