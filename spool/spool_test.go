package spool_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/optin-gateway/optin-gateway/spool"
)

func newKey(tb testing.TB) []byte {
	tb.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		tb.Fatal(err)
	}
	return k
}

func open(tb testing.TB, dir string, key []byte) *spool.Spool {
	tb.Helper()
	s, err := spool.Open(dir, key)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func appendAll(tb testing.TB, s *spool.Spool, records ...string) {
	tb.Helper()
	for _, r := range records {
		if err := s.Append([]byte(r)); err != nil {
			tb.Fatalf("Append(%q): %v", r, err)
		}
	}
}

func TestAppendReplay(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := open(t, dir, key)
	if p, err := s.Pending(); err != nil || p {
		t.Fatalf("Pending on a new spool = %v, %v; want false", p, err)
	}
	appendAll(t, s, "STOP from +12025550150", "second", "third")
	if p, _ := s.Pending(); !p {
		t.Fatal("Pending after Append = false; want true")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "current"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("2025550150")) || bytes.Contains(raw, []byte("STOP")) {
		t.Errorf("spool file holds the record in clear: %q", raw)
	}
	if n := bytes.Count(raw, []byte("\n")); n != 3 {
		t.Errorf("spool file has %d lines; want 3, one per record", n)
	}
	// A reopened spool (a restart) replays what the last one wrote.
	s.Close()
	s = open(t, dir, key)
	got, st := spool.Collect(t, s)
	if want := []string{"STOP from +12025550150", "second", "third"}; !slices.Equal(got, want) || st.Applied != 3 {
		t.Fatalf("Replay = %q, %+v; want %q in order", got, st, want)
	}
	if got, _ := spool.Collect(t, s); len(got) != 0 {
		t.Errorf("second Replay = %q; want nothing (the batch was deleted)", got)
	}
	if p, _ := s.Pending(); p {
		t.Error("Pending after a full Replay = true; want false")
	}
}

func TestReplayFailureKeepsBatch(t *testing.T) {
	s := open(t, t.TempDir(), newKey(t))
	appendAll(t, s, "a", "b", "c")
	down := errors.New("redis unreachable")
	var seen []string
	st, err := s.Replay(func(r []byte) error {
		seen = append(seen, string(r))
		if string(r) == "b" {
			return down
		}
		return nil
	})
	if !errors.Is(err, down) || st.Applied != 1 || st.Left != 1 {
		t.Fatalf("Replay failing at b = %+v, %v; want 1 applied, 1 batch left, the error", st, err)
	}
	// Appends during the outage go to a later batch, replayed after.
	appendAll(t, s, "d")
	got, _ := spool.Collect(t, s)
	if want := []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("Replay after the failure = %q; want %q (the failed batch again from its start, then the new one)", got, want)
	}
}

func TestTornAndForeignLines(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newKey(t))
	appendAll(t, s, "first")
	s.Close()
	// A crash in the middle of a write leaves an unterminated line.
	f, err := os.OpenFile(filepath.Join(dir, "current"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("v1:AAAA")
	f.Close()
	appendAll(t, s, "after the crash")
	// A spool written under another master key cannot be read; the torn
	// line is told apart from those.
	other := open(t, dir, newKey(t))
	if got, st := spool.Collect(t, other); len(got) != 0 || st.Corrupt != 2 || st.Torn != 1 {
		t.Errorf("Replay under another key = %q, %+v; want nothing, 2 corrupt, 1 torn", got, st)
	}
	dir2 := t.TempDir()
	key := newKey(t)
	s2 := open(t, dir2, key)
	appendAll(t, s2, "first")
	s2.Close()
	f, _ = os.OpenFile(filepath.Join(dir2, "current"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("v1:torn")
	f.Close()
	s2 = open(t, dir2, key)
	appendAll(t, s2, "after the crash")
	got, st := spool.Collect(t, s2)
	if want := []string{"first", "after the crash"}; !slices.Equal(got, want) || st.Corrupt != 0 || st.Torn != 1 {
		t.Errorf("Replay after a torn write = %q, %+v; want %q, 1 torn, none corrupt", got, st, want)
	}
}

func TestConcurrentAppendsDuringReplay(t *testing.T) {
	s := open(t, t.TempDir(), newKey(t))
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Append(fmt.Appendf(nil, "%d/%d", w, i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	seen := map[string]int{}
	var mu sync.Mutex
	replayOnce := func() {
		if _, err := s.Replay(func(r []byte) error {
			mu.Lock()
			seen[string(r)]++
			mu.Unlock()
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	for range 5 {
		replayOnce()
	}
	wg.Wait()
	replayOnce()
	if len(seen) != writers*each {
		t.Errorf("replayed %d distinct records; want %d", len(seen), writers*each)
	}
	for r, n := range seen {
		if n != 1 {
			t.Errorf("record %s replayed %d times; want once", r, n)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := spool.Open(t.TempDir(), make([]byte, 16)); err == nil {
		t.Error("Open with a 16-byte key = nil error; want one")
	}
	if err := open(t, t.TempDir(), newKey(t)).Append(make([]byte, spool.MaxRecord+1)); err == nil {
		t.Error("Append of an oversized record = nil error; want one")
	}
}

// TestKeyRotation: lines are tagged with the id of the key that sealed
// them; after a new key is added, old and new lines replay; once the old
// key is dropped, only its lines are unreadable (counted, not lost
// silently).
func TestKeyRotation(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := spool.Key{ID: "k1", Key: newKey(t)}, spool.Key{ID: "k2", Key: newKey(t)}
	openKeys := func(keys ...spool.Key) *spool.Spool {
		s, err := spool.OpenKeys(dir, keys)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := openKeys(k1)
	appendAll(t, s, "under k1")
	s.Close()
	s = openKeys(k2, k1)
	appendAll(t, s, "under k2")
	if got, st := spool.Collect(t, s); len(got) != 2 || st.Corrupt != 0 {
		t.Errorf("replay with k2 and k1 = %q, %+v; want both records", got, st)
	}
	appendAll(t, s, "under k2 again")
	s.Close()
	s = openKeys(k1)
	defer s.Close()
	appendAll(t, s, "under k1 again")
	s.Close()
	s = openKeys(k2)
	if got, st := spool.Collect(t, s); len(got) != 1 || got[0] != "under k2 again" || st.Corrupt != 1 {
		t.Errorf("replay with k2 only = %q, %+v; want the k2 record and one unreadable", got, st)
	}
	if _, err := spool.OpenKeys(dir, []spool.Key{{ID: "a:b", Key: newKey(t)}}); err == nil {
		t.Error("OpenKeys with an id holding ':' = nil error; want an error")
	}
}

// TestSpoolReplayTellsTornFromCorrupt: an unterminated last line (a write cut
// short, never acknowledged) is counted as torn; a complete line that
// does not decrypt, in the middle of a batch, as corrupt; both are
// skipped and every other record is replayed.
func TestSpoolReplayTellsTornFromCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, newKey(t))
	appendAll(t, s, "STOP a", "STOP b", "STOP c")
	s.Close()
	path := filepath.Join(dir, "current")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	// Damage b's line in the middle of its ciphertext; then a write torn
	// after a few bytes of its line.
	b := lines[1]
	b[len(b)/2] ^= 1
	if b[len(b)/2] == '\n' {
		b[len(b)/2] = 'A'
	}
	damaged := slices.Concat(lines[0], b, lines[2], lines[0][:len(lines[0])/2])
	if err := os.WriteFile(path, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	got, st := spool.Collect(t, s)
	if want := []string{"STOP a", "STOP c"}; !slices.Equal(got, want) {
		t.Errorf("Replay = %q; want %q", got, want)
	}
	if st.Applied != 2 || st.Corrupt != 1 || st.Torn != 1 {
		t.Errorf("Replay stats = %+v; want 2 applied, 1 corrupt (the damaged middle line), 1 torn (the unterminated tail)", st)
	}
}
