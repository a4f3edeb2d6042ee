package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Spool keeps revocations that arrive while the store is unreachable. The
// gateway marshals each into one record; Append must make it durable
// (fsync'd) before it returns nil.
type Spool interface {
	Append(record []byte) error
}

// OutcomeSpooled is the outcome logged for a revocation written to the
// spool because the store was unreachable.
const OutcomeSpooled = "opt_out_spooled"

// spooledRevocation is one spool record: what replaying the message
// needs. It holds the person's number and the message text; the spool
// encrypts every record. Records outlive the process that wrote them
// (they are replayed after a restart, perhaps by a newer release), so
// this is their format, pinned by a test: change it only compatibly.
type spooledRevocation struct {
	To         string         `json:"to"`   // the business number, E.164 or short code
	From       optin.Phone    `json:"from"` // the person, E.164
	In         spooledMessage `json:"in"`
	ReceivedAt time.Time      `json:"received_at"`
}

// spooledMessage is the message of a spool record, its fields named as
// records have always named them (optin.Inbound's, untagged), without the
// numbers, which the record holds beside it.
type spooledMessage struct {
	Provider       string `json:"Provider"`
	MessageID      string `json:"MessageID"`
	Text           string `json:"Text"`
	ProviderOptOut string `json:"ProviderOptOut"`
}

// spoolRecord is the record of message in to number n, received at at.
func spoolRecord(n *optin.Number, in optin.Inbound, at time.Time) spooledRevocation {
	return spooledRevocation{
		To: n.E164, From: in.From, ReceivedAt: at,
		In: spooledMessage{Provider: in.Provider, MessageID: in.MessageID, Text: in.Text, ProviderOptOut: in.ProviderOptOut},
	}
}

// inbound is the message that record r holds.
func (r spooledRevocation) inbound() optin.Inbound {
	return optin.Inbound{
		Provider: r.In.Provider, MessageID: r.In.MessageID, From: r.From, To: optin.Phone(r.To),
		Text: r.In.Text, ProviderOptOut: r.In.ProviderOptOut,
	}
}

// processOrSpool runs process and, when the store cannot be reached (or
// did not answer in time) and the message is a revocation, writes it to
// the spool instead and answers as a revocation is answered: the
// confirmation is only sent once the revocation is durable. Anything else
// fails as process failed (503 with Retry-After).
func (s *Server) processOrSpool(ctx context.Context, n *optin.Number, in optin.Inbound, render func([]string) ([]byte, error)) ([]byte, string, error) {
	reply, outcome, err := s.process(ctx, n, in, render)
	if err == nil || s.opts.Services.Spool == nil ||
		!(errors.Is(err, optin.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
		return reply, outcome, err
	}
	now := s.opts.Now()
	// Decided on a subscriber never seen: an opt-out is one whatever the
	// state, and its reply does not depend on the state.
	dec := optin.Decide(optin.Subscriber{Tenant: n.Tenant}, n, in, now, "")
	if dec.Outcome != optin.OutcomeOptOut {
		return nil, "", err
	}
	// Where replies are queued, the replay queues the confirmation, decided
	// on the real state: answering it here too would confirm twice.
	replies := dec.Replies
	if s.queues(n, in) {
		replies = nil
	}
	rendered, rerr := render(replies)
	if rerr != nil {
		return nil, "", fmt.Errorf("gateway: render reply: %w", rerr)
	}
	rec, merr := json.Marshal(spoolRecord(n, in, now))
	if merr != nil {
		return nil, "", fmt.Errorf("gateway: spool %s: %w", in.MessageID, merr)
	}
	if serr := s.opts.Services.Spool.Append(rec); serr != nil {
		return nil, "", fmt.Errorf("gateway: spool %s: %w (store: %w)", in.MessageID, serr, err)
	}
	return rendered, OutcomeSpooled, nil
}

// ReplaySpooled applies one spool record written by the webhook while
// the store was unreachable: the message runs through the state machine
// as if it had just arrived, decided at the time it was received. It is
// idempotent by the provider's message id, so a record replayed twice
// changes nothing the second time. A record for a number no longer
// served is dropped with a log line. Errors (the store still unreachable)
// mean: replay it again later.
func (s *Server) ReplaySpooled(ctx context.Context, record []byte) error {
	var r spooledRevocation
	if err := json.Unmarshal(record, &r); err != nil {
		s.log.Error("spool: undecodable record dropped")
		return nil
	}
	n, ok := s.snap().numbers[r.To]
	if !ok {
		s.log.Warn("spool: record for a number no longer served dropped")
		return nil
	}
	// The same server, with the clock stopped at the time of receipt.
	at := r.ReceivedAt
	srv := *s
	srv.opts.Now = func() time.Time { return at }
	in := r.inbound()
	_, outcome, err := srv.process(ctx, n, in, func([]string) ([]byte, error) {
		// The person got the confirmation when the webhook answered (or
		// gets it now from the outbound queue, where replies are queued);
		// a retry of the same message gets this empty answer.
		if w, ok := s.providers[in.Provider]; ok {
			return w.p.Render(nil)
		}
		return []byte{}, nil
	})
	if err != nil {
		return err
	}
	s.log.Info("spool: revocation applied", zap.Stringer("from", in.From), zap.String("message_id", in.MessageID), zap.String("outcome", outcome))
	return nil
}
