package optin_test

import (
	"reflect"
	"time"

	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
)

func TestProviderBlocked(t *testing.T) {
	cause := optin.Cause{Provider: "twilio", MessageID: "SM0001", Signal: "21610"}
	for _, tc := range []struct {
		name       string
		sub        optin.Subscriber
		wantEvents map[string]optin.State // campaign → from
	}{
		{"subscribed and pending", newSub(map[string]optin.Enrollment{
			"deals": {State: optin.StateSubscribed, Since: t0},
			"news":  {State: optin.StatePending, Since: t0, Code: &optin.PendingCode{Code: liveCode, ExpiresAt: t0.Add(time.Hour), AttemptsLeft: 3}},
		}), map[string]optin.State{"deals": optin.StateSubscribed, "news": optin.StatePending}},
		{"never seen", newSub(nil), map[string]optin.State{"deals": optin.StateNone, "news": optin.StateNone}},
		{"already unsubscribed", newSub(map[string]optin.Enrollment{
			"deals": {State: optin.StateUnsubscribed, Since: t0},
			"news":  {State: optin.StateUnsubscribed, Since: t0},
		}), map[string]optin.State{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := cloneSub(tc.sub)
			dec := optin.ProviderBlocked(tc.sub, testNumber(t), cause, t0.Add(time.Minute))
			if dec.Outcome != optin.OutcomeProviderOptOut {
				t.Errorf("ProviderBlocked().Outcome = %v; want %v", dec.Outcome, optin.OutcomeProviderOptOut)
			}
			if len(dec.Replies) != 0 {
				t.Errorf("ProviderBlocked().Replies = %q; want none", dec.Replies)
			}
			for _, id := range []string{"deals", "news"} {
				e := dec.Next.Enrollment(id)
				if e.State != optin.StateUnsubscribed || e.Code != nil {
					t.Errorf("ProviderBlocked().Next[%s] = %v (code %v); want unsubscribed, no code", id, e.State, e.Code)
				}
			}
			if len(dec.Events) != len(tc.wantEvents) || dec.Changed != (len(tc.wantEvents) > 0) {
				t.Fatalf("ProviderBlocked() = %d events, changed %v; want %d", len(dec.Events), dec.Changed, len(tc.wantEvents))
			}
			for _, ev := range dec.Events {
				if from := tc.wantEvents[ev.Campaign]; ev.From != from || ev.To != optin.StateUnsubscribed || ev.Cause != cause || ev.Reason != optin.OutcomeProviderOptOut {
					t.Errorf("event %s = %v→%v %v %+v; want %v→unsubscribed provider_opt_out %+v", ev.Campaign, ev.From, ev.To, ev.Reason, ev.Cause, from, cause)
				}
			}
			if !reflect.DeepEqual(tc.sub, before) {
				t.Errorf("ProviderBlocked modified its subscriber")
			}
		})
	}
}

// TestProviderBlockedCoversTheScope: a provider's block means the person
// texted STOP at the provider, so it covers the tenant's revocation scope.
func TestProviderBlockedCoversTheScope(t *testing.T) {
	n := testNumber(t)
	vip := n.Campaigns[0]
	vip.ID, vip.Keywords = "vip", []string{"VIP"}
	n.Scope = append(append([]optin.Campaign(nil), n.Campaigns...), vip)
	es := enrollments(subscribedE(), subscribedE())
	es["vip"] = subscribedE()
	dec := optin.ProviderBlocked(newSub(es), n, optin.Cause{Provider: "twilio", MessageID: "r1", Signal: "21610"}, t0)
	for _, id := range []string{"deals", "news", "vip"} {
		if got := dec.Next.Enrollment(id).State; got != optin.StateUnsubscribed {
			t.Errorf("ProviderBlocked with tenant scope: %s = %v; want unsubscribed", id, got)
		}
	}
	for _, ev := range dec.Events {
		if ev.Match == nil || ev.Match.Rule != optin.RuleProvider || ev.Match.Matched != "21610" {
			t.Errorf("event %s match = %+v; want rule provider, matched 21610", ev.Campaign, ev.Match)
		}
	}
}
