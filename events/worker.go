package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/internal/egress"
	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
)

// Queue is what the delivery workers need of the store.
type Queue interface {
	WebhookQueue() lanes.Stream[lanes.QueuedEvent]
	WebhookTarget(ctx context.Context, tenant, id string) (lanes.WebhookTarget, error)
	SubscriberPhone(ctx context.Context, tenant, id string) (optin.Phone, error)
	AckWebhook(ctx context.Context, q lanes.QueuedEvent) error
	FailWebhook(ctx context.Context, q lanes.QueuedEvent) (int, error)
	DeadWebhook(ctx context.Context, q lanes.QueuedEvent, tries int, reason string, at time.Time) error
}

// Defaults are the tuning of Options' zero fields: 16 tries, 10 s
// doubling up to 1 h between them (with equal jitter: 4 to 8½ hours from
// the first try to the dead letter).
var Defaults = lanes.Tuning{
	MaxAttempts: 16, BaseBackoff: 10 * time.Second, MaxBackoff: time.Hour,
	LeaseTTL: 10 * time.Second, Poll: 200 * time.Millisecond, Batch: 100, MaxInFlight: 1000,
}

// DefaultTimeout is Options.Timeout's default: per try, answer included.
const DefaultTimeout = 10 * time.Second

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
	// Tuning's zero fields take Defaults; Owner defaults to "events-"
	// and random hex.
	lanes.Tuning
	Timeout time.Duration // per try, answer included; 0: DefaultTimeout
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
	o.Tuning = o.Tuning.WithDefaults(Defaults, "events-")
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
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
	return lanes.Run(ctx, lanes.Config[lanes.QueuedEvent]{
		Tuning: w.o.Tuning, Stream: w.o.Queue.WebhookQueue(), Deliver: w.deliver, Failed: "deliver",
		Pause: func(n int) time.Duration { return min(w.o.Poll<<min(n, 10), 5*time.Second) },
	})
}

// deliver posts q until its endpoint answers 2xx or its tries are spent;
// it returns an error only when the store fails (the caller tries again).
func (w *Worker) deliver(ctx context.Context, q lanes.QueuedEvent) error {
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
		wait := w.o.Backoff(tries)
		log.Info("event delivery failed", zap.Int("tries", tries), zap.String("reason", reason), zap.Duration("retry_in", wait))
		if !lanes.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// post makes one try of q with body; it returns "" on a 2xx answer, else
// why it failed (a status, a time-out, a network error; never the body).
func (w *Worker) post(ctx context.Context, t lanes.WebhookTarget, q lanes.QueuedEvent, body []byte) string {
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
