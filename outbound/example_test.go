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
