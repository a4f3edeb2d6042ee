package store

import (
	"encoding/json"

	"github.com/optin-gateway/optin-gateway/optin"
)

// eventTexts are the personal parts of an event, sealed together into
// Event.Sealed: what the person wrote and what they were sent.
type eventTexts struct {
	Words   string   `json:"words,omitempty"`
	Matched string   `json:"matched,omitempty"`
	Replies []string `json:"replies,omitempty"`
}

// sealer seals a text field bound to ad: a *dataKey, or in tests a
// stand-in whose output can be read.
type sealer interface {
	seal(plain []byte, ad string) string
}

// sealEvent returns ev as the store keeps it: its texts sealed under dk,
// bound to its tenant, subscriber and id, and cleared. The structure (the
// states, time, campaign, reason, rule, pack) stays in clear: it is the
// proof of consent and holds no personal data.
func sealEvent(dk sealer, ev optin.Event) optin.Event {
	t := eventTexts{Words: ev.Cause.Words, Replies: ev.Replies}
	if ev.Match != nil {
		t.Matched = ev.Match.Matched
		m := *ev.Match
		m.Matched = ""
		ev.Match = &m
	}
	if t.Words == "" && t.Matched == "" && len(t.Replies) == 0 {
		return ev
	}
	b, _ := json.Marshal(t) // strings only: cannot fail
	ev.Sealed = dk.seal(b, adOf(ev.Tenant, ev.Subscriber, "event/"+ev.ID))
	ev.Cause.Words, ev.Replies = "", nil
	return ev
}

// openEvent returns ev with its texts opened under dk; Erased, without
// texts, when dk (nil: none) no longer opens them.
func openEvent(dk *dataKey, ev optin.Event) optin.Event {
	if ev.Sealed == "" {
		return ev
	}
	plain, err := dk.open(ev.Sealed, adOf(ev.Tenant, ev.Subscriber, "event/"+ev.ID))
	ev.Sealed = ""
	var t eventTexts
	if err != nil || json.Unmarshal(plain, &t) != nil {
		ev.Erased = true
		return ev
	}
	ev.Cause.Words, ev.Replies = t.Words, t.Replies
	if ev.Match != nil {
		m := *ev.Match
		m.Matched = t.Matched
		ev.Match = &m
	}
	return ev
}

// sealReply encodes r for the queue with the person's number and the text
// (a prompt holds its live code) sealed under the subscriber's data key,
// bound to the reply's id: a Redis dump shows neither.
func sealReply(dk sealer, r optin.Reply) ([]byte, error) {
	r.To = optin.Phone(dk.seal([]byte(r.To.E164()), adOf(r.Tenant, r.Subscriber, "reply/"+r.ID+"/to")))
	r.Body = dk.seal([]byte(r.Body), adOf(r.Tenant, r.Subscriber, "reply/"+r.ID+"/body"))
	return json.Marshal(r)
}

// openReply opens the number and text of a reply sealReply made.
func openReply(dk *dataKey, r optin.Reply) (optin.Reply, error) {
	to, err := dk.open(r.To.E164(), adOf(r.Tenant, r.Subscriber, "reply/"+r.ID+"/to"))
	if err != nil {
		return r, err
	}
	body, err := dk.open(r.Body, adOf(r.Tenant, r.Subscriber, "reply/"+r.ID+"/body"))
	if err != nil {
		return r, err
	}
	r.To, r.Body = optin.Phone(to), string(body)
	return r, nil
}
