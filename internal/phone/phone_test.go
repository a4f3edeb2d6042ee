package phone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/internal/phone"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"E.164", "+12025550100", "+12025550100", ""},
		{"spaces and dashes", " +1 202-555-0100 ", "+12025550100", ""},
		{"brackets and dots", "+1 (202) 555.0100", "+12025550100", ""},
		{"UK", "+44 20 7946 0123", "+442079460123", ""},
		{"national form", "2025550100", "", "international"},
		{"not US-valid", "+15555550100", "", "not a valid number"},
		{"letters", "+hello", "", "not a number"},
		{"too short", "+1", "", "invalid phone number"},
		{"empty", "", "", "international"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := phone.Parse(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, phone.ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.wantErr)
				}
				if d := strings.Trim(tt.in, " +"); len(d) > 3 && strings.Contains(err.Error(), d) {
					t.Errorf("Parse(%q) error %q repeats the input", tt.in, err)
				}
				return
			}
			if err != nil || got.E164() != tt.want {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tt.in, got.E164(), err, tt.want)
			}
		})
	}
}

func TestParseBusiness(t *testing.T) {
	tests := []struct{ in, want string }{
		{"55555", "55555"},
		{"123", "123"},
		{"12345678", "12345678"},
		{"+12025550100", "+12025550100"},
	}
	for _, tt := range tests {
		if got, err := phone.ParseBusiness(tt.in); err != nil || got.E164() != tt.want {
			t.Errorf("ParseBusiness(%q) = %q, %v; want %q", tt.in, got.E164(), err, tt.want)
		}
	}
	for _, bad := range []string{"12", "123456789", "5555a"} {
		if got, err := phone.ParseBusiness(bad); err == nil {
			t.Errorf("ParseBusiness(%q) = %q; want an error", bad, got.E164())
		}
	}
}
