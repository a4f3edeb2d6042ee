package optin_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"gsm 160", strings.Repeat("a", 160), 1},
		{"gsm 161", strings.Repeat("a", 161), 2},
		{"gsm 306", strings.Repeat("a", 306), 2},
		{"gsm 307", strings.Repeat("a", 307), 3},
		{"extension chars take two", strings.Repeat("€", 80), 1},
		{"extension chars over", strings.Repeat("€", 81), 2},
		{"ucs-2 70", strings.Repeat("ç", 70), 1}, // ç (U+00E7) is not GSM; Ç is
		{"ucs-2 71", strings.Repeat("ç", 71), 2},
		{"emoji counts two units", strings.Repeat("🛑", 35), 1},
		{"emoji over", strings.Repeat("🛑", 36), 2},
	}
	for _, tt := range tests {
		if got := optin.Segments(tt.text); got != tt.want {
			t.Errorf("%s: Segments = %d; want %d", tt.name, got, tt.want)
		}
	}
}

func TestCampaignDocValidateNamesTheField(t *testing.T) {
	ok := optin.CampaignDoc{ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"},
		Prompt:       "Reply {code} to confirm ACME Deals. Up to 4 msgs/week. Msg & data rates may apply. Reply HELP for help, STOP to cancel.",
		Confirmation: "You're in.", Help: "Help."}.WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(valid) = %v", err)
	}
	bad := ok
	bad.Keywords = []string{"JOIN", "join"}
	err := bad.Validate()
	fe, isField := optin.AsFieldError(err)
	if !isField || fe.Field != "keywords[1]" || !errors.Is(err, optin.ErrInvalid) {
		t.Fatalf("Validate(keyword twice) = %v; want a FieldError on keywords[1] wrapping ErrInvalid", err)
	}
}

func TestRevoke(t *testing.T) {
	now := time.Date(2026, 11, 16, 15, 0, 0, 0, time.UTC)
	deals := optin.Campaign{ID: "deals", Version: 2}
	news := optin.Campaign{ID: "news", Version: 1}
	sub := optin.Subscriber{Tenant: "demo", ID: "abcd", Version: 3, Enrollments: map[string]optin.Enrollment{
		"deals": {State: optin.StateSubscribed, Since: now.Add(-time.Hour)},
		"news":  {State: optin.StatePending, Since: now.Add(-time.Minute), Code: &optin.PendingCode{Code: "123456", ExpiresAt: now.Add(time.Hour), AttemptsLeft: 3}, CodeEndsAt: now.Add(time.Hour)},
	}}
	cause := optin.Cause{Actor: "tok_0123456789abcdef", Channel: optin.ChannelEmail, Note: "email"}
	dec := optin.Revoke(sub, "demo", []optin.Campaign{deals, news}, now, cause)
	if len(dec.Events) != 2 || len(dec.Replies) != 0 || !dec.Changed {
		t.Fatalf("Revoke: %d events, %d replies, changed %v; want 2, 0, true", len(dec.Events), len(dec.Replies), dec.Changed)
	}
	for _, id := range []string{"deals", "news"} {
		e := dec.Next.Enrollments[id]
		if e.State != optin.StateUnsubscribed || e.Code != nil || !e.Since.Equal(now) {
			t.Errorf("Revoke: %s = %+v; want unsubscribed at now, no code", id, e)
		}
	}
	if ev := dec.Events[0]; ev.From != optin.StateSubscribed || ev.Cause.Channel != "email" || ev.CampaignVersion != 2 || ev.Match.Rule != optin.RuleManual {
		t.Errorf("Revoke: event %+v", ev)
	}
	if sub.Enrollments["news"].Code == nil {
		t.Error("Revoke modified its input")
	}
}
