package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Consent returns the standing of each of phones under tenant (in the
// same order): its enrollments and, after an erasure, its suppression
// entry. It makes one round trip whatever the number of phones: one
// pipeline of an HGET and an HGETALL per phone.
func (s *Store) Consent(ctx context.Context, tenant string, phones []optin.Phone) ([]optin.Standing, error) {
	out := make([]optin.Standing, len(phones))
	if len(phones) == 0 {
		return out, nil
	}
	docs := make([]*redis.StringCmd, len(phones))
	supps := make([]*redis.MapStringStringCmd, len(phones))
	pipe := s.rdb.Pipeline()
	for i, p := range phones {
		id := s.pseudonyms.Pseudonym(tenant, p)
		shard := shardOf(id, s.shards)
		out[i].Subscriber = id
		docs[i] = pipe.HGet(ctx, subscriberKey(shard, tenant, id), "doc")
		supps[i] = pipe.HGetAll(ctx, suppressionKey(shard, tenant, id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate(fmt.Sprintf("consent %s ×%d", tenant, len(phones)), err)
	}
	for i := range out {
		var err error
		if out[i].Enrollments, err = decodeEnrollments(out[i].Subscriber, docs[i]); err != nil {
			return nil, err
		}
		if out[i].Suppressed, err = decodeSuppression(out[i].Subscriber, supps[i].Val()); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeEnrollments reads the "doc" field of a subscriber's hash; none
// when the subscriber is not held.
func decodeEnrollments(id string, get *redis.StringCmd) (map[string]optin.Enrollment, error) {
	sub := optin.Subscriber{ID: id}
	doc, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return map[string]optin.Enrollment{}, nil
	}
	if err != nil {
		return nil, translate("consent "+id, err)
	}
	if err := decodeDoc(&sub, doc); err != nil {
		return nil, err
	}
	return sub.Enrollments, nil
}

// decodeSuppression reads a suppression entry; nil when there is none.
func decodeSuppression(id string, m map[string]string) (*optin.Suppression, error) {
	if len(m) == 0 {
		return nil, nil
	}
	at, err := time.Parse(time.RFC3339Nano, m["at"])
	if err != nil {
		return nil, fmt.Errorf("store: suppression %s: %w", id, err)
	}
	return &optin.Suppression{At: at, Event: m["event"]}, nil
}
