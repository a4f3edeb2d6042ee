package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
)

// The consumer-group primitives of the leased delivery streams: the
// outbound reply queues and the event webhook queues (internal/lanes
// works them).

// stream is one kind of leased delivery stream, as lanes.Stream: shard
// n's entries are at key(n), worked by group under the lease at
// leaseKey(n), and decode opens them.
type stream[T any] struct {
	s             *Store
	key, leaseKey func(shard int) string
	group         string
	decode        func(ctx context.Context, shard int, msgs []redis.XMessage) ([]T, error)
}

// ReplyQueue is the outbound queues, as the senders work them. One
// sender at a time drains a shard, which keeps each subscriber's replies
// in order; a lease that is not renewed passes to another sender after
// its ttl.
func (s *Store) ReplyQueue() lanes.Stream[lanes.QueuedReply] {
	return stream[lanes.QueuedReply]{s: s, key: OutQueueKey, leaseKey: outLeaseKey, group: SenderGroup, decode: s.decodeQueued}
}

// WebhookQueue is the event delivery streams, as the delivery workers
// work them: one worker at a time delivers a shard, which keeps each
// subscriber's events in order.
func (s *Store) WebhookQueue() lanes.Stream[lanes.QueuedEvent] {
	return stream[lanes.QueuedEvent]{s: s, key: WebhookQueueKey, leaseKey: webhookLeaseKey, group: WebhookGroup, decode: s.decodeWebhooks}
}

// Shards is the number of shards.
func (q stream[T]) Shards() int { return q.s.shards }

// EnsureGroups creates the group on every shard's stream (and the stream
// itself), if missing.
func (q stream[T]) EnsureGroups(ctx context.Context) error {
	for shard := range q.s.shards {
		err := q.s.rdb.XGroupCreateMkStream(ctx, q.key(shard), q.group, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return translate("create group "+q.key(shard), err)
		}
	}
	return nil
}

// Lease takes or renews owner's lease of shard for ttl; false when
// another owner holds it.
func (q stream[T]) Lease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error) {
	key := q.leaseKey(shard)
	n, err := sendLeaseScript.Run(ctx, q.s.rdb, []string{key}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, translate("lease "+key, err)
	}
	return n == 1, nil
}

// Claim takes over, for consumer, up to count entries of shard that the
// group delivered but never acknowledged (a crashed consumer's), oldest
// first, with XAUTOCLAIM from cursor start ("0-0" the first time); it
// returns the cursor to continue from, "0-0" when the scan is done. The
// caller holds the shard's lease, so no live consumer still works on them.
func (q stream[T]) Claim(ctx context.Context, shard int, consumer, start string, count int) ([]T, string, error) {
	key := q.key(shard)
	msgs, next, err := q.s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: key, Group: q.group, Consumer: consumer, MinIdle: 0, Start: start, Count: int64(count),
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, start, translate("claim "+key, err)
	}
	out, err := q.decode(ctx, shard, msgs)
	return out, next, err
}

// Read returns up to count entries of shard that no consumer of the group
// has had yet, oldest first, without waiting.
func (q stream[T]) Read(ctx context.Context, shard int, consumer string, count int) ([]T, error) {
	key := q.key(shard)
	res, err := q.s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: q.group, Consumer: consumer, Streams: []string{key, ">"}, Count: int64(count), Block: -1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate("read "+key, err)
	}
	var msgs []redis.XMessage
	for _, st := range res {
		msgs = append(msgs, st.Messages...)
	}
	return q.decode(ctx, shard, msgs)
}
