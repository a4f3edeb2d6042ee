package store

import (
	"fmt"
	"strconv"
	"strings"
)

// Every Redis key name is built in this file and nowhere else.
//
// All keys that one inbound message touches carry the hash tag of the
// subscriber's shard, "{sNN}", so they live in one hash slot and the same
// Lua script runs on Redis Cluster. The shard also names the outbox stream
// that the archiver drains.

// shardTag returns the hash tag of shard n, e.g. "{s07}".
func shardTag(n int) string { return fmt.Sprintf("{s%02d}", n) }

// subscriberKey holds a subscriber's state: a hash with fields "v"
// (version) and "doc" (JSON of the enrollments).
func subscriberKey(shard int, tenant, id string) string {
	return "og:" + shardTag(shard) + ":sub:" + tenant + ":" + id
}

// codeKey holds the live confirmation code of one campaign; it expires with
// the code.
func codeKey(shard int, tenant, id, campaign string) string {
	return "og:" + shardTag(shard) + ":code:" + tenant + ":" + id + ":" + campaign
}

// dataKeyKey holds a subscriber's data key, wrapped under a master key's
// KEK and tagged with its id ("k1.<base64>"). Deleting it crypto-shreds
// everything sealed under it.
func dataKeyKey(shard int, tenant, id string) string {
	return "og:" + shardTag(shard) + ":dk:" + tenant + ":" + id
}

// dataKeyPattern matches every data key, for SCAN.
func dataKeyPattern() string { return "og:{s*}:dk:*" }

// parseDataKeyKey returns the tenant and pseudonym of a data key's name.
func parseDataKeyKey(key string) (tenant, id string, ok bool) {
	_, rest, ok := strings.Cut(key, ":dk:")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}

// historyKey holds the latest audit events of a subscriber, newest first.
func historyKey(shard int, tenant, id string) string {
	return "og:" + shardTag(shard) + ":hist:" + tenant + ":" + id
}

// idempotencyKey records the reply given to one provider message.
func idempotencyKey(shard int, provider, messageID string) string {
	return "og:" + shardTag(shard) + ":idem:" + provider + ":" + messageID
}

// OutboxKey is the audit outbox stream of shard n.
func OutboxKey(shard int) string { return "og:" + shardTag(shard) + ":outbox" }

// shardOf returns the shard of a pseudonym: its first 16 bits modulo the
// number of shards. A malformed pseudonym lands in shard 0.
func shardOf(id string, shards int) int {
	if len(id) < 4 {
		return 0
	}
	v, err := strconv.ParseUint(id[:4], 16, 16)
	if err != nil {
		return 0
	}
	return int(v) % shards
}

// The archiver's keys share the hash tag "{audit}", so its lease scripts
// run on Redis Cluster too.

// leaseKey holds the fencing token of the archiver that holds the lease;
// it expires unless renewed.
func leaseKey() string { return "og:{audit}:lease" }

// fenceCounterKey is the counter the fencing tokens are drawn from.
func fenceCounterKey() string { return "og:{audit}:fence" }

// auditHeadKey holds "seq hash" of the last record the archiver fsync'd.
func auditHeadKey() string { return "og:{audit}:head" }

// archiveHealthKey is the hash where the archiver records its state
// (healthy, reason, since, write_errors) for /readyz and /metrics.
func archiveHealthKey() string { return "og:{audit}:health" }

// outboxFenceKey holds the highest fencing token that deleted from the
// outbox stream of shard n; a lower token may no longer delete from it.
func outboxFenceKey(shard int) string { return "og:" + shardTag(shard) + ":outbox:fence" }

// subscriberPattern matches every subscriber key, for SCAN.
func subscriberPattern() string { return "og:{s*}:sub:*" }

// Outbound queue keys. A reply is queued in its subscriber's shard, so the
// apply script queues it in the same round trip as the state change.

// OutQueueKey is the outbound reply queue stream of shard n, read by the
// senders' consumer group SenderGroup.
func OutQueueKey(shard int) string { return "og:" + shardTag(shard) + ":outq" }

// OutDeadKey is the dead-letter stream of shard n: replies given up on.
func OutDeadKey(shard int) string { return "og:" + shardTag(shard) + ":outdead" }

// outRecordKey is the send record of one reply: a hash with "state"
// (intent, sent, dead), "at" (Unix ms of the last intent), "tries" and
// "sid" (the provider's message id once sent).
func outRecordKey(shard int, replyID string) string {
	return "og:" + shardTag(shard) + ":outrec:" + replyID
}

// outLeaseKey names the sender that owns shard n's queue for now.
func outLeaseKey(shard int) string { return "og:" + shardTag(shard) + ":outlease" }

// rateKey holds the rate limiter's state for one sending number. It has a
// hash tag of its own: every sender of every instance shares it.
func rateKey(from string) string { return "og:{rate:" + from + "}" }

// sentIndexKey leads from a provider's message id to the reply it was sent
// for, so that a provider's delivery event that names only its own id
// (Telnyx, Bandwidth) finds the audit trail it belongs on. It has a hash
// tag of its own: the event does not say which shard.
func sentIndexKey(provider, sid string) string { return "og:{sent:" + provider + ":" + sid + "}" }

// Configuration keys share the hash tag "{cfg}": one script writes a
// document, bumps the config version and appends the change to the config
// outbox stream, which the archiver drains like the shards' streams.

// cfgTenantsKey is a hash of every tenant's document by id.
func cfgTenantsKey() string { return "og:{cfg}:tenants" }

// cfgCampaignsKey is a hash of a tenant's campaign documents by id.
func cfgCampaignsKey(tenant string) string { return "og:{cfg}:campaigns:" + tenant }

// cfgNumbersKey is a hash of a tenant's number documents by E.164.
func cfgNumbersKey(tenant string) string { return "og:{cfg}:numbers:" + tenant }

// cfgTokensKey is a hash of every API token's document (with the SHA-256
// of its secret, never the token) by token id.
func cfgTokensKey() string { return "og:{cfg}:tokens" }

// cfgVersionKey counts the changes to the configuration; gateways poll it.
func cfgVersionKey() string { return "og:{cfg}:version" }

// CfgOutboxKey is the outbox stream of configuration changes and access
// entries.
func CfgOutboxKey() string { return "og:{cfg}:outbox" }

// accessKey is the stream of a tenant's access entries, newest last.
func accessKey(tenant string) string { return "og:{cfg}:access:" + tenant }

// outboxStream returns the outbox stream the archiver reads as stream n:
// the shards' streams, then (n == shards) the config outbox.
func outboxStream(n, shards int) string {
	if n == shards {
		return CfgOutboxKey()
	}
	return OutboxKey(n)
}

// outboxStreamFenceKey is outboxFenceKey of outboxStream(n, shards).
func outboxStreamFenceKey(n, shards int) string {
	if n == shards {
		return "og:{cfg}:outbox:fence"
	}
	return outboxFenceKey(n)
}

// Event webhook keys (README "Event webhooks"). Endpoints are
// configuration ({cfg}); the delivery queue, its dead letters, try counts
// and lease live in the shard of the subscriber whose events they carry,
// so the archiver's fenced delete script enqueues an event in the same
// slot, and the same script, as it deletes it from the outbox.

// cfgWebhooksKey is a hash of every tenant's webhook endpoint documents,
// by "<tenant>/<id>".
func cfgWebhooksKey() string { return "og:{cfg}:webhooks" }

// webhookField is the field of an endpoint in cfgWebhooksKey.
func webhookField(tenant, id string) string { return tenant + "/" + id }

// WebhookQueueKey is the event delivery stream of shard n, read by the
// consumer group WebhookGroup: one entry per event and endpoint.
func WebhookQueueKey(shard int) string { return "og:" + shardTag(shard) + ":whq" }

// WebhookDeadKey is the dead-letter stream of shard n: deliveries given
// up on after the last try.
func WebhookDeadKey(shard int) string { return "og:" + shardTag(shard) + ":whdead" }

// webhookTriesKey is a hash of the failed tries of shard n's deliveries,
// by queue entry id; a delivery's field goes when it is done.
func webhookTriesKey(shard int) string { return "og:" + shardTag(shard) + ":whtries" }

// webhookLeaseKey names the worker that delivers shard n's events for now.
func webhookLeaseKey(shard int) string { return "og:" + shardTag(shard) + ":whlease" }

// audienceKey is the audience of one campaign of tenant in shard n: a
// sorted set of the pseudonyms subscribed to it, all of score 0, so that
// they come back in byte order and an export resumes exactly after the
// last pseudonym it gave (ZRANGE … BYLEX). The apply script keeps it
// (ZADD on a change into subscribed, ZREM on a change out of it), erasure
// and Rebuild too.
func audienceKey(shard int, tenant, campaign string) string {
	return "og:" + shardTag(shard) + ":aud:" + tenant + ":" + campaign
}

// suppressionKey is what is kept of an erased subscriber: a hash with
// "at" (RFC 3339) and "event" (the id of the erased event), under the
// pseudonym only. The apply script deletes it when the person subscribes
// again.
func suppressionKey(shard int, tenant, id string) string {
	return "og:" + shardTag(shard) + ":supp:" + tenant + ":" + id
}

// consoleSessionKey holds one support console session (store/console.go):
// a hash named by the SHA-256 (hex) of the session id in the cookie, so
// that a copy of Redis holds no usable cookie. It expires when idle.
func consoleSessionKey(idHash string) string { return "og:{console}:sess:" + idHash }

// consoleTokenKey is the set of the session hashes a token opened, so
// that revoking the token ends them. It shares the sessions' hash tag.
func consoleTokenKey(tokenID string) string { return "og:{console}:tok:" + tokenID }
