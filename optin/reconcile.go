package optin

import "time"

// ProviderBlocked decides what follows when the provider says it will not
// deliver to subscriber sub on number n any more: a send refused with
// Twilio's 21610 ("the recipient has opted out"), or a delivery status
// carrying such an error. Consent ends for every campaign of n's
// revocation scope not already unsubscribed, with cause (the provider, the message and the error code
// as Signal) on each event, and nothing is sent: the provider would refuse
// it. It is pure, like Decide, and never modifies sub or n. Our state must
// never say subscribed for someone the provider blocks.
func ProviderBlocked(sub Subscriber, n *Number, cause Cause, now time.Time) Decision {
	d := &decider{sub: sub, next: sub.clone(), n: n, now: now}
	d.dec.Outcome = OutcomeProviderOptOut
	d.dec.Match = Match{Rule: RuleProvider, Matched: cause.Signal}
	// The provider's block means the person texted STOP at the provider:
	// it covers what a STOP covers, the revocation scope.
	scope := n.scope()
	for i := range scope {
		camp := &scope[i]
		e := d.next.Enrollments[camp.ID]
		if e.State == StateUnsubscribed {
			continue
		}
		if e.Code != nil {
			e.Code, e.CodeEndsAt = nil, now
		}
		d.transition(camp, e, StateUnsubscribed, OutcomeProviderOptOut)
		d.dec.Events[len(d.dec.Events)-1].Cause = cause
	}
	d.dec.Next = d.next
	return d.dec
}

// BlockedMessage returns the pseudo-message under which a provider block
// for cause is recorded: the same cause always yields the same message
// id, so a refusal seen by a sender and again in a status callback is
// recorded once.
func BlockedMessage(cause Cause) Inbound {
	return Inbound{Provider: cause.Provider, MessageID: "blocked:" + cause.Signal + ":" + cause.MessageID}
}
