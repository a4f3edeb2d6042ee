package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// DefaultAudienceBatch is how many members Audience reads per round trip.
const DefaultAudienceBatch = 500

// Audience calls fn with every subscriber of campaign under tenant, shard
// by shard and, within a shard, in byte order of the pseudonym, after the
// pseudonym after (from the start when empty): resuming after the last
// member given yields exactly the members not given yet (as long as none
// joined or left meanwhile). It reads the shards' audience sets
// (audienceKey) batch members at a time, and each batch's numbers in one
// pipeline, opening them with their data keys, so its memory is bounded
// by the batch whatever the audience's size; two round trips a batch.
// A member whose number the store does not hold is left out and counted.
// An error of fn stops it and is returned.
func (s *Store) Audience(ctx context.Context, tenant, campaign, after string, batch int, fn func(optin.AudienceMember) error) (optin.AudienceStats, error) {
	var stats optin.AudienceStats
	if batch <= 0 {
		batch = DefaultAudienceBatch
	}
	start := 0
	if after != "" {
		start = shardOf(after, s.shards)
	}
	for shard := start; shard < s.shards; shard++ {
		key := audienceKey(shard, tenant, campaign)
		lo := "-"
		if shard == start && after != "" {
			lo = "(" + after
		}
		for {
			ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: key, Start: lo, Stop: "+", ByLex: true, Count: int64(batch)}).Result()
			if err != nil {
				return stats, translate("audience "+key, err)
			}
			if len(ids) == 0 {
				break
			}
			if err := s.audienceBatch(ctx, shard, tenant, campaign, ids, &stats, fn); err != nil {
				return stats, err
			}
			if len(ids) < batch {
				break
			}
			lo = "(" + ids[len(ids)-1]
		}
	}
	return stats, nil
}

// audienceBatch loads the numbers of ids in one pipeline and gives them to fn.
func (s *Store) audienceBatch(ctx context.Context, shard int, tenant, campaign string, ids []string, stats *optin.AudienceStats, fn func(optin.AudienceMember) error) error {
	pipe := s.rdb.Pipeline()
	docs := make([]*redis.SliceCmd, len(ids))
	dks := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		docs[i] = pipe.HMGet(ctx, subscriberKey(shard, tenant, id), "doc", "p")
		dks[i] = pipe.Get(ctx, dataKeyKey(shard, tenant, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return translate(fmt.Sprintf("audience %s/%s ×%d", tenant, campaign, len(ids)), err)
	}
	for i, id := range ids {
		f := docs[i].Val()
		doc, _ := f[0].(string)
		sealed, _ := f[1].(string)
		sub := optin.Subscriber{ID: id}
		if err := decodeDoc(&sub, doc); err != nil {
			return err
		}
		e := sub.Enrollments[campaign]
		if e.State != optin.StateSubscribed {
			continue // left between the two reads
		}
		dk, err := s.existingDataKey(tenant, id, dks[i])
		if err != nil {
			return err
		}
		if dk == nil || sealed == "" {
			stats.WithoutNumber++
			continue
		}
		plain, err := dk.open(sealed, adOf(tenant, id, "phone"))
		if err != nil {
			stats.WithoutNumber++
			continue
		}
		if err := fn(optin.AudienceMember{Subscriber: id, Phone: optin.Phone(plain), Since: e.Since, Event: e.Event}); err != nil {
			return err
		}
		stats.Members++
	}
	return nil
}
