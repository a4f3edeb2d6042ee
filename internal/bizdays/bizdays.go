// Package bizdays counts US business days: weekdays that are not federal
// holidays, as github.com/rickar/cal/v2/us lists them (with their observed
// dates when they fall on a weekend), in the Eastern time zone. The FCC's
// TCPA rule wants a revocation honoured within 10 business days.
package bizdays

import (
	"time"
	_ "time/tzdata" // the zone below, wherever the binary runs

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/us"
)

// Limit is how many business days a revocation may take to be honoured.
const Limit = 10

var (
	eastern  = mustZone("America/New_York")
	calendar = func() *cal.BusinessCalendar {
		c := cal.NewBusinessCalendar()
		c.AddHoliday(us.Holidays...)
		return c
	}()
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// Between returns how many business days lie after the day of from, up to
// and including the day of to: 0 when both fall on the same day (or to is
// earlier), 1 when to is the next business day. Days are Eastern time.
func Between(from, to time.Time) int {
	f, t := from.In(eastern), to.In(eastern)
	next := time.Date(f.Year(), f.Month(), f.Day()+1, 0, 0, 0, 0, eastern)
	if t.Before(next) {
		return 0
	}
	return calendar.WorkdaysInRange(next, t)
}

// IsBusinessDay reports whether t falls on a US business day.
func IsBusinessDay(t time.Time) bool { return calendar.IsWorkday(t.In(eastern)) }
