package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

//go:embed apply.lua
var applySource string

var applyScript = redis.NewScript(applySource)

// Load returns the subscriber that phone is under tenant, with the live
// codes of the given campaigns, as this store last wrote or read it: from
// the subscriber cache when it holds the subscriber, and otherwise as one
// never seen (Version 0, no enrollments, a fresh data key), without a round
// trip. Apply checks what Load returned against Redis by value and, when it
// is out of date, applies nothing, refreshes the cache and returns an error
// wrapping optin.ErrConflict: deciding again then works on what Redis
// holds. A message processed before is found by Apply (optin.ErrDuplicate).
// With the cache off (Options.SubscriberCache < 0), Load reads Redis in one
// round trip and, when message in was processed before, also returns the
// reply stored for it (nil otherwise; empty when the subscriber was erased
// since).
func (s *Store) Load(ctx context.Context, tenant string, phone optin.Phone, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error) {
	sub, stored, err := s.loadID(ctx, tenant, s.pseudonyms.Pseudonym(tenant, phone), campaigns, in)
	sub.Phone = phone
	return sub, stored, err
}

// loadID is Load by pseudonym.
func (s *Store) loadID(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error) {
	rs, ok := s.cache.get(tenant, id)
	switch {
	case ok:
	case s.cache != nil:
		rs = &readSet{}
	default:
		return s.readID(ctx, tenant, id, campaigns, in)
	}
	return s.decodeReadSet(tenant, id, rs, campaigns)
}

// readID is loadID from Redis (one round trip), bypassing the cache; it
// also returns the reply stored for message in when it was processed
// before.
func (s *Store) readID(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound) (optin.Subscriber, []byte, error) {
	rs, stored, err := s.read(ctx, tenant, id, campaigns, in)
	if err != nil || stored != nil {
		return optin.Subscriber{Tenant: tenant, ID: id}, stored, err
	}
	return s.decodeReadSet(tenant, id, rs, campaigns)
}

// loaded is the Key of a Subscriber that Load returned: the read set it
// was decoded from, the campaigns whose code keys it covers and the data
// key to seal under (the stored one, or a fresh one that Apply stores when
// it seals something).
type loaded struct {
	rs        *readSet
	campaigns []string
	dk        *dataKey
}

// StoreHandle makes a *loaded the optin.Handle of a Subscriber.
func (*loaded) StoreHandle() {}

// decodeReadSet returns the subscriber id of tenant that rs holds, with the
// codes of campaigns: its state decoded, its data key unwrapped (a fresh
// one when it has none) and its codes opened.
func (s *Store) decodeReadSet(tenant, id string, rs *readSet, campaigns []string) (optin.Subscriber, []byte, error) {
	sub := optin.Subscriber{Tenant: tenant, ID: id, Version: rs.version}
	if err := decodeDoc(&sub, rs.doc); err != nil {
		return sub, nil, err
	}
	var dk *dataKey
	var err error
	if rs.wrapped == "" {
		dk, err = s.keys.newDataKey(tenant, id)
	} else if dk, err = s.keys.openDataKey(tenant, id, rs.wrapped); err != nil {
		err = fmt.Errorf("store: data key %s: %w", id, err)
	}
	if err != nil {
		return sub, nil, err
	}
	for _, c := range campaigns {
		sealed := rs.code(c)
		if sealed == "" || dk.fresh {
			continue
		}
		plain, err := dk.open(sealed, adOf(tenant, id, "code/"+c))
		if err != nil {
			continue // sealed under a key erased since: no live code
		}
		var code optin.PendingCode
		if err := json.Unmarshal(plain, &code); err != nil {
			return sub, nil, fmt.Errorf("store: load code %s/%s: %w", id, c, err)
		}
		e := sub.Enrollments[c]
		e.Code = &code
		sub.Enrollments[c] = e
	}
	sub.Key = &loaded{rs: rs, campaigns: campaigns, dk: dk}
	return sub, nil, nil
}

// read reads subscriber id of tenant from Redis in one round trip: its
// hash, data key and the code keys of campaigns and, when message in was
// processed before, the reply stored for it.
func (s *Store) read(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound) (*readSet, []byte, error) {
	shard := shardOf(id, s.shards)
	pipe := s.rdb.Pipeline()
	idem := pipe.Get(ctx, idempotencyKey(shard, in.Provider, in.MessageID))
	doc := pipe.HMGet(ctx, subscriberKey(shard, tenant, id), "v", "doc")
	wrapped := pipe.Get(ctx, dataKeyKey(shard, tenant, id))
	codes := make([]*redis.StringCmd, len(campaigns))
	for i, c := range campaigns {
		codes[i] = pipe.Get(ctx, codeKey(shard, tenant, id, c))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, translate("load "+id, err)
	}
	if reply, err := idem.Result(); err == nil {
		dk, err := s.existingDataKey(tenant, id, wrapped)
		if err != nil {
			return nil, nil, err
		}
		return nil, s.openIdempotent(dk, tenant, id, in, reply), nil
	}
	v, d := hashFields(doc.Val())
	sealed := make([]string, len(campaigns))
	for i := range campaigns {
		sealed[i] = codes[i].Val()
	}
	rs, err := readSetOf(id, v, d, wrapped.Val(), campaigns, sealed)
	return rs, nil, err
}

// readSetOf makes the read set of subscriber id from what Redis holds: the
// hash's version and doc ("" when none), its wrapped data key and the
// values of the code keys of campaigns ("" when none).
func readSetOf(id, v, doc, wrapped string, campaigns, sealed []string) (*readSet, error) {
	version, err := parseVersion(id, v)
	if err != nil {
		return nil, err
	}
	rs := &readSet{version: version, doc: doc, wrapped: wrapped, at: time.Now()}
	for i, c := range campaigns {
		if sealed[i] != "" {
			rs.codes = append(rs.codes, codeKeyV{c, sealed[i]})
		}
	}
	return rs, nil
}

// openIdempotent returns a stored reply in clear; empty when it was sealed
// under a data key erased since (dk is then nil or fresh).
func (s *Store) openIdempotent(dk *dataKey, tenant, id string, in optin.Inbound, stored string) []byte {
	if !strings.HasPrefix(stored, sealedPrefix) {
		return []byte(stored)
	}
	if dk == nil || dk.fresh {
		return []byte{}
	}
	plain, err := dk.open(stored, adOf(tenant, id, "idem/"+in.Provider+"/"+in.MessageID))
	if err != nil {
		return []byte{}
	}
	return plain
}

// decodeSubscriber fills sub from the "v" and "doc" fields of its hash.
func decodeSubscriber(sub *optin.Subscriber, fields []any) error {
	v, doc := hashFields(fields)
	version, err := parseVersion(sub.ID, v)
	if err != nil {
		sub.Enrollments = map[string]optin.Enrollment{}
		return err
	}
	sub.Version = version
	return decodeDoc(sub, doc)
}

// hashFields returns the "v" and "doc" fields that an HMGET of a
// subscriber's hash found ("" when none).
func hashFields(fields []any) (v, doc string) {
	if len(fields) == 2 {
		v, _ = fields[0].(string)
		doc, _ = fields[1].(string)
	}
	return v, doc
}

// parseVersion parses the "v" field of subscriber id's hash; 0 when "".
func parseVersion(id, v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("store: load %s: version: %w", id, err)
	}
	return n, nil
}

// decodeDoc fills sub.Enrollments from the "doc" field of its hash ("" =
// none).
func decodeDoc(sub *optin.Subscriber, doc string) error {
	sub.Enrollments = map[string]optin.Enrollment{}
	if doc == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(doc), &sub.Enrollments); err != nil {
		return fmt.Errorf("store: load %s v%d: %w", sub.ID, sub.Version, err)
	}
	return nil
}

// Apply writes dec, decided on prev, in one round trip and one Lua script:
// it checks that prev is what Redis holds and atomically writes the next
// state, the changed codes with their expiry, reply as the idempotency
// record of message in and the events into the outbox stream and the
// history. Everything personal (the number, codes, the reply, the texts of
// the events) is sealed under prev's data key, which the script stores
// when it is new. It returns the new version. When the message was already
// processed it writes nothing and returns the stored reply with an error
// wrapping optin.ErrDuplicate. When prev is out of date (any part of what
// it was decided on differs: version, state, data key, a code of its
// campaigns), an error wrapping optin.ErrConflict, and the subscriber
// cache then holds what Redis does. A prev that Load did not return costs
// one more round trip, to read what Redis holds; its version must match.
func (s *Store) Apply(ctx context.Context, prev optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte) (int64, []byte, error) {
	return s.ApplyQueued(ctx, prev, dec, in, reply, nil)
}

// ApplyQueued is Apply that also queues replies on the shard's outbound
// queue (OutQueueKey), in order, in the same script: the state change and
// its replies are written together or not at all, and a retried message
// queues nothing again.
func (s *Store) ApplyQueued(ctx context.Context, prev optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte, queued []optin.Reply) (int64, []byte, error) {
	op := fmt.Sprintf("apply %s v%d", prev.ID, prev.Version)
	if err := s.persistGate(ctx, op); err != nil {
		return 0, nil, err
	}
	dials := s.persistDials()
	ld, ok := prev.Key.(*loaded)
	if !ok {
		// Not returned by Load: one more round trip to read what Redis
		// holds, which must be prev's version.
		cur, stored, err := s.readID(ctx, prev.Tenant, prev.ID, nil, in)
		switch {
		case err != nil:
			return 0, nil, err
		case stored != nil:
			return 0, stored, fmt.Errorf("store: apply %s: message %s: %w", prev.ID, in.MessageID, optin.ErrDuplicate)
		case cur.Version != prev.Version:
			return 0, nil, fmt.Errorf("store: apply %s v%d (now v%d): %w", prev.ID, prev.Version, cur.Version, optin.ErrConflict)
		}
		ld = cur.Key.(*loaded)
	}
	call, err := buildApply(applyInput{
		prev: prev, dec: dec, in: in, reply: reply, queued: queued, ld: ld, seal: ld.dk,
		shards: s.shards, idemTTL: s.idemTTL, historyLen: s.historyLen,
	})
	if err != nil {
		return 0, nil, err
	}
	dk := ld.dk
	res, err := applyScript.Run(ctx, s.rdb, call.keys, call.args...).StringSlice()
	if err != nil {
		s.cache.forget(prev.Tenant, prev.ID)
		return 0, nil, translate(fmt.Sprintf("apply %s v%d", prev.ID, prev.Version), err)
	}
	if len(res) < 2 {
		return 0, nil, fmt.Errorf("store: apply %s v%d: unexpected reply %q", prev.ID, prev.Version, res)
	}
	switch res[0] {
	case "dup":
		// A concurrent copy of the message may have stored the reply
		// under a data key of its own making.
		if len(res) == 3 && res[2] != "" && res[2] != dk.wrapped {
			if cur, err := s.keys.openDataKey(prev.Tenant, prev.ID, res[2]); err == nil {
				dk = cur
			}
		}
		return 0, s.openIdempotent(dk, prev.Tenant, prev.ID, in, res[1]), fmt.Errorf("store: apply %s: message %s: %w", prev.ID, in.MessageID, optin.ErrDuplicate)
	case "stale":
		if err := s.refresh(prev.Tenant, prev.ID, ld, res[1:]); err != nil {
			return 0, nil, err
		}
		return 0, nil, fmt.Errorf("store: apply %s v%d (now v%s): %w", prev.ID, prev.Version, res[1], optin.ErrConflict)
	}
	v, err := strconv.ParseInt(res[1], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("store: apply %s v%d: version %q: %w", prev.ID, prev.Version, res[1], err)
	}
	wrapped := ""
	if call.newKey {
		wrapped = dk.wrapped
	}
	s.cache.put(prev.Tenant, prev.ID, ld.rs.after(v, call.doc, wrapped, call.written))
	if err := s.persistAfter(ctx, op, dials); err != nil {
		return 0, nil, err
	}
	return v, nil, nil
}

// refresh puts into the subscriber cache the read set that apply.lua
// found instead of ld's: version, doc, wrapped data key, then the values
// of the code keys of ld's campaigns.
func (s *Store) refresh(tenant, id string, ld *loaded, cur []string) error {
	rs, err := staleReadSet(id, ld.campaigns, cur)
	if err != nil {
		s.cache.forget(tenant, id)
		return err
	}
	s.cache.put(tenant, id, rs)
	return nil
}

// staleReadSet is the read set of apply.lua's stale reply cur (version,
// doc, wrapped data key, the values of the code keys of campaigns).
func staleReadSet(id string, campaigns, cur []string) (*readSet, error) {
	if len(cur) != 3+len(campaigns) {
		return nil, fmt.Errorf("store: apply %s: unexpected stale reply of %d values", id, len(cur))
	}
	return readSetOf(id, cur[0], cur[1], cur[2], campaigns, cur[3:])
}

// withEvidence returns the enrollments of dec.Next, each campaign whose
// state a transition of dec set holding the id of that transition's
// audit event (Enrollment.Event), as Apply assigns the ids.
func withEvidence(dec optin.Decision, in optin.Inbound) map[string]optin.Enrollment {
	next := maps.Clone(dec.Next.Enrollments)
	for i, ev := range dec.Events {
		if ev.From == ev.To {
			continue
		}
		if e, ok := next[ev.Campaign]; ok && e.State == ev.To {
			e.Event = EventID(in, ev.Campaign, i)
			next[ev.Campaign] = e
		}
	}
	return next
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
// events, newest first, their texts opened (an event sealed under a data
// key erased since comes back Erased). A subscriber never seen comes back
// with Version 0.
func (s *Store) Lookup(ctx context.Context, tenant string, phone optin.Phone) (optin.Subscriber, []optin.Event, error) {
	return s.lookupID(ctx, tenant, s.pseudonyms.Pseudonym(tenant, phone))
}

func (s *Store) lookupID(ctx context.Context, tenant, id string) (optin.Subscriber, []optin.Event, error) {
	sub := optin.Subscriber{Tenant: tenant, ID: id}
	shard := shardOf(sub.ID, s.shards)
	pipe := s.rdb.Pipeline()
	doc := pipe.HMGet(ctx, subscriberKey(shard, tenant, sub.ID), "v", "doc")
	hist := pipe.LRange(ctx, historyKey(shard, tenant, sub.ID), 0, -1)
	wrapped := pipe.Get(ctx, dataKeyKey(shard, tenant, sub.ID))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return sub, nil, translate("lookup "+sub.ID, err)
	}
	if err := decodeSubscriber(&sub, doc.Val()); err != nil {
		return sub, nil, err
	}
	dk, err := s.existingDataKey(tenant, id, wrapped)
	if err != nil {
		return sub, nil, err
	}
	events := make([]optin.Event, 0, len(hist.Val()))
	for _, raw := range hist.Val() {
		var ev optin.Event
		if err := json.Unmarshal([]byte(raw), &ev); err != nil {
			return sub, nil, fmt.Errorf("store: lookup %s: history: %w", sub.ID, err)
		}
		events = append(events, openEvent(dk, ev))
	}
	return sub, events, nil
}

// existingDataKey unwraps the data key a GET found; nil when there is none.
func (s *Store) existingDataKey(tenant, id string, get *redis.StringCmd) (*dataKey, error) {
	w, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, translate("data key "+id, err)
	}
	dk, err := s.keys.openDataKey(tenant, id, w)
	if err != nil {
		return nil, fmt.Errorf("store: data key %s: %w", id, err)
	}
	return dk, nil
}
