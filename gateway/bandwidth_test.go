package gateway_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
)

// bandwidthEvents returns Bandwidth's documented message-received sample
// with one event per (id, text) pair, and a message-delivered event first
// when delivered is set.
func bandwidthEvents(tb testing.TB, delivered bool, idText ...string) string {
	tb.Helper()
	sample := readFixture[[]map[string]any](tb, "bandwidth_message_received.json")
	var out []map[string]any
	if delivered {
		out = append(out, map[string]any{"type": "message-delivered", "time": "2016-09-14T18:20:17Z", "description": "ok", "to": person,
			"message": map[string]any{"id": "1476207046829abcdef", "from": bizNumber, "text": "", "direction": "out"}})
	}
	for i := 0; i+1 < len(idText); i += 2 {
		ev := map[string]any{}
		b, _ := json.Marshal(sample[0])
		_ = json.Unmarshal(b, &ev)
		m := ev["message"].(map[string]any)
		m["id"], m["text"] = idText[i], idText[i+1]
		out = append(out, ev)
	}
	b, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func (h *providerHarness) postBandwidth(body, user, password string) reply {
	h.tb.Helper()
	req, err := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/bandwidth/sms", strings.NewReader(body))
	if err != nil {
		h.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "BandwidthAPI/v2")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return h.do(req)
}

func TestBandwidthInbound(t *testing.T) {
	h := newProviderHarness(t, "")
	raw, err := os.ReadFile("testdata/bandwidth_message_received.json")
	if err != nil {
		t.Fatal(err)
	}
	if r := h.postBandwidth(string(raw), "bwcallback", h.bwPassword); r.status != http.StatusOK {
		t.Fatalf("sample payload: %d %s; want 200", r.status, r.body)
	}
	join := bandwidthEvents(t, false, "14762070468292kw2fuqty55yp001", "JOIN")
	for range 2 { // Bandwidth delivers at least once: the retry changes nothing
		if r := h.postBandwidth(join, "bwcallback", h.bwPassword); r.status != http.StatusOK {
			t.Fatalf("JOIN: %d %s; want 200", r.status, r.body)
		}
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Errorf("after JOIN via Bandwidth deals = %q; want pending", s["deals"])
	}
	if n := h.queued(); n != 1 {
		t.Errorf("queued replies = %d; want 1", n)
	}
	stop := bandwidthEvents(t, true, "14762070468292kw2fuqty55yp002", "STOP")
	for _, tc := range []struct {
		name, body, user, password string
		status                     int
	}{
		{"wrong password", stop, "bwcallback", "not-the-password", http.StatusForbidden},
		{"wrong user", stop, "someone", h.bwPassword, http.StatusForbidden},
		{"no credentials", stop, "", "", http.StatusForbidden},
		{"not an array", `{"type":"message-received"}`, "bwcallback", h.bwPassword, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := h.postBandwidth(tc.body, tc.user, tc.password); r.status != tc.status {
				t.Errorf("%s: %d %s; want %d", tc.name, r.status, r.body, tc.status)
			}
		})
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Errorf("after refused requests deals = %q; want pending", s["deals"])
	}
	// A delivery event and the STOP in one array: the delivery is skipped,
	// the STOP is processed.
	if r := h.postBandwidth(stop, "bwcallback", h.bwPassword); r.status != http.StatusOK {
		t.Fatalf("STOP: %d %s; want 200", r.status, r.body)
	}
	v := h.subscriber("demo", person)
	if c := v.Campaigns[0]; c.State != "unsubscribed" || c.History[0].Cause.Provider != "bandwidth" || c.History[0].Cause.MessageID != "14762070468292kw2fuqty55yp002" {
		t.Errorf("after STOP via Bandwidth: %q, latest cause %+v; want unsubscribed by bandwidth", c.State, c.History[0].Cause)
	}
}
