package optin

import (
	"maps"
	"time"
)

// Subscriber is one person as one tenant knows them, across that tenant's
// campaigns. It is identified by a pseudonym, never by the phone number.
type Subscriber struct {
	Tenant  string
	ID      string // keyed-HMAC pseudonym of the E.164 number
	Version int64  // bumped by the store on every write; 0: never stored
	// Enrollments holds the state per campaign id; a campaign that is
	// missing is in StateNone.
	Enrollments map[string]Enrollment
	// Phone is the subscriber's number when the caller knows it (the
	// store's Load sets it); the store keeps it only sealed.
	Phone Phone
	// Key is the store's handle on what it loaded the subscriber from (the
	// data key among it), set by Load and used by Apply; nil for a
	// subscriber the store did not load.
	Key Handle
}

// Handle is the store's handle on a subscriber it loaded: opaque to the
// domain, which only carries it from Load to Apply. The store's own type
// implements it, and the store asserts it back to that type.
type Handle interface {
	// StoreHandle marks the store's type; it does nothing.
	StoreHandle()
}

// Enrollment is a subscriber's standing with one campaign.
type Enrollment struct {
	State State     `json:"state"`
	Since time.Time `json:"since"` // when State was entered
	// Event is the id of the audit event of the transition that set State
	// (the store assigns event ids, and sets it when it writes the
	// transition); empty for a state written before it was kept.
	Event string `json:"event,omitempty"`
	// Code is the live confirmation code while pending; nil otherwise. The
	// store keeps it in a key of its own that expires with it.
	Code *PendingCode `json:"-"`
	// CodeEndsAt is when the last code issued stops (or stopped) being
	// valid; zero once a code is confirmed. It lets an expired or voided
	// code get the "expired" reply.
	CodeEndsAt time.Time `json:"code_ends_at,omitzero"`
	// Prompts holds the times of the prompts sent within the campaign's
	// prompt window, oldest first.
	Prompts []time.Time `json:"prompts,omitempty"`
}

// PendingCode is a confirmation code waiting for its reply.
type PendingCode struct {
	Code         string    `json:"code"`
	ExpiresAt    time.Time `json:"expires_at"`
	AttemptsLeft int       `json:"attempts_left"`
}

// live reports whether the code can still be confirmed at now.
func (p *PendingCode) live(now time.Time) bool {
	return p != nil && p.AttemptsLeft > 0 && now.Before(p.ExpiresAt)
}

// Enrollment returns the subscriber's standing with campaign id.
func (s Subscriber) Enrollment(id string) Enrollment {
	return s.Enrollments[id]
}

// clone returns a copy of s that shares nothing mutable with it.
func (s Subscriber) clone() Subscriber {
	c := s
	c.Enrollments = maps.Clone(s.Enrollments)
	if c.Enrollments == nil {
		c.Enrollments = map[string]Enrollment{}
	}
	for id, e := range c.Enrollments {
		if e.Code != nil {
			code := *e.Code
			e.Code = &code
		}
		e.Prompts = append([]time.Time(nil), e.Prompts...)
		c.Enrollments[id] = e
	}
	return c
}
