package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// ProviderTwilio names Twilio in inbound messages and audit records.
const ProviderTwilio = twilio.Name

// webhook is a configured provider with its Info, read once.
type webhook struct {
	p    provider.Provider
	info provider.Info
}

// providerRequest reads the webhook request of w: its form (parsed once)
// or its raw body.
func (s *Server) providerRequest(c echo.Context, w *webhook) (provider.Request, error) {
	req := c.Request()
	r := provider.Request{Header: req.Header, URI: req.URL.RequestURI(), Now: s.opts.Now()}
	if w.info.Form {
		if err := readForm(req); err != nil {
			return r, err
		}
		r.Form = req.PostForm
		return r, nil
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge {
			return r, errTooLarge
		}
		return r, badRequest{"unreadable body"}
	}
	r.Body = body
	return r, nil
}

// verifyProvider checks the authenticity of request r of w; a failure is
// counted, recorded and answered 403.
func (s *Server) verifyProvider(c echo.Context, w *webhook, r provider.Request) error {
	err := w.p.Verify(r)
	if err == nil {
		markAuthenticated(c)
		return nil
	}
	var se provider.SignatureError
	if errors.As(err, &se) {
		s.signatureFailure(c, w.info.Name)
		return signatureError{string(se)}
	}
	return providerError(err)
}

// providerError maps a provider's MalformedError to 400.
func providerError(err error) error {
	var me provider.MalformedError
	if errors.As(err, &me) {
		return badRequest{string(me)}
	}
	return err
}

// signatureError is a failed authenticity check: 403, with its message.
type signatureError struct{ msg string }

func (e signatureError) Error() string        { return e.msg }
func (e signatureError) Is(target error) bool { return target == errBadSignature }

// handleProviderInbound is the inbound webhook of a provider, the one
// pipeline of every provider: verify, parse, run each message through the
// state machine, answer with the replies or queue them. A message id seen
// before gets the first answer again and changes nothing.
func (s *Server) handleProviderInbound(w *webhook) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := s.providerRequest(c, w)
		if err != nil {
			return err
		}
		logFields(c, zap.String("provider", w.info.Name))
		if err := s.verifyProvider(c, w, r); err != nil {
			return err
		}
		msgs, err := w.p.Parse(r)
		if err != nil {
			return providerError(err)
		}
		var reply []byte
		for i := range msgs.Len() {
			msg := msgs.At(i)
			if msg.Skip {
				logFields(c, zap.String("outcome", "skipped"))
				continue
			}
			if msg.Status != nil {
				if err := s.providerStatus(c, w, *msg.Status); err != nil {
					return err
				}
				continue
			}
			if reply, err = s.processProvider(c, w, msg); err != nil {
				return err
			}
		}
		if reply == nil {
			if reply, err = w.p.Render(nil); err != nil {
				return err
			}
		}
		return c.Blob(http.StatusOK, w.info.ContentType, reply)
	}
}

// processProvider runs one inbound message of w's provider and returns
// the webhook's answer for it.
func (s *Server) processProvider(c echo.Context, w *webhook, msg *provider.Inbound) ([]byte, error) {
	in := msg.Message
	in.Provider = w.info.Name
	switch {
	case in.MessageID == "":
		return nil, badRequest{"missing " + w.info.IDField}
	case msg.From == "":
		return nil, badRequest{"missing " + w.info.FromField}
	case msg.To == "":
		return nil, badRequest{"missing " + w.info.ToField}
	}
	if err := checkMessageID(&w.info, in.MessageID); err != nil {
		return nil, err
	}
	logFields(c, zap.String("message_id", in.MessageID))
	from, err := s.phones.parse(msg.From)
	if err != nil {
		return nil, badRequest{w.info.FromField + ": " + err.Error()}
	}
	to, err := s.phones.parseBusiness(msg.To)
	if err != nil {
		return nil, badRequest{w.info.ToField + ": " + err.Error()}
	}
	logFields(c, zap.Stringer("from", from), zap.Stringer("to", to))
	num, ok := s.snap().numbers[to.E164()]
	if !ok {
		return nil, unknownNumber{w.info.ToField}
	}
	in.From, in.To = from, to
	reply, outcome, err := s.processOrSpool(c.Request().Context(), num, in, w.p.Render)
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
	w, ok := s.providers[in.Provider]
	return ok && !w.info.Inline
}

// providerStatus records a provider's delivery status of a message sent
// for a queued reply, found by the provider's message id. A status for a
// message the gateway does not know (not sent by it, or too old) is
// answered 200 and dropped, so that the provider stops retrying it.
func (s *Server) providerStatus(c echo.Context, w *webhook, st provider.Status) error {
	if s.opts.Services.Outbound == nil {
		return nil
	}
	if !statusWord.MatchString(string(st.Status)) || st.ProviderMessageID == "" {
		return badRequest{"malformed status event"}
	}
	if err := checkMessageID(&w.info, st.ProviderMessageID); err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := s.opts.Services.Outbound.SentReply(ctx, w.info.Name, st.ProviderMessageID)
	if errors.Is(err, optin.ErrNotFound) {
		logFields(c, zap.String("outcome", "unknown_message_status"))
		return nil
	}
	if err != nil {
		return err
	}
	logFields(c, zap.String("reply_id", r.ID), zap.String("status", string(st.Status)), zap.String("error_code", st.ErrorCode))
	return s.recordDelivery(ctx, optin.Delivery{
		Tenant: r.Tenant, Subscriber: r.Subscriber, ReplyID: r.ID, CausedBy: r.CausedBy, Provider: w.info.Name,
		ProviderMessageID: st.ProviderMessageID, Status: st.Status, ErrorCode: st.ErrorCode, At: s.opts.Now(),
	}, r.From)
}

// StatusCallbackURL returns the URL a provider with status callbacks
// (provider.StatusProvider: Twilio) posts r's delivery statuses to: the
// provider's status route with the tenant, the subscriber's pseudonym,
// the reply id and the message that caused it in the query, which
// Twilio's signature covers.
func StatusCallbackURL(publicURL string, r optin.Reply) string {
	q := url.Values{"t": {r.Tenant}, "s": {r.Subscriber}, "r": {r.ID}, "c": {r.CausedBy}}
	return publicURL + statusPath(r.Provider) + "?" + q.Encode()
}

// inboundPath and statusPath are the routes of a provider's webhooks.
func inboundPath(name string) string { return "/v1/webhooks/" + name + "/sms" }
func statusPath(name string) string  { return "/v1/webhooks/" + name + "/status" }

// handleProviderStatus is the delivery status callback of a provider
// that posts statuses to a URL given with each send (Twilio), for replies
// sent through the API. Its authenticity is checked exactly as the
// inbound webhook's. It records the status on the audit trail of the
// message that caused the reply; an opt-out error code (Twilio's 21610)
// also moves the subscriber to unsubscribed with the provider as the
// cause.
func (s *Server) handleProviderStatus(w *webhook, sp provider.StatusProvider) echo.HandlerFunc {
	return func(c echo.Context) error {
		r, err := s.providerRequest(c, w)
		if err != nil {
			return err
		}
		logFields(c, zap.String("provider", w.info.Name), zap.String("webhook", "status"))
		if err := s.verifyProvider(c, w, r); err != nil {
			return err
		}
		if s.opts.Services.Outbound == nil {
			return errNoAPIReplies
		}
		st, err := sp.ParseStatus(r)
		if err != nil {
			return providerError(err)
		}
		q := c.Request().URL.Query()
		d := optin.Delivery{
			Tenant: q.Get("t"), Subscriber: q.Get("s"), ReplyID: q.Get("r"), CausedBy: q.Get("c"),
			Provider: w.info.Name, ProviderMessageID: st.ProviderMessageID,
			Status: st.Status, ErrorCode: st.ErrorCode, At: s.opts.Now(),
		}
		switch {
		case d.Tenant == "" || d.Subscriber == "" || d.ReplyID == "":
			return badRequest{"not a status callback URL of this gateway"}
		case d.ProviderMessageID == "":
			return badRequest{"missing " + w.info.IDField}
		case !statusWord.MatchString(string(d.Status)):
			return badRequest{"missing or malformed status"}
		}
		if err := checkMessageID(&w.info, d.ProviderMessageID); err != nil {
			return err
		}
		logFields(c, zap.String("reply_id", d.ReplyID), zap.String("status", string(d.Status)), zap.String("error_code", d.ErrorCode))
		if err := s.recordDelivery(c.Request().Context(), d, st.From); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
