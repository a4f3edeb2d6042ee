package phone

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// slowParse is Parse without the fast path: libphonenumber all the way.
func slowParse(s string) (string, bool) {
	n, err := phonenumbers.Parse(s, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// TestParseNANPAgreesWithLibphonenumber compares the fast path with
// libphonenumber on every area code, a spread of exchanges and random
// line numbers (fixed seed), and inputs the fast path must leave alone.
func TestParseNANPAgreesWithLibphonenumber(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for npa := 200; npa <= 999; npa++ {
		for _, nxx := range []int{200, 201, 211, 242, 311, 345, 411, 500, 555, 611, 700, 800, 911, 958, 976, 999} {
			inputs = append(inputs, fmt.Sprintf("+1%03d%03d%04d", npa, nxx, rng.IntN(10000)))
		}
		inputs = append(inputs, fmt.Sprintf("+1%03d5550100", npa), fmt.Sprintf("+1%03d%07d", npa, rng.IntN(10000000)))
	}
	inputs = append(inputs, "+11234567890", "+10234567890", "+1202555010", "+120255501000", "+1202555O100", "+44 20 7946 0000")
	for _, s := range inputs {
		want, wantOK := slowParse(s)
		p, ok, valid := parseNANP(s)
		if !ok {
			continue // the full path handles it
		}
		if valid != wantOK || (valid && string(p) != want) {
			t.Errorf("parseNANP(%q) = %q, valid %v; libphonenumber says %q, valid %v", s, p, valid, want, wantOK)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, s := range []string{"+12125550123", "+44 20 7946 0000"} {
		b.Run(s, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Parse(s)
			}
		})
	}
}
