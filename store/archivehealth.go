package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the archiver's backoff after a failed write.
const (
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 30 * time.Second
	// growAfter is how many rounds in a row must write at a reduced batch
	// before it doubles again.
	growAfter = 4
)

// ArchiveChange is what changed in the archiver's state.
type ArchiveChange int

// The changes OnState hears of.
const (
	// ArchiveFailing: a write of the log failed; the archiver retries with
	// smaller batches, pausing between attempts.
	ArchiveFailing ArchiveChange = iota + 1
	// ArchiveWriting: after failures, writes succeed again and the
	// archiver has caught up with the outbox.
	ArchiveWriting
	// ArchiveLagging: the oldest event in the outbox is older than MaxLag.
	ArchiveLagging
	// ArchiveCaughtUp: it no longer is.
	ArchiveCaughtUp
)

func (c ArchiveChange) String() string {
	switch c {
	case ArchiveFailing:
		return "failing"
	case ArchiveWriting:
		return "writing"
	case ArchiveLagging:
		return "lagging"
	case ArchiveCaughtUp:
		return "caught_up"
	}
	return "ArchiveChange(" + strconv.Itoa(int(c)) + ")"
}

// ArchiveState is the archiver's state as OnState hears it.
type ArchiveState struct {
	// Healthy is false from a failed write until the archiver has
	// written again and caught up with the outbox.
	Healthy bool
	// Reason says why not: the failed write's error, without the path
	// ("no space left on device").
	Reason string
	// Since is when Healthy last changed.
	Since time.Time
	// Limit is how many records a round may write (0: no limit but the
	// batch per stream): halved after each failed write, doubled back
	// after growAfter good rounds.
	Limit int
	// Lag is the age of the oldest event in the outbox when last read,
	// and Lagging whether it is past MaxLag (only when MaxLag is set).
	Lag     time.Duration
	Lagging bool
	MaxLag  time.Duration
}

// ArchiveHealth is what Redis holds about the archive: the state that
// the archiver (in serve or in `optin-gateway archive`) last recorded, and
// the outbox's lag read now.
type ArchiveHealth struct {
	// Known is false when no archiver has recorded a state yet.
	Known       bool
	Healthy     bool
	Reason      string
	Since       time.Time
	WriteErrors int64 // failed writes of the log, ever
	// Lag is the age of the oldest entry in the outbox streams (the
	// configuration's included): by its stream id, Redis's clock, against
	// the now passed in; 0 when the outbox is empty.
	Lag time.Duration
}

// ArchiveHealth reads the archiver's recorded state and the outbox's lag
// as of now, in one round trip.
func (s *Store) ArchiveHealth(ctx context.Context, now time.Time) (ArchiveHealth, error) {
	pipe := s.rdb.Pipeline()
	state := pipe.HGetAll(ctx, archiveHealthKey())
	oldest := make([]*redis.XMessageSliceCmd, s.shards+1)
	for i := range oldest {
		oldest[i] = pipe.XRangeN(ctx, outboxStream(i, s.shards), "-", "+", 1)
	}
	var h ArchiveHealth
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return h, translate("archive health", err)
	}
	for _, c := range oldest {
		if msgs := c.Val(); len(msgs) > 0 {
			if t, ok := entryTime(msgs[0].ID); ok {
				h.Lag = max(h.Lag, now.Sub(t))
			}
		}
	}
	v := state.Val()
	if healthy, ok := v["healthy"]; ok {
		h.Known, h.Healthy, h.Reason = true, healthy == "1", v["reason"]
	}
	if ms, err := strconv.ParseInt(v["since"], 10, 64); err == nil {
		h.Since = time.UnixMilli(ms).UTC()
	}
	h.WriteErrors, _ = strconv.ParseInt(v["write_errors"], 10, 64)
	return h, nil
}

// entryTime is the time in a stream entry id (ms-seq).
func entryTime(id string) (time.Time, bool) {
	ms, _, _ := strings.Cut(id, "-")
	t, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(t), true
}

// loadHealth takes the state the last archiver recorded, so that a change
// is told once even across restarts and processes; the state stays
// healthy when none is recorded. It fails when Redis does not answer.
func (a *Archiver) loadHealth(ctx context.Context) error {
	v, err := a.st.rdb.HGetAll(ctx, archiveHealthKey()).Result()
	if err != nil {
		return translate("archive health", err)
	}
	if v["healthy"] == "" {
		return nil
	}
	a.state.Healthy, a.state.Reason = v["healthy"] == "1", v["reason"]
	if ms, err := strconv.ParseInt(v["since"], 10, 64); err == nil {
		a.state.Since = time.UnixMilli(ms).UTC()
	}
	return nil
}

// failed records a failed write (or a failed recovery of the log from
// disk, when tried is 0): the batch halves, the state turns unhealthy
// (told once) and the write is counted. It returns how long to pause.
func (a *Archiver) failed(ctx context.Context, err error, tried int) time.Duration {
	a.failures++
	a.streak, a.wroteOK = 0, false
	if tried > 0 {
		a.limit = max(1, tried/2)
	}
	a.state.Limit = a.limit
	if reason := errorReason(err); a.state.Healthy || a.state.Reason != reason {
		changed := a.state.Healthy
		a.state.Healthy, a.state.Reason = false, reason
		if changed {
			a.state.Since = a.opts.Now().UTC()
			a.tell(ArchiveFailing)
		}
		a.unsaved = true
	}
	a.saveHealth(ctx, 1)
	return backoff(a.failures, a.opts.RetryMin, a.opts.RetryMax, a.opts.Jitter())
}

// wrote records a round that wrote its records: the batch grows back
// after growAfter of them.
func (a *Archiver) wrote() {
	a.failures, a.wroteOK = 0, true
	if a.limit == 0 {
		return
	}
	if a.streak++; a.streak >= growAfter {
		a.streak = 0
		a.limit *= 2
		if a.limit >= a.opts.Batch*(a.st.shards+1) {
			a.limit = 0
		}
		a.state.Limit = a.limit
	}
}

// caughtUp records a round that found no more than it could write: after
// failures, and once a write has succeeded since, the archive is healthy
// again.
func (a *Archiver) caughtUp(ctx context.Context) {
	if !a.state.Healthy && a.wroteOK {
		a.state.Healthy, a.state.Reason, a.state.Since = true, "", a.opts.Now().UTC()
		a.unsaved = true
		a.tell(ArchiveWriting)
	}
	if a.unsaved {
		a.saveHealth(ctx, 0)
	}
}

// watchLag compares the age of the oldest outbox entry the round saw with
// MaxLag and tells a change.
func (a *Archiver) watchLag(oldest time.Time) {
	if a.opts.MaxLag <= 0 {
		return
	}
	a.state.Lag = 0
	if !oldest.IsZero() {
		a.state.Lag = max(0, a.opts.Now().Sub(oldest))
	}
	switch lagging := a.state.Lag > a.opts.MaxLag; {
	case lagging && !a.state.Lagging:
		a.state.Lagging = true
		a.tell(ArchiveLagging)
	case !lagging && a.state.Lagging:
		a.state.Lagging = false
		a.tell(ArchiveCaughtUp)
	}
}

func (a *Archiver) tell(c ArchiveChange) {
	if a.opts.OnState != nil {
		a.opts.OnState(c, a.state)
	}
}

// saveHealth records the state in Redis and adds errs to the count of
// failed writes. A failure is retried with the next round's save.
func (a *Archiver) saveHealth(ctx context.Context, errs int64) {
	if !a.unsaved && errs == 0 {
		return
	}
	healthy := "0"
	if a.state.Healthy {
		healthy = "1"
	}
	pipe := a.st.rdb.Pipeline()
	if a.unsaved {
		pipe.HSet(ctx, archiveHealthKey(), "healthy", healthy, "reason", a.state.Reason,
			"since", strconv.FormatInt(a.state.Since.UnixMilli(), 10))
	}
	if errs > 0 {
		pipe.HIncrBy(ctx, archiveHealthKey(), "write_errors", errs)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		a.report(translate("archive health", err))
		return
	}
	a.unsaved = false
}

// errorReason is the innermost error of err's chain, such as "no space
// left on device": short, and without the segment's path.
func errorReason(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// backoff is the pause after the n-th failed attempt in a row: lo doubled
// n-1 times, at most hi, of which the upper half is scaled by jitter (in
// [0, 1)) so that archivers do not retry in step.
func backoff(n int, lo, hi time.Duration, jitter float64) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return d/2 + time.Duration(float64(d/2)*jitter)
}
