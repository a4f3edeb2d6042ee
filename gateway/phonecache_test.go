package gateway

import (
	"fmt"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/phone"
)

func TestPhoneCacheAgreesWithParse(t *testing.T) {
	c := newPhoneCache(4)
	for _, raw := range []string{"+12125550123", " +1 (202) 555-0100 ", "+15550100", "12125550123", "55555", "", "+12125550123"} {
		for round := range 2 {
			want, wantErr := phone.Parse(raw)
			got, err := c.parse(raw)
			if got != want || (err == nil) != (wantErr == nil) {
				t.Errorf("parse(%q) round %d = %q, %v; want %q, %v", raw, round, got, err, want, wantErr)
			}
			wantB, wantErrB := phone.ParseBusiness(raw)
			gotB, errB := c.parseBusiness(raw)
			if gotB != wantB || (errB == nil) != (wantErrB == nil) {
				t.Errorf("parseBusiness(%q) round %d = %q, %v; want %q, %v", raw, round, gotB, errB, wantB, wantErrB)
			}
		}
	}
}

func TestPhoneCacheIsBounded(t *testing.T) {
	c := newPhoneCache(8)
	for i := range 100 {
		if _, err := c.parse(fmt.Sprintf("+1202555%04d", 100+i%100)); err != nil {
			t.Fatal(err)
		}
		if got := len(c.m); got > 8 {
			t.Fatalf("len(cache) = %d after %d numbers; want at most 8", got, i+1)
		}
	}
}
