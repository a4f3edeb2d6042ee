package store

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fullDisk is a segment writer that stands for a nearly full disk: a write
// of more than room bytes writes room bytes and fails with ENOSPC, as
// write(2) does when the file system fills in the middle of it. It counts
// the attempts and checks that the archiver pauses after every failure
// before it writes again.
type fullDisk struct {
	mu        sync.Mutex
	room      int // 0: every write fits
	attempts  int
	failures  int
	failed    bool // the last attempt failed
	paused    bool // a pause came since the last attempt
	tight     int  // attempts right after a failure with no pause between
	pauses    []time.Duration
	pausedFor time.Duration
}

func (d *fullDisk) write(f *os.File, b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts++
	if d.failed && !d.paused {
		d.tight++
	}
	d.paused = false
	if d.room > 0 && len(b) > d.room {
		d.failures++
		d.failed = true
		n, _ := f.Write(b[:d.room])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	d.failed = false
	return f.Write(b)
}

// pause is the archiver's fake clock: it records each pause and returns
// at once.
func (d *fullDisk) pause(ctx context.Context, dur time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.paused = true
	d.pauses = append(d.pauses, dur)
	d.pausedFor += dur
}

func (d *fullDisk) setRoom(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.room = n
}

func (d *fullDisk) counts() (attempts, failures, tight int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.attempts, d.failures, d.tight
}

// recordSize returns about how many bytes the audit record of testEvent(i)
// takes in a segment.
func recordSize(tb testing.TB, i int) int {
	tb.Helper()
	ev, err := json.Marshal(testEvent(i))
	if err != nil {
		tb.Fatal(err)
	}
	line, _, err := encodeRecord(recordBody{Seq: 1000, Prev: genesis, Fence: 1000, Shard: 1, Entry: "1765000000000-0", ArchivedAt: time.Now().UTC(), Event: ev})
	if err != nil {
		tb.Fatal(err)
	}
	return len(line)
}

// TestArchiverNearlyFullDisk is issue 19's finding 2: on a disk with room
// for one record but not for a batch, the archiver used to retry the same
// batch for ever, taking the lease again each time, and the outbox never
// shrank. It must now halve its batch down to one record, archive every
// event, keep its lease (one fencing token), pause after every failed
// write, and bound its attempts.
func TestArchiverNearlyFullDisk(t *testing.T) {
	st, _ := newTestStore(t, 2)
	opts := testArchiverOptions(t)
	disk := &fullDisk{room: recordSize(t, 0) * 3 / 2} // one record fits, two do not
	opts.WriteSegment, opts.Pause = disk.write, disk.pause
	var mu sync.Mutex
	var tokens []int64
	opts.OnLease = func(token int64) {
		mu.Lock()
		defer mu.Unlock()
		tokens = append(tokens, token)
	}
	opts.OnError = nil // a failed write per round would flood the test's log
	const events = 40
	// Each record is written on its own; the batch halves from 40 (the
	// first round's) to 1 in 6 failures, and an attempt to grow it back
	// fails at most every other write.
	const maxAttempts = 2*events + 12
	addEvents(t, st, 0, events)
	stop := runArchiver(t, st, opts)
	deadline := time.Now().Add(time.Minute)
	for {
		attempts, _, _ := disk.counts()
		if outboxLen(t, st) == 0 {
			break
		}
		if attempts > maxAttempts {
			mu.Lock()
			taken := len(tokens)
			mu.Unlock()
			t.Fatalf("after %d write attempts the outbox still holds %d of %d events (fencing tokens taken: %d); want it drained within %d attempts",
				attempts, outboxLen(t, st), events, taken, maxAttempts)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute (%d write attempts) the outbox still holds %d of %d events", attempts, outboxLen(t, st), events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("archiver: %v", err)
	}
	sum, err := VerifyLog(opts.Dir)
	if err != nil || sum.Records != events {
		t.Fatalf("VerifyLog = %d records, %v; want %d records, verified", sum.Records, err, events)
	}
	for id, n := range logEventIDs(t, opts.Dir) {
		if n != 1 {
			t.Errorf("event %s is archived %d times; want 1", id, n)
		}
	}
	attempts, failures, tight := disk.counts()
	t.Logf("%d write attempts, %d failed", attempts, failures)
	if failures == 0 {
		t.Errorf("no write failed; want the disk to refuse the first batches")
	}
	if tight > 0 {
		t.Errorf("%d writes came right after a failed one, with no pause between; want a pause after every failure", tight)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tokens) != 1 {
		t.Errorf("the archiver took the lease %d times (tokens %v); want once: a failed write keeps the lease", len(tokens), tokens)
	}
}
