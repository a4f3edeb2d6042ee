package vonage_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// TestSenderOptOut: no status of Vonage's POST /sms/json means an
// opt-out: its 9 is "Partner Quota Violation" (out of credit), not the
// delivery receipt's err-code 9 (vonage.ErrorOptedOut), and must not end
// anyone's consent.
func TestSenderOptOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status string
		code   int
	}{
		{"partner quota violation", "9", 9},
		{"number barred", "7", 7},
		{"invalid params", "3", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"message-count":"1","messages":[{"status":%q,"error-text":"refused"}]}`, tc.status)
			}))
			t.Cleanup(srv.Close)
			s, err := vonage.NewSender("abcd1234", "testsecret0123", srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), optin.Reply{From: "+12025550100", To: "+12125550123", Body: "hi"}, "")
			var se *provider.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v; want a *provider.SendError", err)
			}
			if se.OptOut || se.Code != tc.code {
				t.Errorf("Send refused with status %s: OptOut = %v, Code = %d; want false, %d", tc.status, se.OptOut, se.Code, tc.code)
			}
		})
	}
}
