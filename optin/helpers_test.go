package optin_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2025, time.March, 1, 12, 0, 0, 0, time.UTC)

// Texts of the test number, CTIA style.
const (
	dealsPrompt  = "Reply {code} to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	dealsConfirm = "You're subscribed to ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	dealsHelp    = "ACME Deals: up to 4 msg/mo. Msg&data rates may apply. Support: help@acme.example. Reply STOP to cancel."
	// dealsExpired and dealsAlready are the defaults WithDefaults fills in.
	dealsExpired = "Your code has expired. Text JOIN again for a new one."
	dealsAlready = "You're already subscribed to ACME Deals. Reply HELP for help, STOP to cancel."

	newsPrompt  = "Reply {code} to confirm ACME News. Up to 2 msg/wk. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	newsConfirm = "You're subscribed to ACME News. Up to 2 msg/wk. Msg&data rates may apply. Reply HELP for help, STOP to cancel."
	newsHelp    = "ACME News: up to 2 msg/wk. Msg&data rates may apply. Support: help@acme.example. Reply STOP to cancel."
	newsStop    = "You're unsubscribed from ACME News and will get no more news. Other ACME programs are unchanged."

	numberStop = "You're unsubscribed from ACME and will get no more messages."

	// freshCode is what the caller passes as the digits of a new code:
	// GenerateCode(r, MaxCodeLength) output, of which a campaign takes
	// the first CodeLength digits.
	freshCode = "4839201756"
	// liveCode is the code of the pending fixtures.
	liveCode = "271828"
)

// testNumber returns a valid number with defaults applied and two
// campaigns: "deals" (keywords JOIN and DEALS, the default) and "news"
// (keyword NEWS, with a StopReply of its own).
func testNumber(tb testing.TB) *optin.Number {
	tb.Helper()
	n := &optin.Number{
		Tenant:    "acme",
		E164:      "+15550100000",
		StopReply: numberStop,
		Campaigns: []optin.Campaign{
			{
				ID:           "deals",
				Name:         "ACME Deals",
				Keywords:     []string{"JOIN", "DEALS"},
				Version:      3,
				Prompt:       dealsPrompt,
				Confirmation: dealsConfirm,
				Help:         dealsHelp,
			},
			{
				ID:           "news",
				Name:         "ACME News",
				Keywords:     []string{"NEWS"},
				Version:      1,
				Prompt:       newsPrompt,
				Confirmation: newsConfirm,
				Help:         newsHelp,
				StopReply:    newsStop,
			},
		},
	}
	for i := range n.Campaigns {
		n.Campaigns[i] = n.Campaigns[i].WithDefaults()
	}
	if err := n.Validate(); err != nil {
		tb.Fatalf("testNumber: Validate() = %v; want nil", err)
	}
	return n
}

// newSub returns the test subscriber with the given enrollments.
func newSub(es map[string]optin.Enrollment) optin.Subscriber {
	return optin.Subscriber{Tenant: "acme", ID: "sub-7f3a9c", Version: 4, Enrollments: es}
}

// inbound returns a Twilio message with the given text.
func inbound(text string) optin.Inbound {
	return optin.Inbound{Provider: "twilio", MessageID: "SM0001", Text: text}
}

var campaignVersions = map[string]int{"deals": 3, "news": 1}

// event returns the audit event Decide should record at t0 for the test
// subscriber and number.
func event(campaign string, from, to optin.State, why optin.Outcome, words string, replies ...string) optin.Event {
	return optin.Event{
		Tenant:          "acme",
		Number:          "+15550100000",
		Campaign:        campaign,
		CampaignVersion: campaignVersions[campaign],
		Subscriber:      "sub-7f3a9c",
		From:            from,
		To:              to,
		At:              t0,
		Reason:          why,
		Cause:           optin.Cause{Provider: "twilio", MessageID: "SM0001", Words: words},
		Replies:         replies,
	}
}

// cloneSub returns a deep copy of s, written independently of the package.
func cloneSub(s optin.Subscriber) optin.Subscriber {
	c := s
	if s.Enrollments != nil {
		c.Enrollments = make(map[string]optin.Enrollment, len(s.Enrollments))
		for id, e := range s.Enrollments {
			if e.Code != nil {
				code := *e.Code
				e.Code = &code
			}
			if e.Prompts != nil {
				e.Prompts = slices.Clone(e.Prompts)
			}
			c.Enrollments[id] = e
		}
	}
	return c
}

// cloneNumber returns a deep copy of n.
func cloneNumber(n *optin.Number) *optin.Number {
	c := *n
	c.Campaigns = slices.Clone(n.Campaigns)
	for i := range c.Campaigns {
		c.Campaigns[i].Keywords = slices.Clone(c.Campaigns[i].Keywords)
	}
	return &c
}

// enrollments builds an enrollment map, dropping zero enrollments.
func enrollments(deals, news optin.Enrollment) map[string]optin.Enrollment {
	m := map[string]optin.Enrollment{"deals": deals, "news": news}
	maps.DeleteFunc(m, func(_ string, e optin.Enrollment) bool {
		return e.State == optin.StateNone && e.Code == nil && e.CodeEndsAt.IsZero() && e.Prompts == nil && e.Since.IsZero()
	})
	return m
}

// Enrollment fixtures. Each call returns fresh values.

func noneE() optin.Enrollment { return optin.Enrollment{} }

func pendingE() optin.Enrollment {
	return optin.Enrollment{
		State:      optin.StatePending,
		Since:      t0.Add(-10 * time.Minute),
		Code:       &optin.PendingCode{Code: liveCode, ExpiresAt: t0.Add(50 * time.Minute), AttemptsLeft: 5},
		CodeEndsAt: t0.Add(50 * time.Minute),
		Prompts:    []time.Time{t0.Add(-10 * time.Minute)},
	}
}

func subscribedE() optin.Enrollment {
	return optin.Enrollment{State: optin.StateSubscribed, Since: t0.Add(-48 * time.Hour)}
}

func unsubscribedE() optin.Enrollment {
	return optin.Enrollment{State: optin.StateUnsubscribed, Since: t0.Add(-48 * time.Hour)}
}

// with returns e changed by f.
func with(e optin.Enrollment, f func(*optin.Enrollment)) optin.Enrollment {
	f(&e)
	return e
}
