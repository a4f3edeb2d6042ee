package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

//go:embed apply.lua
var applySource string

var applyScript = redis.NewScript(applySource)

// Load returns, in one round trip, the subscriber that phone is under
// tenant (with the live codes of the given campaigns) and, when the message in was
// processed before, the reply stored for it (nil otherwise). A subscriber
// never seen comes back with Version 0 and no enrollments.
func (s *Store) Load(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error) {
	return s.loadID(ctx, tenant, s.pseudonyms.Pseudonym(tenant, phone), campaigns, in)
}

// loadID is Load by pseudonym.
func (s *Store) loadID(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error) {
	sub := optin.Subscriber{Tenant: tenant, ID: id}
	shard := shardOf(sub.ID, s.shards)
	pipe := s.rdb.Pipeline()
	idem := pipe.Get(ctx, idempotencyKey(shard, in.Provider, in.MessageID))
	doc := pipe.HMGet(ctx, subscriberKey(shard, tenant, sub.ID), "v", "doc")
	codes := make([]*redis.StringCmd, len(campaigns))
	for i, c := range campaigns {
		codes[i] = pipe.Get(ctx, codeKey(shard, tenant, sub.ID, c))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return sub, nil, translate("load "+sub.ID, err)
	}
	if reply, err := idem.Bytes(); err == nil {
		return sub, reply, nil
	}
	if err := decodeSubscriber(&sub, doc.Val()); err != nil {
		return sub, nil, err
	}
	for i, c := range campaigns {
		raw, err := codes[i].Bytes()
		if err != nil {
			continue
		}
		var code optin.PendingCode
		if err := json.Unmarshal(raw, &code); err != nil {
			return sub, nil, fmt.Errorf("store: load code %s/%s: %w", sub.ID, c, err)
		}
		e := sub.Enrollments[c]
		e.Code = &code
		sub.Enrollments[c] = e
	}
	return sub, nil, nil
}

// decodeSubscriber fills sub from the "v" and "doc" fields of its hash.
func decodeSubscriber(sub *optin.Subscriber, fields []any) error {
	sub.Enrollments = map[string]optin.Enrollment{}
	if len(fields) != 2 || fields[0] == nil {
		return nil
	}
	v, err := strconv.ParseInt(fmt.Sprint(fields[0]), 10, 64)
	if err != nil {
		return fmt.Errorf("store: load %s: version: %w", sub.ID, err)
	}
	sub.Version = v
	if doc, ok := fields[1].(string); ok && doc != "" {
		if err := json.Unmarshal([]byte(doc), &sub.Enrollments); err != nil {
			return fmt.Errorf("store: load %s v%d: %w", sub.ID, v, err)
		}
	}
	return nil
}

// Apply writes dec, decided on prev, in one round trip and one Lua script:
// it compares prev's version and atomically writes the next state, the
// changed codes with their expiry, reply as the idempotency record of message in
// and the events into the outbox stream and the history. It returns the
// new version. When the message was already processed it writes nothing and returns
// the stored reply with an error wrapping optin.ErrDuplicate; when the
// subscriber changed since prev was loaded, an error wrapping
// optin.ErrConflict.
func (s *Store) Apply(ctx context.Context, prev optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte) (int64, []byte, error) {
	return s.ApplyQueued(ctx, prev, dec, in, reply, nil)
}

// ApplyQueued is Apply that also queues replies on the shard's outbound
// queue (OutQueueKey), in order, in the same script: the state change and
// its replies are written together or not at all, and a retried message
// queues nothing again.
func (s *Store) ApplyQueued(ctx context.Context, prev optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte, queued []optin.Reply) (int64, []byte, error) {
	shard := shardOf(prev.ID, s.shards)
	keys := []string{
		subscriberKey(shard, prev.Tenant, prev.ID),
		idempotencyKey(shard, in.Provider, in.MessageID),
		OutboxKey(shard),
		historyKey(shard, prev.Tenant, prev.ID),
		OutQueueKey(shard),
	}
	doc := ""
	if dec.Changed {
		b, err := json.Marshal(dec.Next.Enrollments)
		if err != nil {
			return 0, nil, fmt.Errorf("store: apply %s v%d: %w", prev.ID, prev.Version, err)
		}
		doc = string(b)
	}
	args := make([]any, 0, 6+len(dec.Events)+4)
	args = append(args, prev.Version, doc, reply, s.idemTTL.Milliseconds(), s.historyLen, len(dec.Events))
	for i, ev := range dec.Events {
		ev.ID = EventID(in, ev.Campaign, i)
		b, err := json.Marshal(ev)
		if err != nil {
			return 0, nil, fmt.Errorf("store: apply %s v%d: event: %w", prev.ID, prev.Version, err)
		}
		args = append(args, b)
	}
	args = append(args, len(queued))
	for _, r := range queued {
		b, err := s.sealReply(r)
		if err != nil {
			return 0, nil, fmt.Errorf("store: apply %s v%d: reply: %w", prev.ID, prev.Version, err)
		}
		args = append(args, b)
	}
	for id, next := range dec.Next.Enrollments {
		old := prev.Enrollments[id].Code
		if sameCode(old, next.Code) {
			continue
		}
		keys = append(keys, codeKey(shard, prev.Tenant, prev.ID, id))
		if next.Code == nil {
			args = append(args, "", 0)
			continue
		}
		b, err := json.Marshal(next.Code)
		if err != nil {
			return 0, nil, fmt.Errorf("store: apply %s v%d: code: %w", prev.ID, prev.Version, err)
		}
		args = append(args, b, next.Code.ExpiresAt.UnixMilli())
	}
	res, err := applyScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return 0, nil, translate(fmt.Sprintf("apply %s v%d", prev.ID, prev.Version), err)
	}
	if len(res) != 2 {
		return 0, nil, fmt.Errorf("store: apply %s v%d: unexpected reply %q", prev.ID, prev.Version, res)
	}
	switch res[0] {
	case "dup":
		return 0, []byte(res[1]), fmt.Errorf("store: apply %s: message %s: %w", prev.ID, in.MessageID, optin.ErrDuplicate)
	case "conflict":
		return 0, nil, fmt.Errorf("store: apply %s v%d (now v%s): %w", prev.ID, prev.Version, res[1], optin.ErrConflict)
	}
	v, err := strconv.ParseInt(res[1], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("store: apply %s v%d: version %q: %w", prev.ID, prev.Version, res[1], err)
	}
	return v, nil, nil
}

func sameCode(a, b *optin.PendingCode) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// EventID returns the stable id of the i-th event caused by message in in
// campaign: the same message always yields the same ids, so a replayed
// event can be recognised.
func EventID(in optin.Inbound, campaign string, i int) string {
	return fmt.Sprintf("%s:%s:%s:%d", in.Provider, in.MessageID, campaign, i)
}

// Lookup returns the subscriber that phone is under tenant and its latest
// events, newest first. A subscriber never seen comes back with Version 0.
func (s *Store) Lookup(ctx context.Context, tenant string, phone optin.Phone) (optin.Subscriber, []optin.Event, error) {
	sub := optin.Subscriber{Tenant: tenant, ID: s.pseudonyms.Pseudonym(tenant, phone)}
	shard := shardOf(sub.ID, s.shards)
	pipe := s.rdb.Pipeline()
	doc := pipe.HMGet(ctx, subscriberKey(shard, tenant, sub.ID), "v", "doc")
	hist := pipe.LRange(ctx, historyKey(shard, tenant, sub.ID), 0, -1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return sub, nil, translate("lookup "+sub.ID, err)
	}
	if err := decodeSubscriber(&sub, doc.Val()); err != nil {
		return sub, nil, err
	}
	events := make([]optin.Event, 0, len(hist.Val()))
	for _, raw := range hist.Val() {
		var ev optin.Event
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return sub, nil, fmt.Errorf("store: lookup %s: history: %w", sub.ID, err)
		}
		events = append(events, ev)
	}
	return sub, events, nil
}
