package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// oldRecord is a spool record as every release so far has written it
// (optin.Inbound's fields untagged inside "in", the numbers beside it).
const oldRecord = `{"to":"+12025550100","from":"+12025550147","in":{"Provider":"twilio","MessageID":"SM0123456789abcdef0123456789abcdef","Text":"please STOP","ProviderOptOut":"STOP"},"received_at":"2026-01-02T03:04:05Z"}`

// TestSpoolRecordFormat: records are written as before and the old ones
// read back into the message with its numbers, so that what one release
// spooled the next replays.
func TestSpoolRecordFormat(t *testing.T) {
	in := optin.Inbound{
		Provider: "twilio", MessageID: "SM0123456789abcdef0123456789abcdef",
		From: "+12025550147", To: "+12025550100", Text: "please STOP", ProviderOptOut: "STOP",
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	b, err := json.Marshal(spoolRecord(&optin.Number{Tenant: "demo", E164: "+12025550100"}, in, at))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != oldRecord {
		t.Errorf("spool record =\n%s\nwant\n%s", b, oldRecord)
	}
	var r spooledRevocation
	if err := json.Unmarshal([]byte(oldRecord), &r); err != nil {
		t.Fatal(err)
	}
	if got := r.inbound(); got != in || !r.ReceivedAt.Equal(at) || r.To != "+12025550100" {
		t.Errorf("old record read as %+v at %v to %s; want %+v at %v to +12025550100", got, r.ReceivedAt, r.To, in, at)
	}
}
