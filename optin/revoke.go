package optin

import (
	"slices"
	"time"
)

// Channels of a revocation by hand.
const (
	ChannelSupport  = "support"
	ChannelEmail    = "email"
	ChannelPhone    = "phone_call"
	ChannelWebForm  = "web_form"
	ChannelInPerson = "in_person"
)

// RevocationChannels are the channels a revocation from another channel
// may name (ChannelSupport is the opt-out by hand).
var RevocationChannels = []string{ChannelEmail, ChannelPhone, ChannelWebForm, ChannelInPerson}

// ValidChannel reports whether ch is a known channel.
func ValidChannel(ch string) bool {
	return ch == ChannelSupport || slices.Contains(RevocationChannels, ch)
}

// Revoke records a revocation of consent that reached tenant by hand
// (support staff) or through another channel (an email, a phone call, a
// web form, in person): every campaign of scope becomes unsubscribed at
// now, any live code is voided, and one opt-out event per campaign carries
// cause (its Actor, Channel, Note and, when the person revoked earlier,
// RevokedAt). Like a STOP it is recorded even when it changes nothing. No
// reply is sent. Revoke is pure, like Decide.
func Revoke(sub Subscriber, tenant string, scope []Campaign, now time.Time, cause Cause) Decision {
	next := sub.clone()
	dec := Decision{Outcome: OutcomeOptOut, Words: "", Match: Match{Rule: RuleManual, Matched: cause.Channel}}
	for _, camp := range scope {
		e := next.Enrollments[camp.ID]
		from := sub.Enrollments[camp.ID].State
		if e.Code != nil || !e.CodeEndsAt.IsZero() && e.CodeEndsAt.After(now) {
			e.Code = nil
			e.CodeEndsAt = now
		}
		if from != StateUnsubscribed {
			e.State, e.Since = StateUnsubscribed, now
		}
		e.Prompts = nil
		next.Enrollments[camp.ID] = e
		m := dec.Match
		dec.Events = append(dec.Events, Event{
			Tenant: tenant, Campaign: camp.ID, CampaignVersion: camp.Version, Subscriber: sub.ID,
			From: from, To: StateUnsubscribed, At: now, Reason: OutcomeOptOut, Cause: cause, Match: &m,
		})
	}
	dec.Changed = len(scope) > 0
	dec.Next = next
	return dec
}
