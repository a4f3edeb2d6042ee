package gateway

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// Provider is one SMS provider's inbound webhook, as one file and its
// tests: it checks authenticity, normalises the request into the domain's
// inbound message and renders the replies, or says it cannot, so that they
// go on the outbound queue. Its webhook is POST /v1/webhooks/{Name}/sms.
type Provider interface {
	// Name is the provider's name in routes, idempotency keys and audit
	// records, e.g. "telnyx".
	Name() string
	// Verify checks the request's signature over its raw body and, where
	// the provider signs a timestamp, that it is within the tolerance of
	// now (replay protection). The error is a signature error (403).
	Verify(h http.Header, uri string, body []byte, now time.Time) error
	// Parse normalises the request into its inbound messages (one, or
	// several where the provider batches events). Events that are not
	// inbound messages come back with Skip set and are answered 200
	// without processing.
	Parse(h http.Header, body []byte) ([]Inbound, error)
	// Render returns the webhook's answer carrying replies; inline false
	// means the provider takes no replies in the answer (body is then the
	// answer to send with no replies) and replies are queued.
	Render(replies []string) (contentType string, body []byte, inline bool, err error)
}

// Inbound is a provider's inbound message as Parse normalises it, or a
// delivery status of a message the gateway sent.
type Inbound struct {
	Message  optin.Inbound
	From, To string // as the provider wrote them; normalised by the handler
	Skip     bool   // neither a message nor a status: answer 200, do nothing
	// Status, when set, makes this a delivery status event rather than
	// an inbound message.
	Status *Status
}

// Status is a provider's delivery status of a message it sent for us.
type Status struct {
	ProviderMessageID string
	Status            optin.DeliveryStatus
	ErrorCode         string // the provider's error code, if any
}

// DefaultTimestampTolerance is how far a provider's signed timestamp may
// be from the gateway's clock: Telnyx's documented 5 minutes.
const DefaultTimestampTolerance = 5 * time.Minute

// signatureError is a failed authenticity check: 403, with its message.
type signatureError struct{ msg string }

func (e signatureError) Error() string        { return e.msg }
func (e signatureError) Is(target error) bool { return target == errBadSignature }

// handleProviderInbound is the inbound webhook of provider p: verify,
// parse, run the message through the state machine, answer with the
// replies or queue them. A message id seen before gets the first answer
// again and changes nothing.
func (s *Server) handleProviderInbound(p Provider) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		body, err := io.ReadAll(req.Body)
		if err != nil {
			var he *echo.HTTPError
			if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
				return errTooLarge
			}
			return badRequest{"unreadable body"}
		}
		logFields(c, zap.String("provider", p.Name()))
		if err := p.Verify(req.Header, req.URL.RequestURI(), body, s.opts.Now()); err != nil {
			if errors.Is(err, errBadSignature) {
				s.signatureFailure(c, p.Name())
			}
			return err
		}
		markAuthenticated(c)
		msgs, err := p.Parse(req.Header, body)
		if err != nil {
			return err
		}
		var reply []byte
		for _, msg := range msgs {
			if msg.Skip {
				logFields(c, zap.String("outcome", "skipped"))
				continue
			}
			if msg.Status != nil {
				if err := s.providerStatus(c, p, *msg.Status); err != nil {
					return err
				}
				continue
			}
			if reply, err = s.processProvider(c, p, msg); err != nil {
				return err
			}
		}
		ctype, empty, _, err := p.Render(nil)
		if err != nil {
			return err
		}
		if reply == nil {
			reply = empty
		}
		return c.Blob(http.StatusOK, ctype, reply)
	}
}

// processProvider runs one inbound message of provider p and returns the
// webhook's answer for it.
func (s *Server) processProvider(c echo.Context, p Provider, msg Inbound) ([]byte, error) {
	in := msg.Message
	in.Provider = p.Name()
	switch {
	case in.MessageID == "":
		return nil, badRequest{"missing message id"}
	case msg.From == "":
		return nil, badRequest{"missing sender"}
	case msg.To == "":
		return nil, badRequest{"missing recipient"}
	}
	if err := checkMessageID(p.Name(), in.MessageID); err != nil {
		return nil, err
	}
	logFields(c, zap.String("message_id", in.MessageID))
	from, err := phone.Parse(msg.From)
	if err != nil {
		return nil, badRequest{"from: " + err.Error()}
	}
	to, err := phone.ParseBusiness(msg.To)
	if err != nil {
		return nil, badRequest{"to: " + err.Error()}
	}
	logFields(c, zap.Stringer("from", from), zap.Stringer("to", to))
	num, ok := s.snap().numbers[to.E164()]
	if !ok {
		return nil, unknownNumber{"recipient"}
	}
	render := func(replies []string) ([]byte, error) {
		_, b, _, err := p.Render(replies)
		return b, err
	}
	reply, outcome, err := s.processOrSpool(c.Request().Context(), num, from, in, render)
	if err != nil {
		return nil, err
	}
	logFields(c, zap.String("tenant", num.Tenant), zap.String("outcome", outcome))
	return reply, nil
}

// queues reports whether replies to message in on number n go on the
// outbound queue: the number replies through the API, or the provider
// takes no replies in its webhook's answer.
func (s *Server) queues(n *optin.Number, in optin.Inbound) bool {
	if s.replyMode(n) == ReplyAPI {
		return true
	}
	p, ok := s.providers[in.Provider]
	if !ok {
		return false
	}
	_, _, inline, _ := p.Render(nil)
	return !inline
}

// providerStatus records a provider's delivery status of a message sent
// for a queued reply, found by the provider's message id. A status for a
// message the gateway does not know (not sent by it, or too old) is
// answered 200 and dropped, so that the provider stops retrying it.
func (s *Server) providerStatus(c echo.Context, p Provider, st Status) error {
	if s.opts.Outbound == nil {
		return nil
	}
	if !statusWord.MatchString(string(st.Status)) || st.ProviderMessageID == "" {
		return badRequest{"malformed status event"}
	}
	if err := checkMessageID(p.Name(), st.ProviderMessageID); err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := s.opts.Outbound.SentReply(ctx, p.Name(), st.ProviderMessageID)
	if errors.Is(err, optin.ErrNotFound) {
		logFields(c, zap.String("outcome", "unknown_message_status"))
		return nil
	}
	if err != nil {
		return err
	}
	logFields(c, zap.String("reply_id", r.ID), zap.String("status", string(st.Status)), zap.String("error_code", st.ErrorCode))
	return s.recordDelivery(ctx, optin.Delivery{
		Tenant: r.Tenant, Subscriber: r.Subscriber, ReplyID: r.ID, CausedBy: r.CausedBy, Provider: p.Name(),
		ProviderMessageID: st.ProviderMessageID, Status: st.Status, ErrorCode: st.ErrorCode, At: s.opts.Now(),
	}, r.From)
}
