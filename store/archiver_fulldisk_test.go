package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
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
	failed    bool          // the last attempt failed
	paused    bool          // a pause came since the last attempt
	tight     int           // attempts right after a failure with no pause between
	pausedFor time.Duration // the fake clock
	lastAt    time.Duration // the fake clock at the last attempt
	gaps      []time.Duration
}

func (d *fullDisk) write(f *os.File, b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts++
	if d.failed && !d.paused {
		d.tight++
	}
	d.gaps = append(d.gaps, d.pausedFor-d.lastAt)
	d.paused, d.lastAt = false, d.pausedFor
	var n int
	var err error
	if d.room > 0 && len(b) > d.room {
		n, _ = f.Write(b[:d.room])
		err = &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	} else {
		n, err = f.Write(b) // a real full disk fails here
	}
	if err != nil {
		d.failures++
	}
	d.failed = err != nil
	return n, err
}

// pause is the archiver's fake clock: it records each pause and returns
// at once.
func (d *fullDisk) pause(ctx context.Context, dur time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.paused = true
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
	var leases leaseTokens
	opts.OnLease = leases.Add
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
			taken := len(leases.All())
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
	if tokens := leases.All(); len(tokens) != 1 {
		t.Errorf("the archiver took the lease %d times (tokens %v); want once: a failed write keeps the lease", len(tokens), tokens)
	}
}

// changes records what OnState hears.
type changes struct {
	mu   sync.Mutex
	seen []ArchiveChange
	last ArchiveState
}

func (c *changes) on(ch ArchiveChange, s ArchiveState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen, c.last = append(c.seen, ch), s
}

func (c *changes) count(ch ArchiveChange) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, x := range c.seen {
		if x == ch {
			n++
		}
	}
	return n
}

func (c *changes) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprint(c.seen)
}

// TestArchiverFullDiskStateAndBackoff fills the disk completely: every
// write fails, for many rounds. The archiver pauses after each failure for
// twice as long as after the one before, up to RetryMax; keeps its lease;
// tells OnState once that it is failing and once that the outbox lags
// past MaxLag, not once per round; and records the reason and the count
// of failed writes in Redis. Once the disk has room, it archives
// everything and tells once that it writes and has caught up.
func TestArchiverFullDiskStateAndBackoff(t *testing.T) {
	st, _ := newTestStore(t, 2)
	ctx := context.Background()
	opts := testArchiverOptions(t)
	opts.OnError = nil
	disk := &fullDisk{room: 1} // nothing fits
	opts.WriteSegment, opts.Pause = disk.write, disk.pause
	opts.RetryMin, opts.RetryMax = 100*time.Millisecond, 3*time.Second
	opts.Jitter = func() float64 { return 0 } // each pause is the lower half of its step
	opts.MaxLag = time.Minute
	var seen changes
	opts.OnState = seen.on
	var leases leaseTokens
	opts.OnLease = leases.Add

	// An event ten minutes old, then 30 new ones.
	ev, err := json.Marshal(testEvent(1000))
	if err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf("%d-0", time.Now().Add(-10*time.Minute).UnixMilli())
	if err := st.rdb.XAdd(ctx, &redis.XAddArgs{Stream: OutboxKey(0), ID: old, Values: []any{"e", string(ev)}}).Err(); err != nil {
		t.Fatal(err)
	}
	addEvents(t, st, 0, 30)

	runArchiver(t, st, opts)
	const failures = 12
	waitFor(t, fmt.Sprintf("%d failed writes", failures), func() bool {
		_, f, _ := disk.counts()
		return f >= failures
	})
	h, err := st.ArchiveHealth(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !h.Known || h.Healthy || h.Reason != "no space left on device" || h.WriteErrors < failures-1 {
		t.Errorf("ArchiveHealth on a full disk = %+v; want known, unhealthy, reason %q, at least %d write errors", h, "no space left on device", failures-1)
	}
	if h.Lag < 10*time.Minute {
		t.Errorf("ArchiveHealth.Lag = %v; want at least the oldest event's 10m", h.Lag)
	}
	if got := outboxLen(t, st); got != 31 {
		t.Errorf("outbox holds %d events on a full disk; want all 31", got)
	}

	disk.mu.Lock()
	gaps := slices.Clone(disk.gaps[:failures])
	disk.mu.Unlock()
	for i := 1; i < failures; i++ { // gaps[i] is the pause before attempt i+1, after i failures in a row
		if want := backoff(i, opts.RetryMin, opts.RetryMax, 0); gaps[i] != want {
			t.Errorf("pause after %d failed writes in a row = %v; want %v (all: %v)", i, gaps[i], want, gaps)
		}
	}
	if gaps[failures-1] != opts.RetryMax/2 {
		t.Errorf("pause after %d failures = %v; want it capped at RetryMax/2 with no jitter, %v", failures-1, gaps[failures-1], opts.RetryMax/2)
	}
	if seen.count(ArchiveFailing) != 1 || seen.count(ArchiveLagging) != 1 || seen.count(ArchiveWriting) != 0 {
		t.Errorf("OnState heard %v after %d failed writes; want failing and lagging once each", &seen, failures)
	}

	disk.setRoom(0)
	waitFor(t, "the archiver to drain the outbox once the disk has room", func() bool {
		return outboxLen(t, st) == 0 && seen.count(ArchiveWriting) == 1 && seen.count(ArchiveCaughtUp) == 1
	})
	if sum, err := VerifyLog(opts.Dir); err != nil || sum.Records != 31 {
		t.Errorf("VerifyLog = %d records, %v; want 31, verified", sum.Records, err)
	}
	if h, err := st.ArchiveHealth(ctx, time.Now()); err != nil || !h.Healthy || h.Reason != "" || h.Lag != 0 {
		t.Errorf("ArchiveHealth once drained = %+v, %v; want healthy, no reason, no lag", h, err)
	}
	if got := len(seen.seen); got != 4 {
		t.Errorf("OnState heard %v; want exactly failing, lagging, caught_up and writing", &seen)
	}
	if tokens := leases.All(); len(tokens) != 1 {
		t.Errorf("fencing tokens %v; want one: the lease is kept through the failures", tokens)
	}
}

// TestArchiverFullTmpfs runs the archiver on a real, small tmpfs that
// fills up: it archives what fits, record by record, reports the full
// disk, and archives the rest once space comes back.
func TestArchiverFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: mounting a tmpfs needs root; TestArchiverNearlyFullDisk covers the same with a failing writer")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("skipped: cannot mount a tmpfs (%v: %s); TestArchiverNearlyFullDisk covers the same with a failing writer", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	st, _ := newTestStore(t, 2)
	ctx := context.Background()
	opts := testArchiverOptions(t)
	opts.Dir = filepath.Join(mnt, "audit")
	opts.SegmentBytes = 4096 // sealing (a digest file, a new segment) fails on the full disk too
	opts.OnError = nil
	disk := &fullDisk{}
	opts.WriteSegment, opts.Pause = disk.write, disk.pause
	var leases leaseTokens
	opts.OnLease = leases.Add

	// Fill the tmpfs, then free 12 KiB: room for about a dozen records,
	// not for a batch of 60.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(size - 12<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		t.Fatal(err)
	}

	const events = 60
	addEvents(t, st, 0, events)
	runArchiver(t, st, opts)
	waitFor(t, "the tmpfs to refuse 20 writes", func() bool {
		_, f, _ := disk.counts()
		return f >= 20
	})
	sum, err := VerifyLog(opts.Dir)
	if err != nil {
		t.Fatalf("VerifyLog on the full tmpfs: %v", err)
	}
	left := outboxLen(t, st)
	t.Logf("full tmpfs: %d records archived in %d segments, %d events left in the outbox", sum.Records, sum.Segments, left)
	if sum.Records < 5 || left != int64(events)-int64(sum.Records) {
		t.Errorf("full tmpfs: %d records archived, outbox %d; want the records that fit (at least 5) archived and gone from the outbox", sum.Records, left)
	}
	if h, err := st.ArchiveHealth(ctx, time.Now()); err != nil || h.Healthy || h.Reason != "no space left on device" {
		t.Errorf("ArchiveHealth on the full tmpfs = %+v, %v; want unhealthy: no space left on device", h, err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the archiver to drain the outbox once the tmpfs has room", func() bool {
		h, err := st.ArchiveHealth(ctx, time.Now())
		return outboxLen(t, st) == 0 && err == nil && h.Healthy
	})
	if sum, err := VerifyLog(opts.Dir); err != nil || sum.Records != events || sum.Segments < 2 {
		t.Errorf("VerifyLog = %d records in %d segments, %v; want %d, verified, in several segments (sealing failed on the full disk, then succeeded)", sum.Records, sum.Segments, err, events)
	}
	if tokens := leases.All(); len(tokens) != 1 {
		t.Errorf("fencing tokens %v; want one", tokens)
	}
}

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 30 * time.Second
	for _, tc := range []struct {
		n      int
		jitter float64
		want   time.Duration
	}{
		{1, 0, 50 * time.Millisecond},
		{1, 0.5, 75 * time.Millisecond},
		{2, 0, 100 * time.Millisecond},
		{4, 0, 400 * time.Millisecond},
		{9, 0.999, 12800*time.Millisecond + time.Duration(0.999*float64(12800*time.Millisecond))},
		{10, 0, 15 * time.Second},
		{1000, 0, 15 * time.Second},
		{1000, 0.999, 15*time.Second + time.Duration(0.999*float64(15*time.Second))},
	} {
		if got := backoff(tc.n, lo, hi, tc.jitter); got != tc.want {
			t.Errorf("backoff(%d, %v, %v, %v) = %v; want %v", tc.n, lo, hi, tc.jitter, got, tc.want)
		}
	}
}
