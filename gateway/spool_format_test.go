package gateway_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestReplayOldSpoolRecord: a record in the format every release so far
// has written (optin.Inbound's fields untagged inside "in", the numbers
// beside it) still replays: the revocation takes effect.
func TestReplayOldSpoolRecord(t *testing.T) {
	h := newHarness(t)
	from := "+12025550148"
	h.sms(from, bizNumber, codeIn(t, h.sms(from, bizNumber, "JOIN")[0]))
	if s := h.states(from)["deals"]; s != "subscribed" {
		t.Fatalf("before replay deals = %q; want subscribed", s)
	}
	record := fmt.Sprintf(`{"to":%q,"from":%q,"in":{"Provider":"twilio","MessageID":"SM00000000000000000000000000old001","Text":"STOP","ProviderOptOut":""},"received_at":%q}`,
		bizNumber, from, h.clock.Now().Format(time.RFC3339Nano))
	if err := h.srv.ReplaySpooled(context.Background(), []byte(record)); err != nil {
		t.Fatalf("ReplaySpooled(old record) = %v", err)
	}
	if s := h.states(from)["deals"]; s != "unsubscribed" {
		t.Errorf("after replaying the old record deals = %q; want unsubscribed", s)
	}
}
