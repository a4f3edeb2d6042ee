package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// RebuildStats counts what Rebuild restored.
type RebuildStats struct {
	Records     uint64 // records read from the log
	Pending     int    // events read from the outbox streams, not yet archived
	Subscribers int    // subscribers written
	Enrollments int    // (subscriber, campaign) states written
	Suppressed  int    // suppression entries of erased subscribers written
}

// ErrNotEmpty is returned by Rebuild when Redis already holds subscribers.
var ErrNotEmpty = errors.New("store: redis already holds subscribers; rebuild only fills an empty one")

// Rebuild restores every subscriber's consent state (state and since, per
// campaign) and recent history into an empty Redis from the verified audit
// log, then from the events still in the outbox streams, with the
// campaigns' audiences and the suppression entries of subscribers erased
// and not subscribed again since. Pending codes are
// not restored: a subscriber left pending must text the keyword again. It
// refuses (ErrNotEmpty) when Redis already holds a subscriber, and returns
// a *ChainError when the log does not verify. Run it with the gateway
// stopped.
func (l *AuditLog) Rebuild(ctx context.Context) (RebuildStats, error) {
	var stats RebuildStats
	// SCAN pages may be empty while later ones match: walk until a match.
	iter := l.st.rdb.Scan(ctx, 0, subscriberPattern(), 1000).Iterator()
	if iter.Next(ctx) {
		return stats, ErrNotEmpty
	}
	if err := iter.Err(); err != nil {
		return stats, translate("rebuild scan", err)
	}
	type subKey struct{ tenant, id string }
	type sub struct {
		enrollments map[string]optin.Enrollment
		history     []string // raw events, oldest first
	}
	subs := map[subKey]*sub{}
	var order []subKey
	// suppressed: erased and not subscribed again since
	suppressed := map[subKey]optin.Suppression{}
	seen := map[archiveKey]bool{} // entryKey of the events applied
	apply := func(key archiveKey, raw []byte, ev optin.Event) {
		if seen[key] {
			return // an entry archived and not yet deleted from its stream
		}
		seen[key] = true
		k := subKey{ev.Tenant, ev.Subscriber}
		if ev.Reason == optin.OutcomeErased {
			// Erased: what came before is gone, in Redis as in its data
			// key; the suppression entry stays.
			suppressed[k] = optin.Suppression{At: ev.At, Event: ev.ID}
			if subs[k] != nil {
				delete(subs, k)
				order = slices.DeleteFunc(order, func(o subKey) bool { return o == k })
			}
			return
		}
		s := subs[k]
		if s == nil {
			s = &sub{enrollments: map[string]optin.Enrollment{}}
			subs[k] = s
			order = append(order, k)
		}
		e := s.enrollments[ev.Campaign]
		if ev.From != ev.To || e.Since.IsZero() {
			e.Since, e.Event = ev.At, ev.ID
		}
		if ev.To == optin.StateSubscribed {
			delete(suppressed, k)
		}
		e.State = ev.To
		s.enrollments[ev.Campaign] = e
		s.history = append(s.history, string(raw))
		if len(s.history) > 2*l.st.historyLen {
			s.history = append(s.history[:0], s.history[len(s.history)-l.st.historyLen:]...)
		}
	}
	sum, err := walkLog(l.dir, true, func(rec optin.AuditRecord, body recordBody) error {
		if rec.Delivery != nil || rec.Config != nil || rec.Access != nil {
			// What became of a reply, a configuration change and an access
			// entry change no subscriber's state.
			return ctx.Err()
		}
		apply(entryKey(body.Shard, body.Entry, rec.Event.ID), body.Event, rec.Event)
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return stats, fmt.Errorf("store: rebuild: %w", err)
	}
	stats.Records = sum.Records
	for shard := range l.st.shards {
		msgs, err := l.st.rdb.XRange(ctx, OutboxKey(shard), "-", "+").Result()
		if err != nil {
			return stats, translate("rebuild "+OutboxKey(shard), err)
		}
		for _, m := range msgs {
			raw, _ := m.Values["e"].(string)
			var ev optin.Event
			if json.Unmarshal([]byte(raw), &ev) != nil {
				continue
			}
			key := entryKey(shard, m.ID, ev.ID)
			if seen[key] {
				continue
			}
			stats.Pending++
			apply(key, []byte(raw), ev)
		}
	}

	const perPipeline = 500
	pipe := l.st.rdb.Pipeline()
	for i, k := range order {
		s := subs[k]
		doc, err := json.Marshal(s.enrollments)
		if err != nil {
			return stats, fmt.Errorf("store: rebuild %s: %w", k.id, err)
		}
		shard := shardOf(k.id, l.st.shards)
		pipe.HSet(ctx, subscriberKey(shard, k.tenant, k.id), "v", 1, "doc", doc)
		hk := historyKey(shard, k.tenant, k.id)
		hist := s.history
		if len(hist) > l.st.historyLen {
			hist = hist[len(hist)-l.st.historyLen:]
		}
		args := make([]any, len(hist))
		for j, h := range hist {
			args[j] = h
		}
		pipe.Del(ctx, hk)
		pipe.LPush(ctx, hk, args...) // newest ends up first
		for c, e := range s.enrollments {
			if e.State == optin.StateSubscribed {
				pipe.ZAdd(ctx, audienceKey(shard, k.tenant, c), redis.Z{Member: k.id})
			}
		}
		stats.Subscribers++
		stats.Enrollments += len(s.enrollments)
		if (i+1)%perPipeline == 0 || i == len(order)-1 {
			if _, err := pipe.Exec(ctx); err != nil {
				return stats, translate("rebuild write", err)
			}
		}
	}
	for k, sup := range suppressed {
		pipe.HSet(ctx, suppressionKey(shardOf(k.id, l.st.shards), k.tenant, k.id), "at", sup.At.UTC().Format(time.RFC3339Nano), "event", sup.Event)
		stats.Suppressed++
		if stats.Suppressed%perPipeline == 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return stats, translate("rebuild write", err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return stats, translate("rebuild write", err)
	}
	return stats, nil
}
