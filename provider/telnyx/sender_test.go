package telnyx_test

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
)

// TestSenderOptOut: a send refused with Telnyx's ErrorOptedOut is an
// opt-out (SendError.OptOut), any other refusal is not. The fake answers
// as Telnyx's POST /v2/messages documents its errors.
func TestSenderOptOut(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
		want   bool
	}{
		{"blocked due to STOP", http.StatusConflict, telnyx.ErrorOptedOut, true},
		{"invalid destination", http.StatusBadRequest, "40310", false},
		{"rate limited", http.StatusTooManyRequests, "10011", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"errors":[{"code":%q,"title":"refused","detail":"refused"}]}`, tc.code)
			}))
			t.Cleanup(srv.Close)
			s, err := telnyx.NewSender("KEYtest", srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Send(context.Background(), optin.Reply{From: "+12025550100", To: "+12125550123", Body: "hi"}, "")
			var se *provider.SendError
			if !errors.As(err, &se) {
				t.Fatalf("Send = %v; want a *provider.SendError", err)
			}
			if se.OptOut != tc.want || fmt.Sprint(se.Code) != tc.code {
				t.Errorf("Send refused with %s: OptOut = %v, Code = %d; want %v, %s", tc.code, se.OptOut, se.Code, tc.want, tc.code)
			}
		})
	}
}
