package spool

import "testing"

// Collect replays s and returns the records, as strings: for the tests
// of this package and of spool_test.
func Collect(tb testing.TB, s *Spool) ([]string, Stats) {
	tb.Helper()
	var got []string
	st, err := s.Replay(func(r []byte) error {
		got = append(got, string(r))
		return nil
	})
	if err != nil {
		tb.Fatalf("Replay: %v", err)
	}
	return got, st
}
