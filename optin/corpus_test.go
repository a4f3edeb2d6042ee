package optin_test

import (
	"bufio"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
)

// TestRevocationCorpus runs every message of testdata/revocations.tsv
// through Decide, for a subscriber of both campaigns of a number with the
// line's packs, and checks that it revokes exactly when the line says so.
// Fuzzy categories must be marked fuzzy in the audit record, with their
// rule and the matched text.
func TestRevocationCorpus(t *testing.T) {
	f, err := os.Open("testdata/revocations.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	perCategory := map[string]int{}
	lines := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.SplitN(line, "\t", 4)
		if len(cols) != 4 || (cols[0] != "revokes" && cols[0] != "keeps") {
			t.Fatalf("malformed corpus line %q", line)
		}
		want, packs, category, text := cols[0] == "revokes", strings.Split(cols[1], ","), cols[2], cols[3]
		lines++
		perCategory[category]++
		n := testNumber(t)
		n.Packs = packs
		if err := n.Validate(); err != nil {
			t.Fatal(err)
		}
		sub := newSub(enrollments(subscribedE(), subscribedE()))
		dec := optin.Decide(sub, n, inbound(text), t0, freshCode)
		if got := dec.Outcome == optin.OutcomeOptOut; got != want {
			t.Errorf("%s [%s] %q: revokes = %v (outcome %v, match %+v); want %v", category, cols[1], text, got, dec.Outcome, dec.Match, want)
			continue
		}
		wantRule := map[string]string{"phrase": optin.RulePhrase, "emoji": optin.RuleEmoji}[category]
		if strings.HasPrefix(category, "typo") {
			wantRule = optin.RuleTypo
		}
		if wantRule != "" && (dec.Match.Rule != wantRule || !dec.Match.Fuzzy || dec.Match.Matched == "") {
			t.Errorf("%s %q: match %+v; want rule %s, fuzzy, with the matched text", category, text, dec.Match, wantRule)
		}
		exact := map[string]bool{"en-word": true, "en-contains": true, "case-width": true, "punctuation": true, "targeted": true}
		if exact[category] && dec.Match.Fuzzy {
			t.Errorf("%s %q: match %+v; want an exact (not fuzzy) rule", category, text, dec.Match)
		}
		for _, ev := range dec.Events {
			if ev.Match == nil || *ev.Match != dec.Match {
				t.Errorf("%s %q: event %s match %+v; want %+v", category, text, ev.Campaign, ev.Match, dec.Match)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 200 {
		t.Errorf("corpus has %d messages; want at least 200", lines)
	}
	var b strings.Builder
	for _, c := range slices.Sorted(maps.Keys(perCategory)) {
		b.WriteString(" " + c + "=" + itoa(perCategory[c]))
	}
	t.Logf("corpus: %d messages;%s", lines, b.String())
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}
