package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

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

// apply writes dec, queueing the replies when n replies through the API.
func (s *Server) apply(ctx context.Context, n *optin.Number, from optin.Phone, sub optin.Subscriber, dec optin.Decision, in optin.Inbound, reply []byte) ([]byte, error) {
	if !s.queues(n, in) {
		_, stored, err := s.opts.Store.Apply(ctx, sub, dec, in, reply)
		return stored, err
	}
	queued := optin.RepliesFor(n, sub, from, in, dec.Replies, s.opts.Now())
	_, stored, err := s.opts.Outbound.ApplyQueued(ctx, sub, dec, in, reply, queued)
	return stored, err
}

// StatusCallbackURL returns the URL Twilio posts r's delivery statuses to:
// the status route with the tenant, the subscriber's pseudonym, the reply
// id and the message that caused it in the query, which Twilio's signature
// covers.
func StatusCallbackURL(publicURL string, r optin.Reply) string {
	q := url.Values{"t": {r.Tenant}, "s": {r.Subscriber}, "r": {r.ID}, "c": {r.CausedBy}}
	return publicURL + twilioStatusPath + "?" + q.Encode()
}

const twilioStatusPath = "/v1/webhooks/twilio/status"

// statusWord is a provider's message status: Twilio's are lower-case
// words (queued, sent, delivered, undelivered, failed, …).
var statusWord = regexp.MustCompile(`^[a-z_]{1,32}$`)

// handleTwilioStatus is Twilio's delivery status callback for replies sent
// through the API. Its signature is checked exactly as the inbound
// webhook's. It records the status on the audit trail of the message that
// caused the reply; an opt-out error code (21610) also moves the
// subscriber to unsubscribed with Twilio as the cause.
func (s *Server) handleTwilioStatus(c echo.Context) error {
	req := c.Request()
	if err := readForm(req); err != nil {
		return err
	}
	logFields(c, zap.String("provider", ProviderTwilio), zap.String("webhook", "status"))
	if !s.twilio.verify(req.URL.RequestURI(), req.PostForm, req.Header.Get(TwilioSignatureHeader)) {
		s.signatureFailure(c, ProviderTwilio)
		return errBadSignature
	}
	markAuthenticated(c)
	if s.opts.Outbound == nil {
		return errNoAPIReplies
	}
	q, form := req.URL.Query(), req.PostForm
	d := optin.Delivery{
		Tenant: q.Get("t"), Subscriber: q.Get("s"), ReplyID: q.Get("r"), CausedBy: q.Get("c"),
		Provider: ProviderTwilio, ProviderMessageID: form.Get("MessageSid"),
		Status: optin.DeliveryStatus(form.Get("MessageStatus")), ErrorCode: form.Get("ErrorCode"), At: s.opts.Now(),
	}
	switch {
	case d.Tenant == "" || d.Subscriber == "" || d.ReplyID == "":
		return badRequest{"not a status callback URL of this gateway"}
	case d.ProviderMessageID == "":
		return badRequest{"missing MessageSid"}
	case !statusWord.MatchString(string(d.Status)):
		return badRequest{"missing or malformed MessageStatus"}
	}
	if err := checkMessageID(ProviderTwilio, d.ProviderMessageID); err != nil {
		return err
	}
	logFields(c, zap.String("reply_id", d.ReplyID), zap.String("status", string(d.Status)), zap.String("error_code", d.ErrorCode))
	if err := s.recordDelivery(req.Context(), d, form.Get("From")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// recordDelivery writes delivery record d on the audit trail and, when it
// carries an opt-out code, moves the subscriber to unsubscribed on the
// sending number from, with the provider as the cause.
func (s *Server) recordDelivery(ctx context.Context, d optin.Delivery, from string) error {
	if err := s.opts.Outbound.RecordDelivery(ctx, d); err != nil {
		return err
	}
	if !optin.IsProviderOptOut(d.Provider, d.ErrorCode) {
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
	return s.opts.Outbound.Reconcile(ctx, n.Tenant, id, n.CampaignIDs(), optin.BlockedMessage(cause), func(sub optin.Subscriber) optin.Decision {
		return optin.ProviderBlocked(sub, n, cause, now)
	})
}
