package optin

import (
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Words with a fixed meaning on every number, after Normalize.
var (
	optOutWords = setOf("stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout")
	// providerOptOutWords are the opt-out words Twilio's default opt-out
	// handling answers itself (a whole message of exactly one of them).
	providerOptOutWords = setOf("stop", "stopall", "unsubscribe", "cancel", "end", "quit")
	helpWords           = setOf("help", "info")
	startWords          = setOf("start", "unstop")
)

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

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

// kind is what a message means, before the subscriber's state is considered.
type kind uint8

const (
	kindOther kind = iota
	kindOptOut
	kindHelp
	kindKeyword
	kindCode
)

// classification is the meaning of one normalised message.
type classification struct {
	kind     kind
	campaign *Campaign // kindKeyword, and kindOptOut aimed at one campaign
	exact    bool      // the whole message is a single opt-out or help word
	code     string    // kindCode: the digits
}

// classify decides what a normalised message means on number n. Opt-out
// comes first: when in doubt a message counts as a revocation.
func classify(n *Number, normalized string) classification {
	ws := words(normalized)
	if len(ws) == 0 {
		return classification{}
	}
	if c, ok := optOut(n, ws); ok {
		c.exact = c.campaign == nil && len(ws) == 1 && providerOptOutWords[ws[0]] && ws[0] == normalized
		return c
	}
	if code, ok := codeOf(ws); ok {
		return classification{kind: kindCode, code: code}
	}
	if len(ws) == 1 && ws[0] == normalized {
		if helpWords[ws[0]] {
			return classification{kind: kindHelp, exact: true}
		}
		if c, ok := n.campaignByKeyword(ws[0]); ok {
			return classification{kind: kindKeyword, campaign: c}
		}
	}
	return classification{}
}

// codeOf reports whether a message is a confirmation code: nothing but
// digits, possibly in groups ("483 920", "483-920"), of a code's length.
func codeOf(ws []string) (string, bool) {
	for _, w := range ws {
		if !isDigits(w) {
			return "", false
		}
	}
	code := strings.Join(ws, "")
	return code, len(code) >= MinCodeLength && len(code) <= MaxCodeLength
}

// optOut reports whether words ws revoke consent: the message is an opt-out
// word or phrase, or a short message holding one as whole words. An opt-out
// word followed by exactly one campaign keyword revokes that campaign only.
func optOut(n *Number, ws []string) (classification, bool) {
	if len(ws) > maxShortMessageWords {
		return classification{}, false
	}
	found := false
	for i, w := range ws {
		if optOutWords[w] || (w == "opt" && i+1 < len(ws) && ws[i+1] == "out") {
			found = true
			break
		}
	}
	if !found {
		return classification{}, false
	}
	if kw, ok := targetedKeyword(ws); ok {
		if c, ok := n.campaignByKeyword(kw); ok && !startWords[kw] {
			return classification{kind: kindOptOut, campaign: c}, true
		}
	}
	return classification{kind: kindOptOut}, true
}

// targetedKeyword returns the word after a leading opt-out word or phrase
// when it is the message's last word: "stop deals", "opt out deals".
func targetedKeyword(ws []string) (string, bool) {
	switch {
	case len(ws) == 2 && optOutWords[ws[0]]:
		return ws[1], true
	case len(ws) == 3 && ws[0] == "opt" && ws[1] == "out":
		return ws[2], true
	}
	return "", false
}
