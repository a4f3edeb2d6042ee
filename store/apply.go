package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// applyInput is what a call of apply.lua is built from: decision dec,
// decided on prev as Load returned it (ld), for message in, with reply as
// its idempotency record and queued to go on the outbound queue.
type applyInput struct {
	prev   optin.Subscriber
	dec    optin.Decision
	in     optin.Inbound
	reply  []byte
	queued []optin.Reply
	ld     *loaded
	// seal seals the personal values under prev's data key: ld.dk, or in
	// tests a stand-in whose output can be read.
	seal       sealer
	shards     int
	idemTTL    time.Duration
	historyLen int
}

// applyCall is one call of apply.lua (its KEYS and ARGV, as the script's
// header lays them out) and what the subscriber cache keeps once the
// script answered "ok".
type applyCall struct {
	keys []string
	args []any
	// doc is the new document ("" when the state is unchanged).
	doc string
	// written holds the codes written, sealed, by campaign ("" deleted).
	written map[string]string
	// newKey says the script stores the data key: it is fresh and the
	// decision seals something under it.
	newKey bool
}

// buildApply returns the call of apply.lua that writes a.dec. It is pure:
// no Redis, no clock; only sealing draws nonces (through a.seal). Its
// output depends on nothing but a: campaigns go in the order of their ids.
func buildApply(a applyInput) (applyCall, error) {
	prev, dec, in, ld := a.prev, a.dec, a.in, a.ld
	shard := shardOf(prev.ID, a.shards)
	fail := func(what string, err error) (applyCall, error) {
		return applyCall{}, fmt.Errorf("store: apply %s v%d: %s%w", prev.ID, prev.Version, what, err)
	}
	call := applyCall{
		keys: []string{
			subscriberKey(shard, prev.Tenant, prev.ID),
			idempotencyKey(shard, in.Provider, in.MessageID),
			OutboxKey(shard),
			historyKey(shard, prev.Tenant, prev.ID),
			OutQueueKey(shard),
			dataKeyKey(shard, prev.Tenant, prev.ID),
		},
		written: map[string]string{},
	}
	// Only a decision that stores something personal needs the data key;
	// a message that meant nothing leaves none behind.
	needKey := dec.Changed || len(dec.Events) > 0 || len(a.queued) > 0 || len(dec.Replies) > 0
	phone := ""
	var audience []string // "+" or "-" per audience key appended below
	if dec.Changed {
		next := withEvidence(dec, in)
		for _, id := range slices.Sorted(maps.Keys(next)) {
			was, is := prev.Enrollments[id].State == optin.StateSubscribed, next[id].State == optin.StateSubscribed
			switch {
			case is && !was:
				audience = append(audience, "+", id)
			case was && !is:
				audience = append(audience, "-", id)
			}
		}
		b, err := json.Marshal(next)
		if err != nil {
			return fail("", err)
		}
		call.doc = string(b)
		if prev.Phone != "" {
			phone = a.seal.seal([]byte(prev.Phone.E164()), adOf(prev.Tenant, prev.ID, "phone"))
		}
	}
	stored := string(a.reply)
	if len(dec.Replies) > 0 {
		stored = a.seal.seal(a.reply, adOf(prev.Tenant, prev.ID, "idem/"+in.Provider+"/"+in.MessageID))
	}
	// The tail of ARGV, after the fixed part: the read set's code values,
	// the events, the replies, the codes to write, the audience changes.
	var tail []any
	for _, c := range ld.campaigns {
		call.keys = append(call.keys, codeKey(shard, prev.Tenant, prev.ID, c))
		tail = append(tail, ld.rs.code(c))
	}
	for i, ev := range dec.Events {
		ev.ID = EventID(in, ev.Campaign, i)
		b, err := json.Marshal(sealEvent(a.seal, ev))
		if err != nil {
			return fail("event: ", err)
		}
		tail = append(tail, b)
	}
	for _, r := range a.queued {
		b, err := sealReply(a.seal, r)
		if err != nil {
			return fail("reply: ", err)
		}
		tail = append(tail, b)
	}
	for _, id := range slices.Sorted(maps.Keys(dec.Next.Enrollments)) {
		e := dec.Next.Enrollments[id]
		if sameCode(prev.Enrollments[id].Code, e.Code) {
			continue
		}
		call.keys = append(call.keys, codeKey(shard, prev.Tenant, prev.ID, id))
		if e.Code == nil {
			call.written[id] = ""
			tail = append(tail, "", 0)
			continue
		}
		needKey = true
		b, err := json.Marshal(e.Code)
		if err != nil {
			return fail("code: ", err)
		}
		call.written[id] = a.seal.seal(b, adOf(prev.Tenant, prev.ID, "code/"+id))
		tail = append(tail, call.written[id], e.Code.ExpiresAt.UnixMilli())
	}
	keyMode := ""
	if needKey && ld.dk.fresh {
		keyMode = "new"
		call.newKey = true
	}
	member := ""
	for i := 0; i < len(audience); i += 2 {
		call.keys = append(call.keys, audienceKey(shard, prev.Tenant, audience[i+1]))
		tail = append(tail, audience[i])
		member = prev.ID
	}
	if len(audience) > 0 {
		call.keys = append(call.keys, suppressionKey(shard, prev.Tenant, prev.ID))
	}
	call.args = append([]any{prev.Version, call.doc, stored, a.idemTTL.Milliseconds(), a.historyLen,
		ld.rs.doc, ld.rs.wrapped, keyMode, ld.dk.wrapped, phone, member,
		len(ld.campaigns), len(dec.Events), len(a.queued), len(call.written), len(audience) / 2}, tail...)
	return call, nil
}
