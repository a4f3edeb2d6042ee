package optin

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config documents: tenants, campaigns and numbers, defined once. The
// configuration file (config/example.yaml, through config.Load), the admin
// API, optinctl and the OpenAPI document (gateway/openapi.json) all use
// these types, so that their JSON and YAML names are the same; tests of
// each consumer hold them to these fields (internal/schematest).

// Limits of the config documents.
const (
	DefaultMaxSegments = 3
	MaxMaxSegments     = 10
)

// FieldError is a validation error that names the field at fault, as a
// JSON path of the document ("prompt", "keywords[1]"). It wraps ErrInvalid.
type FieldError struct {
	Field string
	Msg   string // starts with the field's name
}

func (e *FieldError) Error() string { return e.Msg }

// Unwrap makes a FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: field + " " + fmt.Sprintf(format, args...)}
}

// Duration is a time.Duration that reads and writes as a Go duration
// string, "1h0m0s", in JSON and in YAML (any encoding.TextUnmarshaler
// decoder). An empty string is 0: the field's default.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 90s or 1h", b)
	}
	*d = Duration(v)
	return nil
}

// Meta is what the store adds to every config document. Of it, a
// configuration file gives only a campaign's version.
type Meta struct {
	Version   int       `json:"version" yaml:"version"` // 1 on create, +1 per change
	UpdatedAt time.Time `json:"updated_at" yaml:"-"`
	UpdatedBy string    `json:"updated_by" yaml:"-"` // "operator" or a token id
}

// TenantDoc is a tenant: one business.
type TenantDoc struct {
	ID              string `json:"id" yaml:"id"` // ValidID, unique
	Name            string `json:"name" yaml:"name"`
	RevocationScope string `json:"revocation_scope" yaml:"revocation_scope"` // "number" (default) or "tenant"
	Meta            `yaml:"-"`
}

// TenantConfig is a tenant as a configuration file (config/example.yaml)
// and optinctl's campaigns files list it: the tenant with its campaigns
// and its numbers. On the admin API they are separate documents.
type TenantConfig struct {
	TenantDoc `yaml:",inline"`
	Campaigns []CampaignDoc `json:"-" yaml:"campaigns"`
	Numbers   []NumberDoc   `json:"-" yaml:"numbers"`
}

// CampaignDoc is an optin.Campaign as configured. Zero limits take their
// defaults (WithDefaults).
type CampaignDoc struct {
	ID                string   `json:"id" yaml:"id"`
	Name              string   `json:"name" yaml:"name"`
	Keywords          []string `json:"keywords" yaml:"keywords"`
	Prompt            string   `json:"prompt" yaml:"prompt"`
	Confirmation      string   `json:"confirmation" yaml:"confirmation"`
	Help              string   `json:"help" yaml:"help"`
	StopReply         string   `json:"stop_reply" yaml:"stop_reply"`
	AlreadySubscribed string   `json:"already_subscribed" yaml:"already_subscribed"`
	Expired           string   `json:"expired" yaml:"expired"`
	CodeLength        int      `json:"code_length" yaml:"code_length"`
	CodeTTL           Duration `json:"code_ttl" yaml:"code_ttl"`
	MaxAttempts       int      `json:"max_attempts" yaml:"max_attempts"`
	MaxPrompts        int      `json:"max_prompts" yaml:"max_prompts"`
	PromptWindow      Duration `json:"prompt_window" yaml:"prompt_window"`
	MaxSegments       int      `json:"max_segments" yaml:"max_segments"`
	Meta              `yaml:",inline"`
}

// NumberDoc is a business number of a tenant as configured.
type NumberDoc struct {
	// Number is the business number in E.164 ("+12025550100") or a short
	// code ("55555"); the config file may write it as a person would.
	Number string `json:"number" yaml:"number"`
	// Campaigns are campaign ids of the tenant; the first is the number's
	// default, the one START and UNSTOP join.
	Campaigns             []string `json:"campaigns" yaml:"campaigns"`
	StopReply             string   `json:"stop_reply" yaml:"stop_reply"`
	ProviderHandlesOptOut bool     `json:"provider_handles_opt_out" yaml:"provider_handles_opt_out"`
	// KeywordPacks enables keyword packs (PackNames) beside "en", which
	// every number has.
	KeywordPacks []string `json:"keyword_packs" yaml:"keyword_packs"`
	// ReplyMode is "twiml" (replies in the webhook's answer, the default)
	// or "api" (replies queued and sent through the provider's API).
	ReplyMode string `json:"reply_mode" yaml:"reply_mode"`
	// RateLimit is the number's sending rate through the API in messages
	// per second; 0 means the default for its kind (long code 1,
	// toll-free 3, short code 100).
	RateLimit float64 `json:"rate_limit" yaml:"rate_limit"`
	Meta      `yaml:"-"`
}

var docID = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// IDRule says what ValidID accepts, for error messages.
const IDRule = "must be 1 to 64 of a-z, 0-9 and -"

// ValidID reports whether id is a valid tenant or campaign id.
func ValidID(id string) bool { return docID.MatchString(id) }

// WithDefaults returns t with its defaults applied.
func (t TenantDoc) WithDefaults() TenantDoc {
	if t.RevocationScope == "" {
		t.RevocationScope = "number"
	}
	return t
}

// Validate reports the first problem with t as a *FieldError.
func (t TenantDoc) Validate() error {
	switch {
	case !ValidID(t.ID):
		return fieldErr("id", "%q "+IDRule, t.ID)
	case strings.TrimSpace(t.Name) == "":
		return fieldErr("name", "is empty")
	case t.RevocationScope != "number" && t.RevocationScope != "tenant":
		return fieldErr("revocation_scope", "must be number or tenant")
	}
	return nil
}

// WithDefaults returns d with every zero limit set to its default.
func (d CampaignDoc) WithDefaults() CampaignDoc {
	c := d.Campaign()
	d.CodeLength, d.CodeTTL, d.MaxAttempts = c.CodeLength, Duration(c.CodeTTL), c.MaxAttempts
	d.MaxPrompts, d.PromptWindow = c.MaxPrompts, Duration(c.PromptWindow)
	if d.MaxSegments == 0 {
		d.MaxSegments = DefaultMaxSegments
	}
	if d.Keywords == nil {
		d.Keywords = []string{}
	}
	return d
}

// Campaign returns d as the campaign Decide runs, defaults applied; its
// Version is the document's.
func (d CampaignDoc) Campaign() Campaign {
	return Campaign{
		ID: d.ID, Name: d.Name, Keywords: slices.Clone(d.Keywords), Version: d.Version,
		Prompt: d.Prompt, Confirmation: d.Confirmation, Help: d.Help, StopReply: d.StopReply,
		AlreadySubscribed: d.AlreadySubscribed, Expired: d.Expired,
		CodeLength: d.CodeLength, CodeTTL: time.Duration(d.CodeTTL), MaxAttempts: d.MaxAttempts,
		MaxPrompts: d.MaxPrompts, PromptWindow: time.Duration(d.PromptWindow),
	}.WithDefaults()
}

// The CTIA's requirements of a opt-in prompt (CTIA Messaging Principles and
// Best Practices, 5.1): the program name, the message frequency, "Msg&data
// rates may apply", and how to get help and to stop.
var (
	frequency = regexp.MustCompile(`(?i)\bmsgs?\s*(/|per|a|an|each|every)\s*(day|d|wk|week|mo|mon|month|yr|year|qtr|quarter)\b|\brecurring\b`)
	ratesLine = regexp.MustCompile(`(?i)\bmsg\s*(&|and)\s*data\s+rates\s+may\s+apply\b`)
)

// Validate reports the first problem with d (defaults applied) as a
// *FieldError: the checks of Campaign.Validate, the CTIA's prompt
// requirements, texts longer than d.MaxSegments SMS segments, and a stop
// reply that markets.
func (d CampaignDoc) Validate() error {
	switch {
	case !ValidID(d.ID):
		return fieldErr("id", "%q "+IDRule, d.ID)
	case strings.TrimSpace(d.Name) == "":
		return fieldErr("name", "is empty")
	case len(d.Keywords) == 0:
		return fieldErr("keywords", "is empty")
	case d.CodeLength < MinCodeLength || d.CodeLength > MaxCodeLength:
		return fieldErr("code_length", "%d is outside %d..%d", d.CodeLength, MinCodeLength, MaxCodeLength)
	case d.CodeTTL <= 0:
		return fieldErr("code_ttl", "must be positive")
	case d.MaxAttempts <= 0:
		return fieldErr("max_attempts", "must be positive")
	case d.MaxPrompts <= 0:
		return fieldErr("max_prompts", "must be positive")
	case d.PromptWindow <= 0:
		return fieldErr("prompt_window", "must be positive")
	case d.MaxSegments < 1 || d.MaxSegments > MaxMaxSegments:
		return fieldErr("max_segments", "%d is outside 1..%d", d.MaxSegments, MaxMaxSegments)
	case !strings.Contains(d.Prompt, CodePlaceholder):
		return fieldErr("prompt", "lacks the %s placeholder", CodePlaceholder)
	case !strings.Contains(Normalize(d.Prompt), Normalize(d.Name)):
		return fieldErr("prompt", "lacks the program name %q", d.Name)
	case !frequency.MatchString(d.Prompt):
		return fieldErr("prompt", "lacks the message frequency (e.g. \"Up to 4 msg/mo\")")
	case !ratesLine.MatchString(d.Prompt):
		return fieldErr("prompt", "lacks \"Msg&data rates may apply\"")
	case !slices.Contains(words(Normalize(d.Prompt)), "help"):
		return fieldErr("prompt", "lacks HELP instructions (e.g. \"Reply HELP for help\")")
	case !slices.Contains(words(Normalize(d.Prompt)), "stop"):
		return fieldErr("prompt", "lacks STOP instructions (e.g. \"Reply STOP to cancel\")")
	case strings.TrimSpace(d.Confirmation) == "":
		return fieldErr("confirmation", "is empty")
	case strings.TrimSpace(d.Help) == "":
		return fieldErr("help", "is empty")
	}
	seen := map[string]int{}
	for i, k := range d.Keywords {
		f := fmt.Sprintf("keywords[%d]", i)
		w := Normalize(k)
		switch {
		case w == "":
			return fieldErr(f, "is empty")
		case !slices.Equal(words(w), []string{w}):
			return fieldErr(f, "%q must be one word", k)
		case isDigits(w):
			return fieldErr(f, "%q is all digits and would read as a code", k)
		}
		if err := checkKeyword(stripMarks(w), []*Pack{packs[DefaultPack]}, true); err != nil {
			return fieldErr(f, "%q %v", k, err)
		}
		if j, dup := seen[stripMarks(w)]; dup {
			return fieldErr(f, "%q is keywords[%d] again", k, j)
		}
		seen[stripMarks(w)] = i
	}
	if err := noMarketing(d.StopReply, append([]string{d.Name}, d.Keywords...)...); d.StopReply != "" && err != nil {
		return fieldErr("stop_reply", "%v", err)
	}
	c := d.Campaign()
	texts := []struct{ field, text string }{
		{"prompt", strings.ReplaceAll(d.Prompt, CodePlaceholder, strings.Repeat("0", d.CodeLength))},
		{"confirmation", d.Confirmation}, {"help", d.Help}, {"stop_reply", d.StopReply},
		{"already_subscribed", c.AlreadySubscribed}, {"expired", c.Expired},
	}
	for _, t := range texts {
		if n := Segments(t.text); n > d.MaxSegments {
			return fieldErr(t.field, "takes %d SMS segments; max_segments is %d", n, d.MaxSegments)
		}
	}
	return nil
}

// WithDefaults returns n with its defaults applied.
func (n NumberDoc) WithDefaults() NumberDoc {
	if n.ReplyMode == "" {
		n.ReplyMode = "twiml"
	}
	if n.Campaigns == nil {
		n.Campaigns = []string{}
	}
	if n.KeywordPacks == nil {
		n.KeywordPacks = []string{}
	}
	return n
}

// BuildNumber returns the Number that doc (defaults applied) of tenant t
// defines, its campaigns taken from campaigns by id (defaults applied); the
// revocation scope holds every campaign of the tenant when t's scope is
// "tenant". It reports the first problem as a *FieldError: the checks of
// Number.Validate, a campaign that does not exist, a keyword used twice on
// the number or one that is an opt-out or help word of an enabled pack.
func BuildNumber(t TenantDoc, doc NumberDoc, campaigns map[string]CampaignDoc) (*Number, error) {
	switch {
	case len(doc.Campaigns) == 0:
		return nil, fieldErr("campaigns", "is empty")
	case strings.TrimSpace(doc.StopReply) == "":
		return nil, fieldErr("stop_reply", "is empty")
	case doc.ReplyMode != "twiml" && doc.ReplyMode != "api":
		return nil, fieldErr("reply_mode", "must be twiml or api")
	case doc.RateLimit < 0:
		return nil, fieldErr("rate_limit", "must not be negative")
	}
	n := &Number{
		Tenant: t.ID, E164: doc.Number, StopReply: doc.StopReply,
		ProviderHandlesOptOut: doc.ProviderHandlesOptOut, Packs: slices.Clone(doc.KeywordPacks),
	}
	for i, id := range doc.Campaigns {
		c, ok := campaigns[id]
		switch {
		case !ok:
			return nil, fieldErr(fmt.Sprintf("campaigns[%d]", i), "%q: tenant %s has no such campaign", id, t.ID)
		case slices.Index(doc.Campaigns, id) < i:
			return nil, fieldErr(fmt.Sprintf("campaigns[%d]", i), "%q is listed twice", id)
		}
		n.Campaigns = append(n.Campaigns, c.Campaign())
	}
	if t.RevocationScope == "tenant" {
		n.Scope = []Campaign{}
		for _, id := range slices.Sorted(maps.Keys(campaigns)) {
			n.Scope = append(n.Scope, campaigns[id].Campaign())
		}
	}
	for i, name := range doc.KeywordPacks {
		if _, ok := packs[name]; !ok {
			return nil, fieldErr(fmt.Sprintf("keyword_packs[%d]", i), "unknown pack %q (have %s)", name, strings.Join(PackNames(), ", "))
		}
	}
	if err := n.Validate(); err != nil {
		msg := err.Error()
		field := "campaigns"
		if strings.Contains(msg, "stop_reply") && !strings.Contains(msg, "campaign ") {
			field = "stop_reply"
		}
		return nil, &FieldError{Field: field, Msg: field + ": " + strings.TrimPrefix(msg, ErrInvalid.Error()+": ")}
	}
	return n, nil
}

// AsFieldError returns err's *FieldError, if it has one.
func AsFieldError(err error) (*FieldError, bool) {
	var fe *FieldError
	ok := errors.As(err, &fe)
	return fe, ok
}
