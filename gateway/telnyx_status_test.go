package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
)

// telnyxAPI is a minimal fake of Telnyx's POST /v2/messages that accepts
// every message and answers its documented 200 {"data":{"id"}}.
func telnyxAPI(tb testing.TB) (*httptest.Server, *[]string) {
	tb.Helper()
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct{ From, To, Text string }
		if r.URL.Path != "/v2/messages" || json.NewDecoder(r.Body).Decode(&m) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		id := fmt.Sprintf("40385f64-5717-4562-b3fc-2c963f66%04d", len(ids))
		ids = append(ids, id)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"record_type":"message","direction":"outbound","id":%q,"type":"SMS","text":%q}}`, id, m.Text)
	}))
	tb.Cleanup(srv.Close)
	return srv, &ids
}

// telnyxStatus is a message.finalized event for Telnyx message id.
func telnyxStatus(id, status, errorCode string) []byte {
	errs := "[]"
	if errorCode != "" {
		errs = fmt.Sprintf(`[{"code":%q,"title":"Blocked due to STOP message"}]`, errorCode)
	}
	return fmt.Appendf(nil, `{"data":{"event_type":"message.finalized","id":"4ee8c3a6-4995-4309-a3c6-38e3db9ea4be","occurred_at":"2019-12-09T21:32:14.148+00:00",
"payload":{"id":%q,"direction":"outbound","from":{"phone_number":%q},"to":[{"phone_number":%q,"status":%q}],"errors":%s,"text":"x"},"record_type":"event"}}`,
		id, bizNumber, person, status, errs)
}

func TestTelnyxDeliveryStatus(t *testing.T) {
	h := newProviderHarness(t, "")
	api, ids := telnyxAPI(t)
	tx, err := telnyx.NewSender("KEYtelnyxtest0123456789", api.URL, api.Client())
	if err != nil {
		t.Fatal(err)
	}
	runSenders(t, h.harness, map[string]outbound.Sender{"telnyx": tx})

	joinID := "7ee4241c-f127-47e5-9c34-3aac291f0101"
	if r := h.postTelnyx(telnyxFixture(t, joinID, "JOIN"), h.clock.Now(), h.telnyxKey); r.status != http.StatusOK {
		t.Fatalf("JOIN: %d %s", r.status, r.body)
	}
	h.drained()
	sent := (*ids)[0]
	for _, ev := range [][]byte{
		telnyxStatus(sent, "delivered", ""),
		telnyxStatus("40385f64-5717-4562-b3fc-000000000000", "delivered", ""), // not ours: dropped
		telnyxStatus(sent, "delivery_failed", "40300"),
		telnyxStatus(sent, "delivery_failed", "40300"), // again: recorded once
	} {
		if r := h.postTelnyx(ev, h.clock.Now(), h.telnyxKey); r.status != http.StatusOK {
			t.Fatalf("status event: %d %s; want 200", r.status, r.body)
		}
	}
	var got []string
	for _, d := range h.deliveries() {
		if d.CausedBy != joinID || d.ProviderMessageID != sent || d.Provider != "telnyx" {
			t.Errorf("delivery %+v; want caused by %s, telnyx message %s", d, joinID, sent)
		}
		got = append(got, string(d.Status)+d.ErrorCode)
	}
	if want := "queued,delivered,delivery_failed40300,delivery_failed40300"; strings.Join(got, ",") != want {
		t.Errorf("delivery records = %v; want %s", got, want)
	}
	h.blockedBy(optin.Cause{Provider: "telnyx", Signal: "40300"})
}
