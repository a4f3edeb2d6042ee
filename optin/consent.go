package optin

import (
	"fmt"
	"time"
)

// ConsentState is what a consent check says of one person and one
// campaign: a State, or ConsentErased for a person whose data was erased
// and who has not joined again since.
type ConsentState uint8

// The consent states; the first four are the States of the same names.
const (
	ConsentNone ConsentState = iota
	ConsentPending
	ConsentSubscribed
	ConsentUnsubscribed
	ConsentErased
)

var consentNames = [...]string{
	ConsentNone:         "none",
	ConsentPending:      "pending",
	ConsentSubscribed:   "subscribed",
	ConsentUnsubscribed: "unsubscribed",
	ConsentErased:       "erased",
}

// String returns the state's name as it appears in JSON.
func (s ConsentState) String() string { return enumName(consentNames[:], s, "ConsentState") }

// MarshalText encodes the state as its name.
func (s ConsentState) MarshalText() ([]byte, error) {
	if int(s) >= len(consentNames) {
		return nil, fmt.Errorf("optin: invalid consent state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a consent state name.
func (s *ConsentState) UnmarshalText(b []byte) error {
	v, ok := enumNamed[ConsentState](consentNames[:], string(b))
	if !ok {
		return fmt.Errorf("optin: unknown consent state %q", b)
	}
	*s = v
	return nil
}

// Suppression is what is kept of a person after their data was erased:
// their pseudonym (a keyed hash of the number, the key it is stored
// under), when, and the id of the "erased" audit event. It lasts until
// the person subscribes again by text.
type Suppression struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"`
}

// Standing is what the store holds of one person under one tenant for a
// consent check: their enrollments and, after an erasure, the suppression
// entry.
type Standing struct {
	Subscriber  string // pseudonym
	Enrollments map[string]Enrollment
	Suppressed  *Suppression
}

// Consent is the answer of a consent check for one campaign: Allowed only
// in state subscribed; Since and Evidence (the id of the audit event that
// set the state, to look up in the subscriber's evidence) when known.
type Consent struct {
	Campaign string       `json:"campaign"`
	Allowed  bool         `json:"allowed"`
	State    ConsentState `json:"state"`
	Since    *time.Time   `json:"since"`
	Evidence *string      `json:"evidence"`
}

// Consent returns the standing's answer for campaign. A campaign the
// person never joined (state none) answers erased while a suppression
// entry is held; a campaign they joined again since answers its state.
func (st Standing) Consent(campaign string) Consent {
	c := Consent{Campaign: campaign}
	e, ok := st.Enrollments[campaign]
	switch {
	case (!ok || e.State == StateNone) && st.Suppressed != nil:
		at := st.Suppressed.At
		ev := st.Suppressed.Event
		c.State, c.Since, c.Evidence = ConsentErased, &at, &ev
		return c
	case !ok:
		return c
	}
	c.State = ConsentState(e.State)
	c.Allowed = e.State == StateSubscribed
	if !e.Since.IsZero() {
		since := e.Since
		c.Since = &since
	}
	if e.Event != "" {
		ev := e.Event
		c.Evidence = &ev
	}
	return c
}

// AudienceMember is one person subscribed to a campaign, as an audience
// export gives them.
type AudienceMember struct {
	Subscriber string // pseudonym: also the export's resume cursor
	Phone      Phone
	Since      time.Time
	Event      string // the audit event of the subscription, when known
}

// AudienceStats counts what an audience export went through.
type AudienceStats struct {
	Members int // given
	// WithoutNumber are subscribers the store holds no number of (a state
	// restored by rebuild, before the person texts again): left out.
	WithoutNumber int
}
