package optin

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// providerOptOutWords are the opt-out words Twilio's default opt-out
// handling answers itself (a whole message of exactly one of them).
var providerOptOutWords = map[string]bool{"stop": true, "stopall": true, "unsubscribe": true, "cancel": true, "end": true, "quit": true}

var folder = cases.Fold()

// Normalize returns text as the classifier sees it: Unicode NFKC, case
// folded, inner runs of white space collapsed to one space, and surrounding
// white space, punctuation and symbols trimmed. It is safe for concurrent use.
func Normalize(text string) string {
	s := norm.NFKC.String(text)
	s = folder.String(s)
	s = strings.TrimFunc(s, func(r rune) bool {
		return isSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsControl(r) ||
			unicode.Is(unicode.Variation_Selector, r) || r == '\u200d'
	})
	return strings.Join(strings.FieldsFunc(s, isSpace), " ")
}

func isSpace(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' }

// words splits normalised text into its words: maximal runs of letters,
// digits and marks. "opt-out!" is two words, "opt" and "out".
func words(normalized string) []string {
	return strings.FieldsFunc(normalized, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
