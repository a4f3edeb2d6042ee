package optin

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"time"
)

// Inbound is one message from a person to a business number, as every
// provider adapter normalises it.
type Inbound struct {
	Provider  string // "twilio"
	MessageID string // the provider's id, unique per message
	// From is the person's number, E.164, and To the business number it
	// was sent to (E.164 or a short code), as the gateway normalised them.
	// Both are empty in the pseudo-messages of changes that no text
	// caused (a revocation by hand, a provider's block).
	From, To Phone
	Text     string // the body exactly as received
	// ProviderOptOut is the provider's own reading of the message when it
	// handles opt-out itself (Twilio's OptOutType: "STOP", "START", "HELP");
	// empty otherwise.
	ProviderOptOut string
}

// Outcome names what Decide made of a message, for replies, logs and metrics.
type Outcome uint8

// The outcomes of Decide.
const (
	OutcomeIgnored           Outcome = iota // nothing to do
	OutcomeOptOut                           // consent revoked
	OutcomeHelp                             // help text sent
	OutcomePrompted                         // new code sent: now pending
	OutcomeResent                           // code sent again while pending
	OutcomeRateLimited                      // keyword while the prompt budget is spent
	OutcomeAlreadySubscribed                // keyword from a subscriber
	OutcomeConfirmed                        // right code: now subscribed
	OutcomeWrongCode                        // wrong code: attempts left − 1
	OutcomeVoided                           // wrong code, no attempts left: code voided
	OutcomeExpired                          // expired or voided code
	OutcomeProviderOptOut                   // the provider blocks the subscriber (ProviderBlocked)
	OutcomeErased                           // the subscriber's data was erased (Art. 17)
)

var outcomeNames = [...]string{
	OutcomeIgnored:           "ignored",
	OutcomeOptOut:            "opt_out",
	OutcomeHelp:              "help",
	OutcomePrompted:          "prompted",
	OutcomeResent:            "resent",
	OutcomeRateLimited:       "rate_limited",
	OutcomeAlreadySubscribed: "already_subscribed",
	OutcomeConfirmed:         "confirmed",
	OutcomeWrongCode:         "wrong_code",
	OutcomeVoided:            "voided",
	OutcomeExpired:           "expired",
	OutcomeProviderOptOut:    "provider_opt_out",
	OutcomeErased:            "erased",
}

// MarshalText encodes the outcome as its name.
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText decodes an outcome name; an unknown name is an error.
func (o *Outcome) UnmarshalText(b []byte) error {
	for i, n := range outcomeNames {
		if n == string(b) {
			*o = Outcome(i)
			return nil
		}
	}
	return fmt.Errorf("optin: unknown outcome %q", b)
}

// String returns the outcome's name.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Cause says what made a transition happen.
type Cause struct {
	Provider  string `json:"provider,omitempty"`   // inbound provider, e.g. "twilio"
	MessageID string `json:"message_id,omitempty"` // the provider's message id
	Words     string `json:"words,omitempty"`      // the normalised text that decided
	Actor     string `json:"actor,omitempty"`      // an admin actor, for changes by hand
	// Signal is the provider's own reading of the message or its refusal to
	// deliver: OptOutType ("STOP", "START", "HELP") of an inbound message,
	// or an error code such as "21610" of a refused send. Empty otherwise.
	Signal string `json:"signal,omitempty"`
	// Channel is how a revocation by hand reached the business: "support"
	// (an opt-out by hand), "email", "phone_call", "web_form", "in_person".
	Channel string `json:"channel,omitempty"`
	// Note is the reason or note given with a change by hand.
	Note string `json:"note,omitempty"`
	// RevokedAt is when the person revoked through Channel, when that is
	// before the event's At (the revocation's application).
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Event is one audit record in the making: a transition of one subscriber
// in one campaign, or a repeated revocation (From == To).
type Event struct {
	ID              string    `json:"id"` // stable id, set by the store
	Tenant          string    `json:"tenant"`
	Number          string    `json:"number"` // the business number
	Campaign        string    `json:"campaign"`
	CampaignVersion int       `json:"campaign_version"`
	Subscriber      string    `json:"subscriber"` // pseudonym
	From            State     `json:"from"`
	To              State     `json:"to"`
	At              time.Time `json:"at"`
	Reason          Outcome   `json:"reason"`
	Cause           Cause     `json:"cause"`
	// Replies are the exact texts sent in answer, the consent language
	// shown. Codes are masked.
	Replies []string `json:"replies,omitempty"`
	// Match says how the message was read: rule, matched text, the pack
	// and its version, and whether the rule is fuzzy.
	Match *Match `json:"match,omitempty"`
	// Sealed holds, as the store keeps an event, Cause.Words,
	// Match.Matched and Replies encrypted under the subscriber's data key;
	// those fields are then empty. Readers get them back opened.
	Sealed string `json:"sealed,omitempty"`
	// Erased is set on an event read back after its subscriber's data key
	// was destroyed: its texts are gone for good.
	Erased bool `json:"erased,omitempty"`
}

// Decision is what Decide concluded: the subscriber's next state, the
// replies to send and the audit events to record.
type Decision struct {
	Next    Subscriber
	Changed bool     // Next differs from the subscriber decided on
	Replies []string // texts to send back, in order
	Events  []Event
	Outcome Outcome
	// Words is the normalised text of the message.
	Words string
	// Match says how the message was read (zero for a message that meant
	// nothing).
	Match Match
}

// Decide runs the consent state machine of DESIGN.md for one inbound
// message to number n from subscriber sub, at time now. code supplies the
// digits of a fresh confirmation code: it must hold at least the campaign's
// CodeLength digits (GenerateCode(r, MaxCodeLength) always does) and is used
// only when a new code is issued. Decide is pure: it does no I/O, reads no
// clock and draws no randomness; it never modifies sub or n. n must be valid
// (Number.Validate) with defaults applied.
func Decide(sub Subscriber, n *Number, in Inbound, now time.Time, code string) Decision {
	d := &decider{
		sub:  sub,
		next: sub.clone(),
		n:    n,
		in:   in,
		now:  now,
		code: code,
	}
	d.dec.Words = Normalize(in.Text)
	d.decide()
	d.dec.Next = d.next
	return d.dec
}

type decider struct {
	sub, next Subscriber
	n         *Number
	in        Inbound
	now       time.Time
	code      string
	dec       Decision
}

func (d *decider) decide() {
	c := classify(d.n, d.dec.Words, d.in.Text)
	if c.kind != kindOptOut && strings.EqualFold(d.in.ProviderOptOut, "STOP") {
		// The provider read it as a revocation: when in doubt, opt out.
		c = classification{kind: kindOptOut, exact: true, match: Match{Rule: RuleProvider, Matched: "OptOutType=STOP"}}
	}
	d.dec.Match = c.match
	switch c.kind {
	case kindOptOut:
		d.optOut(c)
	case kindHelp:
		d.dec.Outcome = OutcomeHelp
		if !(c.exact && d.n.ProviderHandlesOptOut) {
			d.dec.Replies = []string{d.helpCampaign().Help}
		}
	case kindKeyword:
		d.keyword(c.campaign)
	case kindCode:
		d.confirm(c.code)
	}
}

// optOut revokes consent for one campaign or for every campaign of the
// revocation scope. A revocation is recorded even when it changes nothing,
// but confirmed at most once: someone already unsubscribed from every
// campaign it covers gets no reply.
func (d *decider) optOut(c classification) {
	d.dec.Outcome = OutcomeOptOut
	reply := d.n.StopReply
	if c.campaign != nil && c.campaign.StopReply != "" {
		reply = c.campaign.StopReply
	}
	covered := d.n.scope()
	if c.campaign != nil {
		covered = []Campaign{*c.campaign}
	}
	answer := false
	for _, camp := range covered {
		if d.sub.Enrollments[camp.ID].State != StateUnsubscribed {
			answer = true
		}
	}
	if answer && !(c.exact && d.n.ProviderHandlesOptOut) {
		d.dec.Replies = []string{reply}
	}
	for i := range covered {
		camp := &covered[i]
		e := d.next.Enrollments[camp.ID]
		if e.Code != nil {
			e.Code = nil
			e.CodeEndsAt = d.now
		}
		d.transition(camp, e, StateUnsubscribed, OutcomeOptOut)
	}
}

// keyword asks for (or re-sends) a confirmation code for campaign camp.
func (d *decider) keyword(camp *Campaign) {
	e := d.next.Enrollments[camp.ID]
	if e.State == StateSubscribed {
		d.dec.Outcome = OutcomeAlreadySubscribed
		d.dec.Replies = []string{camp.AlreadySubscribed}
		return
	}
	e.Prompts = recentPrompts(e.Prompts, d.now, camp.PromptWindow)
	if len(e.Prompts) >= camp.MaxPrompts {
		d.dec.Outcome = OutcomeRateLimited
		if len(e.Prompts) != len(d.sub.Enrollments[camp.ID].Prompts) {
			d.next.Enrollments[camp.ID] = e
			d.dec.Changed = true
		}
		return
	}
	e.Prompts = append(e.Prompts, d.now)
	outcome := OutcomeResent
	if e.State != StatePending || !e.Code.live(d.now) {
		if e.State != StatePending {
			outcome = OutcomePrompted
		}
		digits := d.code
		if len(digits) > camp.CodeLength {
			digits = digits[:camp.CodeLength]
		}
		e.Code = &PendingCode{Code: digits, ExpiresAt: d.now.Add(camp.CodeTTL), AttemptsLeft: camp.MaxAttempts}
		e.CodeEndsAt = e.Code.ExpiresAt
	}
	d.dec.Outcome = outcome
	d.dec.Replies = []string{strings.ReplaceAll(camp.Prompt, CodePlaceholder, e.Code.Code)}
	d.transition(camp, e, StatePending, outcome, strings.ReplaceAll(camp.Prompt, CodePlaceholder, MaskedCode))
}

// confirm handles a message that reads as a confirmation code.
func (d *decider) confirm(code string) {
	var live []*Campaign
	for i := range d.n.Campaigns {
		camp := &d.n.Campaigns[i]
		e := d.next.Enrollments[camp.ID]
		if e.State == StatePending && e.Code.live(d.now) {
			live = append(live, camp)
		}
	}
	for _, camp := range live {
		e := d.next.Enrollments[camp.ID]
		if subtle.ConstantTimeCompare([]byte(e.Code.Code), []byte(code)) == 1 {
			e.Code, e.CodeEndsAt, e.Prompts = nil, time.Time{}, nil
			d.dec.Outcome = OutcomeConfirmed
			d.dec.Replies = []string{camp.Confirmation}
			d.transition(camp, e, StateSubscribed, OutcomeConfirmed)
			return
		}
	}
	if len(live) > 0 {
		// A wrong code costs an attempt on every live code of the number.
		d.dec.Outcome = OutcomeWrongCode
		for _, camp := range live {
			e := d.next.Enrollments[camp.ID]
			code := *e.Code
			code.AttemptsLeft--
			e.Code = &code
			if code.AttemptsLeft > 0 {
				d.next.Enrollments[camp.ID] = e
				d.dec.Changed = true
				continue
			}
			d.dec.Outcome = OutcomeVoided
			e.Code, e.CodeEndsAt = nil, d.now
			d.transition(camp, e, StateNone, OutcomeVoided)
		}
		return
	}
	// No live code: a code that expired or was voided lately gets a hint.
	var latest *Campaign
	for i := range d.n.Campaigns {
		camp := &d.n.Campaigns[i]
		e := d.next.Enrollments[camp.ID]
		if e.State == StateSubscribed || e.CodeEndsAt.IsZero() || d.now.Sub(e.CodeEndsAt) > DefaultExpiredWindow {
			continue
		}
		if latest == nil || e.CodeEndsAt.After(d.next.Enrollments[latest.ID].CodeEndsAt) {
			latest = camp
		}
	}
	if latest != nil {
		d.dec.Outcome = OutcomeExpired
		d.dec.Replies = []string{latest.Expired}
	}
}

// transition stores e as the enrollment of camp with state to and records
// the audit event. A revocation is recorded even when it changes nothing.
// replies, when given, stand for the decision's replies in the event (a
// prompt with its code masked).
func (d *decider) transition(camp *Campaign, e Enrollment, to State, why Outcome, replies ...string) {
	if replies == nil {
		replies = d.dec.Replies
	}
	from := d.sub.Enrollments[camp.ID].State
	m := d.dec.Match
	if from != to {
		e.State, e.Since = to, d.now
	}
	d.next.Enrollments[camp.ID] = e
	d.dec.Changed = true
	d.dec.Events = append(d.dec.Events, Event{
		Tenant:          d.n.Tenant,
		Number:          d.n.E164,
		Campaign:        camp.ID,
		CampaignVersion: camp.Version,
		Subscriber:      d.sub.ID,
		From:            from,
		To:              to,
		At:              d.now,
		Reason:          why,
		Cause:           Cause{Provider: d.in.Provider, MessageID: d.in.MessageID, Words: d.causeWords(), Signal: strings.ToUpper(d.in.ProviderOptOut)},
		Replies:         replies,
		Match:           &m,
	})
}

// causeWords are the words an event records as its cause: the normalised
// message, except for a confirmation code, which is never recorded.
func (d *decider) causeWords() string {
	if d.dec.Match.Rule == RuleCode {
		return ""
	}
	return d.dec.Words
}

// helpCampaign is the campaign a HELP is about: the one the subscriber
// joined or asked to join last, else the number's default.
func (d *decider) helpCampaign() *Campaign {
	best := &d.n.Campaigns[0]
	var since time.Time
	for i := range d.n.Campaigns {
		e := d.sub.Enrollments[d.n.Campaigns[i].ID]
		if (e.State == StatePending || e.State == StateSubscribed) && e.Since.After(since) {
			best, since = &d.n.Campaigns[i], e.Since
		}
	}
	return best
}

// recentPrompts drops the prompt times that fell out of the window.
func recentPrompts(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= window {
		i++
	}
	return ts[i:]
}
