package optin

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ObjectWebhook is the config object kind of an event webhook endpoint.
const ObjectWebhook = "webhook"

// EventType names a transition as the businesses' event webhooks deliver
// it.
type EventType string

// The event types delivered to the businesses' endpoints.
const (
	EventSubscribed   EventType = "subscribed"   // a campaign's consent confirmed
	EventUnsubscribed EventType = "unsubscribed" // consent revoked (by SMS, by hand, from another channel)
	EventBlocked      EventType = "blocked"      // the provider refuses to deliver to the person (reconciled to unsubscribed)
	EventErased       EventType = "erased"       // the person's data was erased (crypto-shredded)
)

// EventTypes are every event type, in the order the documentation lists them.
var EventTypes = []EventType{EventSubscribed, EventUnsubscribed, EventBlocked, EventErased}

// TypeOf returns the event type of an audit event, and false for an event
// that is not delivered to the businesses: prompts, wrong codes, expiries,
// and a revocation recorded again for someone already unsubscribed.
func TypeOf(ev Event) (EventType, bool) {
	switch {
	case ev.Reason == OutcomeErased:
		return EventErased, true
	case ev.From == ev.To:
		return "", false
	case ev.To == StateSubscribed:
		return EventSubscribed, true
	case ev.To == StateUnsubscribed && ev.Reason == OutcomeProviderOptOut:
		return EventBlocked, true
	case ev.To == StateUnsubscribed:
		return EventUnsubscribed, true
	}
	return "", false
}

// WebhookDoc is an event webhook endpoint of a tenant, as stored. Secret
// is the signing secret sealed under the master keyring; it is never
// answered, only given once in clear when the endpoint is created.
type WebhookDoc struct {
	ID     string      `json:"id"`
	Tenant string      `json:"tenant"`
	URL    string      `json:"url"`
	Events []EventType `json:"events"` // empty: every type
	// Secret is the sealed signing secret (store), "" in answers.
	Secret string `json:"secret,omitempty"`
	Meta
}

// Wants reports whether the endpoint receives events of type t.
func (d WebhookDoc) Wants(t EventType) bool {
	return len(d.Events) == 0 || slices.Contains(d.Events, t)
}

// Validate checks the endpoint: a valid id, an absolute https URL (http
// only to a loopback host, for development), known event types. Which
// addresses the URL may reach is the egress policy's to say
// (internal/egress), which the gateway applies on top.
func (d WebhookDoc) Validate() error {
	if !ValidID(d.ID) {
		return fieldErr("id", "%q must be 1 to 64 of a-z, 0-9 and -", d.ID)
	}
	u, err := url.Parse(d.URL)
	if err != nil || u.Host == "" || u.User != nil || len(d.URL) > 2048 {
		return fieldErr("url", "must be an absolute URL of at most 2048 bytes, without user info")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return fieldErr("url", "must be https (http only to localhost)")
		}
	default:
		return fieldErr("url", "must be https (http only to localhost)")
	}
	for _, t := range d.Events {
		if !slices.Contains(EventTypes, t) {
			return fieldErr("events", "%q is not one of subscribed, unsubscribed, blocked, erased", t)
		}
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// WebhookEvent is the JSON body of one event delivery. ID is the audit
// event's id: stable across retries and replays, the key to de-duplicate
// on. Phone is the person's number (E.164), opened at send time; it is
// empty for an erased event, and for any event delivered after its
// subscriber was erased (the number is gone by design): Subscriber, the
// pseudonym every event of the person carries, identifies them then.
type WebhookEvent struct {
	ID              string    `json:"id"`
	Type            EventType `json:"type"`
	Tenant          string    `json:"tenant"`
	Campaign        string    `json:"campaign,omitempty"`
	CampaignVersion int       `json:"campaign_version,omitempty"`
	Subscriber      string    `json:"subscriber"`
	Phone           string    `json:"phone,omitempty"`
	Number          string    `json:"number,omitempty"` // the business number
	State           string    `json:"state,omitempty"`
	PreviousState   string    `json:"previous_state,omitempty"`
	Reason          string    `json:"reason"`
	At              time.Time `json:"at"`
}

// NewWebhookEvent returns the delivery body of ev (of type t), without
// the phone number.
func NewWebhookEvent(ev Event, t EventType) WebhookEvent {
	w := WebhookEvent{
		ID: ev.ID, Type: t, Tenant: ev.Tenant, Campaign: ev.Campaign, CampaignVersion: ev.CampaignVersion,
		Subscriber: ev.Subscriber, Number: ev.Number, Reason: ev.Reason.String(), At: ev.At.UTC(),
	}
	if t != EventErased {
		w.State, w.PreviousState = ev.To.String(), ev.From.String()
	}
	return w
}

// WebhookDeadLetter is a delivery given up on after its last try: what
// the dead-letter route lists. It holds no personal data.
type WebhookDeadLetter struct {
	EventID    string    `json:"event_id"`
	Type       EventType `json:"type"`
	Subscriber string    `json:"subscriber"`
	EventAt    time.Time `json:"event_at"`
	DeadAt     time.Time `json:"dead_at"`
	Tries      int       `json:"tries"`
	Reason     string    `json:"reason"` // the last failure: an HTTP status or a network error
}
