package twilio

import (
	"testing"

	"github.com/twilio/twilio-go/twiml"
)

// referenceTwiML is twilio-go's rendering, the reference for messagesTwiML.
func referenceTwiML(tb testing.TB, replies []string) string {
	tb.Helper()
	verbs := make([]twiml.Element, len(replies))
	for i, r := range replies {
		verbs[i] = &twiml.MessagingMessage{Body: r}
	}
	doc, err := twiml.Messages(verbs)
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func TestMessagesTwiMLMatchesTwilioGo(t *testing.T) {
	tests := []struct {
		name    string
		replies []string
	}{
		{"none", nil},
		{"one", []string{"Reply 483920 to confirm ACME Deals. Msg&data rates may apply."}},
		{"two", []string{"You're unsubscribed.", `Say "hi" <b> & 'bye'`}},
		{"empty body", []string{""}},
		{"white space", []string{"a\tb\nc\rd "}},
		{"unicode", []string{"Café ✓ 😀 \uFFFD"}},
		{"control and invalid", []string{"a\x00b\x1fc\xffd\xed\xa0\x80e\uFFFEf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := string(messagesTwiML(tt.replies)), referenceTwiML(t, tt.replies); got != want {
				t.Errorf("messagesTwiML(%q) = %q; want %q", tt.replies, got, want)
			}
		})
	}
}

// FuzzMessagesTwiML proves messagesTwiML and twilio-go agree on any two
// replies: go test -fuzz FuzzMessagesTwiML ./gateway/.
func FuzzMessagesTwiML(f *testing.F) {
	f.Add("Reply 123456 to confirm", "")
	f.Add(`<&>'"`, "\x00\xff")
	f.Add("😀\t\r\n", "\uFFFE")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, replies := range [][]string{{a}, {a, b}} {
			if got, want := string(messagesTwiML(replies)), referenceTwiML(t, replies); got != want {
				t.Fatalf("messagesTwiML(%q) = %q; want %q", replies, got, want)
			}
		}
	})
}

func BenchmarkTwiML(b *testing.B) {
	replies := []string{"Reply 483920 to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."}
	b.Run("twilio-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = referenceTwiML(b, replies)
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = messagesTwiML(replies)
		}
	})
}
