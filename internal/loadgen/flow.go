package loadgen

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"

	"github.com/optin-gateway/optin-gateway/internal/phone"
)

// Numbers returns up to n distinct fictional US mobile numbers of the form
// +1 NPA 555 01XX, every one valid by libphonenumber (so the gateway
// accepts it as a sender), in a fixed order.
func Numbers(n int) []string {
	out := make([]string, 0, n)
	for npa := 201; npa <= 989 && len(out) < n; npa++ {
		if _, err := phone.Parse(fmt.Sprintf("+1%d5550100", npa)); err != nil {
			continue
		}
		for xx := 0; xx < 100 && len(out) < n; xx++ {
			out = append(out, fmt.Sprintf("+1%d55501%02d", npa, xx))
		}
	}
	return out
}

// Odds of the flows' detours, per step.
type Odds struct {
	WrongCode float64 // a wrong code before the right one
	Help      float64 // HELP while pending
	Retry     float64 // the provider retries the last message (same MessageSid)
}

// DefaultOdds make one flow about 4.5 messages: JOIN, sometimes HELP or a
// wrong code, the code, sometimes a retry, STOP.
var DefaultOdds = Odds{WrongCode: 0.2, Help: 0.1, Retry: 0.1}

// stage is where a person is in the flow keyword → code → STOP.
type stage uint8

const (
	stageJoin    stage = iota // texts the keyword
	stageConfirm              // has a code to send
	stageStop                 // subscribed: texts STOP
)

// Person is one simulated phone owner walking through the flows. A person
// sends one message at a time; Next and Observe are not safe for
// concurrent use on one Person.
type Person struct {
	From  string
	stage stage
	code  string
	last  *Message // for retries
	seq   uint64
	rng   *rand.Rand
}

// NewPerson returns a person at the start of the flow, drawing detours
// from a generator seeded with seed.
func NewPerson(from string, seed uint64) *Person {
	return &Person{From: from, rng: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// Message is one inbound SMS as Twilio posts it.
type Message struct {
	Sid  string
	Text string
	Kind string // join, code, wrong_code, help, stop, retry, fixed
	Form url.Values
}

// Next returns the person's next message to business number to.
func (p *Person) Next(to string, odds Odds) *Message {
	if p.last != nil && p.last.Kind != "retry" && p.rng.Float64() < odds.Retry {
		m := *p.last
		m.Kind = "retry"
		return &m
	}
	var text, kind string
	switch p.stage {
	case stageJoin:
		text, kind = "JOIN", "join"
	case stageConfirm:
		switch r := p.rng.Float64(); {
		case r < odds.Help:
			text, kind = "HELP", "help"
		case r < odds.Help+odds.WrongCode:
			text, kind = wrongCode(p.code), "wrong_code"
		default:
			text, kind = p.code, "code"
		}
	default:
		text, kind = "STOP", "stop"
	}
	p.seq++
	sid := p.sid()
	m := &Message{Sid: sid, Text: text, Kind: kind, Form: InboundForm(sid, p.From, to, text)}
	p.last = m
	return m
}

// sid returns a MessageSid unique to this person and message: SM and 32
// hex digits.
func (p *Person) sid() string {
	return fmt.Sprintf("SM%016x%016x", p.rng.Uint64(), p.seq)
}

// Observe moves the person on by the gateway's reply to m: its status and
// TwiML body.
func (p *Person) Observe(m *Message, status int, body []byte) {
	if status != 200 || m.Kind == "retry" {
		return
	}
	switch m.Kind {
	case "join":
		if c := CodeIn(body); c != "" {
			p.stage, p.code = stageConfirm, c
		} else {
			p.stage = stageStop // rate limited or already subscribed: leave
		}
	case "code":
		p.stage, p.code = stageStop, ""
	case "wrong_code":
		if !bytes.Contains(body, []byte("<Message>")) || bytes.Contains(body, []byte("expired")) {
			p.stage, p.code = stageStop, "" // the code was voided
		}
	case "stop":
		p.stage = stageJoin
	}
}

// CodeIn returns the digits after "Reply " in a prompt, or "".
func CodeIn(body []byte) string {
	i := bytes.Index(body, []byte("Reply "))
	if i < 0 {
		return ""
	}
	rest := body[i+len("Reply "):]
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n < 4 {
		return ""
	}
	return string(rest[:n])
}

// wrongCode returns a code of the same length that differs from code in
// its last digit.
func wrongCode(code string) string {
	if code == "" {
		return "000000"
	}
	last := code[len(code)-1]
	d := (int(last-'0') + 1) % 10
	return code[:len(code)-1] + strconv.Itoa(d)
}

// InboundForm is an inbound SMS webhook's parameters as Twilio posts them,
// with the fields a real message carries.
func InboundForm(sid, from, to, body string) url.Values {
	zeros := strings.Repeat("0", 32)
	return url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid},
		"AccountSid": {"AC" + zeros}, "MessagingServiceSid": {"MG" + zeros},
		"From": {from}, "To": {to}, "Body": {body},
		"NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
		"FromCity": {"WASHINGTON"}, "FromState": {"DC"}, "FromZip": {"20001"}, "FromCountry": {"US"},
		"ToCity": {""}, "ToState": {"DC"}, "ToZip": {""}, "ToCountry": {"US"},
	}
}
