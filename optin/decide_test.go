package optin_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// cell is one cell of the DESIGN.md state table: a subscriber whose "deals"
// enrollment is in state pre (and "news" in whatever the cell says), one
// inbound message, and everything Decide must conclude.
type cell struct {
	name      string
	pre       string // the state named in failure messages
	deals     optin.Enrollment
	news      optin.Enrollment
	in        optin.Inbound
	number    func(*optin.Number) // optional change to the test number
	now       time.Time           // zero: t0
	code      string              // zero: freshCode
	wantDeals optin.Enrollment
	wantNews  optin.Enrollment
	outcome   optin.Outcome
	replies   []string
	events    []optin.Event
	changed   bool
}

func runCells(t *testing.T, cells []cell) {
	t.Helper()
	for _, c := range cells {
		t.Run(c.name, func(t *testing.T) {
			n := testNumber(t)
			if c.number != nil {
				c.number(n)
			}
			now, code := c.now, c.code
			if now.IsZero() {
				now = t0
			}
			if code == "" {
				code = freshCode
			}
			sub := newSub(enrollments(c.deals, c.news))
			before := cloneSub(sub)
			nBefore := cloneNumber(n)

			dec := optin.Decide(sub, n, c.in, now, code)

			text := c.in.Text
			if got, want := dec.Next.Enrollment("deals").State, c.wantDeals.State; got != want {
				t.Errorf("Decide(%v, %q).State = %v; want %v", c.pre, text, got, want)
			}
			if got, want := dec.Next.Enrollment("deals"), c.wantDeals; !reflect.DeepEqual(got, want) {
				t.Errorf("Decide(%v, %q).Next[deals] = %s; want %s", c.pre, text, fmtEnrollment(got), fmtEnrollment(want))
			}
			if got, want := dec.Next.Enrollment("news"), c.wantNews; !reflect.DeepEqual(got, want) {
				t.Errorf("Decide(%v, %q).Next[news] = %s; want %s", c.pre, text, fmtEnrollment(got), fmtEnrollment(want))
			}
			if dec.Next.Tenant != sub.Tenant || dec.Next.ID != sub.ID || dec.Next.Version != sub.Version {
				t.Errorf("Decide(%v, %q).Next = %s/%s v%d; want %s/%s v%d", c.pre, text,
					dec.Next.Tenant, dec.Next.ID, dec.Next.Version, sub.Tenant, sub.ID, sub.Version)
			}
			if dec.Outcome != c.outcome {
				t.Errorf("Decide(%v, %q).Outcome = %v; want %v", c.pre, text, dec.Outcome, c.outcome)
			}
			if !slices.Equal(dec.Replies, c.replies) {
				t.Errorf("Decide(%v, %q).Replies = %q; want %q", c.pre, text, dec.Replies, c.replies)
			}
			// How the message was read (Event.Match) is checked by the
			// match tests; the cells check what it did.
			got := slices.Clone(dec.Events)
			for i := range got {
				got[i].Match = nil
			}
			if !reflect.DeepEqual(got, c.events) {
				t.Errorf("Decide(%v, %q).Events =\n%s\nwant\n%s", c.pre, text, fmtEvents(dec.Events), fmtEvents(c.events))
			}
			if dec.Changed != c.changed {
				t.Errorf("Decide(%v, %q).Changed = %v; want %v", c.pre, text, dec.Changed, c.changed)
			}
			if got, want := dec.Words, optin.Normalize(text); got != want {
				t.Errorf("Decide(%v, %q).Words = %q; want %q", c.pre, text, got, want)
			}
			for _, ev := range dec.Events {
				for _, r := range ev.Replies {
					if strings.Contains(r, liveCode) || strings.Contains(r, freshCode[:4]) {
						t.Errorf("Decide(%v, %q).Events[%s].Replies = %q; want the code masked", c.pre, text, ev.Campaign, ev.Replies)
					}
				}
			}
			if !reflect.DeepEqual(sub, before) {
				t.Errorf("Decide(%v, %q) modified its input subscriber:\n got %+v\nwant %+v", c.pre, text, sub, before)
			}
			if !reflect.DeepEqual(n, nBefore) {
				t.Errorf("Decide(%v, %q) modified its number", c.pre, text)
			}
		})
	}
}

func fmtEnrollment(e optin.Enrollment) string {
	var b strings.Builder
	b.WriteString("{" + e.State.String())
	if !e.Since.IsZero() {
		b.WriteString(" since " + e.Since.Format(time.TimeOnly) + e.Since.Sub(t0).String())
	}
	if e.Code != nil {
		b.WriteString(" code " + e.Code.Code + " until " + e.Code.ExpiresAt.Sub(t0).String() +
			" attempts " + string(rune('0'+e.Code.AttemptsLeft)))
	}
	if !e.CodeEndsAt.IsZero() {
		b.WriteString(" ends " + e.CodeEndsAt.Sub(t0).String())
	}
	for _, p := range e.Prompts {
		b.WriteString(" prompt " + p.Sub(t0).String())
	}
	b.WriteString("}")
	return b.String()
}

func fmtEvents(evs []optin.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		b.WriteString("  " + ev.Campaign + " v" + string(rune('0'+ev.CampaignVersion)) + ": " +
			ev.From.String() + " → " + ev.To.String() + " (" + ev.Reason.String() + ") words=" +
			strings.Join([]string{ev.Cause.Provider, ev.Cause.MessageID, ev.Cause.Words}, "/") +
			" at " + ev.At.Sub(t0).String() + " tenant=" + ev.Tenant + " number=" + ev.Number +
			" sub=" + ev.Subscriber + "\n")
		for _, r := range ev.Replies {
			b.WriteString("    reply " + r + "\n")
		}
	}
	if b.Len() == 0 {
		return "  (none)"
	}
	return b.String()
}

func prompt(tmpl, code string) string { return strings.ReplaceAll(tmpl, optin.CodePlaceholder, code) }

// revoked is e after a revocation at t0 from a state other than unsubscribed.
func revoked(e optin.Enrollment) optin.Enrollment {
	e.State, e.Since = optin.StateUnsubscribed, t0
	if e.Code != nil {
		e.Code, e.CodeEndsAt = nil, t0
	}
	return e
}

// Row "opt-out word, alone": every campaign of the number → unsubscribed,
// a pending code voided, one confirmation.
func TestDecideOptOutAlone(t *testing.T) {
	const text = "STOP"
	runCells(t, []cell{
		{
			name: "none", pre: "none", in: inbound(text),
			wantDeals: revoked(noneE()), wantNews: revoked(noneE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
				event("news", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
			},
		},
		{
			name: "pending", pre: "pending", deals: pendingE(), in: inbound(text),
			wantDeals: optin.Enrollment{
				State: optin.StateUnsubscribed, Since: t0, CodeEndsAt: t0,
				Prompts: []time.Time{t0.Add(-10 * time.Minute)},
			},
			wantNews: revoked(noneE()),
			outcome:  optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StatePending, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
				event("news", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
			},
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), news: subscribedE(), in: inbound(text),
			wantDeals: optin.Enrollment{State: optin.StateUnsubscribed, Since: t0},
			wantNews:  optin.Enrollment{State: optin.StateUnsubscribed, Since: t0},
			outcome:   optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
				event("news", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
			},
		},
		{
			// A repeated revocation is recorded again (From == To); it is
			// answered because it also covers news, which was not yet
			// unsubscribed. Since keeps the first revocation.
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), in: inbound(text),
			wantDeals: unsubscribedE(), wantNews: revoked(noneE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateUnsubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
				event("news", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop", numberStop),
			},
		},
	})
}

// Row "opt-out word inside a short message (≤ 8 words)".
func TestDecideOptOutInShortMessage(t *testing.T) {
	const text = "Please STOP texting me, thanks!!"
	const words = "please stop texting me, thanks"
	runCells(t, []cell{
		{
			name: "none", pre: "none", in: inbound(text),
			wantDeals: revoked(noneE()), wantNews: revoked(noneE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
				event("news", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
			},
		},
		{
			name: "pending", pre: "pending", deals: pendingE(), news: pendingE(), in: inbound(text),
			wantDeals: revoked(pendingE()), wantNews: revoked(pendingE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StatePending, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
				event("news", optin.StatePending, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
			},
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), in: inbound(text),
			wantDeals: revoked(subscribedE()), wantNews: revoked(noneE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
				event("news", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
			},
		},
		{
			// Already unsubscribed from everything it covers: recorded,
			// not answered (one confirmation per revocation).
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), news: unsubscribedE(), in: inbound(text),
			wantDeals: unsubscribedE(), wantNews: unsubscribedE(),
			outcome: optin.OutcomeOptOut, changed: true,
			events: []optin.Event{
				event("deals", optin.StateUnsubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, words),
				event("news", optin.StateUnsubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, words),
			},
		},
		{
			name: "eight words", pre: "subscribed", deals: subscribedE(),
			in:        inbound("ok so just stop it right now please"),
			wantDeals: revoked(subscribedE()), wantNews: revoked(noneE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "ok so just stop it right now please", numberStop),
				event("news", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, "ok so just stop it right now please", numberStop),
			},
		},
	})
}

// "STOP <keyword>" revokes one campaign; the other campaign of the number
// (news, subscribed) stays as it is.
func TestDecideOptOutOneCampaign(t *testing.T) {
	const text = "STOP DEALS"
	const words = "stop deals"
	runCells(t, []cell{
		{
			name: "none", pre: "none", news: subscribedE(), in: inbound(text),
			wantDeals: revoked(noneE()), wantNews: subscribedE(),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateNone, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
			},
		},
		{
			name: "pending", pre: "pending", deals: pendingE(), news: subscribedE(), in: inbound(text),
			wantDeals: revoked(pendingE()), wantNews: subscribedE(),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StatePending, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
			},
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), news: subscribedE(), in: inbound(text),
			wantDeals: revoked(subscribedE()), wantNews: subscribedE(),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, words, numberStop),
			},
		},
		{
			// Already unsubscribed from the campaign named: not answered.
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), news: subscribedE(), in: inbound(text),
			wantDeals: unsubscribedE(), wantNews: subscribedE(),
			outcome: optin.OutcomeOptOut, changed: true,
			events: []optin.Event{
				event("deals", optin.StateUnsubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, words),
			},
		},
		{
			// Any keyword of the campaign names it; the campaign's own
			// StopReply answers.
			name: "stop news with its own reply", pre: "subscribed", deals: subscribedE(), news: pendingE(),
			in:        inbound("Stop news."),
			wantDeals: subscribedE(), wantNews: revoked(pendingE()),
			outcome: optin.OutcomeOptOut, replies: []string{newsStop}, changed: true,
			events: []optin.Event{
				event("news", optin.StatePending, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop news", newsStop),
			},
		},
		{
			name: "opt out phrase and second keyword", pre: "subscribed", deals: subscribedE(), news: subscribedE(),
			in:        inbound("opt out join"),
			wantDeals: revoked(subscribedE()), wantNews: subscribedE(),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "opt out join", numberStop),
			},
		},
		{
			// START names the default campaign only for joining: "STOP
			// START" is read as a revocation of everything.
			name: "stop start revokes all", pre: "subscribed", deals: subscribedE(), news: subscribedE(),
			in:        inbound("STOP START"),
			wantDeals: revoked(subscribedE()), wantNews: revoked(subscribedE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop start", numberStop),
				event("news", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop start", numberStop),
			},
		},
		{
			// A keyword that is not the last word: when in doubt, revoke all.
			name: "stop deals please revokes all", pre: "subscribed", deals: subscribedE(), news: subscribedE(),
			in:        inbound("stop deals please"),
			wantDeals: revoked(subscribedE()), wantNews: revoked(subscribedE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop deals please", numberStop),
				event("news", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop deals please", numberStop),
			},
		},
		{
			name: "stop unknown word revokes all", pre: "subscribed", deals: subscribedE(), news: subscribedE(),
			in:        inbound("STOP PROMOS"),
			wantDeals: revoked(subscribedE()), wantNews: revoked(subscribedE()),
			outcome: optin.OutcomeOptOut, replies: []string{numberStop}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop promos", numberStop),
				event("news", optin.StateSubscribed, optin.StateUnsubscribed, optin.OutcomeOptOut, "stop promos", numberStop),
			},
		},
	})
}

// ignoredCells returns the four cells in which text changes nothing and
// gets no reply.
func ignoredCells(text string) []cell {
	return []cell{
		{name: "none", pre: "none", in: inbound(text), outcome: optin.OutcomeIgnored},
		{
			name: "pending", pre: "pending", deals: pendingE(), news: pendingE(), in: inbound(text),
			wantDeals: pendingE(), wantNews: pendingE(), outcome: optin.OutcomeIgnored,
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), news: subscribedE(), in: inbound(text),
			wantDeals: subscribedE(), wantNews: subscribedE(), outcome: optin.OutcomeIgnored,
		},
		{
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), in: inbound(text),
			wantDeals: unsubscribedE(), outcome: optin.OutcomeIgnored,
		},
	}
}

// More than eight words is conversation, not a revocation.
func TestDecideLongMessageWithStop(t *testing.T) {
	for _, text := range []string{
		"I will not stop telling everyone how great your deals are",
		"ok so just stop it right now please thanks", // nine words: one too many
	} {
		t.Run(text, func(t *testing.T) { runCells(t, ignoredCells(text)) })
	}
}

// Row "anything else → nothing".
func TestDecideAnythingElse(t *testing.T) {
	for _, text := range []string{
		"what time do you close?",
		"join us", // a keyword inside a message is not a keyword
		"help me", // nor is a help word
		"123",     // too short for a code
		"12345678901",
		"🙏",
		"",
		"   ",
	} {
		t.Run(text, func(t *testing.T) { runCells(t, ignoredCells(text)) })
	}
}

// Row "HELP / INFO": help text in every state, nothing changes.
func TestDecideHelp(t *testing.T) {
	for _, text := range []string{"HELP", "info", " Help? "} {
		t.Run(text, func(t *testing.T) {
			runCells(t, []cell{
				{name: "none", pre: "none", in: inbound(text), outcome: optin.OutcomeHelp, replies: []string{dealsHelp}},
				{
					name: "pending", pre: "pending", deals: pendingE(), in: inbound(text),
					wantDeals: pendingE(), outcome: optin.OutcomeHelp, replies: []string{dealsHelp},
				},
				{
					name: "subscribed", pre: "subscribed", deals: subscribedE(), in: inbound(text),
					wantDeals: subscribedE(), outcome: optin.OutcomeHelp, replies: []string{dealsHelp},
				},
				{
					name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), in: inbound(text),
					wantDeals: unsubscribedE(), outcome: optin.OutcomeHelp, replies: []string{dealsHelp},
				},
				{
					// The campaign joined (or asked for) last answers.
					name: "news joined last", pre: "subscribed", deals: subscribedE(),
					news:      optin.Enrollment{State: optin.StateSubscribed, Since: t0.Add(-time.Hour)},
					in:        inbound(text),
					wantDeals: subscribedE(), wantNews: optin.Enrollment{State: optin.StateSubscribed, Since: t0.Add(-time.Hour)},
					outcome: optin.OutcomeHelp, replies: []string{newsHelp},
				},
				{
					name: "news pending", pre: "none", news: pendingE(), in: inbound(text),
					wantNews: pendingE(), outcome: optin.OutcomeHelp, replies: []string{newsHelp},
				},
				{
					// An unsubscribed campaign does not count.
					name: "news unsubscribed lately", pre: "none",
					news:     optin.Enrollment{State: optin.StateUnsubscribed, Since: t0.Add(-time.Minute)},
					in:       inbound(text),
					wantNews: optin.Enrollment{State: optin.StateUnsubscribed, Since: t0.Add(-time.Minute)},
					outcome:  optin.OutcomeHelp, replies: []string{dealsHelp},
				},
			})
		})
	}
}

// keywordCells are the four cells of a keyword naming the deals campaign.
func keywordCells(text string) []cell {
	words := optin.Normalize(text)
	newCode := optin.Enrollment{
		State: optin.StatePending, Since: t0,
		Code:       &optin.PendingCode{Code: "483920", ExpiresAt: t0.Add(time.Hour), AttemptsLeft: 5},
		CodeEndsAt: t0.Add(time.Hour),
		Prompts:    []time.Time{t0},
	}
	return []cell{
		{
			name: "none", pre: "none", in: inbound(text),
			wantDeals: newCode,
			outcome:   optin.OutcomePrompted, replies: []string{prompt(dealsPrompt, "483920")}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateNone, optin.StatePending, optin.OutcomePrompted, words, prompt(dealsPrompt, optin.MaskedCode)),
			},
		},
		{
			// The live code is sent again, with its attempts and expiry.
			name: "pending", pre: "pending", deals: pendingE(), in: inbound(text),
			wantDeals: with(pendingE(), func(e *optin.Enrollment) { e.Prompts = append(e.Prompts, t0) }),
			outcome:   optin.OutcomeResent, replies: []string{prompt(dealsPrompt, liveCode)}, changed: true,
			events: []optin.Event{
				event("deals", optin.StatePending, optin.StatePending, optin.OutcomeResent, words, prompt(dealsPrompt, optin.MaskedCode)),
			},
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), in: inbound(text),
			wantDeals: subscribedE(),
			outcome:   optin.OutcomeAlreadySubscribed, replies: []string{dealsAlready},
		},
		{
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), in: inbound(text),
			wantDeals: newCode,
			outcome:   optin.OutcomePrompted, replies: []string{prompt(dealsPrompt, "483920")}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateUnsubscribed, optin.StatePending, optin.OutcomePrompted, words, prompt(dealsPrompt, optin.MaskedCode)),
			},
		},
	}
}

// Row "campaign keyword (JOIN, …) or START / UNSTOP": START and UNSTOP join
// the number's default campaign, the first.
func TestDecideKeyword(t *testing.T) {
	for _, text := range []string{"JOIN", "deals", "START", "unstop", "Join!"} {
		t.Run(text, func(t *testing.T) { runCells(t, keywordCells(text)) })
	}
}

func TestDecideKeywordSecondCampaign(t *testing.T) {
	newsCode := optin.Enrollment{
		State: optin.StatePending, Since: t0,
		Code:       &optin.PendingCode{Code: "483920", ExpiresAt: t0.Add(time.Hour), AttemptsLeft: 5},
		CodeEndsAt: t0.Add(time.Hour),
		Prompts:    []time.Time{t0},
	}
	runCells(t, []cell{
		{
			name: "news while deals subscribed", pre: "subscribed", deals: subscribedE(), in: inbound("NEWS"),
			wantDeals: subscribedE(), wantNews: newsCode,
			outcome: optin.OutcomePrompted, replies: []string{prompt(newsPrompt, "483920")}, changed: true,
			events: []optin.Event{
				event("news", optin.StateNone, optin.StatePending, optin.OutcomePrompted, "news", prompt(newsPrompt, optin.MaskedCode)),
			},
		},
		{
			name: "start while news pending", pre: "none", news: newsCode, in: inbound("START"),
			wantDeals: with(newsCode, func(e *optin.Enrollment) {
				e.Code = &optin.PendingCode{Code: "483920", ExpiresAt: t0.Add(time.Hour), AttemptsLeft: 5}
			}),
			wantNews: newsCode,
			outcome:  optin.OutcomePrompted, replies: []string{prompt(dealsPrompt, "483920")}, changed: true,
			events: []optin.Event{
				event("deals", optin.StateNone, optin.StatePending, optin.OutcomePrompted, "start", prompt(dealsPrompt, optin.MaskedCode)),
			},
		},
	})
}

// Row "the pending code".
func TestDecidePendingCode(t *testing.T) {
	const text = liveCode
	confirmed := optin.Enrollment{State: optin.StateSubscribed, Since: t0}
	runCells(t, []cell{
		{name: "none", pre: "none", in: inbound(text), outcome: optin.OutcomeIgnored},
		{
			name: "pending", pre: "pending", deals: pendingE(), in: inbound(text),
			wantDeals: confirmed,
			outcome:   optin.OutcomeConfirmed, replies: []string{dealsConfirm}, changed: true,
			events: []optin.Event{
				event("deals", optin.StatePending, optin.StateSubscribed, optin.OutcomeConfirmed, "", dealsConfirm),
			},
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), in: inbound(text),
			wantDeals: subscribedE(), outcome: optin.OutcomeIgnored,
		},
		{
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), in: inbound(text),
			wantDeals: unsubscribedE(), outcome: optin.OutcomeIgnored,
		},
		{
			// The code confirms only the campaign it was sent for; a live
			// code of another campaign is not charged an attempt.
			name: "news code with deals pending", pre: "pending", deals: pendingE(),
			news: with(pendingE(), func(e *optin.Enrollment) {
				e.Code = &optin.PendingCode{Code: "314159", ExpiresAt: t0.Add(50 * time.Minute), AttemptsLeft: 2}
			}),
			in:        inbound("314 159"),
			wantDeals: pendingE(), wantNews: confirmed,
			outcome: optin.OutcomeConfirmed, replies: []string{newsConfirm}, changed: true,
			events: []optin.Event{
				event("news", optin.StatePending, optin.StateSubscribed, optin.OutcomeConfirmed, "", newsConfirm),
			},
		},
		{
			// Live up to, not at, the expiry instant.
			name: "last instant", pre: "pending", deals: pendingE(), in: inbound(text),
			now:       t0.Add(50*time.Minute - time.Nanosecond),
			wantDeals: optin.Enrollment{State: optin.StateSubscribed, Since: t0.Add(50*time.Minute - time.Nanosecond)},
			outcome:   optin.OutcomeConfirmed, replies: []string{dealsConfirm}, changed: true,
			events: []optin.Event{
				with2(event("deals", optin.StatePending, optin.StateSubscribed, optin.OutcomeConfirmed, "", dealsConfirm),
					func(ev *optin.Event) { ev.At = t0.Add(50*time.Minute - time.Nanosecond) }),
			},
		},
	})
}

func with2(ev optin.Event, f func(*optin.Event)) optin.Event {
	f(&ev)
	return ev
}

// Row "a wrong code": attempts left − 1; at zero the code is voided and the
// enrollment falls back to none.
func TestDecideWrongCode(t *testing.T) {
	const text = "000000"
	lastAttempt := with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 1 })
	runCells(t, []cell{
		{name: "none", pre: "none", in: inbound(text), outcome: optin.OutcomeIgnored},
		{
			name: "pending", pre: "pending", deals: pendingE(), in: inbound(text),
			wantDeals: with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 4 }),
			outcome:   optin.OutcomeWrongCode, changed: true,
		},
		{
			name: "pending last attempt", pre: "pending", deals: lastAttempt, in: inbound(text),
			wantDeals: optin.Enrollment{
				State: optin.StateNone, Since: t0, CodeEndsAt: t0,
				Prompts: []time.Time{t0.Add(-10 * time.Minute)},
			},
			outcome: optin.OutcomeVoided, changed: true,
			events: []optin.Event{
				event("deals", optin.StatePending, optin.StateNone, optin.OutcomeVoided, ""), // codes are never recorded
			},
		},
		{
			// A wrong code costs an attempt on every live code of the number.
			name: "two live codes", pre: "pending", deals: pendingE(), news: lastAttempt, in: inbound(text),
			wantDeals: with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 4 }),
			wantNews: optin.Enrollment{
				State: optin.StateNone, Since: t0, CodeEndsAt: t0,
				Prompts: []time.Time{t0.Add(-10 * time.Minute)},
			},
			outcome: optin.OutcomeVoided, changed: true,
			events: []optin.Event{
				event("news", optin.StatePending, optin.StateNone, optin.OutcomeVoided, ""),
			},
		},
		{
			// A code of another length is just as wrong.
			name: "pending short wrong code", pre: "pending", deals: pendingE(), in: inbound("2718"),
			wantDeals: with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 4 }),
			outcome:   optin.OutcomeWrongCode, changed: true,
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), in: inbound(text),
			wantDeals: subscribedE(), outcome: optin.OutcomeIgnored,
		},
		{
			name: "unsubscribed", pre: "unsubscribed", deals: unsubscribedE(), in: inbound(text),
			wantDeals: unsubscribedE(), outcome: optin.OutcomeIgnored,
		},
	})
}

// Row "an expired code": "expired, text JOIN again" while pending, and in
// none or unsubscribed when a code was voided (by wrong codes or a STOP)
// lately; nothing once subscribed.
func TestDecideExpiredCode(t *testing.T) {
	const text = liveCode
	expired := with(pendingE(), func(e *optin.Enrollment) {
		e.Code.ExpiresAt, e.CodeEndsAt = t0.Add(-time.Minute), t0.Add(-time.Minute)
	})
	keyGone := with(pendingE(), func(e *optin.Enrollment) { e.Code, e.CodeEndsAt = nil, t0.Add(-time.Minute) })
	voided := optin.Enrollment{State: optin.StateNone, Since: t0.Add(-30 * time.Minute), CodeEndsAt: t0.Add(-30 * time.Minute)}
	stopped := optin.Enrollment{State: optin.StateUnsubscribed, Since: t0.Add(-30 * time.Minute), CodeEndsAt: t0.Add(-30 * time.Minute)}
	long := optin.Enrollment{State: optin.StateUnsubscribed, Since: t0.Add(-25 * time.Hour), CodeEndsAt: t0.Add(-25 * time.Hour)}
	noAttempts := with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 0 })
	runCells(t, []cell{
		{
			name: "pending", pre: "pending", deals: expired, in: inbound(text),
			wantDeals: expired, outcome: optin.OutcomeExpired, replies: []string{dealsExpired},
		},
		{
			name: "pending at the expiry instant", pre: "pending", deals: pendingE(), in: inbound(text),
			now:       t0.Add(50 * time.Minute),
			wantDeals: pendingE(), outcome: optin.OutcomeExpired, replies: []string{dealsExpired},
		},
		{
			// The store's code key expired with the code.
			name: "pending code key gone", pre: "pending", deals: keyGone, in: inbound(text),
			wantDeals: keyGone, outcome: optin.OutcomeExpired, replies: []string{dealsExpired},
		},
		{
			name: "pending no attempts left", pre: "pending", deals: noAttempts, in: inbound(text),
			wantDeals: noAttempts, outcome: optin.OutcomeExpired, replies: []string{dealsExpired},
		},
		{
			name: "none after voided", pre: "none", deals: voided, in: inbound(text),
			wantDeals: voided, outcome: optin.OutcomeExpired, replies: []string{dealsExpired},
		},
		{
			name: "unsubscribed after stop", pre: "unsubscribed", deals: stopped, in: inbound(text),
			wantDeals: stopped, outcome: optin.OutcomeExpired, replies: []string{dealsExpired},
		},
		{
			name: "unsubscribed long ago", pre: "unsubscribed", deals: long, in: inbound(text),
			wantDeals: long, outcome: optin.OutcomeIgnored,
		},
		{
			name: "subscribed", pre: "subscribed", deals: subscribedE(), in: inbound(text),
			wantDeals: subscribedE(), outcome: optin.OutcomeIgnored,
		},
		{
			// The campaign whose code ended last answers.
			name: "latest code answers", pre: "unsubscribed", deals: stopped,
			news: with(keyGone, func(e *optin.Enrollment) {
				e.CodeEndsAt = t0.Add(-2 * time.Minute)
			}),
			in: inbound(text), wantDeals: stopped,
			wantNews: with(keyGone, func(e *optin.Enrollment) { e.CodeEndsAt = t0.Add(-2 * time.Minute) }),
			outcome:  optin.OutcomeExpired, replies: []string{"Your code has expired. Text NEWS again for a new one."},
		},
	})
}

// The STOP-voided code then the code: the expired reply, not a confirmation.
func TestDecideCodeAfterStop(t *testing.T) {
	n := testNumber(t)
	sub := newSub(enrollments(pendingE(), noneE()))
	dec := optin.Decide(sub, n, inbound("STOP"), t0, freshCode)
	dec = optin.Decide(dec.Next, n, inbound(liveCode), t0.Add(time.Minute), freshCode)
	if got, want := dec.Next.Enrollment("deals").State, optin.StateUnsubscribed; got != want {
		t.Errorf("Decide(unsubscribed, %q).State = %v; want %v", liveCode, got, want)
	}
	if got, want := dec.Outcome, optin.OutcomeExpired; got != want {
		t.Errorf("Decide(unsubscribed, %q).Outcome = %v; want %v", liveCode, got, want)
	}
	if want := []string{dealsExpired}; !slices.Equal(dec.Replies, want) {
		t.Errorf("Decide(unsubscribed, %q).Replies = %q; want %q", liveCode, dec.Replies, want)
	}
}

// Five wrong codes void the code; the right code afterwards is expired.
func TestDecideWrongCodesThenRight(t *testing.T) {
	n := testNumber(t)
	sub := newSub(enrollments(pendingE(), noneE()))
	wants := []optin.Outcome{
		optin.OutcomeWrongCode, optin.OutcomeWrongCode, optin.OutcomeWrongCode, optin.OutcomeWrongCode,
		optin.OutcomeVoided, optin.OutcomeExpired,
	}
	for i, want := range wants {
		text := "999999"
		if i == len(wants)-1 {
			text = liveCode
		}
		now := t0.Add(time.Duration(i) * time.Minute)
		dec := optin.Decide(sub, n, inbound(text), now, freshCode)
		if dec.Outcome != want {
			t.Fatalf("step %d: Decide(%v, %q).Outcome = %v; want %v", i, sub.Enrollment("deals").State, text, dec.Outcome, want)
		}
		sub = dec.Next
	}
	if got, want := sub.Enrollment("deals").State, optin.StateNone; got != want {
		t.Errorf("Decide(none, %q).State = %v; want %v", liveCode, got, want)
	}
}

// The whole flow of DESIGN.md.
func TestDecideFlow(t *testing.T) {
	n := testNumber(t)
	sub := newSub(nil)
	steps := []struct {
		text    string
		state   optin.State
		outcome optin.Outcome
		replies []string
	}{
		{"JOIN", optin.StatePending, optin.OutcomePrompted, []string{prompt(dealsPrompt, "483920")}},
		{"483920", optin.StateSubscribed, optin.OutcomeConfirmed, []string{dealsConfirm}},
		{"JOIN", optin.StateSubscribed, optin.OutcomeAlreadySubscribed, []string{dealsAlready}},
		{"STOP", optin.StateUnsubscribed, optin.OutcomeOptOut, []string{numberStop}},
		{"START", optin.StatePending, optin.OutcomePrompted, []string{prompt(dealsPrompt, "483920")}},
	}
	for i, s := range steps {
		pre := sub.Enrollment("deals").State
		dec := optin.Decide(sub, n, inbound(s.text), t0.Add(time.Duration(i)*time.Minute), freshCode)
		if got := dec.Next.Enrollment("deals").State; got != s.state {
			t.Errorf("Decide(%v, %q).State = %v; want %v", pre, s.text, got, s.state)
		}
		if dec.Outcome != s.outcome {
			t.Errorf("Decide(%v, %q).Outcome = %v; want %v", pre, s.text, dec.Outcome, s.outcome)
		}
		if !slices.Equal(dec.Replies, s.replies) {
			t.Errorf("Decide(%v, %q).Replies = %q; want %q", pre, s.text, dec.Replies, s.replies)
		}
		sub = dec.Next
	}
}

// Three prompts per hour per campaign; the fourth keyword in the hour gets
// no reply; once the first prompt leaves the window keywords work again.
func TestDecidePromptRateLimit(t *testing.T) {
	n := testNumber(t)
	sub := newSub(nil)
	steps := []struct {
		at      time.Duration
		text    string
		outcome optin.Outcome
		replies []string
		changed bool
	}{
		{0, "JOIN", optin.OutcomePrompted, []string{prompt(dealsPrompt, "483920")}, true},
		{10 * time.Minute, "JOIN", optin.OutcomeResent, []string{prompt(dealsPrompt, "483920")}, true},
		{20 * time.Minute, "START", optin.OutcomeResent, []string{prompt(dealsPrompt, "483920")}, true},
		{30 * time.Minute, "JOIN", optin.OutcomeRateLimited, nil, false},
		{59 * time.Minute, "DEALS", optin.OutcomeRateLimited, nil, false},
		// Another campaign has a budget of its own.
		{59 * time.Minute, "NEWS", optin.OutcomePrompted, []string{prompt(newsPrompt, "483920")}, true},
		// The code of t0 expires at t0+1h and the prompt of t0 leaves
		// the window: a new code goes out.
		{60 * time.Minute, "JOIN", optin.OutcomeResent, []string{prompt(dealsPrompt, "771234")}, true},
		{61 * time.Minute, "JOIN", optin.OutcomeRateLimited, nil, false},
		{70 * time.Minute, "JOIN", optin.OutcomeResent, []string{prompt(dealsPrompt, "771234")}, true},
	}
	code := freshCode
	for _, s := range steps {
		if s.at == 60*time.Minute {
			code = "7712340000"
		}
		pre := sub.Enrollment("deals").State
		dec := optin.Decide(sub, n, inbound(s.text), t0.Add(s.at), code)
		if dec.Outcome != s.outcome {
			t.Errorf("at +%v: Decide(%v, %q).Outcome = %v; want %v", s.at, pre, s.text, dec.Outcome, s.outcome)
		}
		if !slices.Equal(dec.Replies, s.replies) {
			t.Errorf("at +%v: Decide(%v, %q).Replies = %q; want %q", s.at, pre, s.text, dec.Replies, s.replies)
		}
		if dec.Changed != s.changed {
			t.Errorf("at +%v: Decide(%v, %q).Changed = %v; want %v", s.at, pre, s.text, dec.Changed, s.changed)
		}
		if s.outcome == optin.OutcomeRateLimited && len(dec.Events) != 0 {
			t.Errorf("at +%v: Decide(%v, %q).Events = %d events; want none", s.at, pre, s.text, len(dec.Events))
		}
		if got, want := dec.Next.Enrollment("deals").State, optin.StatePending; got != want {
			t.Errorf("at +%v: Decide(%v, %q).State = %v; want %v", s.at, pre, s.text, got, want)
		}
		sub = dec.Next
	}
	if got, want := sub.Enrollment("deals").Prompts, []time.Time{t0.Add(20 * time.Minute), t0.Add(60 * time.Minute), t0.Add(70 * time.Minute)}; !slices.Equal(got, want) {
		t.Errorf("Prompts after the run = %v; want %v", got, want)
	}
}

// A rate-limited keyword that drops stale prompt times records the shorter
// list (Changed) but still sends nothing.
func TestDecideRateLimitPrunes(t *testing.T) {
	n := testNumber(t)
	n.Campaigns[0].MaxPrompts = 2
	e := with(pendingE(), func(e *optin.Enrollment) {
		e.Prompts = []time.Time{t0.Add(-2 * time.Hour), t0.Add(-20 * time.Minute), t0.Add(-10 * time.Minute)}
	})
	sub := newSub(enrollments(e, noneE()))
	dec := optin.Decide(sub, n, inbound("JOIN"), t0, freshCode)
	if dec.Outcome != optin.OutcomeRateLimited || len(dec.Replies) != 0 || len(dec.Events) != 0 || !dec.Changed {
		t.Errorf("Decide(pending, %q) = %v, replies %q, %d events, changed %v; want rate_limited, none, none, true",
			"JOIN", dec.Outcome, dec.Replies, len(dec.Events), dec.Changed)
	}
	if got, want := dec.Next.Enrollment("deals").Prompts, e.Prompts[1:]; !slices.Equal(got, want) {
		t.Errorf("Decide(pending, %q).Prompts = %v; want %v", "JOIN", got, want)
	}
}

// While pending, a keyword re-sends the same live code and keeps its
// attempts and expiry.
func TestDecideResendKeepsCode(t *testing.T) {
	n := testNumber(t)
	e := with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 2 })
	sub := newSub(enrollments(e, noneE()))
	dec := optin.Decide(sub, n, inbound("JOIN"), t0, "9999999999")
	got := dec.Next.Enrollment("deals")
	if got.Code == nil || *got.Code != *e.Code {
		t.Errorf("Decide(pending, %q).Code = %+v; want %+v", "JOIN", got.Code, *e.Code)
	}
	if got.CodeEndsAt != e.CodeEndsAt || got.Since != e.Since {
		t.Errorf("Decide(pending, %q) CodeEndsAt, Since = %v, %v; want %v, %v", "JOIN", got.CodeEndsAt, got.Since, e.CodeEndsAt, e.Since)
	}
	if want := []string{prompt(dealsPrompt, liveCode)}; !slices.Equal(dec.Replies, want) {
		t.Errorf("Decide(pending, %q).Replies = %q; want %q", "JOIN", dec.Replies, want)
	}
	if dec.Outcome != optin.OutcomeResent {
		t.Errorf("Decide(pending, %q).Outcome = %v; want %v", "JOIN", dec.Outcome, optin.OutcomeResent)
	}
	// Then the code still confirms, with the attempts it had.
	dec = optin.Decide(dec.Next, n, inbound("271 828"), t0.Add(time.Minute), "9999999999")
	if got, want := dec.Next.Enrollment("deals").State, optin.StateSubscribed; got != want {
		t.Errorf("Decide(pending, %q).State = %v; want %v", "271 828", got, want)
	}
}

// The campaign's CodeLength digits are taken from the front of the
// supplied code.
func TestDecideCodeLength(t *testing.T) {
	for _, tc := range []struct {
		length int
		want   string
	}{
		{4, "4839"},
		{6, "483920"},
		{8, "48392017"},
		{10, "4839201756"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			n := testNumber(t)
			n.Campaigns[1].CodeLength = tc.length
			if err := n.Validate(); err != nil {
				t.Fatalf("Validate() = %v", err)
			}
			dec := optin.Decide(newSub(nil), n, inbound("NEWS"), t0, freshCode)
			e := dec.Next.Enrollment("news")
			if e.Code == nil || e.Code.Code != tc.want {
				t.Fatalf("Decide(none, %q).Code = %+v; want %q", "NEWS", e.Code, tc.want)
			}
			if want := []string{prompt(newsPrompt, tc.want)}; !slices.Equal(dec.Replies, want) {
				t.Errorf("Decide(none, %q).Replies = %q; want %q", "NEWS", dec.Replies, want)
			}
			// Typed back in groups of three, it confirms.
			var typed []string
			for s := tc.want; s != ""; s = s[min(3, len(s)):] {
				typed = append(typed, s[:min(3, len(s))])
			}
			text := strings.Join(typed, " ")
			dec = optin.Decide(dec.Next, n, inbound(text), t0.Add(time.Minute), freshCode)
			if got, want := dec.Next.Enrollment("news").State, optin.StateSubscribed; got != want {
				t.Errorf("Decide(pending, %q).State = %v; want %v", text, got, want)
			}
		})
	}
}

// Codes are read after NFKC and with any separators between digit groups.
func TestDecideCodeForms(t *testing.T) {
	for _, text := range []string{
		"271828",
		"271 828",
		"271-828",
		" 271828. ",
		"２７１８２８",      // fullwidth digits
		"２７１　８２８",     // fullwidth digits and ideographic space
		"2 7 1 8 2 8", // one digit at a time
		"#271828",
	} {
		t.Run(text, func(t *testing.T) {
			n := testNumber(t)
			dec := optin.Decide(newSub(enrollments(pendingE(), noneE())), n, inbound(text), t0, freshCode)
			if got, want := dec.Next.Enrollment("deals").State, optin.StateSubscribed; got != want {
				t.Errorf("Decide(pending, %q).State = %v; want %v", text, got, want)
			}
			if dec.Outcome != optin.OutcomeConfirmed {
				t.Errorf("Decide(pending, %q).Outcome = %v; want %v", text, dec.Outcome, optin.OutcomeConfirmed)
			}
		})
	}
	// Digits inside words are not a code.
	for _, text := range []string{"code 271828", "271828 thanks", "٢٧١٨٢٨"} {
		t.Run(text, func(t *testing.T) {
			n := testNumber(t)
			dec := optin.Decide(newSub(enrollments(pendingE(), noneE())), n, inbound(text), t0, freshCode)
			if got, want := dec.Next.Enrollment("deals").State, optin.StatePending; got != want {
				t.Errorf("Decide(pending, %q).State = %v; want %v", text, got, want)
			}
			if dec.Outcome != optin.OutcomeIgnored {
				t.Errorf("Decide(pending, %q).Outcome = %v; want %v", text, dec.Outcome, optin.OutcomeIgnored)
			}
		})
	}
}

// What a message means after NFKC, case folding and trimming.
func TestDecideNormalisation(t *testing.T) {
	for _, tc := range []struct {
		text    string
		outcome optin.Outcome
		deals   optin.State // from subscribed (deals and news)
		news    optin.State
	}{
		{"ＳＴＯＰ", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{" Stop! ", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"\tstop\r\n", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"STOP 🙏", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"🛑 stop ❤️", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"\u200bSTOP\ufeff", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"opt-out", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"OPT OUT", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"Opt   Out.", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"OptOut", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"OPT OUT NEWS", optin.OutcomeOptOut, optin.StateSubscribed, optin.StateUnsubscribed},
		{"stop🙏news", optin.OutcomeOptOut, optin.StateSubscribed, optin.StateUnsubscribed},
		{"StopAll", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"UNSUBSCRIBE", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"cancel", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"End.", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"QUIT", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"Revoke", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		{"ＨＥＬＰ", optin.OutcomeHelp, optin.StateSubscribed, optin.StateSubscribed},
		{"info?", optin.OutcomeHelp, optin.StateSubscribed, optin.StateSubscribed},
		{"JOIN.", optin.OutcomeAlreadySubscribed, optin.StateSubscribed, optin.StateSubscribed},
		{"ｊｏｉｎ", optin.OutcomeAlreadySubscribed, optin.StateSubscribed, optin.StateSubscribed},
		{"«news»", optin.OutcomeAlreadySubscribed, optin.StateSubscribed, optin.StateSubscribed},
		// Diacritics are ignored: U+01F0 folds to j + combining caron.
		{"ǰoin", optin.OutcomeAlreadySubscribed, optin.StateSubscribed, optin.StateSubscribed},
		// One letter more is a typo, read as a revocation (fuzzy)...
		{"stopp", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
		// ...but letters glued to the word make another word.
		{"nonstop", optin.OutcomeIgnored, optin.StateSubscribed, optin.StateSubscribed},
		{"optout-please", optin.OutcomeOptOut, optin.StateUnsubscribed, optin.StateUnsubscribed},
	} {
		t.Run(tc.text, func(t *testing.T) {
			n := testNumber(t)
			sub := newSub(enrollments(subscribedE(), subscribedE()))
			dec := optin.Decide(sub, n, inbound(tc.text), t0, freshCode)
			if dec.Outcome != tc.outcome {
				t.Errorf("Decide(subscribed, %q).Outcome = %v; want %v", tc.text, dec.Outcome, tc.outcome)
			}
			if got := dec.Next.Enrollment("deals").State; got != tc.deals {
				t.Errorf("Decide(subscribed, %q).State = %v; want %v", tc.text, got, tc.deals)
			}
			if got := dec.Next.Enrollment("news").State; got != tc.news {
				t.Errorf("Decide(subscribed, %q).State[news] = %v; want %v", tc.text, got, tc.news)
			}
		})
	}
}

// With ProviderHandlesOptOut the provider answers a bare STOP or HELP
// itself: the gateway records the revocation and sends nothing; anything
// the provider does not answer still gets the gateway's reply.
func TestDecideProviderHandlesOptOut(t *testing.T) {
	for _, tc := range []struct {
		text    string
		outcome optin.Outcome
		replies []string
		revoked bool
	}{
		{"STOP", optin.OutcomeOptOut, nil, true},
		{"stop", optin.OutcomeOptOut, nil, true},
		{"Unsubscribe", optin.OutcomeOptOut, nil, true},
		{"STOPALL", optin.OutcomeOptOut, nil, true},
		{"HELP", optin.OutcomeHelp, nil, false},
		{"INFO", optin.OutcomeHelp, nil, false},
		{"please stop texting me", optin.OutcomeOptOut, []string{numberStop}, true},
		{"REVOKE", optin.OutcomeOptOut, []string{numberStop}, true},
		{"opt out", optin.OutcomeOptOut, []string{numberStop}, true},
		{"STOP DEALS", optin.OutcomeOptOut, []string{numberStop}, false},
		{"JOIN", optin.OutcomeAlreadySubscribed, []string{dealsAlready}, false},
	} {
		t.Run(tc.text, func(t *testing.T) {
			n := testNumber(t)
			n.ProviderHandlesOptOut = true
			sub := newSub(enrollments(subscribedE(), subscribedE()))
			dec := optin.Decide(sub, n, inbound(tc.text), t0, freshCode)
			if dec.Outcome != tc.outcome {
				t.Errorf("Decide(subscribed, %q).Outcome = %v; want %v", tc.text, dec.Outcome, tc.outcome)
			}
			if !slices.Equal(dec.Replies, tc.replies) {
				t.Errorf("Decide(subscribed, %q).Replies = %q; want %q", tc.text, dec.Replies, tc.replies)
			}
			if tc.outcome == optin.OutcomeOptOut {
				if got, want := dec.Next.Enrollment("deals").State, optin.StateUnsubscribed; got != want {
					t.Errorf("Decide(subscribed, %q).State = %v; want %v", tc.text, got, want)
				}
				if len(dec.Events) == 0 || !dec.Changed {
					t.Errorf("Decide(subscribed, %q) = %d events, changed %v; want the revocation recorded", tc.text, len(dec.Events), dec.Changed)
				}
				for _, ev := range dec.Events {
					if !slices.Equal(ev.Replies, tc.replies) {
						t.Errorf("Decide(subscribed, %q).Events[%s].Replies = %q; want %q", tc.text, ev.Campaign, ev.Replies, tc.replies)
					}
				}
			}
			if got := dec.Next.Enrollment("news").State == optin.StateUnsubscribed; got != tc.revoked {
				t.Errorf("Decide(subscribed, %q): news revoked = %v; want %v", tc.text, got, tc.revoked)
			}
		})
	}
}

// The provider's own reading STOP revokes, whatever the text looks like.
func TestDecideProviderOptOut(t *testing.T) {
	for _, tc := range []struct {
		text     string
		handles  bool
		provider string
		replies  []string
	}{
		{"Stahp!!", true, "STOP", nil},
		{"Stahp!!", false, "STOP", []string{numberStop}},
		{"271828", true, "stop", nil},
		{"JOIN", true, "STOP", nil},
		{"", true, "STOP", nil},
	} {
		t.Run(tc.text+"/"+tc.provider, func(t *testing.T) {
			n := testNumber(t)
			n.ProviderHandlesOptOut = tc.handles
			sub := newSub(enrollments(subscribedE(), pendingE()))
			in := inbound(tc.text)
			in.ProviderOptOut = tc.provider
			dec := optin.Decide(sub, n, in, t0, freshCode)
			if dec.Outcome != optin.OutcomeOptOut {
				t.Errorf("Decide(subscribed, %q).Outcome = %v; want %v", tc.text, dec.Outcome, optin.OutcomeOptOut)
			}
			for _, id := range []string{"deals", "news"} {
				if got, want := dec.Next.Enrollment(id).State, optin.StateUnsubscribed; got != want {
					t.Errorf("Decide(subscribed, %q).State[%s] = %v; want %v", tc.text, id, got, want)
				}
			}
			if dec.Next.Enrollment("news").Code != nil {
				t.Errorf("Decide(pending, %q).Code = %+v; want nil (voided)", tc.text, dec.Next.Enrollment("news").Code)
			}
			if !slices.Equal(dec.Replies, tc.replies) {
				t.Errorf("Decide(subscribed, %q).Replies = %q; want %q", tc.text, dec.Replies, tc.replies)
			}
			if len(dec.Events) != 2 {
				t.Errorf("Decide(subscribed, %q).Events = %d events; want 2", tc.text, len(dec.Events))
			}
		})
	}
	// START and HELP readings of the provider change nothing by themselves.
	n := testNumber(t)
	in := inbound("what?")
	in.ProviderOptOut = "START"
	if dec := optin.Decide(newSub(enrollments(unsubscribedE(), noneE())), n, in, t0, freshCode); dec.Outcome != optin.OutcomeIgnored {
		t.Errorf("Decide(unsubscribed, %q) with provider START: Outcome = %v; want %v", in.Text, dec.Outcome, optin.OutcomeIgnored)
	}
}

// Decide never modifies its input subscriber or number, and its Next shares
// nothing mutable with the input.
func TestDecideDoesNotModifyInput(t *testing.T) {
	rich := func() optin.Subscriber {
		return newSub(map[string]optin.Enrollment{
			"deals": with(pendingE(), func(e *optin.Enrollment) {
				e.Prompts = []time.Time{t0.Add(-2 * time.Hour), t0.Add(-30 * time.Minute), t0.Add(-10 * time.Minute)}
			}),
			"news":    with(pendingE(), func(e *optin.Enrollment) { e.Code.AttemptsLeft = 1 }),
			"retired": subscribedE(), // a campaign no longer on the number
		})
	}
	texts := []string{
		"JOIN", "NEWS", "START", "STOP", "STOP NEWS", "HELP", liveCode, "000000", "hello",
		"please stop", "４８３９２０",
	}
	for _, text := range texts {
		for _, now := range []time.Time{t0, t0.Add(2 * time.Hour)} {
			n := testNumber(t)
			nBefore := cloneNumber(n)
			sub := rich()
			before := cloneSub(sub)
			dec := optin.Decide(sub, n, inbound(text), now, freshCode)
			if !reflect.DeepEqual(sub, before) {
				t.Errorf("Decide(pending, %q) at %v modified its input:\n got %+v\nwant %+v", text, now, sub, before)
			}
			if !reflect.DeepEqual(n, nBefore) {
				t.Errorf("Decide(pending, %q) at %v modified its number", text, now)
			}
			if got, want := dec.Next.Enrollment("retired"), subscribedE(); !reflect.DeepEqual(got, want) {
				t.Errorf("Decide(pending, %q).Next[retired] = %+v; want %+v", text, got, want)
			}
			// Scribble over Next: the input must not see it.
			for id, e := range dec.Next.Enrollments {
				if e.Code != nil {
					e.Code.Code, e.Code.AttemptsLeft = "scribble", -1
				}
				for i := range e.Prompts {
					e.Prompts[i] = time.Time{}
				}
				e.Prompts = append(e.Prompts[:cap(e.Prompts)], time.Time{})
				dec.Next.Enrollments[id] = e
			}
			dec.Next.Enrollments["new"] = optin.Enrollment{State: optin.StateSubscribed}
			if !reflect.DeepEqual(sub, before) {
				t.Errorf("Decide(pending, %q) at %v: Next shares memory with its input", text, now)
			}
		}
	}
	// A nil enrollment map is fine too.
	sub := newSub(nil)
	dec := optin.Decide(sub, testNumber(t), inbound("JOIN"), t0, freshCode)
	if sub.Enrollments != nil {
		t.Errorf("Decide(none, %q) gave its input an enrollment map", "JOIN")
	}
	if got, want := dec.Next.Enrollment("deals").State, optin.StatePending; got != want {
		t.Errorf("Decide(none, %q).State = %v; want %v", "JOIN", got, want)
	}
}

// Decide is a function of its arguments alone.
func TestDecideDeterministic(t *testing.T) {
	n := testNumber(t)
	for _, text := range []string{"JOIN", "STOP", liveCode, "000000", "HELP", "STOP NEWS"} {
		sub := newSub(enrollments(pendingE(), subscribedE()))
		a := optin.Decide(sub, n, inbound(text), t0, freshCode)
		b := optin.Decide(sub, n, inbound(text), t0, freshCode)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("Decide(pending, %q) differs between two calls:\n%+v\n%+v", text, a, b)
		}
	}
}
