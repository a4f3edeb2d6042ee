package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
)

// WebhookGroup is the consumer group of the event delivery streams.
const WebhookGroup = "deliverers"

// webhookEntry is one entry of an event delivery stream: an event (its
// structure only: no texts, no number) for one endpoint.
type webhookEntry struct {
	Endpoint string      `json:"ep"`
	Event    optin.Event `json:"ev"`
}

// webhookEndpoints parses the endpoints hash: tenant → endpoints. A
// document that does not parse is left out.
func webhookEndpoints(m map[string]string) map[string][]optin.WebhookDoc {
	if len(m) == 0 {
		return nil
	}
	out := map[string][]optin.WebhookDoc{}
	for _, raw := range m {
		var d optin.WebhookDoc
		if json.Unmarshal([]byte(raw), &d) == nil && d.Tenant != "" {
			out[d.Tenant] = append(out[d.Tenant], d)
		}
	}
	for _, eps := range out {
		slices.SortFunc(eps, func(a, b optin.WebhookDoc) int { return strings.Compare(a.ID, b.ID) })
	}
	return out
}

// stripEvent keeps of ev what a delivery needs: its structure, no texts.
func stripEvent(ev optin.Event) optin.Event {
	ev.Cause, ev.Replies, ev.Match, ev.Sealed = optin.Cause{}, nil, nil, ""
	return ev
}

// webhookDeliveries returns the delivery stream entries that an outbox
// entry (its fields) announces: one per endpoint of its tenant that wants
// its type; none for what is not a deliverable event.
func webhookDeliveries(endpoints map[string][]optin.WebhookDoc, values map[string]any) []any {
	raw, ok := values["e"].(string)
	if !ok {
		return nil
	}
	var ev optin.Event
	if json.Unmarshal([]byte(raw), &ev) != nil || len(endpoints[ev.Tenant]) == 0 {
		return nil
	}
	t, ok := optin.TypeOf(ev)
	if !ok {
		return nil
	}
	var out []any
	for _, ep := range endpoints[ev.Tenant] {
		if !ep.Wants(t) {
			continue
		}
		b, err := json.Marshal(webhookEntry{Endpoint: ep.ID, Event: stripEvent(ev)})
		if err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// SealWebhookSecret seals an endpoint's signing secret under the newest
// master key, bound to the tenant and endpoint, for its document.
func (s *Store) SealWebhookSecret(tenant, id, secret string) (string, error) {
	return s.keys.wrap([]byte(secret), adOf(tenant, id, "webhook secret"))
}

// Webhooks returns every endpoint of tenant, by id, as stored (secrets
// sealed).
func (s *Store) Webhooks(ctx context.Context, tenant string) ([]optin.WebhookDoc, error) {
	m, err := s.rdb.HGetAll(ctx, cfgWebhooksKey()).Result()
	if err != nil {
		return nil, translate("webhooks", err)
	}
	eps := webhookEndpoints(m)[tenant]
	if eps == nil {
		eps = []optin.WebhookDoc{}
	}
	return eps, nil
}

// WebhookTarget returns endpoint id of tenant with its secret opened; an
// error wrapping optin.ErrNotFound once it is deleted.
func (s *Store) WebhookTarget(ctx context.Context, tenant, id string) (lanes.WebhookTarget, error) {
	raw, err := s.ConfigGet(ctx, optin.ConfigRef{Object: optin.ObjectWebhook, Tenant: tenant, ID: id})
	if err != nil {
		return lanes.WebhookTarget{}, err
	}
	var d optin.WebhookDoc
	if err := json.Unmarshal(raw, &d); err != nil {
		return lanes.WebhookTarget{}, fmt.Errorf("store: webhook %s/%s: %w", tenant, id, err)
	}
	secret, _, err := s.keys.unwrap(d.Secret, adOf(tenant, id, "webhook secret"))
	if err != nil {
		return lanes.WebhookTarget{}, fmt.Errorf("store: webhook %s/%s: %w", tenant, id, err)
	}
	return lanes.WebhookTarget{URL: d.URL, Secret: secret}, nil
}

// SubscriberPhone returns the number of subscriber id of tenant, opened
// under its data key; "" when none is held (never stored, or erased).
func (s *Store) SubscriberPhone(ctx context.Context, tenant, id string) (optin.Phone, error) {
	shard := shardOf(id, s.shards)
	pipe := s.rdb.Pipeline()
	p := pipe.HGet(ctx, subscriberKey(shard, tenant, id), "p")
	get := pipe.Get(ctx, dataKeyKey(shard, tenant, id))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", translate("phone "+id, err)
	}
	sealed, err := p.Result()
	if err != nil {
		return "", nil
	}
	dk, err := s.existingDataKey(tenant, id, get)
	if err != nil || dk == nil {
		return "", err
	}
	plain, err := dk.open(sealed, adOf(tenant, id, "phone"))
	if err != nil {
		return "", nil
	}
	return optin.Phone(plain), nil
}

// decodeWebhooks decodes delivery entries with their counts of failed
// tries. An entry that does not decode is dropped (acknowledged): nothing
// could deliver it.
func (s *Store) decodeWebhooks(ctx context.Context, shard int, msgs []redis.XMessage) ([]lanes.QueuedEvent, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	tries, err := s.rdb.HMGet(ctx, webhookTriesKey(shard), ids...).Result()
	if err != nil {
		return nil, translate("tries "+webhookTriesKey(shard), err)
	}
	out := make([]lanes.QueuedEvent, 0, len(msgs))
	for i, m := range msgs {
		raw, _ := m.Values["w"].(string)
		var e webhookEntry
		t, ok := optin.EventType(""), false
		if json.Unmarshal([]byte(raw), &e) == nil {
			t, ok = optin.TypeOf(e.Event)
		}
		if !ok || e.Endpoint == "" {
			if err := s.AckWebhook(ctx, lanes.QueuedEvent{Shard: shard, StreamID: m.ID}); err != nil {
				return nil, err
			}
			continue
		}
		q := lanes.QueuedEvent{Shard: shard, StreamID: m.ID, Endpoint: e.Endpoint, Type: t, Event: e.Event, Raw: raw}
		if v, ok := tries[i].(string); ok {
			q.Tries, _ = strconv.Atoi(v)
		}
		out = append(out, q)
	}
	return out, nil
}

// AckWebhook finishes q: delivered, or its endpoint is gone.
func (s *Store) AckWebhook(ctx context.Context, q lanes.QueuedEvent) error {
	key := WebhookQueueKey(q.Shard)
	pipe := s.rdb.TxPipeline()
	pipe.XAck(ctx, key, WebhookGroup, q.StreamID)
	pipe.XDel(ctx, key, q.StreamID)
	pipe.HDel(ctx, webhookTriesKey(q.Shard), q.StreamID)
	_, err := pipe.Exec(ctx)
	return translate("ack "+key+" "+q.StreamID, err)
}

// FailWebhook counts a failed try of q and returns its failed tries so far.
func (s *Store) FailWebhook(ctx context.Context, q lanes.QueuedEvent) (int, error) {
	n, err := s.rdb.HIncrBy(ctx, webhookTriesKey(q.Shard), q.StreamID, 1).Result()
	return int(n), translate("fail "+webhookTriesKey(q.Shard), err)
}

// DeadWebhook gives up on q after its last try: it moves it, with the
// reason, to the shard's dead-letter stream, in one transaction.
func (s *Store) DeadWebhook(ctx context.Context, q lanes.QueuedEvent, tries int, reason string, at time.Time) error {
	key := WebhookQueueKey(q.Shard)
	pipe := s.rdb.TxPipeline()
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: WebhookDeadKey(q.Shard), Values: []any{
		"w", q.Raw, "tries", tries, "reason", reason, "at", at.UnixMilli(),
	}})
	pipe.XAck(ctx, key, WebhookGroup, q.StreamID)
	pipe.XDel(ctx, key, q.StreamID)
	pipe.HDel(ctx, webhookTriesKey(q.Shard), q.StreamID)
	_, err := pipe.Exec(ctx)
	return translate("dead letter "+key+" "+q.StreamID, err)
}

// WebhookDeadLetters returns the dead letters of endpoint id of tenant,
// newest first, at most limit.
func (s *Store) WebhookDeadLetters(ctx context.Context, tenant, id string, limit int) ([]optin.WebhookDeadLetter, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.XMessageSliceCmd, s.shards)
	for shard := range s.shards {
		cmds[shard] = pipe.XRevRange(ctx, WebhookDeadKey(shard), "+", "-")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, translate("webhook dead letters", err)
	}
	out := []optin.WebhookDeadLetter{}
	for _, c := range cmds {
		for _, m := range c.Val() {
			raw, _ := m.Values["w"].(string)
			var e webhookEntry
			if json.Unmarshal([]byte(raw), &e) != nil || e.Endpoint != id || e.Event.Tenant != tenant {
				continue
			}
			t, _ := optin.TypeOf(e.Event)
			d := optin.WebhookDeadLetter{EventID: e.Event.ID, Type: t, Subscriber: e.Event.Subscriber, EventAt: e.Event.At}
			d.Tries, _ = strconv.Atoi(fmt.Sprint(m.Values["tries"]))
			d.Reason, _ = m.Values["reason"].(string)
			if ms, err := strconv.ParseInt(fmt.Sprint(m.Values["at"]), 10, 64); err == nil {
				d.DeadAt = time.UnixMilli(ms).UTC()
			}
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b optin.WebhookDeadLetter) int { return b.DeadAt.Compare(a.DeadAt) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// replayChunk is how many deliveries one pipeline of a replay adds.
const replayChunk = 500

// ReplayWebhook queues again, for endpoint id of tenant, every event of
// the tenant in the verified audit log that happened at or after since
// and that the endpoint wants, oldest first, with their stable ids: the
// business de-duplicates. Events not archived yet are delivered anyway.
// It returns how many it queued; an error wrapping optin.ErrNotFound when
// the endpoint does not exist, a *ChainError when the log does not verify.
func (l *AuditLog) ReplayWebhook(ctx context.Context, tenant, id string, since time.Time) (int, error) {
	raw, err := l.st.ConfigGet(ctx, optin.ConfigRef{Object: optin.ObjectWebhook, Tenant: tenant, ID: id})
	if err != nil {
		return 0, err
	}
	var ep optin.WebhookDoc
	if err := json.Unmarshal(raw, &ep); err != nil {
		return 0, fmt.Errorf("store: replay %s/%s: %w", tenant, id, err)
	}
	n := 0
	pipe := l.st.rdb.Pipeline()
	flush := func() error {
		if pipe.Len() == 0 {
			return nil
		}
		_, err := pipe.Exec(ctx)
		return translate("replay "+tenant+"/"+id, err)
	}
	before := func(d *digest) bool { return d.LastAt.Before(since) }
	_, err = walkSegments(l.dir, true, before, func(rec optin.AuditRecord, _ recordBody) error {
		ev := rec.Event
		if rec.Delivery != nil || rec.Config != nil || rec.Access != nil || ev.Tenant != tenant || ev.At.Before(since) {
			return ctx.Err()
		}
		t, ok := optin.TypeOf(ev)
		if !ok || !ep.Wants(t) {
			return ctx.Err()
		}
		b, err := json.Marshal(webhookEntry{Endpoint: id, Event: stripEvent(ev)})
		if err != nil {
			return err
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: WebhookQueueKey(shardOf(ev.Subscriber, l.st.shards)), Values: []any{"w", string(b)}})
		n++
		if pipe.Len() >= replayChunk {
			return flush()
		}
		return ctx.Err()
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return n, fmt.Errorf("store: replay %s/%s: %w", tenant, id, err)
	}
	return n, flush()
}

// WebhookAdmin is the admin side of the event webhooks: sealing secrets,
// listing endpoints and dead letters, replaying from the audit log.
type WebhookAdmin struct {
	st  *Store
	log *AuditLog
}

// WebhookAdmin returns the admin side of s's event webhooks, replaying
// from the audit log in dir.
func (s *Store) WebhookAdmin(dir string) *WebhookAdmin {
	return &WebhookAdmin{st: s, log: s.AuditLog(dir)}
}

// SealSecret is Store.SealWebhookSecret.
func (w *WebhookAdmin) SealSecret(tenant, id, secret string) (string, error) {
	return w.st.SealWebhookSecret(tenant, id, secret)
}

// List is Store.Webhooks.
func (w *WebhookAdmin) List(ctx context.Context, tenant string) ([]optin.WebhookDoc, error) {
	return w.st.Webhooks(ctx, tenant)
}

// DeadLetters is Store.WebhookDeadLetters.
func (w *WebhookAdmin) DeadLetters(ctx context.Context, tenant, id string, limit int) ([]optin.WebhookDeadLetter, error) {
	return w.st.WebhookDeadLetters(ctx, tenant, id, limit)
}

// Replay is AuditLog.ReplayWebhook.
func (w *WebhookAdmin) Replay(ctx context.Context, tenant, id string, since time.Time) (int, error) {
	return w.log.ReplayWebhook(ctx, tenant, id, since)
}
