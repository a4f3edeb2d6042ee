// Package lanes is the delivery loop that the outbound reply senders and
// the event webhook workers share: every shard of a Redis stream is worked
// by the one worker holding the shard's lease; it first claims what a
// crashed worker left pending, then reads new entries, and delivers them
// in lanes (one per subscriber, or per endpoint and subscriber), each in
// stream order by its own goroutine, so that a slow or failing lane holds
// up only itself.
package lanes

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Stream is a sharded queue worked by one consumer group, each shard by
// the one worker holding its lease: what Run needs of the store.
type Stream[T any] interface {
	Shards() int
	// EnsureGroups creates the consumer group on every shard, if missing.
	EnsureGroups(ctx context.Context) error
	// Lease takes or renews the shard's lease for owner; false when
	// another worker holds it.
	Lease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error)
	// Claim takes over the pending entries of shard from start on; it
	// returns the next start, "0-0" once there are no more.
	Claim(ctx context.Context, shard int, consumer, start string, count int) ([]T, string, error)
	// Read reads new entries of shard.
	Read(ctx context.Context, shard int, consumer string, count int) ([]T, error)
}

// Entry is an item of a Stream.
type Entry interface {
	// EntryID is the entry's stream id.
	EntryID() string
	// Lane names the lane the entry joins.
	Lane() string
	// LogField names the entry in a log line.
	LogField() zap.Field
}

// Config is one kind of delivery. Every field is required (Tuning with
// its defaults applied).
type Config[T Entry] struct {
	Tuning
	Stream Stream[T]
	// Deliver delivers one entry; an error (the store failed) leaves the
	// entry at the head of its lane, tried again after Pause(n) for the
	// n-th error in a row, so the lane keeps its order. The error is
	// logged as Failed, with the entry's LogField.
	Deliver func(ctx context.Context, entry T) error
	Pause   func(n int) time.Duration
	Failed  string
}

// Run creates the stream's consumer groups, then works every shard
// whenever it holds the shard's lease, until ctx is done; it returns nil
// once every delivery in flight has ended. What was not done stays
// pending for the next lease holder.
func Run[T Entry](ctx context.Context, c Config[T]) error {
	if err := c.Stream.EnsureGroups(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for shard := range c.Stream.Shards() {
		wg.Go(func() { c.drain(ctx, shard) })
	}
	wg.Wait()
	return nil
}

// drain works on shard whenever it holds the shard's lease.
func (c *Config[T]) drain(ctx context.Context, shard int) {
	log := c.Logger.With(zap.Int("shard", shard), zap.String("owner", c.Owner))
	for ctx.Err() == nil {
		ok, err := c.Stream.Lease(ctx, shard, c.Owner, c.LeaseTTL)
		switch {
		case err != nil:
			log.Warn("lease", zap.Error(err))
			Sleep(ctx, c.Poll)
		case !ok:
			Sleep(ctx, c.LeaseTTL/3)
		default:
			c.own(ctx, shard, log)
		}
	}
}

// shardWork is one shard's entries in flight.
type shardWork[T Entry] struct {
	mu       sync.Mutex
	lanes    map[string][]T  // by lane; the head is being delivered
	inFlight map[string]bool // stream ids read and not done
	wg       sync.WaitGroup
}

// own works shard while it holds the lease: first what a crashed worker
// left pending, then new entries, renewing the lease as it goes. It
// returns once the lease is lost or ctx is done and every lane stopped.
func (c *Config[T]) own(ctx context.Context, shard int, log *zap.Logger) {
	octx, cancel := context.WithCancel(ctx)
	sw := &shardWork[T]{lanes: map[string][]T{}, inFlight: map[string]bool{}}
	defer func() { cancel(); sw.wg.Wait() }()
	cursor, renewAt := "0-0", time.Now().Add(c.LeaseTTL/3)
	pending := true
	for octx.Err() == nil {
		if time.Now().After(renewAt) {
			ok, err := c.Stream.Lease(octx, shard, c.Owner, c.LeaseTTL)
			if err == nil && !ok {
				log.Info("lease lost")
				return
			}
			renewAt = time.Now().Add(c.LeaseTTL / 3)
		}
		sw.mu.Lock()
		busy := len(sw.inFlight) >= c.MaxInFlight
		sw.mu.Unlock()
		if busy {
			Sleep(octx, c.Poll)
			continue
		}
		var batch []T
		var err error
		if pending {
			batch, cursor, err = c.Stream.Claim(octx, shard, c.Owner, cursor, c.Batch)
			pending = err != nil || cursor != "0-0"
		} else {
			batch, err = c.Stream.Read(octx, shard, c.Owner, c.Batch)
		}
		if err != nil {
			log.Warn("read", zap.Error(err))
			Sleep(octx, c.Poll)
			continue
		}
		for _, e := range batch {
			c.dispatch(octx, sw, e, log)
		}
		if len(batch) == 0 && !pending {
			Sleep(octx, c.Poll)
		}
	}
}

// dispatch appends e to its lane, starting the lane when it is idle.
func (c *Config[T]) dispatch(ctx context.Context, sw *shardWork[T], e T, log *zap.Logger) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	id := e.EntryID()
	if sw.inFlight[id] {
		return
	}
	sw.inFlight[id] = true
	lane := e.Lane()
	sw.lanes[lane] = append(sw.lanes[lane], e)
	if len(sw.lanes[lane]) > 1 {
		return // the lane's goroutine gets to it
	}
	sw.wg.Go(func() {
		for {
			sw.mu.Lock()
			head := sw.lanes[lane][0]
			sw.mu.Unlock()
			for n := 1; ; n++ {
				err := c.Deliver(ctx, head)
				if err == nil {
					break
				}
				if ctx.Err() != nil {
					return
				}
				log.Warn(c.Failed, head.LogField(), zap.Error(err))
				if !Sleep(ctx, c.Pause(n)) {
					return
				}
			}
			sw.mu.Lock()
			delete(sw.inFlight, head.EntryID())
			sw.lanes[lane] = sw.lanes[lane][1:]
			if len(sw.lanes[lane]) == 0 {
				delete(sw.lanes, lane)
				sw.mu.Unlock()
				return
			}
			sw.mu.Unlock()
		}
	})
}

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
