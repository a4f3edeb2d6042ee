package twilio

import (
	"errors"
	"net/url"
	"strings"
	"testing"

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
