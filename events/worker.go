package events

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	randv2 "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/egress"
	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// Queue is what the delivery workers need of the store.
type Queue interface {
	Shards() int
	EnsureWebhookGroups(ctx context.Context) error
	WebhookLease(ctx context.Context, shard int, owner string, ttl time.Duration) (bool, error)
	ClaimWebhooks(ctx context.Context, shard int, consumer, start string, count int) ([]store.QueuedEvent, string, error)
	ReadWebhooks(ctx context.Context, shard int, consumer string, count int) ([]store.QueuedEvent, error)
	WebhookTarget(ctx context.Context, tenant, id string) (store.WebhookTarget, error)
	SubscriberPhone(ctx context.Context, tenant, id string) (optin.Phone, error)
	AckWebhook(ctx context.Context, q store.QueuedEvent) error
	FailWebhook(ctx context.Context, q store.QueuedEvent) (int, error)
	DeadWebhook(ctx context.Context, q store.QueuedEvent, tries int, reason string, at time.Time) error
}

// Defaults of Options: 16 tries, 10 s doubling up to 1 h between them
// (with equal jitter: 4 to 8½ hours from the first try to the dead
// letter).
const (
	DefaultMaxAttempts = 16
	DefaultBaseBackoff = 10 * time.Second
	DefaultMaxBackoff  = time.Hour
	DefaultTimeout     = 10 * time.Second
	DefaultLeaseTTL    = 10 * time.Second
	DefaultPoll        = 200 * time.Millisecond
	DefaultBatch       = 100
	DefaultMaxInFlight = 1000
)

// Outcomes of one try, as Options.OnResult hears them.
const (
	OutcomeDelivered = "delivered" // a 2xx answer
	OutcomeFailed    = "failed"    // another answer, a time-out or a network error: tried again
	OutcomeDead      = "dead"      // the last try failed: dead-lettered
	OutcomeDropped   = "dropped"   // the endpoint was deleted meanwhile
)

// Options configure a Worker.
type Options struct {
	Queue Queue
	// Client posts the deliveries: an egress policy's Client (a 3xx is a
	// failure, no redirect is followed, every address dialed is checked),
	// so that a name resolving to a private address is refused at dial
	// time. Default: egress.Policy{}.Client(), public addresses only.
	Client *http.Client
	// Owner names this worker in leases and the consumer group; unique
	// among running workers. Default: random.
	Owner       string
	MaxAttempts int           // tries before a delivery is dead-lettered
	BaseBackoff time.Duration // delay after the first failed try; doubles per try
	MaxBackoff  time.Duration
	Timeout     time.Duration // per try, answer included
	LeaseTTL    time.Duration
	Poll        time.Duration // idle wait between reads of an empty stream
	Batch       int
	MaxInFlight int // deliveries read but not done, per shard
	Logger      *zap.Logger
	Now         func() time.Time
	// Jitter returns a random duration in [0, d); default math/rand/v2.
	Jitter func(d time.Duration) time.Duration
	// OnResult, if set, hears the outcome of every try: for metrics.
	OnResult func(outcome string)
}

// Worker delivers the event streams. Run it on any number of instances:
// each shard is delivered by the one worker holding its lease.
type Worker struct{ o Options }

// New returns a worker.
func New(o Options) (*Worker, error) {
	if o.Queue == nil {
		return nil, errors.New("events: a queue is required")
	}
	if o.Owner == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		o.Owner = "events-" + hex.EncodeToString(b)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BaseBackoff, DefaultBaseBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.Timeout, DefaultTimeout)
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
	if o.Client == nil {
		o.Client = (&egress.Policy{}).Client()
	}
	return &Worker{o: o}, nil
}

// Owner returns the worker's name.
func (w *Worker) Owner() string { return w.o.Owner }

// Run delivers until ctx is done; then it returns nil once every try in
// flight has ended. What was not delivered stays pending for the next
// lease holder. Each shard's deliveries go in lanes, one per endpoint and
// subscriber, so that a failing endpoint, or a delivery waiting for its
// retry, holds up only its own lane.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.o.Queue.EnsureWebhookGroups(ctx); err != nil {
		return err
	}
	q := w.o.Queue
	lanes.Run(ctx, lanes.Config[store.QueuedEvent]{
		Shards: q.Shards(), Owner: w.o.Owner,
		Lease: q.WebhookLease, Claim: q.ClaimWebhooks, Read: q.ReadWebhooks,
		StreamID: func(e store.QueuedEvent) string { return e.StreamID },
		Lane:     func(e store.QueuedEvent) string { return e.Endpoint + "\x00" + e.Event.Subscriber },
		Deliver:  w.deliver,
		Pause:    func(n int) time.Duration { return min(w.o.Poll<<min(n, 10), 5*time.Second) },
		Failed: func(log *zap.Logger, e store.QueuedEvent, err error) {
			log.Warn("deliver", zap.String("event_id", e.Event.ID), zap.Error(err))
		},
		LeaseTTL: w.o.LeaseTTL, Poll: w.o.Poll, Batch: w.o.Batch, MaxInFlight: w.o.MaxInFlight, Logger: w.o.Logger,
	})
	return nil
}

// deliver posts q until its endpoint answers 2xx or its tries are spent;
// it returns an error only when the store fails (the caller tries again).
func (w *Worker) deliver(ctx context.Context, q store.QueuedEvent) error {
	ev := q.Event
	log := w.o.Logger.With(zap.String("tenant", ev.Tenant), zap.String("endpoint", q.Endpoint),
		zap.String("event_id", ev.ID), zap.String("type", string(q.Type)))
	for {
		target, err := w.o.Queue.WebhookTarget(ctx, ev.Tenant, q.Endpoint)
		if errors.Is(err, optin.ErrNotFound) {
			w.result(OutcomeDropped)
			return w.o.Queue.AckWebhook(ctx, q)
		}
		if err != nil {
			return err
		}
		body := optin.NewWebhookEvent(ev, q.Type)
		if q.Type != optin.EventErased {
			p, err := w.o.Queue.SubscriberPhone(ctx, ev.Tenant, ev.Subscriber)
			if err != nil {
				return err
			}
			body.Phone = p.E164()
		}
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("events: encode %s: %w", ev.ID, err)
		}
		reason := w.post(ctx, target, q, b)
		if reason == "" {
			w.result(OutcomeDelivered)
			// Acknowledge even when ctx ends meanwhile: it was delivered.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return w.o.Queue.AckWebhook(actx, q)
		}
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: not the endpoint's failure
		}
		tries, err := w.o.Queue.FailWebhook(ctx, q)
		if err != nil {
			return err
		}
		q.Tries = tries
		if tries >= w.o.MaxAttempts {
			w.result(OutcomeDead)
			log.Warn("event delivery dead-lettered", zap.Int("tries", tries), zap.String("reason", reason))
			return w.o.Queue.DeadWebhook(ctx, q, tries, reason, w.o.Now())
		}
		w.result(OutcomeFailed)
		wait := w.backoff(tries)
		log.Info("event delivery failed", zap.Int("tries", tries), zap.String("reason", reason), zap.Duration("retry_in", wait))
		if !lanes.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// post makes one try of q with body; it returns "" on a 2xx answer, else
// why it failed (a status, a time-out, a network error; never the body).
func (w *Worker) post(ctx context.Context, t store.WebhookTarget, q store.QueuedEvent, body []byte) string {
	rctx, cancel := context.WithTimeout(ctx, w.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return "bad url"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "optin-gateway-events/1")
	req.Header.Set(SignatureHeader, Sign(t.Secret, w.o.Now(), body))
	req.Header.Set(EventIDHeader, q.Event.ID)
	req.Header.Set(EventTypeHeader, string(q.Type))
	req.Header.Set(AttemptHeader, strconv.Itoa(q.Tries+1))
	resp, err := w.o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		switch {
		case errors.As(err, &ue) && ue.Timeout():
			return "timeout"
		case errors.As(err, &ue):
			return ue.Err.Error()
		}
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return ""
	}
	return "status " + strconv.Itoa(resp.StatusCode)
}

func (w *Worker) result(outcome string) {
	if w.o.OnResult != nil {
		w.o.OnResult(outcome)
	}
}

// backoff is the delay after the tries-th failed try: BaseBackoff doubled
// per try, capped at MaxBackoff, the upper half drawn at random ("equal
// jitter", as the outbound senders do), so retries spread out but never
// come early.
func (w *Worker) backoff(tries int) time.Duration {
	d := w.o.BaseBackoff << min(max(tries-1, 0), 30)
	if d > w.o.MaxBackoff || d <= 0 {
		d = w.o.MaxBackoff
	}
	return d/2 + w.o.Jitter(d/2+1)
}
