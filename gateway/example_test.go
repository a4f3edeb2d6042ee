package gateway_test

import (
	"fmt"
	"net/url"

	"github.com/optin-gateway/optin-gateway/gateway"
)

// ExampleSignTwilio signs the test vector that twilio-go publishes in its
// own tests.
func ExampleSignTwilio() {
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
		"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	fmt.Println(gateway.SignTwilio("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form))
	// Output: vOEb5UThFn24KEfnOFLQY2AE5FY=
}
