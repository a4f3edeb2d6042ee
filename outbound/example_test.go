package outbound_test

import (
	"fmt"

	"github.com/optin-gateway/optin-gateway/outbound"
)

// A number's default sending rate follows its kind, unless the number's
// rate_limit says otherwise.
func ExampleDefaultRate() {
	for _, from := range []string{"+12025550100", "+18005550100", "55555"} {
		fmt.Printf("%s: %v msg/s\n", from, outbound.DefaultRate(from))
	}
	// Output:
	// +12025550100: 1 msg/s
	// +18005550100: 3 msg/s
	// 55555: 100 msg/s
}

// Senders are built once per provider and handed to the worker, which
// drains every shard it holds the lease of (see Options).
func ExampleNewTwilio() {
	tw, err := outbound.NewTwilio(outbound.TwilioOptions{
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
