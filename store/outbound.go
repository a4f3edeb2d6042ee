package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
)

// SenderGroup is the consumer group of the outbound queues.
const SenderGroup = "senders"

// DefaultSendRecordTTL is how long a reply's send record is kept: the
// window in which a reply is recognised as already sent.
const DefaultSendRecordTTL = 7 * 24 * time.Hour

//go:embed sendlease.lua
var sendLeaseSource string

var sendLeaseScript = redis.NewScript(sendLeaseSource)

//go:embed throttle.lua
var throttleSource string

var throttleScript = redis.NewScript(throttleSource)

// decodeQueued opens queue entries under their subscribers' data keys.
// An entry whose subscriber was erased since goes to the dead letters,
// still sealed, and is never sent.
func (s *Store) decodeQueued(ctx context.Context, shard int, msgs []redis.XMessage) ([]lanes.QueuedReply, error) {
	out := make([]lanes.QueuedReply, 0, len(msgs))
	keys := map[string]*dataKey{}
	for _, m := range msgs {
		raw, _ := m.Values["r"].(string)
		var r optin.Reply
		err := json.Unmarshal([]byte(raw), &r)
		if err == nil {
			sk := r.Tenant + "\x00" + r.Subscriber
			dk, ok := keys[sk]
			if !ok {
				get := s.rdb.Get(ctx, dataKeyKey(shardOf(r.Subscriber, s.shards), r.Tenant, r.Subscriber))
				if dk, err = s.existingDataKey(r.Tenant, r.Subscriber, get); errors.Is(err, optin.ErrUnavailable) {
					return nil, err
				}
				keys[sk] = dk
			}
			if err == nil {
				r, err = openReply(dk, r)
			}
		}
		if err != nil {
			// An entry no sender can read would block its shard for
			// ever: it goes to the dead letters as it is.
			if err := s.deadRaw(ctx, shard, m.ID, raw, "undecodable: "+err.Error()); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, lanes.QueuedReply{Shard: shard, StreamID: m.ID, Reply: r, Raw: raw})
	}
	return out, nil
}

// deadRaw moves queue entry id of shard, as stored, to the dead letters.
func (s *Store) deadRaw(ctx context.Context, shard int, id, raw, reason string) error {
	key := OutQueueKey(shard)
	pipe := s.rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: OutDeadKey(shard), Values: []any{"r", raw, "reason", reason}})
	pipe.XAck(ctx, key, SenderGroup, id)
	pipe.XDel(ctx, key, id)
	_, err := pipe.Exec(ctx)
	return translate("dead letter "+key+" "+id, err)
}

// SendRecord returns the send record of q.
func (s *Store) SendRecord(ctx context.Context, q lanes.QueuedReply) (lanes.SendRecord, error) {
	key := outRecordKey(q.Shard, q.Reply.ID)
	m, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return lanes.SendRecord{}, translate("send record "+key, err)
	}
	rec := lanes.SendRecord{State: lanes.SendState(m["state"]), SID: m["sid"]}
	rec.Tries, _ = strconv.Atoi(m["tries"])
	if ms, err := strconv.ParseInt(m["at"], 10, 64); err == nil {
		rec.At = time.UnixMilli(ms)
	}
	return rec, nil
}

// MarkSendIntent records, before the provider is called, that a send of q
// starts at at, and returns how many sends have started.
func (s *Store) MarkSendIntent(ctx context.Context, q lanes.QueuedReply, at time.Time) (int, error) {
	key := outRecordKey(q.Shard, q.Reply.ID)
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, key, "state", string(lanes.SendIntent), "at", at.UnixMilli())
	tries := pipe.HIncrBy(ctx, key, "tries", 1)
	pipe.PExpire(ctx, key, DefaultSendRecordTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, translate("send intent "+key, err)
	}
	return int(tries.Val()), nil
}

// ClearSendIntent records that the last send of q certainly did not
// happen (the provider answered with an error).
func (s *Store) ClearSendIntent(ctx context.Context, q lanes.QueuedReply) error {
	key := outRecordKey(q.Shard, q.Reply.ID)
	return translate("clear intent "+key, s.rdb.HSet(ctx, key, "state", string(lanes.SendNone)).Err())
}

// MarkSent records q as sent with the provider's message id sid,
// acknowledges and removes it from the queue and writes a delivery record
// into the outbox: in one transaction.
func (s *Store) MarkSent(ctx context.Context, q lanes.QueuedReply, sid string, at time.Time) error {
	if err := s.finish(ctx, q, lanes.SendSent, sid, optin.DeliveryQueued, "", at); err != nil {
		return err
	}
	// The index lives in a slot of its own, so it is written after the
	// transaction: a crash in between leaves only the provider's later
	// delivery events for this message unmatched.
	r := q.Reply
	r.To, r.Body = "", ""
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("store: sent index %s: %w", sid, err)
	}
	key := sentIndexKey(r.Provider, sid)
	return translate("sent index "+key, s.rdb.Set(ctx, key, doc, DefaultSendRecordTTL).Err())
}

// SentReply returns the reply that provider's message sid was sent for,
// without its number and text; optin.ErrNotFound when none is known (not
// ours, or older than DefaultSendRecordTTL).
func (s *Store) SentReply(ctx context.Context, provider, sid string) (optin.Reply, error) {
	key := sentIndexKey(provider, sid)
	var r optin.Reply
	raw, err := s.rdb.Get(ctx, key).Bytes()
	if err != nil {
		return r, translate("sent reply "+key, err)
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("store: sent reply %s: %w", key, err)
	}
	return r, nil
}

// DeadLetter gives up on q: it copies q with the reason into the shard's
// dead-letter stream, marks it dead, acknowledges and removes it from the
// queue and writes a delivery record into the outbox, in one transaction.
func (s *Store) DeadLetter(ctx context.Context, q lanes.QueuedReply, code, reason string, at time.Time) error {
	return s.finish(ctx, q, lanes.SendDead, "", optin.DeliveryDead, code+" "+reason, at)
}

// AckReply removes q from the queue without recording anything: its send
// record already says sent or dead.
func (s *Store) AckReply(ctx context.Context, q lanes.QueuedReply) error {
	key := OutQueueKey(q.Shard)
	pipe := s.rdb.TxPipeline()
	pipe.XAck(ctx, key, SenderGroup, q.StreamID)
	pipe.XDel(ctx, key, q.StreamID)
	_, err := pipe.Exec(ctx)
	return translate("ack "+key+" "+q.StreamID, err)
}

func (s *Store) finish(ctx context.Context, q lanes.QueuedReply, state lanes.SendState, sid string, status optin.DeliveryStatus, reason string, at time.Time) error {
	key := outRecordKey(q.Shard, q.Reply.ID)
	d := optin.Delivery{
		Kind: "delivery", Tenant: q.Reply.Tenant, Subscriber: q.Reply.Subscriber, ReplyID: q.Reply.ID,
		CausedBy: q.Reply.CausedBy, Provider: q.Reply.Provider, ProviderMessageID: sid, Status: status, At: at,
	}
	if state == lanes.SendDead {
		d.ErrorCode = strings.TrimSpace(strings.SplitN(reason, " ", 2)[0])
	}
	doc, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("store: finish %s: %w", key, err)
	}
	pipe := s.rdb.TxPipeline()
	if state == lanes.SendDead {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: OutDeadKey(q.Shard), Values: []any{"r", q.Raw, "reason", reason}})
	}
	pipe.HSet(ctx, key, "state", string(state), "sid", sid)
	pipe.PExpire(ctx, key, DefaultSendRecordTTL)
	pipe.XAck(ctx, OutQueueKey(q.Shard), SenderGroup, q.StreamID)
	pipe.XDel(ctx, OutQueueKey(q.Shard), q.StreamID)
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: OutboxKey(q.Shard), Values: []any{"d", doc}})
	if _, err := pipe.Exec(ctx); err != nil {
		return translate("finish "+key, err)
	}
	return nil
}

// Throttle books a slot for one message from the sending number from,
// which may send one message per interval across every sender of every
// instance. It returns 0 when the message may go now, otherwise how long
// to wait before asking again.
func (s *Store) Throttle(ctx context.Context, from string, interval time.Duration) (time.Duration, error) {
	us, err := throttleScript.Run(ctx, s.rdb, []string{rateKey(from)}, interval.Microseconds()).Int64()
	if err != nil {
		return 0, translate("throttle "+rateKey(from), err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// RecordDelivery writes a delivery record (a status callback) into the
// outbox stream of the subscriber's shard, next to the audit events of the
// message that caused the reply.
func (s *Store) RecordDelivery(ctx context.Context, d optin.Delivery) error {
	d.Kind = "delivery"
	doc, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("store: delivery %s: %w", d.ReplyID, err)
	}
	key := OutboxKey(shardOf(d.Subscriber, s.shards))
	return translate("delivery "+key, s.rdb.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{"d", doc}}).Err())
}

// Reconcile loads subscriber id of tenant, lets decide (a pure optin
// function) decide on it and applies the decision with in as its
// idempotency record, again on a concurrent change. A message in applied
// before changes nothing.
func (s *Store) Reconcile(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound, decide func(optin.Subscriber) optin.Decision) error {
	for range 100 {
		sub, stored, err := s.loadID(ctx, tenant, id, campaigns, in)
		if err != nil {
			return err
		}
		if stored != nil {
			return nil
		}
		_, _, err = s.Apply(ctx, sub, decide(sub), in, []byte{})
		switch {
		case err == nil, errors.Is(err, optin.ErrDuplicate):
			return nil
		case !errors.Is(err, optin.ErrConflict):
			return err
		}
	}
	return fmt.Errorf("store: reconcile %s: %w", id, optin.ErrConflict)
}
