// Package security records the gateway's security events (signature and
// authentication failures, denied requests, reveals, exports, erasures, key
// rotations, token changes) on a stream of their own, aggregates floods,
// runs the anomaly rules that raise alerts, and batches the consent checks
// into the access log (docs/incident-response.md).
//
// Events never hold a phone number: a subscriber is named by its pseudonym.
package security

import (
	"encoding/json"
	"time"
)

// Kinds of security events. The gateway's denials name their own kinds
// (bad_token, cross_tenant, forbidden, console_csrf, …); these are the
// ones the rules read.
const (
	KindBadSignature = "bad_signature"
	KindReveal       = "reveal"
	KindExport       = "export"
	KindAudience     = "audience_export"
	KindErase        = "erase"
	KindKeyRotation  = "key_rotation"
	KindTokenCreated = "token_created"
	KindTokenRevoked = "token_revoked"
)

// Event is one security event, or a flood of equal ones aggregated into
// one: Count of them between At and Last.
type Event struct {
	Kind       string    `json:"kind"`
	At         time.Time `json:"at"`
	Last       time.Time `json:"last,omitzero"`
	Count      int       `json:"count"`
	Tenant     string    `json:"tenant,omitempty"`
	Actor      string    `json:"actor,omitempty"` // "operator" or a token id
	Role       string    `json:"role,omitempty"`
	Subscriber string    `json:"subscriber,omitempty"` // pseudonym
	Target     string    `json:"target,omitempty"`     // the token or key id changed
	Provider   string    `json:"provider,omitempty"`
	Route      string    `json:"route,omitempty"` // the route pattern, never the path
	Source     string    `json:"source,omitempty"`
}

// aggKey is what makes two events the same for aggregation: all but the
// times and the count.
type aggKey struct {
	kind, tenant, actor, role, subscriber, target, provider, route, source string
}

func (e Event) key() aggKey {
	return aggKey{e.Kind, e.Tenant, e.Actor, e.Role, e.Subscriber, e.Target, e.Provider, e.Route, e.Source}
}

// Marshal is the event's stream form.
func (e Event) Marshal() []byte {
	b, _ := json.Marshal(e) // strings and times only: cannot fail
	return b
}

// Alert is an anomaly rule that fired.
type Alert struct {
	Rule    string        `json:"rule"`
	Subject string        `json:"subject"` // the token, tenant or "all" the rule counts per
	Count   int64         `json:"count"`   // events in the window, this one included
	Limit   int           `json:"limit"`
	Window  time.Duration `json:"-"`
	Span    string        `json:"window"` // Window, written out
	At      time.Time     `json:"at"`
}
