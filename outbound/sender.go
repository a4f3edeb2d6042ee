// Package outbound sends queued replies through a provider's API: senders
// on any gateway instance share each shard's queue through a lease and a
// consumer group, throttle per sending number through Redis, retry with
// exponential backoff and jitter, give up into a dead-letter stream, and
// keep a send record per reply so that no reply goes out twice.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Sender is one provider's API for outbound messages.
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
}

func (e *SendError) Error() string {
	return fmt.Sprintf("provider refused: status %d, code %d", e.Status, e.Code)
}

// Temporary reports whether the send may succeed later: rate limited
// (429) or a server error (5xx).
func (e *SendError) Temporary() bool { return e.Status == 429 || e.Status >= 500 }

// classify sorts a send error: retry says try again later, ambiguous says
// the message may have been accepted despite the error.
func classify(err error) (retry, ambiguous bool, se *SendError) {
	if errors.As(err, &se) {
		// A 5xx may come after the message was accepted: resolve it
		// before trying again. A 429 or a 4xx was certainly refused.
		return se.Temporary(), se.Status >= 500, se
	}
	return true, true, nil
}

// maxAnswerBytes bounds how much of a provider's answer is read.
const maxAnswerBytes = 1 << 20

// post sends req with hc and returns the answer's status and body (at most
// maxAnswerBytes). Transport errors come back through transportError.
func post(hc *http.Client, req *http.Request, provider string) (int, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, transportError(provider, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, transportError(provider, err)
	}
	return resp.StatusCode, raw, nil
}

// transportError wraps a failed exchange with provider's API. A
// *url.Error names the URL, whose query may hold the recipient's number
// (Twilio's lookup does): only its operation and cause are kept, since
// the error is logged.
func transportError(provider string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("outbound: %s: %s: %w", provider, ue.Op, ue.Err)
	}
	return fmt.Errorf("outbound: %s: %w", provider, err)
}
