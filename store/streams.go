package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The consumer-group primitives of the leased delivery streams: the
// outbound reply queues and the event webhook queues (internal/lanes
// works them).

// ensureGroups creates group on every shard's stream key(shard) (and the
// stream itself), if missing.
func (s *Store) ensureGroups(ctx context.Context, key func(shard int) string, group string) error {
	for shard := range s.shards {
		err := s.rdb.XGroupCreateMkStream(ctx, key(shard), group, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return translate("create group "+key(shard), err)
		}
	}
	return nil
}

// takeLease takes or renews owner's lease key for ttl; false when another
// owner holds it.
func (s *Store) takeLease(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	n, err := sendLeaseScript.Run(ctx, s.rdb, []string{key}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, translate("lease "+key, err)
	}
	return n == 1, nil
}

// claimStream takes over, for consumer, up to count entries of key that
// group delivered but never acknowledged (a crashed consumer's), oldest
// first, with XAUTOCLAIM from cursor start ("0-0" the first time); it
// returns the cursor to continue from, "0-0" when the scan is done.
func (s *Store) claimStream(ctx context.Context, key, group, consumer, start string, count int) ([]redis.XMessage, string, error) {
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: key, Group: group, Consumer: consumer, MinIdle: 0, Start: start, Count: int64(count),
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, start, translate("claim "+key, err)
	}
	return msgs, next, nil
}

// readStream returns up to count entries of key that no consumer of group
// has had yet, oldest first, without waiting.
func (s *Store) readStream(ctx context.Context, key, group, consumer string, count int) ([]redis.XMessage, error) {
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{key, ">"}, Count: int64(count), Block: -1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate("read "+key, err)
	}
	var msgs []redis.XMessage
	for _, st := range res {
		msgs = append(msgs, st.Messages...)
	}
	return msgs, nil
}
