package all_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// TestSenderOptOut: a send refused with Telnyx's ErrorOptedOut is an
// opt-out (SendError.OptOut), any other refusal is not. No status of
// Vonage's POST /sms/json means an opt-out: its 9 is "Partner Quota
// Violation" (out of credit), not the delivery receipt's err-code 9
// (vonage.ErrorOptedOut), and must not end anyone's consent. The fakes
// answer as the providers' APIs document their errors.
func TestSenderOptOut(t *testing.T) {
	newTelnyx := func(base string, c *http.Client) (provider.Sender, error) {
		return telnyx.NewSender("KEYtest", base, c)
	}
	newVonage := func(base string, c *http.Client) (provider.Sender, error) {
		return vonage.NewSender("abcd1234", "testsecret0123", base, c)
	}
	// Telnyx's POST /v2/messages refuses with an error status and codes.
	telnyxRefusal := func(code string) string {
		return fmt.Sprintf(`{"errors":[{"code":%q,"title":"refused","detail":"refused"}]}`, code)
	}
	// Vonage's POST /sms/json answers 200 with a status per message.
	vonageRefusal := func(status string) string {
		return fmt.Sprintf(`{"message-count":"1","messages":[{"status":%q,"error-text":"refused"}]}`, status)
	}
	for _, tc := range []struct {
		name      string
		newSender func(base string, c *http.Client) (provider.Sender, error)
		status    int
		body      string
		optOut    bool
		code      string
	}{
		{"telnyx/blocked due to STOP", newTelnyx, http.StatusConflict, telnyxRefusal(telnyx.ErrorOptedOut), true, telnyx.ErrorOptedOut},
		{"telnyx/invalid destination", newTelnyx, http.StatusBadRequest, telnyxRefusal("40310"), false, "40310"},
		{"telnyx/rate limited", newTelnyx, http.StatusTooManyRequests, telnyxRefusal("10011"), false, "10011"},
		{"vonage/partner quota violation", newVonage, http.StatusOK, vonageRefusal("9"), false, "9"},
		{"vonage/number barred", newVonage, http.StatusOK, vonageRefusal("7"), false, "7"},
		{"vonage/invalid params", newVonage, http.StatusOK, vonageRefusal("3"), false, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			s, err := tc.newSender(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), optin.Reply{From: "+12025550100", To: "+12125550123", Body: "hi"}, "")
			var se *provider.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v; want a *provider.SendError", err)
			}
			if se.OptOut != tc.optOut || fmt.Sprint(se.Code) != tc.code {
				t.Errorf("Send refused with %s: OptOut = %v, Code = %d; want %v, %s", tc.code, se.OptOut, se.Code, tc.optOut, tc.code)
			}
		})
	}
}
