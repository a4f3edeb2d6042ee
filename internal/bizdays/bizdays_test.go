package bizdays_test

import (
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/bizdays"
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestBetween(t *testing.T) {
	tests := []struct {
		name, from, to string
		want           int
	}{
		{"same day", "2026-11-16T09:00:00-05:00", "2026-11-16T17:00:00-05:00", 0},
		{"next day", "2026-11-16T09:00:00-05:00", "2026-11-17T08:00:00-05:00", 1},
		{"earlier", "2026-11-17T09:00:00-05:00", "2026-11-16T09:00:00-05:00", 0},
		{"over a weekend", "2026-11-13T12:00:00-05:00", "2026-11-16T12:00:00-05:00", 1}, // Fri → Mon
		// Thanksgiving, Thu 26 Nov 2026, is not a business day.
		{"over Thanksgiving", "2026-11-25T12:00:00-05:00", "2026-11-27T12:00:00-05:00", 1},
		// Christmas 2026 falls on a Friday; 1 Jan 2027 too.
		{"over Christmas and New Year", "2026-12-23T12:00:00-05:00", "2027-01-04T12:00:00-05:00", 6},
		{"two weeks", "2026-11-02T12:00:00-05:00", "2026-11-16T12:00:00-05:00", 9}, // Veterans Day, Wed 11 Nov
		// Late at night UTC is still the same Eastern day.
		{"time zone", "2026-11-16T23:30:00-05:00", "2026-11-17T03:00:00Z", 0},
	}
	for _, tt := range tests {
		if got := bizdays.Between(day(tt.from), day(tt.to)); got != tt.want {
			t.Errorf("%s: Between(%s, %s) = %d; want %d", tt.name, tt.from, tt.to, got, tt.want)
		}
	}
}

func TestIsBusinessDay(t *testing.T) {
	for s, want := range map[string]bool{
		"2026-11-23T12:00:00-05:00": true,  // Monday
		"2026-11-26T12:00:00-05:00": false, // Thanksgiving
		"2026-11-28T12:00:00-05:00": false, // Saturday
		"2026-07-03T12:00:00-04:00": false, // Independence Day observed (4 July is a Saturday)
	} {
		if got := bizdays.IsBusinessDay(day(s)); got != want {
			t.Errorf("IsBusinessDay(%s) = %v; want %v", s, got, want)
		}
	}
}
