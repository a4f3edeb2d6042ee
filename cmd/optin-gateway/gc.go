package main

import "runtime/debug"

// defaultGCPercent is the gateway's GOGC when the environment sets none.
// Its live heap is small (~25 MB under load: the subscriber cache is off
// the heap) and every webhook allocates some 20 KB, so at Go's default of
// 100 it collected many times a second; at 400 the webhook's CPU per
// message fell by about a quarter in make bench. At 800 a cycle comes
// every ~1 s at 3 000 webhooks/s instead of every ~0.5 s, and the
// webhooks that arrive while one marks (10–17 ms) made most of the tail
// at half peak (see docs/performance.md); the heap stays under ~250 MB,
// where 400 kept it before the cache left the heap. GOGC (and
// GOMEMLIMIT) in the environment take precedence.
const defaultGCPercent = 800

// tuneGC sets defaultGCPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
