// Package provider is how an SMS provider plugs into the gateway: the
// Provider interface (its inbound webhook: signature check, parsing into
// the domain's message, the webhook's answer, its opt-out error codes),
// the Sender interface (its API for outbound messages) and the
// Definition a provider package registers, with its Settings. Each
// provider is one package under provider/ (provider/twilio,
// provider/telnyx, …), listed once in provider/all. docs/providers.md
// says how to add one.
//
// Nothing here knows HTTP servers: the gateway reads the request and
// hands the provider a Request; errors come back as SignatureError (403)
// or MalformedError (400).
package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Provider is one SMS provider's inbound webhook, served at
// POST /v1/webhooks/{Info().Name}/sms. Implementations are safe for
// concurrent use.
type Provider interface {
	// Info describes the webhook; it returns the same value every time.
	Info() Info
	// Verify checks the request's authenticity (its signature over the
	// URL or body, or its credentials) and, where the provider signs a
	// timestamp, that it is within the tolerance of r.Now (replay
	// protection). The error is a SignatureError or a MalformedError.
	Verify(r Request) error
	// Parse normalises a verified request into its inbound messages: one,
	// or several where the provider batches events. Events that are not
	// inbound messages come back with Skip set and are answered without
	// processing. The error is a MalformedError.
	Parse(r Request) (Messages, error)
	// Render returns the webhook's answer carrying replies (Info.Inline),
	// or, for a provider that takes no replies in its answer, the answer
	// with none.
	Render(replies []string) ([]byte, error)
	// OptOut reports whether the provider's error code (of a refused
	// send or a delivery status) means the person opted out at the
	// provider (Twilio's 21610). The provider's sender reads its refusals
	// the same way (SendError.OptOut).
	OptOut(code string) bool
}

// StatusProvider is a Provider that posts each sent message's delivery
// statuses to a URL given with the send (Twilio's StatusCallback), served
// at POST /v1/webhooks/{name}/status. Providers whose statuses arrive on
// the inbound webhook return them from Parse instead.
type StatusProvider interface {
	Provider
	// ParseStatus reads a verified status callback.
	ParseStatus(r Request) (Status, error)
}

// Info describes a provider's webhook to the gateway.
type Info struct {
	// Name names the provider in routes, idempotency keys, audit records
	// and optin.Reply.Provider: lower-case letters, e.g. "telnyx".
	Name string
	// Form says the webhook posts a form: the gateway then parses the
	// POST body once into Request.Form (and leaves Request.Body nil).
	Form bool
	// Inline says the provider takes replies in the webhook's answer
	// (TwiML); otherwise replies are queued and sent through its API.
	Inline bool
	// ContentType is the content type of Render's answer.
	ContentType string
	// The names the provider gives the message id, the sender and the
	// recipient, for error messages ("MessageSid", "From", "To").
	IDField, FromField, ToField string
	// MessageID is the shape of the provider's message ids, checked
	// before an id is logged, stored or used as an idempotency key, and
	// MessageIDDesc says it in words for the 400's message; nil: 1 to 64
	// letters, digits and ._:-.
	MessageID     *regexp.Regexp
	MessageIDDesc string
}

// Request is an inbound webhook request as the gateway received it.
type Request struct {
	Header http.Header
	// URI is the request's path and query as received; the public URL
	// it was sent to is the configured one (Env.PublicURL), never the
	// Host header.
	URI string
	// Body is the raw body, for providers without Info.Form.
	Body []byte
	// Form is the POST body's parameters, for providers with Info.Form.
	Form url.Values
	Now  time.Time
}

// Inbound is a provider's inbound message as Parse normalises it, or a
// delivery status of a message the gateway sent.
type Inbound struct {
	Message  optin.Inbound // Provider is filled in by the gateway
	From, To string        // as the provider wrote them; normalised by the gateway
	Skip     bool          // neither a message nor a status: answer, do nothing
	// Status, when set, makes this a delivery status event rather than
	// an inbound message.
	Status *Status
}

// Status is a provider's delivery status of a message it sent for us.
type Status struct {
	ProviderMessageID string
	Status            optin.DeliveryStatus
	ErrorCode         string // the provider's error code, if any
	From              string // the sending number, where the status says it
}

// Messages are the inbound messages of one webhook request: One, or a
// batch. A single message is carried by value, so that parsing the
// common case allocates nothing.
type Messages struct {
	one   Inbound
	batch []Inbound
	multi bool
}

// One returns the messages of a request that carries in alone.
func One(in Inbound) Messages { return Messages{one: in} }

// Batch returns the messages of a request that carries ins.
func Batch(ins []Inbound) Messages { return Messages{batch: ins, multi: true} }

// Len returns how many messages there are.
func (m *Messages) Len() int {
	if m.multi {
		return len(m.batch)
	}
	return 1
}

// At returns the i-th message.
func (m *Messages) At(i int) *Inbound {
	if m.multi {
		return &m.batch[i]
	}
	return &m.one
}

// SignatureError is a failed authenticity check: the gateway answers 403
// with its text, counts it and records a security event.
type SignatureError string

func (e SignatureError) Error() string { return string(e) }

// MalformedError is a request that cannot be read: the gateway answers
// 400 with its text, which must not quote the request.
type MalformedError string

func (e MalformedError) Error() string { return string(e) }

// DefaultTimestampTolerance is how far a provider's signed timestamp may
// be from the gateway's clock: Telnyx's documented 5 minutes.
const DefaultTimestampTolerance = 5 * time.Minute

// Sender is one provider's API for outbound messages. Implementations
// are safe for concurrent use.
type Sender interface {
	// Name is the provider's name as in optin.Reply.Provider.
	Name() string
	// Send sends r and returns the provider's message id. statusCallback,
	// when not empty, is where the provider posts delivery statuses. A
	// refusal by the provider is a *SendError; any other error means the
	// outcome is unknown (the message may have been accepted).
	Send(ctx context.Context, r optin.Reply, statusCallback string) (string, error)
	// Find looks for r among the messages the provider accepted since
	// since, and returns its message id, or "" when there is none. It
	// resolves a send whose outcome is unknown.
	Find(ctx context.Context, r optin.Reply, since time.Time) (string, error)
}

// SendError is a provider's refusal of a message: an HTTP error status
// with the provider's error code.
type SendError struct {
	Status int // HTTP status
	Code   int // provider error code, e.g. Twilio's 21610
	// Message is the provider's own words. It may quote the recipient's
	// number (Twilio's 21211 does), so Error leaves it out and it is
	// never logged or stored.
	Message string
	// OptOut says the code means the person opted out at the provider
	// (Twilio's 21610): the sender sets it by its provider's own reading
	// of its codes, and the outbound worker then ends the person's
	// consent (optin.ProviderBlocked).
	OptOut bool
}

func (e *SendError) Error() string {
	return fmt.Sprintf("provider refused: status %d, code %d", e.Status, e.Code)
}

// Temporary reports whether the send may succeed later: rate limited
// (429) or a server error (5xx).
func (e *SendError) Temporary() bool { return e.Status == 429 || e.Status >= 500 }

// DefaultSendTimeout bounds one call to a provider's API where the
// sender is given no HTTP client.
const DefaultSendTimeout = 10 * time.Second

// maxAnswerBytes bounds how much of a provider's answer is read.
const maxAnswerBytes = 1 << 20

// Post sends req with hc and returns the answer's status and body (at
// most 1 MiB). Transport errors come back through TransportError.
func Post(hc *http.Client, req *http.Request, provider string) (int, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, TransportError(provider, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, TransportError(provider, err)
	}
	return resp.StatusCode, raw, nil
}

// TransportError wraps a failed exchange with provider's API. A
// *url.Error names the URL, whose query may hold the recipient's number
// (Twilio's lookup does): only its operation and cause are kept, since
// the error is logged.
func TransportError(provider string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("outbound: %s: %s: %w", provider, ue.Op, ue.Err)
	}
	return fmt.Errorf("outbound: %s: %w", provider, err)
}
