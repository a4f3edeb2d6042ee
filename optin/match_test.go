package optin_test

import (
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
)

func TestDecideMatch(t *testing.T) {
	tests := []struct {
		text  string
		packs []string
		want  optin.Match
	}{
		{"STOP", nil, optin.Match{Rule: optin.RuleWord, Matched: "stop", Pack: "en", PackVersion: 1}},
		{"please stop", nil, optin.Match{Rule: optin.RuleContains, Matched: "stop", Pack: "en", PackVersion: 1}},
		{"Opt-Out", nil, optin.Match{Rule: optin.RuleWord, Matched: "opt out", Pack: "en", PackVersion: 1}},
		{"PARAR", []string{"es"}, optin.Match{Rule: optin.RuleWord, Matched: "parar", Pack: "es", PackVersion: 1}},
		{"ARRÊT", []string{"fr"}, optin.Match{Rule: optin.RuleWord, Matched: "arret", Pack: "fr", PackVersion: 1}},
		{"stpo", nil, optin.Match{Rule: optin.RuleTypo, Matched: "stpo → stop", Pack: "en", PackVersion: 1, Fuzzy: true}},
		{"take me off", nil, optin.Match{Rule: optin.RulePhrase, Matched: "take me off", Pack: "en", PackVersion: 1, Fuzzy: true}},
		{"🛑", nil, optin.Match{Rule: optin.RuleEmoji, Matched: "🛑", Fuzzy: true}},
		{"JOIN", nil, optin.Match{Rule: optin.RuleKeyword, Matched: "join"}},
		{"START", nil, optin.Match{Rule: optin.RuleStart, Matched: "start", Pack: "en", PackVersion: 1}},
		{"ALTA", []string{"es"}, optin.Match{Rule: optin.RuleStart, Matched: "alta", Pack: "es", PackVersion: 1}},
		{"AYUDA", []string{"es"}, optin.Match{Rule: optin.RuleHelp, Matched: "ayuda", Pack: "es", PackVersion: 1}},
		{"271828", nil, optin.Match{Rule: optin.RuleCode}}, // the code itself is never recorded
		{"hello", nil, optin.Match{}},
		{"PARAR", nil, optin.Match{}}, // Spanish words need the es pack
	}
	for _, tt := range tests {
		n := testNumber(t)
		n.Packs = tt.packs
		sub := newSub(enrollments(pendingE(), subscribedE()))
		dec := optin.Decide(sub, n, inbound(tt.text), t0, freshCode)
		if dec.Match != tt.want {
			t.Errorf("Decide(%q, packs %v).Match = %+v; want %+v", tt.text, tt.packs, dec.Match, tt.want)
		}
	}
}

func TestDecideProviderOptOutMatch(t *testing.T) {
	in := inbound("hello")
	in.ProviderOptOut = "STOP"
	dec := optin.Decide(newSub(enrollments(subscribedE(), noneE())), testNumber(t), in, t0, freshCode)
	if want := (optin.Match{Rule: optin.RuleProvider, Matched: "OptOutType=STOP"}); dec.Match != want {
		t.Errorf("Decide(OptOutType=STOP).Match = %+v; want %+v", dec.Match, want)
	}
}

// TestDecideOneConfirmation checks that a revocation is confirmed once: a
// second STOP is recorded but not answered, in every pack and form.
func TestDecideOneConfirmation(t *testing.T) {
	n := testNumber(t)
	n.Packs = []string{"es"}
	sub := newSub(enrollments(subscribedE(), subscribedE()))
	first := optin.Decide(sub, n, inbound("STOP"), t0, freshCode)
	if len(first.Replies) != 1 {
		t.Fatalf("first STOP replies %q; want one confirmation", first.Replies)
	}
	for _, text := range []string{"STOP", "parar", "take me off", "stpo", "STOP DEALS"} {
		again := optin.Decide(first.Next, n, inbound(text), t0, freshCode)
		if again.Outcome != optin.OutcomeOptOut || len(again.Replies) != 0 || len(again.Events) == 0 {
			t.Errorf("Decide(unsubscribed, %q) = %v, replies %q, %d events; want opt_out recorded, no reply", text, again.Outcome, again.Replies, len(again.Events))
		}
	}
}

// TestDecideTenantScope checks the "tenant" revocation scope: a STOP on one
// number revokes the tenant's campaigns on its other numbers too, and a
// STOP <keyword> still revokes that campaign only.
func TestDecideTenantScope(t *testing.T) {
	n := testNumber(t)
	other := n.Campaigns[0]
	other.ID, other.Keywords = "vip", []string{"VIP"}
	n.Scope = append(append([]optin.Campaign(nil), n.Campaigns...), other)
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
	es := enrollments(subscribedE(), subscribedE())
	es["vip"] = subscribedE()
	dec := optin.Decide(newSub(es), n, inbound("STOP"), t0, freshCode)
	for _, id := range []string{"deals", "news", "vip"} {
		if got := dec.Next.Enrollment(id).State; got != optin.StateUnsubscribed {
			t.Errorf("STOP with tenant scope: %s = %v; want unsubscribed", id, got)
		}
	}
	dec = optin.Decide(newSub(es), n, inbound("STOP NEWS"), t0, freshCode)
	if got := dec.Next.Enrollment("vip").State; got != optin.StateSubscribed {
		t.Errorf("STOP NEWS with tenant scope: vip = %v; want subscribed", got)
	}
	n.Scope = n.Scope[1:] // leaves out one of the number's own campaigns
	if err := n.Validate(); err == nil || !strings.Contains(err.Error(), "revocation scope") {
		t.Errorf("Validate() with a scope missing deals = %v; want an error naming the revocation scope", err)
	}
}

func TestOneLetterTypos(t *testing.T) {
	n := testNumber(t)
	sub := newSub(enrollments(subscribedE(), noneE()))
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"stpo", true},     // transposition of neighbours
		{"sotp", true},     // transposition
		{"stoop", true},    // insertion
		{"sop", true},      // deletion
		{"stip", true},     // substitution
		{"spot", false},    // two letters moved apart: two edits
		{"stopped", false}, // three insertions
		{"step", false},    // listed as no typo
		{"qit", true},      // deletion from "quit"
		{"ed", false},      // "end" has three letters: no typos
		{"enf", false},
		{"revokd", true},
		{"unsubscrbe", true},
		{"uncubscrbe", false},
	} {
		dec := optin.Decide(sub, n, inbound(tt.text), t0, freshCode)
		if got := dec.Outcome == optin.OutcomeOptOut; got != tt.want {
			t.Errorf("Decide(%q) revokes = %v (%+v); want %v", tt.text, got, dec.Match, tt.want)
		}
	}
}

func TestNumberValidatePacks(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*optin.Number)
		wantErr string
	}{
		{"unknown pack", func(n *optin.Number) { n.Packs = []string{"xx"} }, `unknown pack "xx"`},
		{"keyword is a Spanish opt-out word", func(n *optin.Number) {
			n.Packs = []string{"es"}
			n.Campaigns[1].Keywords = []string{"BAJA"}
		}, `keyword "BAJA" is an opt-out word of pack es`},
		{"keyword is a French help word", func(n *optin.Number) {
			n.Packs = []string{"fr"}
			n.Campaigns[1].Keywords = []string{"AIDE"}
		}, `keyword "AIDE" is a help word of pack fr`},
		{"keyword reads as a typo", func(n *optin.Number) { n.Campaigns[1].Keywords = []string{"STOPS"} }, `would read as a typo of the opt-out word "stop"`},
		{"keyword with diacritics is a French opt-out word", func(n *optin.Number) {
			n.Packs = []string{"fr"}
			n.Campaigns[1].Keywords = []string{"ANNULER"}
		}, `is an opt-out word of pack fr`},
		{"link in the stop reply", func(n *optin.Number) { n.StopReply = "Unsubscribed. See acme.example/deals" }, "holds a link"},
		{"offer in a campaign stop reply", func(n *optin.Number) {
			n.Campaigns[1].StopReply = "Unsubscribed from ACME News. Get 20% off: reply JOIN"
		}, "offer"},
		{"free in the stop reply", func(n *optin.Number) { n.StopReply = "Unsubscribed. Text JOIN for a free gift" }, `marketing word "free"`},
		{"keyword holding a marketing word", func(n *optin.Number) { n.StopReply = "You're unsubscribed. Reply DEALS to rejoin." }, ""},
		{"program name holding a marketing word", func(n *optin.Number) {
			n.Campaigns[0].StopReply = "You're unsubscribed from ACME Deals. Reply JOIN to rejoin."
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := testNumber(t)
			tt.change(n)
			err := n.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v; want an error saying %s", err, tt.wantErr)
			}
		})
	}
}

func TestParsePack(t *testing.T) {
	good := "pack xx\nversion 2\noptout halt\nphrase go away\nhelp aide\noptin go\nnottypo hale\n"
	p, err := optin.ParsePack(good)
	if err != nil || p.Name != "xx" || p.Version != 2 || len(p.OptOut) != 1 || len(p.Phrases) != 1 {
		t.Fatalf("ParsePack(good) = %+v, %v", p, err)
	}
	for _, bad := range []string{
		"version 1\noptout halt",     // no name
		"pack xx\noptout halt",       // no version
		"pack xx\nversion 0",         // version not positive
		"pack xx\nversion 1\nsay hi", // unknown kind
		"pack xx\nversion 1\nhelp two words",
		"pack xx\nversion 1\noptout !!!",
	} {
		if _, err := optin.ParsePack(bad); err == nil {
			t.Errorf("ParsePack(%q) = nil error; want one", bad)
		}
	}
	if got := optin.PackNames(); strings.Join(got, ",") != "en,es,fr,pt" {
		t.Errorf("PackNames() = %v; want en, es, fr, pt", got)
	}
}
