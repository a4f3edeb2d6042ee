package optin

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Code limits and defaults of DESIGN.md.
const (
	MinCodeLength         = 4
	MaxCodeLength         = 10
	DefaultCodeLength     = 6
	DefaultCodeTTL        = time.Hour
	DefaultMaxAttempts    = 5
	DefaultMaxPrompts     = 3
	DefaultPromptWindow   = time.Hour
	DefaultExpiredWindow  = 24 * time.Hour
	CodePlaceholder       = "{code}"
	maxShortMessageWords  = 8
	defaultExpiredReply   = "Your code has expired. Text %s again for a new one."
	defaultAlreadySubText = "You're already subscribed to %s. Reply HELP for help, STOP to cancel."
)

// Campaign is one program a business runs on its numbers: its keywords,
// the texts it sends and its code policy. Campaign values are configuration:
// Decide never changes them.
type Campaign struct {
	ID       string   // stable identifier, e.g. "deals"
	Name     string   // program name shown to people, e.g. "ACME Deals"
	Keywords []string // opt-in keywords, e.g. JOIN; matched after Normalize
	Version  int      // configuration version, recorded in audit events

	Prompt            string // sent with a new code; must contain {code}
	Confirmation      string // sent when the code is confirmed
	Help              string // answer to HELP and INFO
	StopReply         string // answer to "STOP <keyword>"; empty: the number's
	AlreadySubscribed string // answer to a keyword from a subscriber
	Expired           string // answer to an expired or voided code

	CodeLength   int           // digits, MinCodeLength..MaxCodeLength
	CodeTTL      time.Duration // how long a code stays valid
	MaxAttempts  int           // wrong codes before the code is voided
	MaxPrompts   int           // prompts per PromptWindow
	PromptWindow time.Duration
}

// WithDefaults returns c with every zero limit and empty optional text set
// to its default.
func (c Campaign) WithDefaults() Campaign {
	if c.CodeLength == 0 {
		c.CodeLength = DefaultCodeLength
	}
	if c.CodeTTL == 0 {
		c.CodeTTL = DefaultCodeTTL
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxPrompts == 0 {
		c.MaxPrompts = DefaultMaxPrompts
	}
	if c.PromptWindow == 0 {
		c.PromptWindow = DefaultPromptWindow
	}
	if c.Expired == "" && len(c.Keywords) > 0 {
		c.Expired = fmt.Sprintf(defaultExpiredReply, strings.ToUpper(c.Keywords[0]))
	}
	if c.AlreadySubscribed == "" {
		c.AlreadySubscribed = fmt.Sprintf(defaultAlreadySubText, c.Name)
	}
	return c
}

// Validate reports the first problem with c, naming the field.
func (c Campaign) Validate() error {
	switch {
	case c.ID == "":
		return fmt.Errorf("%w: campaign id is empty", ErrInvalid)
	case c.Name == "":
		return fmt.Errorf("%w: campaign %s: name is empty", ErrInvalid, c.ID)
	case len(c.Keywords) == 0:
		return fmt.Errorf("%w: campaign %s: keywords is empty", ErrInvalid, c.ID)
	case c.CodeLength < MinCodeLength || c.CodeLength > MaxCodeLength:
		return fmt.Errorf("%w: campaign %s: code_length %d is outside %d..%d", ErrInvalid, c.ID, c.CodeLength, MinCodeLength, MaxCodeLength)
	case c.CodeTTL <= 0:
		return fmt.Errorf("%w: campaign %s: code_ttl must be positive", ErrInvalid, c.ID)
	case c.MaxAttempts <= 0:
		return fmt.Errorf("%w: campaign %s: max_attempts must be positive", ErrInvalid, c.ID)
	case c.MaxPrompts <= 0 || c.PromptWindow <= 0:
		return fmt.Errorf("%w: campaign %s: max_prompts and prompt_window must be positive", ErrInvalid, c.ID)
	case !strings.Contains(c.Prompt, CodePlaceholder):
		return fmt.Errorf("%w: campaign %s: prompt lacks the %s placeholder", ErrInvalid, c.ID, CodePlaceholder)
	case c.Confirmation == "":
		return fmt.Errorf("%w: campaign %s: confirmation is empty", ErrInvalid, c.ID)
	case c.Help == "":
		return fmt.Errorf("%w: campaign %s: help is empty", ErrInvalid, c.ID)
	}
	for _, k := range c.Keywords {
		w := Normalize(k)
		switch {
		case !slices.Equal(words(w), []string{w}):
			// Messages are split into words at anything but letters, digits
			// and marks: "e-news" would never match a message.
			return fmt.Errorf("%w: campaign %s: keyword %q must be one word", ErrInvalid, c.ID, k)
		case optOutWords[w]:
			return fmt.Errorf("%w: campaign %s: keyword %q is an opt-out word", ErrInvalid, c.ID, k)
		case helpWords[w]:
			return fmt.Errorf("%w: campaign %s: keyword %q is a help word", ErrInvalid, c.ID, k)
		case isDigits(w):
			return fmt.Errorf("%w: campaign %s: keyword %q is all digits and would read as a code", ErrInvalid, c.ID, k)
		}
	}
	return nil
}

// Number is a business phone number (or short code) of a tenant and the
// campaigns that run on it. The first campaign is the number's default: the
// one START and UNSTOP join.
type Number struct {
	Tenant    string
	E164      string // the business number, E.164 or a short code
	Campaigns []Campaign
	// StopReply confirms a revocation that covers every campaign.
	StopReply string
	// ProviderHandlesOptOut says the provider itself answers STOP and HELP
	// (Twilio's default opt-out handling): the gateway records revocations
	// but sends no reply of its own to the words the provider answers.
	ProviderHandlesOptOut bool
}

// Validate reports the first problem with n, naming the field.
func (n Number) Validate() error {
	if n.Tenant == "" {
		return fmt.Errorf("%w: number %s: tenant is empty", ErrInvalid, n.E164)
	}
	if len(n.Campaigns) == 0 {
		return fmt.Errorf("%w: number %s: campaigns is empty", ErrInvalid, n.E164)
	}
	if n.StopReply == "" {
		return fmt.Errorf("%w: number %s: stop_reply is empty", ErrInvalid, n.E164)
	}
	seen := map[string]string{}
	ids := map[string]bool{}
	for i, c := range n.Campaigns {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("number %s: %w", n.E164, err)
		}
		if ids[c.ID] {
			return fmt.Errorf("%w: number %s: campaign %s listed twice", ErrInvalid, n.E164, c.ID)
		}
		ids[c.ID] = true
		for _, k := range c.Keywords {
			w := Normalize(k)
			if i > 0 && startWords[w] {
				return fmt.Errorf("%w: number %s: campaign %s: keyword %q always joins the first campaign %s", ErrInvalid, n.E164, c.ID, k, n.Campaigns[0].ID)
			}
			if other, dup := seen[w]; dup {
				return fmt.Errorf("%w: number %s: keyword %q used by campaigns %s and %s", ErrInvalid, n.E164, k, other, c.ID)
			}
			seen[w] = c.ID
		}
	}
	return nil
}

// Campaign returns the campaign with the given id.
func (n *Number) Campaign(id string) (*Campaign, bool) {
	for i := range n.Campaigns {
		if n.Campaigns[i].ID == id {
			return &n.Campaigns[i], true
		}
	}
	return nil, false
}

// campaignByKeyword returns the campaign whose keyword is the normalised
// word w; START and UNSTOP name the default campaign.
func (n *Number) campaignByKeyword(w string) (*Campaign, bool) {
	if startWords[w] {
		return &n.Campaigns[0], true
	}
	for i := range n.Campaigns {
		for _, k := range n.Campaigns[i].Keywords {
			if Normalize(k) == w {
				return &n.Campaigns[i], true
			}
		}
	}
	return nil, false
}
