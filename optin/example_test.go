package optin_test

import (
	"fmt"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

func ExampleDecide() {
	deals := optin.Campaign{
		ID:           "deals",
		Name:         "ACME Deals",
		Keywords:     []string{"JOIN"},
		Prompt:       "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel.",
		Confirmation: "You're subscribed to ACME Deals. Reply STOP to cancel.",
		Help:         "ACME Deals: up to 4 msg/mo. Msg&data rates may apply. Reply STOP to cancel.",
	}.WithDefaults()
	n := &optin.Number{
		Tenant:    "acme",
		E164:      "+15550100000",
		Campaigns: []optin.Campaign{deals},
		StopReply: "You're unsubscribed from ACME and will get no more messages.",
	}
	if err := n.Validate(); err != nil {
		fmt.Println(err)
		return
	}

	// The store loads the subscriber; time and code digits come from the
	// caller (time.Now and GenerateCode(crypto/rand.Reader, MaxCodeLength)).
	sub := optin.Subscriber{Tenant: "acme", ID: "pseudonym-1"}
	now := time.Date(2025, time.March, 1, 12, 0, 0, 0, time.UTC)
	code := "4839201756"

	for _, text := range []string{"JOIN", "483920", "STOP"} {
		dec := optin.Decide(sub, n, optin.Inbound{Provider: "twilio", MessageID: "SM" + text, Text: text}, now, code)
		fmt.Printf("%-6s → %s (%s): %s\n", text, dec.Next.Enrollment("deals").State, dec.Outcome, dec.Replies)
		for _, ev := range dec.Events {
			fmt.Printf("         audit: %s %s → %s\n", ev.Campaign, ev.From, ev.To)
		}
		sub = dec.Next // the store persists it
		now = now.Add(time.Minute)
	}
	// Output:
	// JOIN   → pending (prompted): [Reply 483920 to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel.]
	//          audit: deals none → pending
	// 483920 → subscribed (confirmed): [You're subscribed to ACME Deals. Reply STOP to cancel.]
	//          audit: deals pending → subscribed
	// STOP   → unsubscribed (opt_out): [You're unsubscribed from ACME and will get no more messages.]
	//          audit: deals subscribed → unsubscribed
}
