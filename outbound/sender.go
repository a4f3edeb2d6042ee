// Package outbound sends queued replies through a provider's API: senders
// on any gateway instance share each shard's queue through a lease and a
// consumer group, throttle per sending number through Redis, retry with
// exponential backoff and jitter, give up into a dead-letter stream, and
// keep a send record per reply so that no reply goes out twice. The
// senders themselves live with their providers (provider/twilio, …).
package outbound

import (
	"errors"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Sender is one provider's API for outbound messages (provider.Sender).
type Sender = provider.Sender

// SendError is a provider's refusal of a message (provider.SendError).
type SendError = provider.SendError

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
