package store_test

import (
	"fmt"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// ExamplePseudonymizer shows that a subscriber's key never holds the
// number: the same number has unrelated pseudonyms under two tenants.
func ExamplePseudonymizer() {
	master := make([]byte, store.MasterKeySize) // in production: OPTIN_MASTER_KEY
	p, err := store.NewPseudonymizer(master)
	if err != nil {
		panic(err)
	}
	a := p.Pseudonym("acme", optin.Phone("+12025550142"))
	b := p.Pseudonym("globex", optin.Phone("+12025550142"))
	fmt.Println(len(a), a != b)
	// Output: 32 true
}
