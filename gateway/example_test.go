package gateway_test

import (
	"fmt"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
)

// A reply sent through Twilio's API names the status route, with what
// identifies the reply in the query that Twilio's signature covers.
func ExampleStatusCallbackURL() {
	r := optin.Reply{Provider: "twilio", Tenant: "acme", Subscriber: "s1", ID: "r1", CausedBy: "SM0"}
	fmt.Println(gateway.StatusCallbackURL("https://optin.example.com", r))
	// Output: https://optin.example.com/v1/webhooks/twilio/status?c=SM0&r=r1&s=s1&t=acme
}
