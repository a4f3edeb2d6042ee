package provider_test

import (
	"fmt"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// A provider's Parse returns the request's messages: One for a webhook
// that carries one message, Batch for one that batches events.
func ExampleMessages() {
	msgs := provider.Batch([]provider.Inbound{
		{Skip: true}, // a delivery event the provider sends to the same route
		{Message: optin.Inbound{MessageID: "m1", Text: "JOIN"}, From: "+12125550123", To: "+12025550100"},
	})
	for i := range msgs.Len() {
		if in := msgs.At(i); !in.Skip {
			fmt.Println(in.Message.MessageID, in.Message.Text)
		}
	}
	// Output: m1 JOIN
}
