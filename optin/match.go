package optin

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// The rules by which a message is read. Fuzzy rules are the policy "when in
// doubt, opt out": each decision they make is marked for review.
const (
	RuleWord     = "word"     // the whole message is an opt-out word or phrase of a pack
	RuleContains = "contains" // a short message holds an opt-out word as whole words
	RulePhrase   = "phrase"   // a revocation phrase, anywhere (fuzzy)
	RuleTypo     = "typo"     // one letter away from an opt-out word (fuzzy)
	RuleEmoji    = "emoji"    // a stop sign in a short message (fuzzy)
	RuleProvider = "provider" // the provider read it as a revocation (OptOutType=STOP)
	RuleHelp     = "help"
	RuleStart    = "start"   // an opt-in word of a pack: the default campaign
	RuleKeyword  = "keyword" // a campaign keyword
	RuleCode     = "code"    // digits read as a confirmation code (never recorded)
	RuleManual   = "manual"  // a revocation recorded by hand (Revoke); Matched is its channel
)

// Match says how a message was read: the rule, the text it matched, the
// pack (and its version) whose word decided, and whether the rule is fuzzy.
// It goes into every audit record the message caused.
type Match struct {
	Rule        string `json:"rule"`
	Matched     string `json:"matched,omitempty"`
	Pack        string `json:"pack,omitempty"`
	PackVersion int    `json:"pack_version,omitempty"`
	Fuzzy       bool   `json:"fuzzy,omitempty"`
}

// stopEmoji are read as a revocation in a short message.
var stopEmoji = []string{"\U0001F6D1", "\u26D4", "\U0001F6AB"} // 🛑 ⛔ 🚫

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
	match    Match
}

// classify decides what a message means on number n, from its normalised
// text and, for emoji, its raw text. Revocation comes first: when in doubt a
// message counts as one.
func classify(n *Number, normalized, raw string) classification {
	ws := spelled(matchWords(normalized))
	ps := n.packsOf()
	short := len(ws) <= maxShortMessageWords
	if len(ws) == 0 {
		return emojiOptOut(raw)
	}
	if short {
		if c, ok := optOutWord(n, ps, ws); ok {
			return c
		}
	}
	for _, p := range ps {
		for _, ph := range p.Phrases {
			if indexRun(ws, ph) >= 0 {
				return classification{kind: kindOptOut, match: p.match(RulePhrase, strings.Join(ph, " "), true)}
			}
		}
	}
	if code, ok := codeOf(ws); ok {
		return classification{kind: kindCode, code: code, match: Match{Rule: RuleCode}}
	}
	if len(ws) == 1 && ws[0] == stripMarks(normalized) { // one word, nothing around it
		w := ws[0]
		for _, p := range ps {
			switch {
			case p.Help[w]:
				return classification{kind: kindHelp, exact: true, match: p.match(RuleHelp, w, false)}
			case p.OptIn[w]:
				return classification{kind: kindKeyword, campaign: &n.Campaigns[0], match: p.match(RuleStart, w, false)}
			}
		}
		if c, ok := n.campaignByKeyword(w); ok {
			return classification{kind: kindKeyword, campaign: c, match: Match{Rule: RuleKeyword, Matched: w}}
		}
	}
	if short {
		if c, ok := typoOptOut(n, ps, ws); ok {
			return c
		}
		if c := emojiOptOut(raw); c.kind == kindOptOut {
			return c
		}
	}
	return classification{}
}

func (p *Pack) match(rule, matched string, fuzzy bool) Match {
	return Match{Rule: rule, Matched: matched, Pack: p.Name, PackVersion: p.Version, Fuzzy: fuzzy}
}

// optOutWord finds an opt-out entry of a pack among the words ws of a short
// message. An entry followed by exactly one campaign keyword ("stop deals",
// "parar deals") revokes that campaign only.
func optOutWord(n *Number, ps []*Pack, ws []string) (classification, bool) {
	for _, p := range ps {
		for _, e := range p.OptOut {
			i := indexRun(ws, e)
			if i < 0 {
				continue
			}
			c := classification{kind: kindOptOut}
			switch {
			case len(e) == len(ws):
				c.match = p.match(RuleWord, strings.Join(e, " "), false)
				c.exact = len(ws) == 1 && providerOptOutWords[ws[0]]
			case i == 0 && len(ws) == len(e)+1:
				c.match = p.match(RuleContains, strings.Join(e, " "), false)
				if camp, ok := n.campaignByKeyword(ws[len(ws)-1]); ok && !n.isOptInWord(ws[len(ws)-1]) {
					c.campaign = camp
				}
			default:
				c.match = p.match(RuleContains, strings.Join(e, " "), false)
			}
			return c, true
		}
	}
	return classification{}, false
}

// typoOptOut finds a word of ws one edit away (insertion, deletion,
// substitution, or transposition of neighbours) from an opt-out word of
// four or more letters. Words that mean something else on the number (help
// and opt-in words, campaign keywords) and a pack's NotTypo words are not
// typos.
func typoOptOut(n *Number, ps []*Pack, ws []string) (classification, bool) {
	for _, w := range ws {
		if utf8.RuneCountInString(w) < 3 || isDigits(w) || n.reserved(w) {
			continue
		}
		for _, p := range ps {
			for _, e := range p.OptOut {
				if len(e) == 1 && utf8.RuneCountInString(e[0]) >= 4 && oneEdit(w, e[0]) {
					return classification{kind: kindOptOut, match: p.match(RuleTypo, w+" → "+e[0], true)}, true
				}
			}
		}
	}
	return classification{}, false
}

// reserved reports whether match-form word w has a meaning of its own on n
// or is listed as no typo.
func (n *Number) reserved(w string) bool {
	for _, p := range n.packsOf() {
		if p.Help[w] || p.OptIn[w] || p.NotTypo[w] {
			return true
		}
	}
	_, ok := n.campaignByKeyword(w)
	return ok
}

// isOptInWord reports whether w is an opt-in word of one of n's packs.
func (n *Number) isOptInWord(w string) bool {
	for _, p := range n.packsOf() {
		if p.OptIn[w] {
			return true
		}
	}
	return false
}

func emojiOptOut(raw string) classification {
	for _, e := range stopEmoji {
		if strings.Contains(raw, e) {
			return classification{kind: kindOptOut, match: Match{Rule: RuleEmoji, Matched: e, Fuzzy: true}}
		}
	}
	return classification{}
}

// spelled joins a word spelled out letter by letter ("s t o p", from
// "S.T.O.P") into one.
func spelled(ws []string) []string {
	if len(ws) < 2 {
		return ws
	}
	for _, w := range ws {
		if utf8.RuneCountInString(w) != 1 {
			return ws
		}
	}
	return []string{strings.Join(ws, "")}
}

// indexRun returns where run stands in ws as consecutive words, or -1.
func indexRun(ws, run []string) int {
	for i := 0; i+len(run) <= len(ws); i++ {
		if slices.Equal(ws[i:i+len(run)], run) {
			return i
		}
	}
	return -1
}

// oneEdit reports whether a and b differ by exactly one insertion, deletion,
// substitution, or transposition of two neighbouring letters.
func oneEdit(a, b string) bool {
	x, y := []rune(a), []rune(b)
	if len(x) > len(y) {
		x, y = y, x
	}
	switch len(y) - len(x) {
	case 0:
		diff := -1
		for i := range x {
			if x[i] == y[i] {
				continue
			}
			if diff >= 0 {
				// A second difference: only a swap of neighbours is one edit.
				return diff == i-1 && x[diff] == y[i] && x[i] == y[diff] && slices.Equal(x[i+1:], y[i+1:])
			}
			diff = i
		}
		return diff >= 0
	case 1:
		i := 0
		for i < len(x) && x[i] == y[i] {
			i++
		}
		return slices.Equal(x[i:], y[i+1:])
	}
	return false
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
