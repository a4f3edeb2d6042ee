package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/optin-gateway/optin-gateway/optin"
)

// process runs one inbound message (from in.From) to number n: load the
// subscriber (one round trip), decide, render, apply (one round trip). On a
// concurrent change it loads and decides again, so every message is decided
// on the state it is applied to. A message processed before gets its stored
// reply and changes nothing. It returns the reply and the outcome's name
// ("duplicate" for a retry).
func (s *Server) process(ctx context.Context, n *optin.Number, in optin.Inbound, render func([]string) ([]byte, error)) ([]byte, string, error) {
	campaigns := n.CampaignIDs()
	for range maxConflicts {
		sub, stored, err := s.opts.Store.Load(ctx, n.Tenant, in.From, campaigns, in)
		if err != nil {
			return nil, "", err
		}
		if stored != nil {
			return stored, "duplicate", nil
		}
		code, err := optin.GenerateCode(s.opts.Rand, optin.MaxCodeLength)
		if err != nil {
			return nil, "", err
		}
		dec := optin.Decide(sub, n, in, s.opts.Now(), code)
		replies := dec.Replies
		if s.queues(n, in) {
			replies = nil // queued, not rendered
		}
		reply, err := render(replies)
		if err != nil {
			s.metrics.replyFailures.WithLabelValues(in.Provider).Inc()
			return nil, "", fmt.Errorf("gateway: render reply: %w", err)
		}
		stored, err = s.apply(ctx, n, sub, dec, in, reply)
		switch {
		case err == nil:
			s.metrics.observeTransitions(sub, dec)
			return reply, dec.Outcome.String(), nil
		case errors.Is(err, optin.ErrDuplicate):
			return stored, "duplicate", nil
		case errors.Is(err, optin.ErrConflict):
			continue
		default:
			return nil, "", err
		}
	}
	return nil, "", fmt.Errorf("gateway: message %s: %d conflicts in a row: %w", in.MessageID, maxConflicts, optin.ErrConflict)
}
