package twilio_test

import (
	"fmt"
	"net/url"

	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// Senders are built once per provider and handed to the outbound worker,
// which drains every shard it holds the lease of.
func ExampleNewSender() {
	tw, err := twilio.NewSender(twilio.SenderOptions{
		AccountSid: "AC0123456789abcdef0123456789abcdef", // generated for the example
		Password:   "exampleauthtoken0123456789abcdef",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tw.Name())
	// Output: twilio
}

// ExampleSign signs the test vector that twilio-go publishes in its
// own tests.
func ExampleSign() {
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+14158675309"}, "Digits": {"1234"},
		"From": {"+14158675309"}, "To": {"+18005551212"},
		"ReasonConferenceEnded": {"test"}, "Reason": {"Participant"},
	}
	fmt.Println(twilio.Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form))
	// Output: vOEb5UThFn24KEfnOFLQY2AE5FY=
}
