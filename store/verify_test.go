package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
)

// tamperLog archives 60 events into segments of about 15 records and
// returns the directory.
func tamperLog(tb testing.TB) (*Store, string) {
	tb.Helper()
	st, _ := newTestStore(tb, 1)
	opts := testArchiverOptions(tb)
	opts.Batch = 15
	opts.SegmentBytes = 1 // seal after every round
	addEvents(tb, st, 0, 60)
	archive(tb, st, opts, 60)
	return st, opts.Dir
}

// editLines rewrites segment n of dir with edit applied to its lines.
func editLines(tb testing.TB, dir string, n uint64, edit func([][]byte) [][]byte) {
	tb.Helper()
	path := filepath.Join(dir, segName(n))
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if err := os.WriteFile(path, bytes.Join(edit(lines), nil), 0o600); err != nil {
		tb.Fatal(err)
	}
}

func TestVerifyNamesFirstBadRecord(t *testing.T) {
	// Segment 2 holds records 16..30: line 3 is record 18.
	for _, tc := range []struct {
		name     string
		edit     func([][]byte) [][]byte
		kind     string
		seq      uint64
		line     int
		segment  uint64
		inDetail string
	}{
		{
			name: "flip one byte",
			edit: func(l [][]byte) [][]byte {
				i := bytes.Index(l[2], []byte(`"words":"join"`)) + len(`"words":"j`)
				l[2][i] ^= 0x01 // join → kjoin… one bit of one byte
				return l
			},
			kind: BreakEdited, seq: 18, line: 3, segment: 2, inDetail: "hash does not match",
		},
		{
			name: "delete one line",
			edit: func(l [][]byte) [][]byte { return append(l[:2:2], l[3:]...) },
			kind: BreakRemoved, seq: 18, line: 3, segment: 2, inDetail: "records 18..18 are missing",
		},
		{
			name: "swap two lines",
			edit: func(l [][]byte) [][]byte {
				l[2], l[3] = l[3], l[2]
				return l
			},
			kind: BreakReordered, seq: 18, line: 3, segment: 2, inDetail: "record 19 where record 18 belongs",
		},
		{
			name: "truncate a sealed segment at a record boundary",
			edit: func(l [][]byte) [][]byte { return l[:10] },
			kind: BreakTruncated, seq: 26, segment: 2, inDetail: "digest lists 15 records",
		},
		{
			name: "truncate a segment inside a record",
			edit: func(l [][]byte) [][]byte {
				l[5] = l[5][:40]
				return l[:6]
			},
			kind: BreakTruncated, seq: 21, line: 6, segment: 2, inDetail: "cut off",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, dir := tamperLog(t)
			editLines(t, dir, tc.segment, tc.edit)
			_, err := VerifyLog(dir)
			ce, ok := err.(*ChainError)
			if !ok {
				t.Fatalf("VerifyLog = %v; want a *ChainError", err)
			}
			if ce.Kind != tc.kind || ce.Seq != tc.seq || ce.Line != tc.line || ce.Segment != segName(tc.segment) {
				t.Errorf("VerifyLog = %s %s line %d record %d; want %s %s line %d record %d",
					ce.Kind, ce.Segment, ce.Line, ce.Seq, tc.kind, segName(tc.segment), tc.line, tc.seq)
			}
			if !strings.Contains(ce.Error(), tc.inDetail) {
				t.Errorf("VerifyLog error %q; want it to mention %q", ce.Error(), tc.inDetail)
			}
		})
	}
}

func TestVerifyCleanLog(t *testing.T) {
	_, dir := tamperLog(t)
	sum, err := VerifyLog(dir)
	if err != nil {
		t.Fatalf("VerifyLog = %v; want nil", err)
	}
	if sum.Records != 60 || sum.HeadSeq != 60 || sum.Segments < 4 || len(sum.HeadHash) != 64 {
		t.Errorf("VerifyLog = %+v; want 60 records in 4 segments or more, with a head hash", sum)
	}
}

func TestVerifyAgainstRedisHeadCatchesCutTail(t *testing.T) {
	st, dir := tamperLog(t)
	segs, _ := listSegments(dir)
	last := segs[len(segs)-1]
	if fi, err := os.Stat(filepath.Join(dir, segName(last))); err == nil && fi.Size() == 0 {
		// The active segment is empty: make the last sealed one active again.
		for _, name := range []string{segName(last), digestName(last - 1)} {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		last--
	}
	editLines(t, dir, last, func(l [][]byte) [][]byte { return l[:len(l)-1] })
	if _, err := VerifyLog(dir); err != nil {
		t.Fatalf("VerifyLog of a log cut at a record boundary = %v; the files alone cannot tell", err)
	}
	_, err := st.AuditLog(dir).Verify(context.Background())
	if !isBreak(err, BreakTruncated) || !strings.Contains(err.Error(), "fsync'd up to record 60") {
		t.Errorf("Verify against the Redis head = %v; want a truncation naming record 60", err)
	}
}

func TestVerifyCatchesAStaleArchiver(t *testing.T) {
	dir := t.TempDir()
	var seg []byte
	prev := genesis
	for i, fence := range []int64{3, 4, 3} {
		line, h, err := encodeRecord(recordBody{Seq: uint64(i + 1), Prev: prev, Fence: fence, Event: []byte(`{"id":"x"}`)})
		if err != nil {
			t.Fatal(err)
		}
		seg, prev = append(seg, line...), h
	}
	if err := os.WriteFile(filepath.Join(dir, segName(1)), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := VerifyLog(dir)
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Kind != BreakFenced || ce.Seq != 3 {
		t.Errorf("VerifyLog of tokens 3, 4, 3 = %v; want a %s break at record 3", err, BreakFenced)
	}
}

func TestEvidenceWalkSkipsOtherSubscribersSegments(t *testing.T) {
	_, dir := tamperLog(t) // segments of 15 records; event 0's subscriber is only in segment 1
	ev := testEvent(0)
	subject := subjectOf(ev.Tenant, ev.Subscriber)
	notHere := func(d *digest) bool { return !slices.Contains(d.Subjects, subject) }
	var seen []uint64
	walk := func() error {
		seen = seen[:0]
		_, err := walkSegments(dir, true, notHere, func(rec optin.AuditRecord, _ recordBody) error {
			seen = append(seen, rec.Seq)
			return nil
		})
		return err
	}
	if err := walk(); err != nil || len(seen) != 15 || seen[0] != 1 {
		t.Fatalf("walk for one subscriber read records %v (%v); want only segment 1's, 1..15", seen, err)
	}

	// Segment 3 is not read for this subscriber (a damaged byte there goes
	// unseen: audit verify is the full check), but its digest still has to
	// continue the chain.
	editLines(t, dir, 3, func(l [][]byte) [][]byte {
		l[4][100] ^= 0x01
		return l
	})
	if err := walk(); err != nil {
		t.Errorf("walk for one subscriber past a damaged segment of others = %v; want it skipped", err)
	}
	if _, err := VerifyLog(dir); !isBreak(err, BreakEdited) {
		t.Errorf("VerifyLog with a damaged segment 3 = %v; want an edited break", err)
	}
	editLines(t, dir, 3, func(l [][]byte) [][]byte {
		l[4][100] ^= 0x01
		return l
	})
	var dig digest
	path := filepath.Join(dir, digestName(3))
	if _, err := readJSON(path, &dig); err != nil {
		t.Fatal(err)
	}
	good := dig
	dig.Head = strings.Repeat("f", 64)
	writeDigest(t, path, dig)
	if err := walk(); !isBreak(err, BreakEdited) {
		t.Errorf("walk past a skipped segment whose digest head was edited = %v; want an edited break", err)
	}

	// A digest that hides a subscriber from evidence does not verify.
	dig = good
	dig.Subjects = dig.Subjects[1:]
	writeDigest(t, path, dig)
	_, err := VerifyLog(dir)
	if !isBreak(err, BreakEdited) || !strings.Contains(err.Error(), "list of subscribers") {
		t.Errorf("VerifyLog with a subscriber left out of a digest = %v; want an edited break naming the list", err)
	}
}

func writeDigest(tb testing.TB, path string, d digest) {
	tb.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		tb.Fatal(err)
	}
}
