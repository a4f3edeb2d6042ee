package optin

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
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
		case isDigits(w):
			return fmt.Errorf("%w: campaign %s: keyword %q is all digits and would read as a code", ErrInvalid, c.ID, k)
		}
		if err := checkKeyword(stripMarks(w), []*Pack{packs[DefaultPack]}, true); err != nil {
			return fmt.Errorf("%w: campaign %s: keyword %q %v", ErrInvalid, c.ID, k, err)
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
	// Packs names the keyword packs enabled beside DefaultPack, which every
	// number has (see PackNames).
	Packs []string
	// Scope holds the campaigns that a revocation naming no campaign
	// covers: every campaign of the tenant when its revocation scope is
	// "tenant". Nil means Campaigns (scope "number").
	Scope []Campaign
}

// CampaignIDs returns the ids of every campaign a message to n may change:
// its own campaigns, then the rest of its revocation scope.
func (n *Number) CampaignIDs() []string {
	ids := make([]string, 0, len(n.Campaigns)+len(n.Scope))
	for _, cs := range [][]Campaign{n.Campaigns, n.Scope} {
		for _, c := range cs {
			if !slices.Contains(ids, c.ID) {
				ids = append(ids, c.ID)
			}
		}
	}
	return ids
}

// scope returns the campaigns a general revocation covers.
func (n *Number) scope() []Campaign {
	if n.Scope != nil {
		return n.Scope
	}
	return n.Campaigns
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
	for _, name := range n.Packs {
		if _, ok := packs[name]; !ok {
			return fmt.Errorf("%w: number %s: keyword_packs: unknown pack %q (have %s)", ErrInvalid, n.E164, name, strings.Join(PackNames(), ", "))
		}
	}
	var programs []string // names and keywords may hold a marketing word
	for _, c := range n.Campaigns {
		programs = append(append(programs, c.Name), c.Keywords...)
	}
	if err := noMarketing(n.StopReply, programs...); err != nil {
		return fmt.Errorf("%w: number %s: stop_reply %v", ErrInvalid, n.E164, err)
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
		if err := noMarketing(c.StopReply, programs...); err != nil {
			return fmt.Errorf("%w: number %s: campaign %s: stop_reply %v", ErrInvalid, n.E164, c.ID, err)
		}
		for _, k := range c.Keywords {
			w := stripMarks(Normalize(k))
			if err := checkKeyword(w, n.packsOf(), i == 0); err != nil {
				return fmt.Errorf("%w: number %s: campaign %s: keyword %q %v", ErrInvalid, n.E164, c.ID, k, err)
			}
			if other, dup := seen[w]; dup {
				return fmt.Errorf("%w: number %s: keyword %q used by campaigns %s and %s", ErrInvalid, n.E164, k, other, c.ID)
			}
			seen[w] = c.ID
		}
	}
	if n.Scope != nil {
		for _, c := range n.Campaigns {
			if !slices.ContainsFunc(n.Scope, func(s Campaign) bool { return s.ID == c.ID }) {
				return fmt.Errorf("%w: number %s: campaign %s is missing from the revocation scope", ErrInvalid, n.E164, c.ID)
			}
		}
	}
	return nil
}

// checkKeyword reports why match-form keyword w cannot be a campaign
// keyword where packs ps are enabled: it is a word of one of them, or so
// close to an opt-out word that it would read as its typo. An opt-in word
// may be a keyword of the default campaign (first), which it joins anyway.
func checkKeyword(w string, ps []*Pack, first bool) error {
	for _, p := range ps {
		switch {
		case slices.ContainsFunc(p.OptOut, func(e []string) bool { return slices.Equal(e, []string{w}) }):
			return fmt.Errorf("is an opt-out word of pack %s", p.Name)
		case p.Help[w]:
			return fmt.Errorf("is a help word of pack %s", p.Name)
		case p.OptIn[w] && !first:
			return fmt.Errorf("is an opt-in word of pack %s (it always joins the number's first campaign)", p.Name)
		}
		for _, e := range p.OptOut {
			if len(e) == 1 && utf8.RuneCountInString(e[0]) >= 4 && oneEdit(w, e[0]) && !p.NotTypo[w] {
				return fmt.Errorf("would read as a typo of the opt-out word %q (pack %s)", e[0], p.Name)
			}
		}
	}
	return nil
}

// marketing are words that have no place in a revocation's confirmation:
// it confirms, and may say how to rejoin, but sells nothing (TCPA: at most
// one confirmation text, no marketing).
var marketing = map[string]bool{
	"free": true, "offer": true, "offers": true, "sale": true, "sales": true, "discount": true,
	"discounts": true, "coupon": true, "coupons": true, "promo": true, "promotion": true,
	"deal": true, "deals": true, "win": true, "prize": true, "save": true, "bonus": true,
}

// noMarketing reports a link, a percentage or a marketing word in a
// revocation's confirmation text, leaving out the program names and
// keywords given (which may hold such a word, as "ACME Deals" does).
func noMarketing(text string, programs ...string) error {
	t := Normalize(text)
	for _, f := range strings.Fields(t) {
		f = strings.TrimFunc(f, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if strings.Contains(f, "://") || strings.HasPrefix(f, "www.") || linkLike(f) {
			return fmt.Errorf("holds a link (%q): a revocation's confirmation may not market", f)
		}
	}
	if strings.Contains(t, "%") {
		return fmt.Errorf("holds an offer (%%): a revocation's confirmation may not market")
	}
	for _, p := range programs {
		t = replaceWord(t, Normalize(p))
	}
	for _, w := range words(t) {
		if marketing[w] {
			return fmt.Errorf("holds the marketing word %q: a revocation's confirmation may not market", w)
		}
	}
	return nil
}

// linkLike reports a bare domain such as "acme.example/deals" or "acme.com".
func linkLike(f string) bool {
	host, _, _ := strings.Cut(f, "/")
	dot := strings.LastIndexByte(host, '.')
	if dot <= 0 || dot == len(host)-1 {
		return false
	}
	tld := host[dot+1:]
	for _, r := range tld {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return len(tld) >= 2 && strings.IndexFunc(host[:dot], unicode.IsLetter) >= 0
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

// campaignByKeyword returns the campaign whose keyword is the match-form
// word w.
func (n *Number) campaignByKeyword(w string) (*Campaign, bool) {
	for i := range n.Campaigns {
		for _, k := range n.Campaigns[i].Keywords {
			if stripMarks(Normalize(k)) == w {
				return &n.Campaigns[i], true
			}
		}
	}
	return nil, false
}

// replaceWord blanks every whole-word occurrence of w in t.
func replaceWord(t, w string) string {
	ws := words(t)
	var out []string
	for i := 0; i < len(ws); i++ {
		if n := len(words(w)); n > 0 && i+n <= len(ws) && slices.Equal(ws[i:i+n], words(w)) {
			i += n - 1
			continue
		}
		out = append(out, ws[i])
	}
	return strings.Join(out, " ")
}
