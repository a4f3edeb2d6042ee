package main

import "runtime/debug"

// defaultGCPercent is the gateway's GOGC when the environment sets none.
// Its live heap is small (tens of MB) and every webhook allocates some
// 20 KB, so at Go's default of 100 it collected many times a second; at
// 400 the webhook's CPU per message fell by about a quarter in make bench
// (see docs/performance.md), for a heap at most some five times the live
// data. GOGC (and GOMEMLIMIT) in the environment take precedence.
const defaultGCPercent = 400

// tuneGC sets defaultGCPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
