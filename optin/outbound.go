package optin

import (
	"fmt"
	"time"
)

// Reply is one text queued for sending through a provider's API, when a
// number replies in "api" mode rather than in the webhook's response.
type Reply struct {
	// ID is stable: the same inbound message always yields the same reply
	// ids (ReplyID), so a retried webhook queues nothing twice and a sender
	// can tell whether it sent a reply already.
	ID         string    `json:"id"`
	Tenant     string    `json:"tenant"`
	Subscriber string    `json:"subscriber"` // pseudonym
	From       string    `json:"from"`       // the business number that sends
	To         Phone     `json:"to"`         // the subscriber's number
	Body       string    `json:"body"`
	Provider   string    `json:"provider"`  // who sends it, e.g. "twilio"
	CausedBy   string    `json:"caused_by"` // the inbound message id
	QueuedAt   time.Time `json:"queued_at"`
}

// ReplyID returns the stable id of the i-th reply to message in.
func ReplyID(in Inbound, i int) string {
	return fmt.Sprintf("%s:%s:r%d", in.Provider, in.MessageID, i)
}

// RepliesFor returns the replies of decision dec to message in from
// subscriber sub (at in.From) on number n, to be queued: one per text, in
// order.
func RepliesFor(n *Number, sub Subscriber, in Inbound, texts []string, now time.Time) []Reply {
	out := make([]Reply, len(texts))
	for i, t := range texts {
		out[i] = Reply{
			ID: ReplyID(in, i), Tenant: n.Tenant, Subscriber: sub.ID, From: n.E164, To: in.From,
			Body: t, Provider: in.Provider, CausedBy: in.MessageID, QueuedAt: now,
		}
	}
	return out
}

// DeliveryStatus is a provider's word on a sent reply.
type DeliveryStatus string

// The statuses a delivery record carries (Twilio's MessageStatus values
// that matter for the audit trail, plus our own "dead" for a reply given
// up on).
const (
	DeliveryQueued      DeliveryStatus = "queued"
	DeliverySent        DeliveryStatus = "sent"
	DeliveryDelivered   DeliveryStatus = "delivered"
	DeliveryUndelivered DeliveryStatus = "undelivered"
	DeliveryFailed      DeliveryStatus = "failed"
	DeliveryDead        DeliveryStatus = "dead"
)

// Delivery is one audit record of what happened to a queued reply: sent
// (with the provider's message id), a status callback, or given up on. It
// names the inbound message that caused the reply, so the audit trail of
// that message shows what became of its answer.
type Delivery struct {
	Kind              string         `json:"kind"` // always "delivery"
	Tenant            string         `json:"tenant"`
	Subscriber        string         `json:"subscriber"`
	ReplyID           string         `json:"reply_id"`
	CausedBy          string         `json:"caused_by"`
	Provider          string         `json:"provider"`
	ProviderMessageID string         `json:"provider_message_id,omitempty"`
	Status            DeliveryStatus `json:"status"`
	ErrorCode         string         `json:"error_code,omitempty"`
	At                time.Time      `json:"at"`
}
