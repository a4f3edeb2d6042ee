package outbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// Queue is what the senders need of the store.
type Queue interface {
	Shards() int
	EnsureSenderGroups(ctx context.Context) error
	Lease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error)
	ClaimPending(ctx context.Context, shard int, consumer, start string, count int) ([]store.QueuedReply, string, error)
	ReadReplies(ctx context.Context, shard int, consumer string, count int) ([]store.QueuedReply, error)
	SendRecord(ctx context.Context, q store.QueuedReply) (store.SendRecord, error)
	MarkSendIntent(ctx context.Context, q store.QueuedReply, at time.Time) (int, error)
	ClearSendIntent(ctx context.Context, q store.QueuedReply) error
	MarkSent(ctx context.Context, q store.QueuedReply, sid string, at time.Time) error
	DeadLetter(ctx context.Context, q store.QueuedReply, code, reason string, at time.Time) error
	AckReply(ctx context.Context, q store.QueuedReply) error
	Throttle(ctx context.Context, from string, interval time.Duration) (time.Duration, error)
	Reconcile(ctx context.Context, tenant, id string, campaigns []string, in optin.Inbound, decide func(optin.Subscriber) optin.Decision) error
}

// Defaults of Options.
const (
	DefaultMaxAttempts = 8
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultMaxBackoff  = time.Minute
	DefaultLeaseTTL    = 10 * time.Second
	DefaultPoll        = 200 * time.Millisecond
	DefaultBatch       = 100
	DefaultMaxInFlight = 1000
)

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
	// Owner names this worker in leases and the consumer group; it must
	// be unique among running workers. Default: random.
	Owner       string
	MaxAttempts int           // sends per reply before it is dead-lettered
	BaseBackoff time.Duration // first retry's delay; doubles per try
	MaxBackoff  time.Duration
	LeaseTTL    time.Duration
	Poll        time.Duration // idle wait between reads of an empty queue
	Batch       int           // entries per read
	MaxInFlight int           // entries read but not yet done, per shard
	Logger      *zap.Logger
	Now         func() time.Time
	// Jitter returns a random duration in [0, d); default math/rand/v2.
	Jitter func(d time.Duration) time.Duration
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
	if o.Owner == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		o.Owner = "sender-" + hex.EncodeToString(b)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BaseBackoff, DefaultBaseBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.LeaseTTL, DefaultLeaseTTL)
	def(&o.Poll, DefaultPoll)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return randv2.N(d) }
	}
	return &Worker{o: o}, nil
}

// Owner returns the worker's name.
func (w *Worker) Owner() string { return w.o.Owner }

// Run drains the queues until ctx is done; then it returns nil once every
// send in flight has finished. A shard whose lease it loses is left to
// its new owner. Each shard's replies go in lanes, one per subscriber, so
// that a slow number or a retried reply holds up only its subscriber.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.o.Queue.EnsureSenderGroups(ctx); err != nil {
		return err
	}
	q := w.o.Queue
	lanes.Run(ctx, lanes.Config[store.QueuedReply]{
		Shards: q.Shards(), Owner: w.o.Owner,
		Lease: q.Lease, Claim: q.ClaimPending, Read: q.ReadReplies,
		StreamID: func(r store.QueuedReply) string { return r.StreamID },
		Lane:     func(r store.QueuedReply) string { return r.Reply.Subscriber },
		Deliver:  w.deliver,
		Pause:    w.backoff,
		Failed: func(log *zap.Logger, r store.QueuedReply, err error) {
			log.Warn("send", zap.String("reply_id", r.Reply.ID), zap.Error(err))
		},
		LeaseTTL: w.o.LeaseTTL, Poll: w.o.Poll, Batch: w.o.Batch, MaxInFlight: w.o.MaxInFlight, Logger: w.o.Logger,
	})
	return nil
}

// deliver sends q exactly once, guarded by its send record: a reply
// recorded sent or dead is only acknowledged; a send whose outcome is
// unknown (crash or timeout after the intent was recorded) is looked up at
// the provider before it is sent again.
func (w *Worker) deliver(ctx context.Context, q store.QueuedReply) error {
	r := q.Reply
	rec, err := w.o.Queue.SendRecord(ctx, q)
	if err != nil {
		return err
	}
	if rec.State == store.SendSent || rec.State == store.SendDead {
		return w.o.Queue.AckReply(ctx, q)
	}
	sender, ok := w.o.Senders[r.Provider]
	if !ok {
		return w.deadLetter(ctx, q, "", "no sender for provider "+r.Provider, w.o.Now())
	}
	if rec.State == store.SendIntent {
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
			if optin.IsProviderOptOut(r.Provider, lastCode) {
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
		if !lanes.Sleep(ctx, w.backoff(tries)) {
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
func (w *Worker) resolve(ctx context.Context, s Sender, q store.QueuedReply, since time.Time) (bool, error) {
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

// backoff is the delay after the tries-th send: BaseBackoff doubled per
// try, capped at MaxBackoff, the upper half drawn at random ("equal
// jitter"), so that retries spread out but never come early.
func (w *Worker) backoff(tries int) time.Duration {
	d := w.o.BaseBackoff << min(max(tries-1, 0), 30)
	if d > w.o.MaxBackoff || d <= 0 {
		d = w.o.MaxBackoff
	}
	return d/2 + w.o.Jitter(d/2+1)
}

func (w *Worker) logFor(r optin.Reply) *zap.Logger {
	return w.o.Logger.With(zap.String("reply_id", r.ID), zap.Stringer("to", r.To), zap.String("tenant", r.Tenant))
}

// deadLetter gives up on reply q: it moves it to the dead-letter stream
// and tells OnDeadLetter.
func (w *Worker) deadLetter(ctx context.Context, q store.QueuedReply, code, reason string, at time.Time) error {
	if err := w.o.Queue.DeadLetter(ctx, q, code, reason, at); err != nil {
		return err
	}
	if w.o.OnDeadLetter != nil {
		w.o.OnDeadLetter(q.Reply.Provider)
	}
	return nil
}
