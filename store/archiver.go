package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of ArchiverOptions.
const (
	DefaultRetention    = 5 * 365 * 24 * time.Hour
	DefaultSegmentBytes = 64 << 20
	DefaultSegmentAge   = 24 * time.Hour
	DefaultLeaseTTL     = 10 * time.Second
	DefaultArchiveBatch = 512
	DefaultPollInterval = 20 * time.Millisecond
	// DefaultCommitWindow is how long the archiver lets events gather
	// after a round that did not fill its batch, so that one fsync and one
	// round of reads and deletes in Redis serve many: under load, rounds
	// back to back would each fsync a handful, and Redis (one thread,
	// which also fsyncs its own log) would spend on the archiver's reads
	// what the webhooks need. 50 ms held a TV spot's burst at a few
	// hundred events a round on the bench (docs/performance.md).
	DefaultCommitWindow = 50 * time.Millisecond
	// maxArchiveBatch keeps delete.lua's arguments within Lua's stack.
	maxArchiveBatch = 4096
)

//go:embed delete.lua
var deleteSource string

//go:embed lease.lua
var leaseSource string

var (
	deleteScript = redis.NewScript(deleteSource)
	leaseScript  = redis.NewScript(leaseSource)
)

// errLeaseLost ends an archiver's session: another archiver holds the
// lease, or it may have expired.
var errLeaseLost = errors.New("store: archiver lease lost")

// ArchiverOptions configure an Archiver.
type ArchiverOptions struct {
	// Dir is the audit log's directory, OPTIN_DATA_DIR/audit.
	Dir string
	// Retention is how long a sealed segment is kept after its last record.
	Retention time.Duration
	// SegmentBytes and SegmentAge bound the active segment: it is sealed
	// once it holds SegmentBytes or its first record is SegmentAge old.
	SegmentBytes int64
	SegmentAge   time.Duration
	// LeaseTTL is how long the lease outlives its holder: a second archiver
	// takes over at most this long after the first one died.
	LeaseTTL time.Duration
	// Batch is how many entries are read per shard and round, at most 4096.
	Batch int
	// PollInterval is the pause after a round that found nothing.
	PollInterval time.Duration
	// CommitWindow is the pause after a round that found entries but
	// filled no shard's batch (DefaultCommitWindow; negative: none). It
	// adds at most that much to the lag between a webhook's answer and
	// its record's fsync, and saves most of the archiver's CPU under load.
	CommitWindow time.Duration
	// Now stamps records and drives retention; time.Now by default.
	Now func() time.Time
	// OnError hears of the errors the archiver recovers from by retrying
	// (Redis unreachable, lease lost), for logging.
	OnError func(error)
	// OnRepair hears of a torn last record cut off at start: the segment
	// and the bytes removed.
	OnRepair func(segment string, bytes int)
	// OnLease hears the fencing token each time the lease is taken.
	OnLease func(token int64)
	// OnCommit hears of every batch once it is fsync'd.
	OnCommit func(Commit)

	// OnState hears of each change of the archiver's state, once: writes
	// failing, writing again, the outbox lagging past MaxLag, caught up.
	OnState func(ArchiveChange, ArchiveState)

	// RetryMin and RetryMax bound the pause after a failed write of the
	// log (DefaultRetryMin, DefaultRetryMax): it doubles with every failed
	// attempt in a row, with jitter. Each failed write also halves the
	// records a round may write, down to one, so that a nearly full disk
	// still takes the outbox record by record; the lease is kept.
	RetryMin, RetryMax time.Duration
	// MaxLag is the age of the oldest outbox event past which OnState
	// hears ArchiveLagging; 0: not watched.
	MaxLag time.Duration
	// WriteSegment writes b to the active segment f; f.Write by default.
	// Tests fail it to stand for a full disk.
	WriteSegment func(f *os.File, b []byte) (int, error)
	// Pause waits d or until ctx is done, between failed attempts; a
	// timer by default. Tests pass a fake clock's.
	Pause func(ctx context.Context, d time.Duration)
	// Jitter returns a number in [0, 1) that spreads the pauses;
	// math/rand/v2's Float64 by default.
	Jitter func() float64
}

// Commit describes one fsync'd batch of records.
type Commit struct {
	Records  int
	HeadSeq  uint64
	HeadHash string
	EventIDs []string
	SyncedAt time.Time
}

// Archiver moves the events of the outbox streams into the audit log:
// it appends them to the active segment, fsyncs once per batch (group
// commit), and only then deletes them from the streams. One archiver
// writes at a time: it holds an exclusive lock on the directory and a
// lease in Redis whose fencing token the deletions carry. Run it with Run,
// from one goroutine; any number of Archivers (in any number of processes)
// may run at once, and all but one wait.
type Archiver struct {
	st   *Store
	opts ArchiverOptions

	// The writer's state, owned by Run's goroutine.
	f        *os.File
	seg      uint64 // active segment
	size     int64
	segFirst uint64 // seq of the active segment's first record
	segPrev  string // prev of that record
	segCount uint64
	segStart time.Time // archived_at of its first record
	lastAt   time.Time
	seq      uint64 // last record written
	prev     string // its hash
	fence    int64  // highest token found in the log
	// archived holds an entryKey for every record of the active segment:
	// a stream entry found again (archived, not yet deleted) is skipped.
	archived map[archiveKey]struct{}
	subjects map[string]bool // tenant/subscriber of the active segment's records
	// dirty is set while entries archived may still be in the streams; a
	// segment is only sealed when it is clear, so such entries are always
	// in the active segment.
	dirty bool

	// After failed writes: how many records a round may write (0: no
	// limit but Batch per stream), the good rounds since it last changed,
	// the failures in a row, whether a write succeeded since the last
	// failure, and whether the log must be recovered from disk before
	// the next round (a failure that left the writer's state unknown).
	limit    int
	streak   int
	failures int
	wroteOK  bool
	reopen   bool
	next     int // the stream a limited round reads first, in turn
	tried    int // records of the round's write
	written  int // records the round wrote
	oldest   time.Time
	state    ArchiveState
	unsaved  bool // state not yet recorded in Redis
}

// NewArchiver returns an archiver of s's outbox streams into opts.Dir.
func (s *Store) NewArchiver(opts ArchiverOptions) *Archiver {
	opts.Retention = cmp(opts.Retention, DefaultRetention)
	opts.SegmentBytes = cmp64(opts.SegmentBytes, DefaultSegmentBytes)
	opts.SegmentAge = cmp(opts.SegmentAge, DefaultSegmentAge)
	opts.LeaseTTL = cmp(opts.LeaseTTL, DefaultLeaseTTL)
	opts.Batch = min(cmp(opts.Batch, DefaultArchiveBatch), maxArchiveBatch)
	opts.PollInterval = cmp(opts.PollInterval, DefaultPollInterval)
	if opts.CommitWindow == 0 {
		opts.CommitWindow = DefaultCommitWindow
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WriteSegment == nil {
		opts.WriteSegment = (*os.File).Write
	}
	if opts.Pause == nil {
		opts.Pause = sleep
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	opts.RetryMin = cmp(opts.RetryMin, DefaultRetryMin)
	opts.RetryMax = max(cmp(opts.RetryMax, DefaultRetryMax), opts.RetryMin)
	return &Archiver{st: s, opts: opts}
}

func cmp64(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// Run archives until ctx is done, then returns nil. It waits for the
// directory lock and the lease, recovers the log (a torn last record is
// cut off), and archives; when Redis is unreachable or the lease is lost
// it starts over. A failed write of the log (a full disk) keeps the lease:
// the archiver pauses (RetryMin..RetryMax) and retries with half the
// records, down to one at a time, and records its state in Redis
// (Store.ArchiveHealth). It returns an error only when the log is damaged
// (a *ChainError).
func (a *Archiver) Run(ctx context.Context) error {
	a.state = ArchiveState{Healthy: true, Since: a.opts.Now().UTC(), MaxLag: a.opts.MaxLag}
	loaded := false
	for ctx.Err() == nil {
		if !loaded {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			loaded = a.loadHealth(rctx) == nil
			cancel()
		}
		err := a.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ce *ChainError
		if errors.As(err, &ce) {
			return err
		}
		if !isWriteError(err) {
			a.report(err)
		}
		if errors.Is(err, errLeaseLost) || a.failures == 0 {
			a.opts.Pause(ctx, a.opts.PollInterval)
		} else {
			a.opts.Pause(ctx, backoff(a.failures, a.opts.RetryMin, a.opts.RetryMax, a.opts.Jitter()))
		}
	}
	return nil
}

func (a *Archiver) report(err error) {
	if err != nil && a.opts.OnError != nil {
		a.opts.OnError(err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// session holds the lock and the lease once, archiving until either is
// lost or ctx is done.
func (a *Archiver) session(ctx context.Context) error {
	if err := os.MkdirAll(a.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("store: audit dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(a.opts.Dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("store: audit lock: %w", err)
	}
	defer lock.Close() // releases the flock
	for {
		ok, err := tryLock(lock)
		if err != nil {
			return fmt.Errorf("store: audit lock: %w", err)
		}
		if ok {
			break
		}
		sleep(ctx, a.opts.LeaseTTL/4)
		if ctx.Err() != nil {
			return nil
		}
	}
	if err := a.open(); err != nil {
		var ce *ChainError
		if !errors.As(err, &ce) {
			a.failed(ctx, err, 0)
			return writeError{err} // told by failed; Run pauses
		}
		return err
	}
	defer func() { a.f.Close() }() // a.f changes as segments are sealed

	token, validUntil, err := a.acquire(ctx)
	if err != nil || token == 0 {
		return err
	}
	defer a.release(token)
	if a.opts.OnLease != nil {
		a.opts.OnLease(token)
	}
	var wait time.Duration // what remains of a pause after a failed write
	if err := a.retain(); isWriteError(err) {
		wait = a.failed(ctx, err, 0)
	} else if err != nil {
		return err
	}
	lastRenew := time.Now()
	for ctx.Err() == nil {
		if time.Since(lastRenew) >= a.opts.LeaseTTL/3 {
			t0 := time.Now()
			ok, err := a.lease(ctx, "renew", token)
			switch {
			case err == nil && ok == 0:
				return errLeaseLost
			case err == nil:
				lastRenew, validUntil = t0, t0.Add(a.opts.LeaseTTL)
			default:
				a.report(err)
			}
		}
		// Stop writing well before the lease could have expired.
		if time.Until(validUntil) < a.opts.LeaseTTL/5 {
			return errLeaseLost
		}
		if wait > 0 {
			// Paused in steps, so that the lease is renewed meanwhile.
			step := min(wait, a.opts.LeaseTTL/4)
			a.opts.Pause(ctx, step)
			wait -= step
			continue
		}
		if a.reopen {
			_ = a.f.Close() // recovered from disk next; it may be closed already
			if err := a.open(); err != nil {
				var ce *ChainError
				if errors.As(err, &ce) {
					return err
				}
				wait = a.failed(ctx, err, 0)
				continue
			}
			a.reopen = false
		}
		n, full, err := a.round(ctx, token)
		if errors.Is(err, errLeaseLost) {
			return err
		}
		if isWriteError(err) {
			a.watchLag(a.oldest)
			if a.tried == 0 {
				a.reopen = true // sealing or retention: state unknown
			}
			wait = a.failed(ctx, err, a.tried)
			continue
		}
		if err != nil && ctx.Err() == nil {
			a.report(err)
		}
		if err == nil {
			if a.written > 0 {
				a.wrote()
			}
			a.watchLag(a.oldest)
			if !full {
				a.caughtUp(ctx)
			}
		}
		switch {
		case n == 0 || err != nil:
			sleep(ctx, a.opts.PollInterval)
		case !full && a.opts.CommitWindow > 0:
			sleep(ctx, a.opts.CommitWindow)
		}
	}
	return nil
}

// acquire waits until it holds the lease and returns its token and until
// when it is certainly valid; token 0 when ctx ended first.
func (a *Archiver) acquire(ctx context.Context) (int64, time.Time, error) {
	for ctx.Err() == nil {
		t0 := time.Now()
		token, err := a.lease(ctx, "acquire", a.fence+1)
		if err != nil {
			a.report(err)
		}
		if token > 0 {
			return token, t0.Add(a.opts.LeaseTTL), nil
		}
		sleep(ctx, a.opts.LeaseTTL/4)
	}
	return 0, time.Time{}, nil
}

func (a *Archiver) release(token int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = a.lease(ctx, "release", token)
}

func (a *Archiver) lease(ctx context.Context, op string, token int64) (int64, error) {
	n, err := leaseScript.Run(ctx, a.st.rdb, []string{leaseKey(), fenceCounterKey()},
		op, token, a.opts.LeaseTTL.Milliseconds()).Int64()
	if err != nil {
		return 0, translate("archiver lease "+op, err)
	}
	return n, nil
}

// writeError is a failure to write or fsync the log: the session ends and
// the next one recovers the log from disk.
type writeError struct{ err error }

func (e writeError) Error() string { return e.err.Error() }
func (e writeError) Unwrap() error { return e.err }

func isWriteError(err error) bool {
	var we writeError
	return errors.As(err, &we)
}

// open recovers the log's state from disk: the chain's head and the
// stream entries of the active segment.
// A torn last record (a crash in the middle of a write) is cut off; any
// other damage of the active segment is a *ChainError.
func (a *Archiver) open() error {
	segs, err := listSegments(a.opts.Dir)
	if err != nil {
		return err
	}
	a.seq, a.prev, a.fence = 0, genesis, 0
	a.archived, a.subjects, a.dirty = map[archiveKey]struct{}{}, map[string]bool{}, true
	var anc anchor
	hasAnchor, err := readJSON(filepath.Join(a.opts.Dir, anchorName), &anc)
	if err != nil {
		return err
	}
	if hasAnchor {
		a.seq, a.prev = anc.FirstSeq-1, anc.Prev
	}
	if len(segs) == 0 {
		a.seg = 1
		if hasAnchor {
			a.seg = anc.Segment
		}
		return a.create()
	}
	a.seg = segs[len(segs)-1]
	if len(segs) > 1 {
		var dig digest
		ok, err := readJSON(filepath.Join(a.opts.Dir, digestName(a.seg-1)), &dig)
		if err != nil {
			return err
		}
		if !ok {
			return &ChainError{Segment: segName(a.seg - 1), Seq: a.seq + 1, Kind: BreakEdited, Detail: "a sealed segment has no digest file"}
		}
		a.seq, a.prev, a.fence = dig.LastSeq, dig.Head, dig.Fence
	}
	a.segFirst, a.segPrev, a.segCount = a.seq+1, a.prev, 0
	name := segName(a.seg)
	path := filepath.Join(a.opts.Dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("store: archiver open %s: %w", name, err)
	}
	lines := splitLines(b)
	for j, ln := range lines {
		body, h, err := parseLine(ln.raw)
		if !ln.complete || err != nil {
			if j == len(lines)-1 {
				// A torn last record: never fsync'd, so never deleted
				// from its stream; it is archived again.
				if err := truncateSync(path, ln.offset); err != nil {
					return err
				}
				if a.opts.OnRepair != nil {
					a.opts.OnRepair(name, len(ln.raw))
				}
				break
			}
			return &ChainError{Segment: name, Line: j + 1, Seq: a.seq + 1, Kind: BreakEdited, Detail: fmt.Sprint(err)}
		}
		if body.Seq != a.seq+1 || body.Prev != a.prev {
			return &ChainError{Segment: name, Line: j + 1, Seq: a.seq + 1, Kind: BreakEdited,
				Detail: fmt.Sprintf("record %d does not continue the chain", body.Seq)}
		}
		if a.segCount == 0 {
			a.segStart = body.ArchivedAt
		}
		a.seq, a.prev = body.Seq, h
		a.segCount++
		a.lastAt = body.ArchivedAt
		a.fence = max(a.fence, body.Fence)
		id, subject := eventHead(body.Event)
		a.archived[entryKey(body.Shard, body.Entry, id)] = struct{}{}
		a.subjects[subject] = true
	}
	if _, err := os.Stat(filepath.Join(a.opts.Dir, digestName(a.seg))); err == nil {
		// Sealed, but the crash came before the next segment was made.
		a.seg++
		return a.create()
	}
	a.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("store: archiver open %s: %w", name, err)
	}
	st, err := a.f.Stat()
	if err != nil {
		a.f.Close()
		return fmt.Errorf("store: archiver open %s: %w", name, err)
	}
	a.size = st.Size()
	return nil
}

// truncateSync cuts the file at path to size bytes, durably.
func truncateSync(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("store: repair %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("store: repair %s: %w", filepath.Base(path), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: repair %s: %w", filepath.Base(path), err)
	}
	return nil
}

// create makes the empty active segment a.seg.
func (a *Archiver) create() error {
	name := segName(a.seg)
	f, err := os.OpenFile(filepath.Join(a.opts.Dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("store: archiver create %s: %w", name, err)
	}
	if err := syncDir(a.opts.Dir); err != nil {
		f.Close()
		return fmt.Errorf("store: archiver create %s: %w", name, err)
	}
	a.f, a.size = f, 0
	a.segFirst, a.segPrev, a.segCount = a.seq+1, a.prev, 0
	a.archived, a.subjects = map[archiveKey]struct{}{}, map[string]bool{}
	return nil
}

// seal writes the active segment's digest and starts the next segment.
func (a *Archiver) seal() error {
	name := segName(a.seg)
	// Streamed: a segment is up to SegmentBytes, and reading it whole
	// would allocate that much on the webhooks' heap.
	sum, err := fileSHA256(filepath.Join(a.opts.Dir, name))
	if err != nil {
		return writeError{fmt.Errorf("store: seal %s: %w", name, err)}
	}
	dig := digest{
		Segment: a.seg, FirstSeq: a.segFirst, LastSeq: a.seq, Count: a.segCount,
		Prev: a.segPrev, Head: a.prev, SHA256: hex.EncodeToString(sum[:]),
		LastAt: a.lastAt, SealedAt: a.opts.Now().UTC(), Fence: a.fence,
		Subjects: slices.Sorted(maps.Keys(a.subjects)),
	}
	db, err := json.MarshalIndent(dig, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(a.opts.Dir, digestName(a.seg)), append(db, '\n')); err != nil {
		return writeError{err}
	}
	a.f.Close()
	a.seg++
	if err := a.create(); err != nil {
		return writeError{err}
	}
	return a.retain()
}

// retain deletes the oldest sealed segments whose last record is older
// than the retention, after recording in the anchor file where the kept
// chain starts.
func (a *Archiver) retain() error {
	segs, err := listSegments(a.opts.Dir)
	if err != nil {
		return err
	}
	var anc anchor
	if _, err := readJSON(filepath.Join(a.opts.Dir, anchorName), &anc); err != nil {
		return err
	}
	cutoff := a.opts.Now().Add(-a.opts.Retention)
	var drop []uint64
	for _, n := range segs {
		if n == a.seg {
			break
		}
		var dig digest
		ok, err := readJSON(filepath.Join(a.opts.Dir, digestName(n)), &dig)
		if err != nil || !ok || !dig.LastAt.Before(cutoff) {
			break
		}
		drop = append(drop, n)
		anc = anchor{Segment: n + 1, FirstSeq: dig.LastSeq + 1, Prev: dig.Head, Deleted: anc.Deleted + 1, At: a.opts.Now().UTC()}
	}
	if len(drop) == 0 {
		return nil
	}
	ab, err := json.MarshalIndent(anc, "", "  ")
	if err != nil {
		return err
	}
	// The anchor first: a crash before the deletions leaves segments that
	// the anchor already skips.
	if err := writeFileSync(filepath.Join(a.opts.Dir, anchorName), append(ab, '\n')); err != nil {
		return writeError{err}
	}
	for _, n := range drop {
		for _, name := range []string{segName(n), digestName(n)} {
			if err := os.Remove(filepath.Join(a.opts.Dir, name)); err != nil && !os.IsNotExist(err) {
				return writeError{fmt.Errorf("store: retention: %w", err)}
			}
		}
	}
	if err := syncDir(a.opts.Dir); err != nil {
		return writeError{fmt.Errorf("store: retention: %w", err)}
	}
	return nil
}

// round reads the oldest entries of each stream, appends those not
// archived yet to the active segment with one write and one fsync, then
// deletes them from their streams. It returns how many entries it read and
// whether any shard filled its batch (more may be waiting).
func (a *Archiver) round(ctx context.Context, token int64) (n int, full bool, err error) {
	a.tried, a.written = 0, 0
	now := a.opts.Now().UTC()
	if !a.dirty && a.segCount > 0 && (a.size >= a.opts.SegmentBytes || now.Sub(a.segStart) >= a.opts.SegmentAge) {
		if err := a.seal(); err != nil {
			return 0, false, err
		}
	}
	pipe := a.st.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, a.st.shards+1) // the shards', then the config outbox
	per := a.opts.Batch
	if a.limit > 0 {
		per = min(per, a.limit)
	}
	for s := range cmds {
		cmds[s] = pipe.XRangeN(ctx, outboxStream(s, a.st.shards), "-", "+", int64(per))
	}
	hooks := pipe.HGetAll(ctx, cfgWebhooksKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, false, translate("archiver read", err)
	}
	endpoints := webhookEndpoints(hooks.Val())
	a.oldest = time.Time{}
	for _, c := range cmds {
		if msgs := c.Val(); len(msgs) > 0 {
			if t, ok := entryTime(msgs[0].ID); ok && (a.oldest.IsZero() || t.Before(a.oldest)) {
				a.oldest = t
			}
		}
	}

	var buf bytes.Buffer
	seq, prev, count := a.seq, a.prev, a.segCount
	var ids, subjects []string
	var keys []archiveKey
	done := make([][]string, len(cmds)) // per shard, the entries to delete
	enq := make([][]any, len(cmds))     // per shard, the deliveries to announce with them
	// A limited round takes the streams in turn, and of each its oldest
	// entries, as long as the limit allows: the entries after one left
	// out stay for the next round.
	first := 0
	if a.limit > 0 {
		first = a.next % len(cmds)
		a.next = first + 1
	}
	capped := false
	for i := range cmds {
		s := (first + i) % len(cmds)
		for _, m := range cmds[s].Val() {
			raw := outboxPayload(m.Values)
			event := json.RawMessage(raw)
			id, subject, valid := parseEventHead(event) // both empty when not valid
			key := entryKey(s, m.ID, id)
			_, dup := a.archived[key] // archived before a crash, not deleted yet
			if !dup && a.limit > 0 && len(keys) >= a.limit {
				capped = true
				break
			}
			n++
			done[s] = append(done[s], m.ID)
			if len(endpoints) > 0 && s < a.st.shards {
				// Also for an entry archived before a crash: it is
				// announced when, and only when, it is deleted.
				for _, d := range webhookDeliveries(endpoints, m.Values) {
					enq[s] = append(enq[s], len(done[s]), d)
				}
			}
			if dup {
				continue
			}
			if !valid {
				// Not an event: kept, as a string, rather than lost.
				event, _ = json.Marshal(raw)
			}
			seq++
			line, h, err := encodeRecord(recordBody{Seq: seq, Prev: prev, Fence: token, Shard: s, Entry: m.ID, ArchivedAt: now, Event: event})
			if err != nil {
				return 0, false, fmt.Errorf("store: archive %s %s: %w", outboxStream(s, a.st.shards), m.ID, err)
			}
			buf.Write(line)
			prev = h
			count++
			ids = append(ids, id)
			keys = append(keys, key)
			subjects = append(subjects, subject)
		}
	}
	if buf.Len() > 0 {
		a.tried = len(keys)
		if err := a.append(buf.Bytes()); err != nil {
			return 0, false, err
		}
		a.written = len(keys)
		for _, k := range keys {
			a.archived[k] = struct{}{}
		}
		for _, sub := range subjects {
			a.subjects[sub] = true
		}
		if a.segCount == 0 {
			a.segStart = now
		}
		a.seq, a.prev, a.segCount, a.lastAt = seq, prev, count, now
		a.fence = max(a.fence, token)
		a.dirty = true
		if a.opts.OnCommit != nil {
			a.opts.OnCommit(Commit{Records: len(ids), HeadSeq: seq, HeadHash: prev, EventIDs: ids, SyncedAt: time.Now()})
		}
	}
	if n == 0 && !a.dirty {
		return 0, false, nil
	}
	full = capped
	for _, c := range cmds {
		full = full || len(c.Val()) == per
	}
	return n, full, a.remove(ctx, token, done, enq)
}

// archiveKey identifies one stream entry as archived: its shard, its entry
// id and its event's id (after a Redis that lost its data, an entry id can
// come again, with another event), hashed. A map of them holds no
// pointers, so the garbage collector does not scan the archiver's set of a
// full segment (~100 000 records): as strings they were half the
// gateway's live heap under load.
type archiveKey [16]byte

// entryKey returns the archiveKey of an entry: the first half of the
// SHA-256 of its parts.
func entryKey(shard int, entry, event string) archiveKey {
	var buf [160]byte
	b := strconv.AppendInt(buf[:0], int64(shard), 10)
	b = append(append(b, '/'), entry...)
	b = append(append(b, '/'), event...)
	sum := sha256.Sum256(b)
	return archiveKey(sum[:16])
}

// append writes b to the active segment and fsyncs it. On failure it cuts
// the segment back to its last fsync'd size.
func (a *Archiver) append(b []byte) error {
	_, err := a.opts.WriteSegment(a.f, b)
	if err == nil {
		err = a.f.Sync()
	}
	if err != nil {
		if a.f.Truncate(a.size) != nil {
			a.reopen = true // the segment's end is unknown: recover it from disk
		}
		return writeError{fmt.Errorf("store: archive %s: %w", segName(a.seg), err)}
	}
	a.size += int64(len(b))
	return nil
}

// remove deletes the archived entries from their streams, fenced by
// token, announces those of enq to the event webhooks in the same script,
// and records the chain's head in Redis. Only fsync'd entries are ever
// deleted.
func (a *Archiver) remove(ctx context.Context, token int64, done [][]string, enq [][]any) error {
	pipe := a.st.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(done))
	for s, ids := range done {
		if len(ids) == 0 {
			continue
		}
		args := make([]any, 0, len(ids)+2+len(enq[s]))
		args = append(args, token, len(ids))
		for _, id := range ids {
			args = append(args, id)
		}
		args = append(args, enq[s]...)
		// The config outbox has no deliveries: its own stream stands in
		// for the third key, in its slot, and is never added to.
		queue := outboxStream(s, a.st.shards)
		if s < a.st.shards {
			queue = WebhookQueueKey(s)
		}
		cmds[s] = deleteScript.Eval(ctx, pipe, []string{outboxStream(s, a.st.shards), outboxStreamFenceKey(s, a.st.shards), queue}, args...)
	}
	pipe.Set(ctx, auditHeadKey(), strconv.FormatUint(a.seq, 10)+" "+a.prev, 0)
	if _, err := pipe.Exec(ctx); err != nil {
		return translate("archiver delete", err)
	}
	for _, c := range cmds {
		if c == nil {
			continue
		}
		if n, _ := c.Int64(); n < 0 {
			return errLeaseLost
		}
	}
	a.dirty = false
	return nil
}

// OutboxLen returns how many events wait in the outbox streams, not yet
// archived (or archived and not yet deleted): the archiver's backlog.
func (s *Store) OutboxLen(ctx context.Context) (int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, s.shards+1)
	for i := range cmds {
		cmds[i] = pipe.XLen(ctx, outboxStream(i, s.shards))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, translate("outbox length", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

// fileSHA256 returns the SHA-256 of the file at path, read in chunks.
func fileSHA256(path string) ([sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	f, err := os.Open(path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, err
	}
	h.Sum(sum[:0])
	return sum, nil
}
