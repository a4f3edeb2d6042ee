package outbound

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
)

// Queue is what the senders need of the store.
type Queue interface {
	ReplyQueue() lanes.Stream[lanes.QueuedReply]
	SendRecord(ctx context.Context, q lanes.QueuedReply) (lanes.SendRecord, error)
	MarkSendIntent(ctx context.Context, q lanes.QueuedReply, at time.Time) (int, error)
	ClearSendIntent(ctx context.Context, q lanes.QueuedReply) error
	MarkSent(ctx context.Context, q lanes.QueuedReply, sid string, at time.Time) error
	DeadLetter(ctx context.Context, q lanes.QueuedReply, code, reason string, at time.Time) error
	AckReply(ctx context.Context, q lanes.QueuedReply) error
	Throttle(ctx context.Context, from string, interval time.Duration) (time.Duration, error)
	Reconcile(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound, decide func(optin.Subscriber) optin.Decision) error
}

// Defaults are the tuning of Options' zero fields: 8 sends, 500 ms
// doubling up to a minute between them.
var Defaults = lanes.Tuning{
	MaxAttempts: 8, BaseBackoff: 500 * time.Millisecond, MaxBackoff: time.Minute,
	LeaseTTL: 10 * time.Second, Poll: 200 * time.Millisecond, Batch: 100, MaxInFlight: 1000,
}

// Options configure a Worker.
type Options struct {
	Queue   Queue
	Senders map[string]Sender // by provider name
	// Numbers are the business numbers by E.164, for reconciliation.
	Numbers map[string]*optin.Number
	// Rates are messages per second by sending number; a number not
	// listed gets DefaultRate.
	Rates map[string]float64
	// StatusCallback returns the URL a provider posts r's delivery
	// statuses to; nil or "" for none.
	StatusCallback func(r optin.Reply) string
	// Tuning's zero fields take Defaults (MaxAttempts counts sends per
	// reply); Owner defaults to "sender-" and random hex.
	lanes.Tuning
	// OnDeadLetter, if set, hears of every reply given up on (refused,
	// out of tries, no sender), by provider: for metrics.
	OnDeadLetter func(provider string)
}

// Worker drains the outbound queues. Run it on any number of instances:
// each shard is drained by the one worker holding its lease.
type Worker struct{ o Options }

// New returns a worker.
func New(o Options) (*Worker, error) {
	if o.Queue == nil || len(o.Senders) == 0 {
		return nil, errors.New("outbound: a queue and at least one sender are required")
	}
	o.Tuning = o.Tuning.WithDefaults(Defaults, "sender-")
	return &Worker{o: o}, nil
}

// Owner returns the worker's name.
func (w *Worker) Owner() string { return w.o.Owner }

// Run drains the queues until ctx is done; then it returns nil once every
// send in flight has finished. A shard whose lease it loses is left to
// its new owner. Each shard's replies go in lanes, one per subscriber, so
// that a slow number or a retried reply holds up only its subscriber.
func (w *Worker) Run(ctx context.Context) error {
	return lanes.Run(ctx, lanes.Config[lanes.QueuedReply]{
		Tuning: w.o.Tuning, Stream: w.o.Queue.ReplyQueue(), Deliver: w.deliver, Pause: w.o.Backoff, Failed: "send",
	})
}

// deliver sends q exactly once, guarded by its send record: a reply
// recorded sent or dead is only acknowledged; a send whose outcome is
// unknown (crash or timeout after the intent was recorded) is looked up at
// the provider before it is sent again.
func (w *Worker) deliver(ctx context.Context, q lanes.QueuedReply) error {
	r := q.Reply
	rec, err := w.o.Queue.SendRecord(ctx, q)
	if err != nil {
		return err
	}
	if rec.State == lanes.SendSent || rec.State == lanes.SendDead {
		return w.o.Queue.AckReply(ctx, q)
	}
	sender, ok := w.o.Senders[r.Provider]
	if !ok {
		return w.deadLetter(ctx, q, "", "no sender for provider "+r.Provider, w.o.Now())
	}
	if rec.State == lanes.SendIntent {
		if done, err := w.resolve(ctx, sender, q, rec.At); done || err != nil {
			return err
		}
	}
	tries, lastCode := rec.Tries, ""
	for {
		if tries >= w.o.MaxAttempts {
			w.logFor(r).Warn("reply dead-lettered", zap.Int("tries", tries), zap.String("code", lastCode))
			return w.deadLetter(ctx, q, lastCode, fmt.Sprintf("gave up after %d tries", tries), w.o.Now())
		}
		if err := w.throttle(ctx, r.From); err != nil {
			return err
		}
		at := w.o.Now()
		if tries, err = w.o.Queue.MarkSendIntent(ctx, q, at); err != nil {
			return err
		}
		cb := ""
		if w.o.StatusCallback != nil {
			cb = w.o.StatusCallback(r)
		}
		sid, err := sender.Send(ctx, r, cb)
		if err == nil {
			// Record the send even when ctx ends meanwhile: the message
			// went out.
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return w.o.Queue.MarkSent(wctx, q, sid, w.o.Now())
		}
		retry, ambiguous, se := classify(err)
		if se != nil {
			lastCode = strconv.Itoa(se.Code)
		}
		if !retry {
			if se.OptOut {
				if err := w.reconcile(ctx, r, se.Code); err != nil {
					return err
				}
			}
			w.logFor(r).Info("reply refused", zap.Int("status", se.Status), zap.Int("code", se.Code))
			return w.deadLetter(ctx, q, lastCode, fmt.Sprintf("refused: status %d, code %d", se.Status, se.Code), w.o.Now())
		}
		if !ambiguous {
			if err := w.o.Queue.ClearSendIntent(ctx, q); err != nil {
				return err
			}
		}
		if !lanes.Sleep(ctx, w.o.Backoff(tries)) {
			return ctx.Err()
		}
		if ambiguous {
			if done, err := w.resolve(ctx, sender, q, at); done || err != nil {
				return err
			}
		}
	}
}

// resolve settles a send whose outcome is unknown by asking the provider:
// found, it records q as sent.
func (w *Worker) resolve(ctx context.Context, s Sender, q lanes.QueuedReply, since time.Time) (bool, error) {
	sid, err := s.Find(ctx, q.Reply, since)
	if err != nil {
		return false, fmt.Errorf("outbound: resolve %s: %w", q.Reply.ID, err)
	}
	if sid == "" {
		return false, nil
	}
	return true, w.o.Queue.MarkSent(ctx, q, sid, w.o.Now())
}

// reconcile moves r's subscriber to unsubscribed in every campaign of the
// sending number: the provider refused the send because the person opted
// out there.
func (w *Worker) reconcile(ctx context.Context, r optin.Reply, code int) error {
	n, ok := w.o.Numbers[r.From]
	if !ok {
		// The number left the configuration since the reply was queued:
		// nothing to reconcile against; the refusal is still dead-lettered.
		w.logFor(r).Error("provider opt-out for a number no longer configured", zap.Stringer("from", optin.Phone(r.From)))
		return nil
	}
	return Reconcile(ctx, w.o.Queue, n, r.Subscriber, optin.Cause{Provider: r.Provider, MessageID: r.ID, Signal: strconv.Itoa(code)}, w.o.Now())
}

// Reconciler is what Reconcile needs of the store.
type Reconciler interface {
	Reconcile(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound, decide func(optin.Subscriber) optin.Decision) error
}

// Reconcile records that the provider blocks subscriber id on number n,
// for cause (optin.ProviderBlocked), once per cause.
func Reconcile(ctx context.Context, st Reconciler, n *optin.Number, id string, cause optin.Cause, now time.Time) error {
	return st.Reconcile(ctx, n.Tenant, id, n.CampaignIDs(), optin.BlockedMessage(cause), func(sub optin.Subscriber) optin.Decision {
		return optin.ProviderBlocked(sub, n, cause, now)
	})
}

// throttle waits for a slot of from's shared rate limit.
func (w *Worker) throttle(ctx context.Context, from string) error {
	rate := w.o.Rates[from]
	if rate <= 0 {
		rate = DefaultRate(from)
	}
	interval := time.Duration(float64(time.Second) / rate)
	for {
		wait, err := w.o.Queue.Throttle(ctx, from, interval)
		if err != nil || wait == 0 {
			return err
		}
		if !lanes.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

func (w *Worker) logFor(r optin.Reply) *zap.Logger {
	return w.o.Logger.With(zap.String("reply_id", r.ID), zap.Stringer("to", r.To), zap.String("tenant", r.Tenant))
}

// deadLetter gives up on reply q: it moves it to the dead-letter stream
// and tells OnDeadLetter.
func (w *Worker) deadLetter(ctx context.Context, q lanes.QueuedReply, code, reason string, at time.Time) error {
	if err := w.o.Queue.DeadLetter(ctx, q, code, reason, at); err != nil {
		return err
	}
	if w.o.OnDeadLetter != nil {
		w.o.OnDeadLetter(q.Reply.Provider)
	}
	return nil
}
