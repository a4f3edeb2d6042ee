package gateway

import (
	"context"
	"fmt"
	"regexp"

	"github.com/optin-gateway/optin-gateway/optin"
)

// ReplyMode says how a number answers inbound messages.
type ReplyMode uint8

// The reply modes.
const (
	// ReplyTwiML answers in the webhook's response (the default).
	ReplyTwiML ReplyMode = iota
	// ReplyAPI answers the webhook at once with nothing and queues the
	// replies for the senders, which send them through the provider's API.
	ReplyAPI
)

// String returns the mode's name as in the configuration.
func (m ReplyMode) String() string {
	if m == ReplyAPI {
		return "api"
	}
	return "twiml"
}

// ParseReplyMode is the inverse of String; "" is ReplyTwiML.
func ParseReplyMode(s string) (ReplyMode, error) {
	switch s {
	case "", "twiml":
		return ReplyTwiML, nil
	case "api":
		return ReplyAPI, nil
	}
	return ReplyTwiML, fmt.Errorf("%w: reply mode %q: want twiml or api", optin.ErrInvalid, s)
}

// OutboundStore is what the gateway needs of persistence for replies sent
// through a provider's API.
type OutboundStore interface {
	// ApplyQueued is Store.Apply that also queues replies, in the same
	// atomic write.
	ApplyQueued(ctx context.Context, prev optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte, queued []optin.Reply) (int64, []byte, error)
	// RecordDelivery writes a delivery record into the audit outbox.
	RecordDelivery(ctx context.Context, d optin.Delivery) error
	// Reconcile applies a decision on subscriber id, once per message in.
	Reconcile(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound, decide func(optin.Subscriber) optin.Decision) error
	// SentReply returns the reply a provider's message id was sent for
	// (optin.ErrNotFound if none).
	SentReply(ctx context.Context, provider, sid string) (optin.Reply, error)
}

// replyMode returns the reply mode of number n.
func (s *Server) replyMode(n *optin.Number) ReplyMode { return s.snap().modes[n.E164] }

// apply writes dec, queueing the replies (to in.From) when n replies
// through the API.
func (s *Server) apply(ctx context.Context, n *optin.Number, sub optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte) ([]byte, error) {
	if !s.queues(n, in) {
		_, stored, err := s.opts.Store.Apply(ctx, sub, dec, in, reply)
		return stored, err
	}
	queued := optin.RepliesFor(n, sub, in, dec.Replies, s.opts.Now())
	_, stored, err := s.opts.Services.Outbound.ApplyQueued(ctx, sub, dec, in, reply, queued)
	return stored, err
}

// statusWord is a provider's message status: Twilio's are lower-case
// words (queued, sent, delivered, undelivered, failed, …).
var statusWord = regexp.MustCompile(`^[a-z_]{1,32}$`)

// recordDelivery writes delivery record d on the audit trail and, when it
// carries an opt-out code, moves the subscriber to unsubscribed on the
// sending number from, with the provider as the cause.
func (s *Server) recordDelivery(ctx context.Context, d optin.Delivery, from string) error {
	if err := s.opts.Services.Outbound.RecordDelivery(ctx, d); err != nil {
		return err
	}
	if w, ok := s.providers[d.Provider]; !ok || !w.p.OptOut(d.ErrorCode) {
		return nil
	}
	n, ok := s.snap().numbers[from]
	if !ok || n.Tenant != d.Tenant {
		return badRequest{"the sending number is not a number of this tenant"}
	}
	return s.reconcile(ctx, n, d.Subscriber, optin.Cause{Provider: d.Provider, MessageID: d.ReplyID, Signal: d.ErrorCode})
}

// reconcile records that the provider blocks subscriber id on number n.
func (s *Server) reconcile(ctx context.Context, n *optin.Number, id string, cause optin.Cause) error {
	now := s.opts.Now()
	return s.opts.Services.Outbound.Reconcile(ctx, n.Tenant, id, n.CampaignIDs(), optin.BlockedMessage(cause), func(sub optin.Subscriber) optin.Decision {
		return optin.ProviderBlocked(sub, n, cause, now)
	})
}
