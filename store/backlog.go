package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Backlog is what waits in Redis for the background workers.
type Backlog struct {
	// ArchiveLag is the age of the oldest event not yet archived (the
	// oldest entry of the outbox streams, the configuration's included);
	// 0 when every event is archived.
	ArchiveLag time.Duration
	// Queued is how many replies wait in the outbound queues.
	Queued int64
}

// Backlog reads, in one round trip, the age of the oldest outbox entry
// (by its stream id, which is Redis's clock in ms) and the length of the
// outbound queues, as of now.
func (s *Store) Backlog(ctx context.Context, now time.Time) (Backlog, error) {
	pipe := s.rdb.Pipeline()
	oldest := make([]*redis.XMessageSliceCmd, s.shards, s.shards+1)
	queued := make([]*redis.IntCmd, s.shards)
	for shard := range s.shards {
		oldest[shard] = pipe.XRangeN(ctx, OutboxKey(shard), "-", "+", 1)
		queued[shard] = pipe.XLen(ctx, OutQueueKey(shard))
	}
	oldest = append(oldest, pipe.XRangeN(ctx, CfgOutboxKey(), "-", "+", 1))
	var b Backlog
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return b, translate("backlog", err)
	}
	for _, q := range queued {
		b.Queued += q.Val()
	}
	for _, o := range oldest {
		if msgs := o.Val(); len(msgs) > 0 {
			ms, _, _ := strings.Cut(msgs[0].ID, "-")
			if t, err := strconv.ParseInt(ms, 10, 64); err == nil {
				b.ArchiveLag = max(b.ArchiveLag, now.Sub(time.UnixMilli(t)))
			}
		}
	}
	return b, nil
}
