package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

//go:embed erase.lua
var eraseSource string

var eraseScript = redis.NewScript(eraseSource)

// Erase crypto-shreds the subscriber that phone is under tenant (GDPR
// Art. 17), in one script in the subscriber's slot: it destroys the data
// key and deletes the state, history and live codes of campaigns, and
// records an "erased" event (no personal data, Cause.Actor = actor) in the
// audit outbox. Every record sealed under the destroyed key, archived or
// not, can no longer be opened by anyone; the audit chain is untouched and
// still verifies. A later message from the same number starts afresh with a
// new data key. The pseudonym leaves the audiences of campaigns, and a
// suppression entry (pseudonym, time, the event's id; nothing else) stays
// until the person subscribes again by text, so that a consent check
// answers "erased" meanwhile. It reports whether the store held anything
// of the subscriber; the event and the entry are recorded either way.
func (s *Store) Erase(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, actor string, at time.Time) (bool, error) {
	id := s.pseudonyms.Pseudonym(tenant, phone)
	if err := s.persistGate(ctx, "erase "+id); err != nil {
		return false, err
	}
	dials := s.persistDials()
	shard := shardOf(id, s.shards)
	keys := []string{dataKeyKey(shard, tenant, id), subscriberKey(shard, tenant, id), historyKey(shard, tenant, id), OutboxKey(shard),
		suppressionKey(shard, tenant, id)}
	for _, c := range campaigns {
		keys = append(keys, codeKey(shard, tenant, id, c))
	}
	for _, c := range campaigns {
		keys = append(keys, audienceKey(shard, tenant, c))
	}
	ev := optin.Event{
		ID:     fmt.Sprintf("erase:%s:%d", id, at.UnixNano()),
		Tenant: tenant, Subscriber: id, At: at, Reason: optin.OutcomeErased,
		Cause: optin.Cause{Actor: actor},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return false, fmt.Errorf("store: erase %s: %w", id, err)
	}
	n, err := eraseScript.Run(ctx, s.rdb, keys, b, len(campaigns), id, at.UTC().Format(time.RFC3339Nano), ev.ID).Int()
	s.cache.forget(tenant, id) // after the script: a message meanwhile may have put it back
	if err != nil {
		return false, translate("erase "+id, err)
	}
	if err := s.persistAfter(ctx, "erase "+id, dials); err != nil {
		return false, err
	}
	return n > 0, nil
}
