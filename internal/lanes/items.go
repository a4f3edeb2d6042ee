package lanes

import (
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// The items the store's queues hold, as the workers take them: they live
// here, beside the loop that delivers them, so that the workers depend on
// the kit and the store implements their queues.

// QueuedReply is a reply taken from a shard's outbound queue.
type QueuedReply struct {
	Shard    int
	StreamID string // the queue entry's id, for acknowledging it
	Reply    optin.Reply
	Raw      string // the entry as stored (sealed), for the dead letters
}

// EntryID is r's queue entry id.
func (r QueuedReply) EntryID() string { return r.StreamID }

// Lane is r's subscriber: one lane per subscriber.
func (r QueuedReply) Lane() string { return r.Reply.Subscriber }

// LogField names r by its reply id.
func (r QueuedReply) LogField() zap.Field { return zap.String("reply_id", r.Reply.ID) }

// SendState is where a reply stands in its send record.
type SendState string

// The send states. A reply with no record was never tried.
const (
	SendNone   SendState = ""
	SendIntent SendState = "intent" // a send started; its outcome is unknown until resolved
	SendSent   SendState = "sent"
	SendDead   SendState = "dead"
)

// SendRecord is the gateway's own idempotency record of one reply.
type SendRecord struct {
	State SendState
	At    time.Time // when the last send started
	Tries int       // sends started
	SID   string    // the provider's message id, once sent
}

// QueuedEvent is a delivery taken from a shard's event delivery stream.
type QueuedEvent struct {
	Shard    int
	StreamID string // the entry's id, for acknowledging it
	Endpoint string // the endpoint's id, of Event.Tenant
	Type     optin.EventType
	Event    optin.Event
	Tries    int    // failed tries so far
	Raw      string // the entry as stored, for the dead letters
}

// EntryID is e's stream entry id.
func (e QueuedEvent) EntryID() string { return e.StreamID }

// Lane is e's endpoint and subscriber: one lane per endpoint and
// subscriber.
func (e QueuedEvent) Lane() string { return e.Endpoint + "\x00" + e.Event.Subscriber }

// LogField names e by its event id.
func (e QueuedEvent) LogField() zap.Field { return zap.String("event_id", e.Event.ID) }

// WebhookTarget is an endpoint as a delivery worker needs it: where to
// post and the secret, in clear, to sign with.
type WebhookTarget struct {
	URL    string
	Secret []byte
}
