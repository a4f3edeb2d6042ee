package twilio

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/optin-gateway/optin-gateway/provider"
)

// TestSendErrorHidesTheURL: a network error of a lookup names the URL,
// whose query holds the recipient's number; the error that gets logged
// must not.
func TestSendErrorHidesTheURL(t *testing.T) {
	err := sendError(&url.Error{Op: "Get", URL: "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages.json?To=%2B12025550177", Err: errors.New("i/o timeout")})
	if strings.Contains(err.Error(), "2025550177") || !strings.Contains(err.Error(), "i/o timeout") {
		t.Errorf("sendError = %q; want the cause without the URL", err)
	}
	se := &provider.SendError{Status: 400, Code: 21211, Message: "The 'To' number +12025550177 is not a valid phone number."}
	if strings.Contains(se.Error(), "2025550177") {
		t.Errorf("SendError.Error() = %q; want the provider's message left out", se.Error())
	}
}

// TestSendErrorOptOut: a refusal with ErrorOptedOut is an opt-out
// (SendError.OptOut), in either of twilio-go's error types; any other
// refusal is not.
func TestSendErrorOptOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"21610", &client.TwilioRestError{Status: 400, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}, true},
		{"21610 v1", &client.RestErrorV1{HttpStatusCode: 400, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}, true},
		{"21211", &client.TwilioRestError{Status: 400, Code: 21211, Message: "invalid"}, false},
		{"20429", &client.TwilioRestError{Status: 429, Code: 20429, Message: "Too Many Requests"}, false},
	} {
		var se *provider.SendError
		if err := sendError(fmt.Errorf("create: %w", tc.err)); !errors.As(err, &se) || se.OptOut != tc.want {
			t.Errorf("sendError(%s) = %v (OptOut %v); want a *provider.SendError, OptOut %v", tc.name, err, se != nil && se.OptOut, tc.want)
		}
	}
}
