package optin_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
	"unicode"

	"github.com/optin-gateway/optin-gateway/optin"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"blank", " \t\r\n ", ""},
		{"upper", "STOP", "stop"},
		{"trim space and punctuation", " Stop! ", "stop"},
		{"trailing dot", "JOIN.", "join"},
		{"question", "¿info?", "info"},
		{"fullwidth", "ＳＴＯＰ", "stop"},
		{"fullwidth digits", "４８３ ９２０", "483 920"},
		{"ideographic space", "STOP\u3000NEWS", "stop news"},
		{"no-break space", "\u00a0STOP\u00a0", "stop"},
		{"zero width", "\u200bstop\ufeff", "stop"},
		{"emoji after", "STOP 🙏", "stop"},
		{"emoji with skin tone", "👍🏽 JOIN 👍🏽", "join"},
		{"emoji with variation selector", "❤️stop❤️", "stop"},
		{"zwj sequence", "👨\u200d👩\u200d👧", ""},
		{"inner runs of space", "opt \t  out", "opt out"},
		{"inner punctuation kept", "opt-out", "opt-out"},
		{"inner emoji kept", "stop 🙏 please", "stop 🙏 please"},
		{"ligature", "ﬁnish", "finish"},
		{"circled digits", "①②③④", "1234"},
		{"kelvin sign", "\u212aEEP", "keep"},
		{"sharp s folds", "Straße", "strasse"},
		{"greek final sigma", "ΣΤΟΠ", "στοπ"},
		{"j with caron", "ǰoin", "j\u030coin"},
		{"dotted capital I", "İNFO", "i\u0307nfo"},
		{"control characters", "\x00stop\x7f", "stop"},
		{"quotes", "\"join\"", "join"},
		{"guillemets", "«NEWS»", "news"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := optin.Normalize(tc.in); got != tc.want {
				t.Errorf("Normalize(%q) = %q; want %q", tc.in, got, tc.want)
			}
			// Normalising twice changes nothing more.
			if got := optin.Normalize(optin.Normalize(tc.in)); got != tc.want {
				t.Errorf("Normalize(Normalize(%q)) = %q; want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Normalize is documented as safe for concurrent use; run it under -race.
func TestNormalizeConcurrent(t *testing.T) {
	inputs := []string{"ＳＴＯＰ", "Straße", "JOIN.", "ǰoin", "STOP 🙏", "İNFO"}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		want[i] = optin.Normalize(in)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(inputs)
				if got := optin.Normalize(inputs[k]); got != want[k] {
					t.Errorf("Normalize(%q) = %q concurrently; want %q", inputs[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func validCampaign() optin.Campaign {
	return optin.Campaign{
		ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"},
		Prompt: dealsPrompt, Confirmation: dealsConfirm, Help: dealsHelp,
	}.WithDefaults()
}

func TestCampaignWithDefaults(t *testing.T) {
	c := optin.Campaign{ID: "deals", Name: "ACME Deals", Keywords: []string{"join", "deals"}}.WithDefaults()
	if c.CodeLength != optin.DefaultCodeLength || c.CodeTTL != optin.DefaultCodeTTL ||
		c.MaxAttempts != optin.DefaultMaxAttempts || c.MaxPrompts != optin.DefaultMaxPrompts ||
		c.PromptWindow != optin.DefaultPromptWindow {
		t.Errorf("WithDefaults() limits = %d %v %d %d %v; want the defaults", c.CodeLength, c.CodeTTL, c.MaxAttempts, c.MaxPrompts, c.PromptWindow)
	}
	if got, want := c.Expired, "Your code has expired. Text JOIN again for a new one."; got != want {
		t.Errorf("WithDefaults().Expired = %q; want %q", got, want)
	}
	if got, want := c.AlreadySubscribed, dealsAlready; got != want {
		t.Errorf("WithDefaults().AlreadySubscribed = %q; want %q", got, want)
	}
	// Set values stay.
	c = optin.Campaign{CodeLength: 8, Expired: "x", AlreadySubscribed: "y"}.WithDefaults()
	if c.CodeLength != 8 || c.Expired != "x" || c.AlreadySubscribed != "y" {
		t.Errorf("WithDefaults() overwrote set values: %d %q %q", c.CodeLength, c.Expired, c.AlreadySubscribed)
	}
}

func TestCampaignValidate(t *testing.T) {
	if err := validCampaign().Validate(); err != nil {
		t.Fatalf("Validate() = %v; want nil", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*optin.Campaign)
		want   string // what the error must name
	}{
		{"empty id", func(c *optin.Campaign) { c.ID = "" }, "campaign id"},
		{"empty name", func(c *optin.Campaign) { c.Name = "" }, "name"},
		{"no keywords", func(c *optin.Campaign) { c.Keywords = nil }, "keywords"},
		{"opt-out word", func(c *optin.Campaign) { c.Keywords = []string{"JOIN", "Stop"} }, `keyword "Stop" is an opt-out word`},
		{"opt-out word fullwidth", func(c *optin.Campaign) { c.Keywords = []string{"ＱＵＩＴ"} }, `keyword "ＱＵＩＴ" is an opt-out word`},
		{"opt-out phrase", func(c *optin.Campaign) { c.Keywords = []string{"OPTOUT"} }, `keyword "OPTOUT" is an opt-out word`},
		{"help word", func(c *optin.Campaign) { c.Keywords = []string{"info"} }, `keyword "info" is a help word`},
		{"digits", func(c *optin.Campaign) { c.Keywords = []string{"2024"} }, `keyword "2024"`},
		{"two words", func(c *optin.Campaign) { c.Keywords = []string{"JOIN NOW"} }, `keyword "JOIN NOW" must be one word`},
		{"empty keyword", func(c *optin.Campaign) { c.Keywords = []string{"!!"} }, `keyword "!!" must be one word`},
		// Messages are split into words at punctuation, so a keyword with
		// punctuation inside could never match.
		{"hyphenated", func(c *optin.Campaign) { c.Keywords = []string{"e-news"} }, `keyword "e-news" must be one word`},
		{"opt-out with hyphen", func(c *optin.Campaign) { c.Keywords = []string{"opt-out"} }, `keyword "opt-out"`},
		{"code length 3", func(c *optin.Campaign) { c.CodeLength = 3 }, "code_length 3"},
		{"code length 11", func(c *optin.Campaign) { c.CodeLength = 11 }, "code_length 11"},
		{"code ttl", func(c *optin.Campaign) { c.CodeTTL = -time.Second }, "code_ttl"},
		{"max attempts", func(c *optin.Campaign) { c.MaxAttempts = -1 }, "max_attempts"},
		{"max prompts", func(c *optin.Campaign) { c.MaxPrompts = -1 }, "max_prompts"},
		{"prompt window", func(c *optin.Campaign) { c.PromptWindow = -time.Minute }, "prompt_window"},
		{"prompt without code", func(c *optin.Campaign) { c.Prompt = "Reply YES to confirm ACME Deals." }, "prompt lacks the {code} placeholder"},
		{"no confirmation", func(c *optin.Campaign) { c.Confirmation = "" }, "confirmation"},
		{"no help", func(c *optin.Campaign) { c.Help = "" }, "help"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validCampaign()
			tc.change(&c)
			wantInvalid(t, c.Validate(), tc.want)
		})
	}
	// Bounds of the code length are valid.
	for _, l := range []int{optin.MinCodeLength, optin.MaxCodeLength} {
		c := validCampaign()
		c.CodeLength = l
		if err := c.Validate(); err != nil {
			t.Errorf("Validate() with code_length %d = %v; want nil", l, err)
		}
	}
}

// wantInvalid checks that err, what Validate returned, wraps ErrInvalid
// and names want.
func wantInvalid(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Validate() = nil; want an error naming %q", want)
	}
	if !errors.Is(err, optin.ErrInvalid) {
		t.Errorf("Validate() = %v; want it to wrap ErrInvalid", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Validate() = %q; want it to name %q", err, want)
	}
}

func TestNumberValidate(t *testing.T) {
	if err := testNumber(t).Validate(); err != nil {
		t.Fatalf("Validate() = %v; want nil", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*optin.Number)
		want   string
	}{
		{"tenant", func(n *optin.Number) { n.Tenant = "" }, "tenant"},
		{"no campaigns", func(n *optin.Number) { n.Campaigns = nil }, "campaigns"},
		{"stop reply", func(n *optin.Number) { n.StopReply = "" }, "stop_reply"},
		{"campaign error names number and campaign", func(n *optin.Number) { n.Campaigns[1].Keywords = []string{"cancel"} },
			`number +15550100000: invalid: campaign news: keyword "cancel" is an opt-out word`},
		{"campaign twice", func(n *optin.Number) {
			n.Campaigns[1].ID = "deals"
		}, "campaign deals listed twice"},
		{"duplicate keyword across campaigns", func(n *optin.Number) { n.Campaigns[1].Keywords = []string{"NEWS", "join"} },
			`keyword "join" used by campaigns deals and news`},
		{"duplicate keyword after normalising", func(n *optin.Number) { n.Campaigns[1].Keywords = []string{"ＤＥＡＬＳ!"} },
			`keyword "ＤＥＡＬＳ!" used by campaigns deals and news`},
		// START and UNSTOP always name the first campaign.
		{"start word on another campaign", func(n *optin.Number) { n.Campaigns[1].Keywords = []string{"NEWS", "Start"} },
			`keyword "Start"`},
		{"unstop word on another campaign", func(n *optin.Number) { n.Campaigns[1].Keywords = []string{"UNSTOP"} },
			`keyword "UNSTOP"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := testNumber(t)
			tc.change(n)
			wantInvalid(t, n.Validate(), tc.want)
		})
	}
	// START as a keyword of the default campaign says what START does anyway.
	n := testNumber(t)
	n.Campaigns[0].Keywords = append(n.Campaigns[0].Keywords, "START")
	if err := n.Validate(); err != nil {
		t.Errorf("Validate() with START on the default campaign = %v; want nil", err)
	}
}

func TestNumberCampaign(t *testing.T) {
	n := testNumber(t)
	c, ok := n.Campaign("news")
	if !ok || c.ID != "news" {
		t.Fatalf("Campaign(%q) = %v, %v; want news, true", "news", c, ok)
	}
	if c != &n.Campaigns[1] {
		t.Errorf("Campaign(%q) returned a copy; want a pointer into Campaigns", "news")
	}
	if c, ok := n.Campaign("promos"); ok || c != nil {
		t.Errorf("Campaign(%q) = %v, %v; want nil, false", "promos", c, ok)
	}
}

func TestStateText(t *testing.T) {
	for _, tc := range []struct {
		s    optin.State
		name string
	}{
		{optin.StateNone, "none"},
		{optin.StatePending, "pending"},
		{optin.StateSubscribed, "subscribed"},
		{optin.StateUnsubscribed, "unsubscribed"},
	} {
		if got := tc.s.String(); got != tc.name {
			t.Errorf("State(%d).String() = %q; want %q", uint8(tc.s), got, tc.name)
		}
		got, err := optin.ParseState(tc.name)
		if err != nil || got != tc.s {
			t.Errorf("ParseState(%q) = %v, %v; want %v, nil", tc.name, got, err, tc.s)
		}
		b, err := tc.s.MarshalText()
		if err != nil || string(b) != tc.name {
			t.Errorf("%v.MarshalText() = %q, %v; want %q, nil", tc.s, b, err, tc.name)
		}
		var back optin.State = 99
		if err := back.UnmarshalText(b); err != nil || back != tc.s {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, nil", b, back, err, tc.s)
		}
		// And through JSON, as the store and the audit log use it.
		j, err := json.Marshal(map[string]optin.State{"s": tc.s})
		if err != nil {
			t.Fatalf("json.Marshal(%v) = %v", tc.s, err)
		}
		if want := `{"s":"` + tc.name + `"}`; string(j) != want {
			t.Errorf("json.Marshal(%v) = %s; want %s", tc.s, j, want)
		}
		var m map[string]optin.State
		if err := json.Unmarshal(j, &m); err != nil || m["s"] != tc.s {
			t.Errorf("json.Unmarshal(%s) = %v, %v; want %v", j, m["s"], err, tc.s)
		}
	}
	if got := optin.State(7).String(); got != "State(7)" {
		t.Errorf("State(7).String() = %q; want %q", got, "State(7)")
	}
	if _, err := optin.State(7).MarshalText(); err == nil {
		t.Errorf("State(7).MarshalText() = nil error; want an error")
	}
	for _, bad := range []string{"", "Pending", "PENDING", "State(1)", "subscribed "} {
		if s, err := optin.ParseState(bad); err == nil {
			t.Errorf("ParseState(%q) = %v, nil; want an error", bad, s)
		}
		s := optin.StateSubscribed
		if err := s.UnmarshalText([]byte(bad)); err == nil || s != optin.StateSubscribed {
			t.Errorf("UnmarshalText(%q) = %v, %v; want an error and no change", bad, s, err)
		}
	}
}

func TestOutcomeText(t *testing.T) {
	names := map[optin.Outcome]string{
		optin.OutcomeIgnored:           "ignored",
		optin.OutcomeOptOut:            "opt_out",
		optin.OutcomeHelp:              "help",
		optin.OutcomePrompted:          "prompted",
		optin.OutcomeResent:            "resent",
		optin.OutcomeRateLimited:       "rate_limited",
		optin.OutcomeAlreadySubscribed: "already_subscribed",
		optin.OutcomeConfirmed:         "confirmed",
		optin.OutcomeWrongCode:         "wrong_code",
		optin.OutcomeVoided:            "voided",
		optin.OutcomeExpired:           "expired",
		optin.OutcomeProviderOptOut:    "provider_opt_out",
		optin.OutcomeErased:            "erased",
	}
	for o, name := range names {
		if got := o.String(); got != name {
			t.Errorf("Outcome(%d).String() = %q; want %q", uint8(o), got, name)
		}
		b, err := o.MarshalText()
		if err != nil || string(b) != name {
			t.Errorf("%v.MarshalText() = %q, %v; want %q, nil", o, b, err, name)
		}
		var back optin.Outcome = 99
		if err := back.UnmarshalText(b); err != nil || back != o {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, nil", b, back, err, o)
		}
	}
	if got := optin.Outcome(len(names)).String(); got != "unknown" {
		t.Errorf("Outcome(%d).String() = %q; want %q", len(names), got, "unknown")
	}
	for _, bad := range []string{"", "unknown", "OptOut", "opt-out"} {
		o := optin.OutcomeHelp
		if err := o.UnmarshalText([]byte(bad)); err == nil || o != optin.OutcomeHelp {
			t.Errorf("UnmarshalText(%q) = %v, %v; want an error and no change", bad, o, err)
		}
	}
	// An event survives JSON with its state and outcome names.
	ev := event("deals", optin.StatePending, optin.StateSubscribed, optin.OutcomeConfirmed, liveCode, dealsConfirm)
	j, err := json.Marshal(ev)
	if err != nil {
		t.Fatalf("json.Marshal(event) = %v", err)
	}
	for _, want := range []string{`"from":"pending"`, `"to":"subscribed"`, `"reason":"confirmed"`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("json.Marshal(event) = %s; want it to contain %s", j, want)
		}
	}
	var back optin.Event
	if err := json.Unmarshal(j, &back); err != nil {
		t.Fatalf("json.Unmarshal(%s) = %v", j, err)
	}
	if back.From != ev.From || back.To != ev.To || back.Reason != ev.Reason || !back.At.Equal(ev.At) {
		t.Errorf("json round trip of event = %+v; want %+v", back, ev)
	}
}

func TestPhoneString(t *testing.T) {
	for _, tc := range []struct {
		e164, want string
	}{
		{"+15550100000", "+1•••0000"},
		{"+447700900123", "+4•••0123"},
		{"+33612345678", "+3•••5678"},
		{"+861391234567", "+8•••4567"},
		{"15550100000", "•••0000"},
		{"+1234567", "•••67"}, // eight characters: short
		{"12345", "•••45"},    // a short code
		{"7", "•••7"},
		{"", ""},
	} {
		p := optin.Phone(tc.e164)
		if got := p.String(); got != tc.want {
			t.Errorf("Phone(%q).String() = %q; want %q", tc.e164, got, tc.want)
		}
		if got := fmt.Sprintf("%v %s", p, p); got != tc.want+" "+tc.want {
			t.Errorf("Sprintf(%%v %%s, Phone(%q)) = %q; want it masked", tc.e164, got)
		}
		if got := p.E164(); got != tc.e164 {
			t.Errorf("Phone(%q).E164() = %q; want %q", tc.e164, got, tc.e164)
		}
	}
	// Whatever the number, the mask shows the country digit and at most
	// the last four digits.
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		var b strings.Builder
		b.WriteByte('+')
		for range 8 + r.IntN(8) {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		e164 := b.String()
		got := optin.Phone(e164).String()
		rest, ok := strings.CutPrefix(got, e164[:2]+"•••")
		if !ok {
			t.Fatalf("Phone(%q).String() = %q; want it to start %q", e164, got, e164[:2]+"•••")
		}
		if len(rest) > 4 || !strings.HasSuffix(e164, rest) {
			t.Fatalf("Phone(%q).String() = %q; want at most the last four digits", e164, got)
		}
		if n := strings.IndexFunc(got[2:], unicode.IsDigit); n >= 0 && len(got[2:])-n > 4 {
			t.Fatalf("Phone(%q).String() = %q shows more than four digits after the country digit", e164, got)
		}
	}
}

func TestGenerateCode(t *testing.T) {
	// Every digit turns up in a long, fixed stream, and only digits.
	r := rand.NewChaCha8([32]byte{'o', 'p', 't', 'i', 'n'})
	var seen [10]int
	for range 500 {
		code, err := optin.GenerateCode(r, optin.MaxCodeLength)
		if err != nil {
			t.Fatalf("GenerateCode(r, %d) = %v", optin.MaxCodeLength, err)
		}
		if len(code) != optin.MaxCodeLength {
			t.Fatalf("GenerateCode(r, %d) = %q; want %d digits", optin.MaxCodeLength, code, optin.MaxCodeLength)
		}
		for _, c := range code {
			if c < '0' || c > '9' {
				t.Fatalf("GenerateCode(r, %d) = %q; want only digits", optin.MaxCodeLength, code)
			}
			seen[c-'0']++
		}
	}
	for d, n := range seen {
		if n == 0 {
			t.Errorf("GenerateCode: digit %d never appeared in 5000 digits (counts %v)", d, seen)
		}
	}

	// The same stream gives the same code.
	a, _ := optin.GenerateCode(rand.NewChaCha8([32]byte{1}), 6)
	b, _ := optin.GenerateCode(rand.NewChaCha8([32]byte{1}), 6)
	if a != b {
		t.Errorf("GenerateCode with one seed = %q then %q; want the same", a, b)
	}

	// Every length in bounds works; out of bounds is an error.
	for l := optin.MinCodeLength; l <= optin.MaxCodeLength; l++ {
		if code, err := optin.GenerateCode(r, l); err != nil || len(code) != l {
			t.Errorf("GenerateCode(r, %d) = %q, %v; want %d digits", l, code, err, l)
		}
	}
	for _, l := range []int{-1, 0, optin.MinCodeLength - 1, optin.MaxCodeLength + 1, 100} {
		if code, err := optin.GenerateCode(r, l); err == nil {
			t.Errorf("GenerateCode(r, %d) = %q, nil; want an error", l, code)
		}
	}
}

func TestGenerateCodeRejectsHighBytes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream []byte
		n      int
		want   string
	}{
		{
			name:   "250 to 255 skipped",
			stream: append([]byte{250, 251, 252, 253, 254, 255}, seq(0, 26)...),
			n:      6, want: "012345",
		},
		{
			name:   "byte value mod 10",
			stream: append([]byte{249, 240, 255, 13, 100, 250, 7}, seq(0, 16)...),
			n:      4, want: "9030",
		},
		{
			// A whole read of rejected bytes: it reads again.
			name:   "a whole block rejected",
			stream: append(bytes.Repeat([]byte{255}, 16), seq(1, 17)...),
			n:      10, want: "1234567890",
		},
		{
			name:   "interleaved",
			stream: []byte{250, 1, 251, 2, 252, 3, 253, 4, 254, 5, 255, 6, 250, 7, 251, 8, 252, 9, 253, 0, 254, 1, 255, 2, 250, 3, 251, 4, 252, 5, 253, 6},
			n:      10, want: "1234567890",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := optin.GenerateCode(bytes.NewReader(tc.stream), tc.n)
			if err != nil || got != tc.want {
				t.Errorf("GenerateCode(%v, %d) = %q, %v; want %q, nil", tc.stream, tc.n, got, err, tc.want)
			}
		})
	}
}

func seq(from, to byte) []byte {
	var b []byte
	for i := from; i < to; i++ {
		b = append(b, i)
	}
	return b
}

func TestGenerateCodeReaderError(t *testing.T) {
	boom := errors.New("entropy source unavailable")
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"error", iotest.ErrReader(boom), boom},
		{"empty", bytes.NewReader(nil), io.EOF},
		{"only high bytes then EOF", bytes.NewReader(bytes.Repeat([]byte{252}, 40)), io.ErrUnexpectedEOF},
		{"error after a block", io.MultiReader(bytes.NewReader(bytes.Repeat([]byte{255}, 16)), iotest.ErrReader(boom)), boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, err := optin.GenerateCode(tc.r, 6)
			if !errors.Is(err, tc.want) {
				t.Errorf("GenerateCode(%s, 6) = %q, %v; want an error wrapping %v", tc.name, code, err, tc.want)
			}
			if code != "" {
				t.Errorf("GenerateCode(%s, 6) = %q with an error; want no code", tc.name, code)
			}
		})
	}
}
