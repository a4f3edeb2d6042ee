package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// DefaultSecurityStreamLen is about how many entries the security stream
// keeps: the stream is for shipping to a SIEM and for the incident report
// of a recent incident; the access entries in the audit log are the
// record that lasts.
const DefaultSecurityStreamLen = 100_000

// SecurityStreamKey is the stream of security events.
func SecurityStreamKey() string { return "og:{sec}:events" }

// ruleBucketKey counts rule's events of subject in one bucket of its window.
func ruleBucketKey(rule, subject string, bucket int64) string {
	return "og:{sec}:rule:" + rule + ":" + subject + ":" + strconv.FormatInt(bucket, 10)
}

// ruleFiredKey holds the bucket in which rule last fired for subject.
func ruleFiredKey(rule, subject string) string { return "og:{sec}:fired:" + rule + ":" + subject }

// ruleBuckets is how many buckets a rule's window is counted in
// (security.Buckets).
const ruleBuckets = 60

// ruleHitScript adds ARGV[1] to KEYS[1] (the current bucket, which expires
// after ARGV[2] ms), sums the buckets KEYS[1..n-1] and, when the sum passes
// ARGV[3], fires unless KEYS[n] records a firing within the window (bucket
// ARGV[4], window of ARGV[5] buckets). Returns {sum, fired}.
var ruleHitScript = redis.NewScript(`
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local sum = 0
for i = 1, #KEYS - 1 do
  local v = redis.call('GET', KEYS[i])
  if v then sum = sum + tonumber(v) end
end
local fired = 0
if sum > tonumber(ARGV[3]) then
  local cur, nb = tonumber(ARGV[4]), tonumber(ARGV[5])
  local last = redis.call('GET', KEYS[#KEYS])
  if not last or tonumber(last) <= cur - nb then
    redis.call('SET', KEYS[#KEYS], ARGV[4], 'PX', ARGV[2])
    fired = 1
  end
end
return {sum, fired}
`)

// AddSecurityEvents appends events (JSON) to the security stream.
func (s *Store) AddSecurityEvents(ctx context.Context, events [][]byte) error {
	pipe := s.rdb.Pipeline()
	for _, e := range events {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: SecurityStreamKey(), MaxLen: DefaultSecurityStreamLen, Approx: true, Values: []any{"e", e}})
	}
	_, err := pipe.Exec(ctx)
	return translate("security events", err)
}

// RuleHit adds n to rule's count for subject at at and returns the count
// over the window ending there, counted in 60 buckets; fire is true when
// the count passed limit and the rule did not fire for subject within the
// window already. The times are at's, not Redis's: a test's clock works.
func (s *Store) RuleHit(ctx context.Context, rule, subject string, n int64, at time.Time, window time.Duration, limit int64) (int64, bool, error) {
	bucket := window / ruleBuckets
	if bucket <= 0 {
		return 0, false, fmt.Errorf("store: rule %s: window %v too short", rule, window)
	}
	cur := at.UnixNano() / int64(bucket)
	keys := make([]string, 0, ruleBuckets+1)
	for i := int64(0); i < ruleBuckets; i++ {
		keys = append(keys, ruleBucketKey(rule, subject, cur-i))
	}
	keys = append(keys, ruleFiredKey(rule, subject))
	ttl := (window + bucket).Milliseconds()
	res, err := ruleHitScript.Run(ctx, s.rdb, keys, n, ttl, limit, cur, ruleBuckets).Int64Slice()
	if err != nil {
		return 0, false, translate("rule "+rule, err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("store: rule %s: unexpected reply %v", rule, res)
	}
	return res[0], res[1] == 1, nil
}

// SecurityEvents calls fn with each security event (JSON) recorded at or
// after since, oldest first.
func (s *Store) SecurityEvents(ctx context.Context, since time.Time, fn func(raw []byte) error) error {
	start := "-"
	if !since.IsZero() {
		start = strconv.FormatInt(since.UnixMilli(), 10)
	}
	for {
		msgs, err := s.rdb.XRangeN(ctx, SecurityStreamKey(), start, "+", 500).Result()
		if err != nil {
			return translate("security events", err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["e"].(string)
			if err := fn([]byte(raw)); err != nil {
				return err
			}
		}
		if len(msgs) < 500 {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// AccessEntries calls fn with every access entry still in Redis: the
// tenants' access logs and the entries not archived yet. An entry may come
// twice (once from each); its ID tells.
func (s *Store) AccessEntries(ctx context.Context, since time.Time, fn func(optin.AccessEntry) error) error {
	tenants, err := s.rdb.HKeys(ctx, cfgTenantsKey()).Result()
	if err != nil {
		return translate("tenants", err)
	}
	streams := []string{CfgOutboxKey()}
	for _, t := range tenants {
		streams = append(streams, accessKey(t))
	}
	start := "-"
	if !since.IsZero() {
		start = strconv.FormatInt(since.UnixMilli(), 10)
	}
	for _, key := range streams {
		from := start
		for {
			msgs, err := s.rdb.XRangeN(ctx, key, from, "+", 500).Result()
			if err != nil {
				return translate("access "+key, err)
			}
			for _, m := range msgs {
				raw, _ := m.Values["a"].(string)
				if raw == "" {
					continue // not an access entry (the config outbox holds changes too)
				}
				var e optin.AccessEntry
				if err := json.Unmarshal([]byte(raw), &e); err != nil {
					return fmt.Errorf("store: access %s %s: %w", key, m.ID, err)
				}
				if err := fn(e); err != nil {
					return err
				}
			}
			if len(msgs) < 500 {
				break
			}
			from = "(" + msgs[len(msgs)-1].ID
		}
	}
	return nil
}

// PhoneOf opens the number of subscriber id of tenant; ok is false when
// the store holds none (erased, or never known).
func (s *Store) PhoneOf(ctx context.Context, tenant, id string) (optin.Phone, bool, error) {
	shard := shardOf(id, s.shards)
	pipe := s.rdb.Pipeline()
	sealed := pipe.HGet(ctx, subscriberKey(shard, tenant, id), "p")
	dk := pipe.Get(ctx, dataKeyKey(shard, tenant, id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", false, translate("phone of "+id, err)
	}
	k, err := s.existingDataKey(tenant, id, dk)
	if err != nil || k == nil || sealed.Val() == "" {
		return "", false, err
	}
	plain, err := k.open(sealed.Val(), adOf(tenant, id, "phone"))
	if err != nil {
		return "", false, fmt.Errorf("store: phone of %s: %w", id, err)
	}
	return optin.Phone(plain), true, nil
}

// KeyHolders calls fn with the tenant and pseudonym of each subscriber
// whose data key is wrapped under master key id: whose data at rest that
// key opens.
func (s *Store) KeyHolders(ctx context.Context, keyID string, fn func(tenant, id string) error) error {
	return s.scanKeys(ctx, dataKeyPattern(), func(keys []string) error {
		vals, err := s.getAll(ctx, keys)
		if err != nil {
			return err
		}
		for i, key := range keys {
			w, ok := vals[i].(string)
			if !ok || !strings.HasPrefix(w, keyID+".") {
				continue
			}
			tenant, id, ok := parseDataKeyKey(key)
			if !ok {
				continue
			}
			if err := fn(tenant, id); err != nil {
				return err
			}
		}
		return nil
	})
}
