package optin_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/optin-gateway/optin-gateway/optin"
)

// splitWords splits normalised text the way the package does (written
// again here, on purpose): maximal runs of letters, digits and marks.
func splitWords(normalized string) []string {
	return strings.FieldsFunc(normalized, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
}

var fuzzOptOutWords = []string{"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}

// hasOptOut reports whether ws holds an opt-out word or "opt" "out".
func hasOptOut(ws []string) bool {
	for i, w := range ws {
		if slices.Contains(fuzzOptOutWords, w) || (w == "opt" && i+1 < len(ws) && ws[i+1] == "out") {
			return true
		}
	}
	return false
}

// targetedCampaign returns the campaign that ws, read as "<opt-out word>
// <keyword>" or "opt out <keyword>", revokes alone.
func targetedCampaign(n *optin.Number, ws []string) string {
	var kw string
	switch {
	case len(ws) == 2 && slices.Contains(fuzzOptOutWords, ws[0]):
		kw = ws[1]
	case len(ws) == 3 && ws[0] == "opt" && ws[1] == "out":
		kw = ws[2]
	default:
		return ""
	}
	for _, c := range n.Campaigns {
		for _, k := range c.Keywords {
			if optin.Normalize(k) == kw {
				return c.ID
			}
		}
	}
	return ""
}

// digitsOf returns the code a message spells, or "" if it is not only
// digit groups.
func digitsOf(ws []string) string {
	if len(ws) == 0 {
		return ""
	}
	for _, w := range ws {
		for _, r := range w {
			if r < '0' || r > '9' {
				return ""
			}
		}
	}
	return strings.Join(ws, "")
}

// fuzzEnrollment builds an enrollment in state s (taken modulo 4).
func fuzzEnrollment(s uint8, live bool, attempts uint8, code string, now time.Time) optin.Enrollment {
	st := optin.State(s % 4)
	e := optin.Enrollment{State: st, Since: now.Add(-48 * time.Hour)}
	switch st {
	case optin.StatePending:
		e.Since = now.Add(-10 * time.Minute)
		p := &optin.PendingCode{Code: code, ExpiresAt: now.Add(-time.Minute), AttemptsLeft: int(attempts % 3)}
		if live {
			p.ExpiresAt, p.AttemptsLeft = now.Add(30*time.Minute), 1+int(attempts%5)
		}
		if s&0x10 == 0 { // else the store's code key is gone
			e.Code = p
		}
		e.CodeEndsAt = p.ExpiresAt
		for i := range int(attempts % 4) {
			e.Prompts = append(e.Prompts, now.Add(-time.Duration(40-10*i)*time.Minute))
		}
	case optin.StateNone, optin.StateUnsubscribed:
		if s&0x20 != 0 { // a code voided lately
			e.CodeEndsAt = now.Add(-10 * time.Minute)
		}
	}
	if s&0x40 != 0 {
		e.Prompts = append(e.Prompts, now.Add(-2*time.Hour))
		slices.SortFunc(e.Prompts, func(a, b time.Time) int { return a.Compare(b) })
	}
	return e
}

func FuzzDecide(f *testing.F) {
	for _, text := range []string{
		"JOIN", "join", "DEALS", "NEWS", "START", "UNSTOP", "Join!", "ｊｏｉｎ", "ǰoin",
		"STOP", "stop", " Stop! ", "ＳＴＯＰ", "STOP 🙏", "STOPALL", "UNSUBSCRIBE", "CANCEL",
		"END", "QUIT", "REVOKE", "OPTOUT", "opt-out", "OPT OUT", "opt out news", "stop news",
		"STOP DEALS", "stop join", "stop start", "stop news please", "quit🙏news",
		"please stop texting me", "ok so just stop it right now please",
		"ok so just stop it right now please thanks",
		"I will not stop telling everyone how great your deals are",
		"HELP", "info", "help me", "INFO?",
		"483920", "483 920", "483-920", "４８３９２０", "271828", "000000", "2718", "12345678901",
		"٤٨٣٩٢٠", "code 483920", "#271828",
		"", " ", "🙏", "👨\u200d👩\u200d👧", "\u200b", "\x00", "\xff\xfe", "İNFO", "Straße",
		"what time do you close?", "nonstop", "stopp", "endless", "the end",
	} {
		for i, st := range [][2]uint8{{0, 0}, {1, 0}, {2, 1}, {3, 2}, {1, 1}, {0x11, 0x23}} {
			f.Add(st[0], st[1], text, i%2 == 0, uint8(i*3), "483920", false)
		}
	}
	f.Add(uint8(1), uint8(1), "271828", true, uint8(4), "271828", false)
	f.Add(uint8(1), uint8(0), "271828", true, uint8(0), "271828", true)
	f.Add(uint8(2), uint8(2), "Stahp!!", false, uint8(0x80), "", true)
	f.Add(uint8(1), uint8(1), "stop news", true, uint8(0x81), "111111", true)
	f.Add(uint8(0x41), uint8(0x61), "JOIN", false, uint8(3), "9", false)

	// Decide never changes its number, so the fuzz function shares two,
	// built once; each call checks them against pristine copies.
	numbers := [2]*optin.Number{testNumber(f), testNumber(f)}
	numbers[1].ProviderHandlesOptOut = true
	pristine := [2]*optin.Number{cloneNumber(numbers[0]), cloneNumber(numbers[1])}

	f.Fuzz(func(t *testing.T, dealsState, newsState uint8, text string, live bool, attempts uint8, code string, providerStop bool) {
		// One SMS segment is enough to reach every rule (the opt-out rule
		// stops at eight words); longer inputs only stall the fuzzer, whose
		// minimisation of new inputs is quadratic in their length.
		if len(text) > 160 || len(code) > 16 {
			t.Skip()
		}
		now := t0
		n, nBefore := numbers[attempts>>7], pristine[attempts>>7]
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, code)
		digits = (digits + "000000")[:6]
		newsCode := []byte(digits)
		slices.Reverse(newsCode)
		sub := newSub(map[string]optin.Enrollment{
			"deals": fuzzEnrollment(dealsState, live, attempts, digits, now),
			"news":  fuzzEnrollment(newsState, live, attempts, string(newsCode), now),
		})
		in := inbound(text)
		if providerStop {
			in.ProviderOptOut = "STOP"
		}
		before := cloneSub(sub)

		dec := optin.Decide(sub, n, in, now, freshCode)

		// Deterministic, and the input is left alone.
		if again := optin.Decide(sub, n, in, now, freshCode); !reflect.DeepEqual(dec, again) {
			t.Fatalf("Decide(%q) twice:\n%+v\n%+v", text, dec, again)
		}
		if !reflect.DeepEqual(sub, before) {
			t.Fatalf("Decide(%q) modified its input:\n got %+v\nwant %+v", text, sub, before)
		}
		if !reflect.DeepEqual(n, nBefore) {
			t.Fatalf("Decide(%q) modified its number", text)
		}

		// Events are transitions from the state before to the state after,
		// at most one per campaign, and they mean Changed.
		seen := map[string]bool{}
		for _, ev := range dec.Events {
			if seen[ev.Campaign] {
				t.Errorf("Decide(%q).Events: two events for %s", text, ev.Campaign)
			}
			seen[ev.Campaign] = true
			if pre := sub.Enrollment(ev.Campaign).State; ev.From != pre {
				t.Errorf("Decide(%q).Events[%s].From = %v; want %v", text, ev.Campaign, ev.From, pre)
			}
			if next := dec.Next.Enrollment(ev.Campaign).State; ev.To != next {
				t.Errorf("Decide(%q).Events[%s].To = %v; want %v", text, ev.Campaign, ev.To, next)
			}
			for _, r := range ev.Replies {
				for _, c := range []*optin.PendingCode{sub.Enrollment(ev.Campaign).Code, dec.Next.Enrollment(ev.Campaign).Code} {
					if c != nil && strings.Contains(r, c.Code) {
						t.Errorf("Decide(%q).Events[%s].Replies = %q; want the code %s masked", text, ev.Campaign, ev.Replies, c.Code)
					}
				}
			}
		}
		if len(dec.Events) > 0 && !dec.Changed {
			t.Errorf("Decide(%q).Changed = false with %d events; want true", text, len(dec.Events))
		}
		if len(dec.Replies) > 1 {
			t.Errorf("Decide(%q).Replies = %q; want at most one", text, dec.Replies)
		}
		for _, c := range n.Campaigns {
			pre, next := sub.Enrollment(c.ID).State, dec.Next.Enrollment(c.ID).State
			if pre != next && !seen[c.ID] {
				t.Errorf("Decide(%q).State[%s] = %v from %v with no event", text, c.ID, next, pre)
			}
		}

		// A revocation leaves nothing subscribed or pending.
		ws := splitWords(optin.Normalize(text))
		optOut := len(ws) <= 8 && hasOptOut(ws)
		target := ""
		if optOut {
			target = targetedCampaign(n, ws)
		}
		if optOut || providerStop {
			if dec.Outcome != optin.OutcomeOptOut {
				t.Errorf("Decide(%q).Outcome = %v; want %v", text, dec.Outcome, optin.OutcomeOptOut)
			}
			for _, c := range n.Campaigns {
				got := dec.Next.Enrollment(c.ID).State
				switch {
				case target == "" || target == c.ID:
					if got != optin.StateUnsubscribed {
						t.Errorf("Decide(%q).State[%s] = %v; want %v", text, c.ID, got, optin.StateUnsubscribed)
					}
				default:
					if pre := sub.Enrollment(c.ID).State; got != pre {
						t.Errorf("Decide(%q).State[%s] = %v; want %v (not targeted)", text, c.ID, got, pre)
					}
				}
			}
		}

		// Only the live code of a pending campaign subscribes it.
		for _, c := range n.Campaigns {
			pre, next := sub.Enrollment(c.ID), dec.Next.Enrollment(c.ID)
			if next.State != optin.StateSubscribed || pre.State == optin.StateSubscribed {
				continue
			}
			if pre.State != optin.StatePending || pre.Code == nil || pre.Code.AttemptsLeft <= 0 ||
				!now.Before(pre.Code.ExpiresAt) || digitsOf(ws) != pre.Code.Code {
				t.Errorf("Decide(%q).State[%s] = subscribed from %v with code %+v", text, c.ID, pre.State, pre.Code)
			}
			if dec.Outcome != optin.OutcomeConfirmed {
				t.Errorf("Decide(%q).Outcome = %v; want %v", text, dec.Outcome, optin.OutcomeConfirmed)
			}
		}
	})
}
