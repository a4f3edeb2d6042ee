package outbound

import "strings"

// Default sending rates in messages per second, by kind of number: what
// US carriers and Twilio allow a single number without special throughput.
const (
	DefaultLongCodeRate  = 1.0
	DefaultTollFreeRate  = 3.0
	DefaultShortCodeRate = 100.0
)

// tollFreePrefixes are the North American toll-free area codes.
var tollFreePrefixes = []string{"+1800", "+1833", "+1844", "+1855", "+1866", "+1877", "+1888"}

// DefaultRate returns the default messages per second of sending number
// from: a short code (no "+"), a North American toll-free number, or a
// long code.
func DefaultRate(from string) float64 {
	if !strings.HasPrefix(from, "+") {
		return DefaultShortCodeRate
	}
	for _, p := range tollFreePrefixes {
		if strings.HasPrefix(from, p) {
			return DefaultTollFreeRate
		}
	}
	return DefaultLongCodeRate
}
