package security

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Defaults of a Sink.
const (
	DefaultInterval   = time.Second
	DefaultMaxPending = 4096
	// ActionConsentCheck names the access entries that count a token's
	// consent checks.
	ActionConsentCheck = optin.AccessConsentCheck
)

// Backend is where a Sink writes: the store.
type Backend interface {
	// AddSecurityEvents appends events to the security stream.
	AddSecurityEvents(ctx context.Context, events [][]byte) error
	// RuleHit adds n to rule's count for subject in the bucket of at and
	// returns the count over the window ending there; fire is true when
	// the count passed limit and the rule has not fired for subject
	// within the window.
	RuleHit(ctx context.Context, rule, subject string, n int64, at time.Time, window time.Duration, limit int64) (count int64, fire bool, err error)
	// RecordAccess writes an access entry.
	RecordAccess(ctx context.Context, e optin.AccessEntry) error
}

// Rule is an anomaly rule: more than Limit events of Kinds per subject
// (Per) within Window raise an alert. An event of Count n counts n.
type Rule struct {
	Name   string
	Kinds  []string
	Per    func(Event) string // the subject; "" leaves the event out
	Window time.Duration
	Limit  int
}

// Limits are the anomaly rules' thresholds (config.Security).
type Limits struct {
	SignatureFailuresPerMinute int
	RevealsPerHour             int
	ErasuresPerHour            int
}

// Rules are the gateway's anomaly rules under l:
//   - signature_failures: provider signature failures, over all, per minute;
//   - reveals: subscribers revealed or exported (one each; an audience
//     export counts its members) by one token, per hour;
//   - erasures: erasures in one tenant, per hour.
func Rules(l Limits) []Rule {
	all := func(Event) string { return "all" }
	return []Rule{
		{Name: "signature_failures", Kinds: []string{KindBadSignature}, Per: all, Window: time.Minute, Limit: l.SignatureFailuresPerMinute},
		{Name: "reveals", Kinds: []string{KindReveal, KindExport, KindAudience}, Per: func(e Event) string { return e.Actor }, Window: time.Hour, Limit: l.RevealsPerHour},
		{Name: "erasures", Kinds: []string{KindErase}, Per: func(e Event) string { return e.Tenant }, Window: time.Hour, Limit: l.ErasuresPerHour},
	}
}

// Options configure a Sink.
type Options struct {
	Backend Backend
	Rules   []Rule
	Now     func() time.Time // time.Now when nil
	// OnAlert is called, from the flushing goroutine, for each alert.
	OnAlert func(Alert)
	// OnDrop is called with the number of events lost: more distinct
	// events than MaxPending between two flushes, or a failed write.
	OnDrop     func(n int)
	Log        *zap.Logger
	Interval   time.Duration // between flushes; DefaultInterval when 0
	MaxPending int           // distinct events held between flushes; DefaultMaxPending when 0
}

// consentKey groups consent checks for the access log.
type consentKey struct{ tenant, actor, role string }

type consentCount struct {
	first, last time.Time
	n           int
}

// Sink buffers security events and flushes them about once a second:
// equal events are aggregated into one with a count, so that a flood costs
// one stream entry per second, not one per request. Record never blocks.
// It is safe for concurrent use.
type Sink struct {
	o       Options
	mu      sync.Mutex
	pending map[aggKey]*Event
	order   []aggKey
	consent map[consentKey]*consentCount
	dropped int
	failing bool // the last flush failed: logged once per streak
}

// NewSink returns a Sink writing to o.Backend.
func NewSink(o Options) *Sink {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	return &Sink{o: o, pending: map[aggKey]*Event{}, consent: map[consentKey]*consentCount{}}
}

// Now is the sink's clock.
func (s *Sink) Now() time.Time { return s.o.Now() }

// Record queues e; a zero At is now, a zero Count is one.
func (s *Sink) Record(e Event) {
	if s == nil {
		return
	}
	if e.At.IsZero() {
		e.At = s.o.Now().UTC()
	}
	if e.Count <= 0 {
		e.Count = 1
	}
	k := e.key()
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[k]; ok {
		p.Count += e.Count
		if e.At.After(p.Last) {
			p.Last = e.At
		}
		return
	}
	if len(s.pending) >= s.o.MaxPending {
		s.dropped += e.Count
		return
	}
	e.Last = e.At
	s.pending[k] = &e
	s.order = append(s.order, k)
}

// ConsentCheck counts n consent checks by actor (in role) under tenant;
// each flush writes one access entry per token with its count.
func (s *Sink) ConsentCheck(tenant, actor, role string, n int) {
	if s == nil || n <= 0 {
		return
	}
	now := s.o.Now().UTC()
	k := consentKey{tenant, actor, role}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consent[k]
	if !ok {
		if len(s.consent) >= s.o.MaxPending {
			s.dropped += n
			return
		}
		c = &consentCount{first: now}
		s.consent[k] = c
	}
	c.n += n
	c.last = now
}

// Run flushes every interval until ctx is done, then once more.
func (s *Sink) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.Flush(fctx)
			cancel()
			return
		case <-t.C:
			_ = s.Flush(ctx)
		}
	}
}

// Flush writes what is queued: the events to the stream, the rules' counts
// (raising alerts), the consent checks to the access log.
func (s *Sink) Flush(ctx context.Context) error {
	s.mu.Lock()
	events := make([]Event, 0, len(s.order))
	for _, k := range s.order {
		events = append(events, *s.pending[k])
	}
	consent := s.consent
	dropped := s.dropped
	s.pending, s.order, s.consent, s.dropped = map[aggKey]*Event{}, nil, map[consentKey]*consentCount{}, 0
	s.mu.Unlock()

	var firstErr error
	fail := func(err error, lost int) {
		dropped += lost
		if firstErr == nil {
			firstErr = err
		}
	}
	if len(events) > 0 {
		raw := make([][]byte, len(events))
		for i, e := range events {
			raw[i] = e.Marshal()
		}
		if err := s.o.Backend.AddSecurityEvents(ctx, raw); err != nil {
			fail(err, countOf(events))
		}
		if err := s.runRules(ctx, events); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for k, c := range consent {
		id := make([]byte, 8)
		_, _ = rand.Read(id)
		e := optin.AccessEntry{ID: "acc:" + hex.EncodeToString(id), Tenant: k.tenant, At: c.first, Until: c.last,
			Actor: k.actor, Role: optin.Role(k.role), Action: ActionConsentCheck, Count: c.n}
		if err := s.o.Backend.RecordAccess(ctx, e); err != nil {
			fail(err, c.n)
		}
	}
	if dropped > 0 && s.o.OnDrop != nil {
		s.o.OnDrop(dropped)
	}
	s.mu.Lock()
	was := s.failing
	s.failing = firstErr != nil
	s.mu.Unlock()
	switch {
	case firstErr != nil && !was:
		s.o.Log.Warn("security events cannot be written; counting them as dropped until they can", zap.Error(firstErr))
	case firstErr == nil && was:
		s.o.Log.Info("security events are written again")
	}
	return firstErr
}

func countOf(events []Event) int {
	n := 0
	for _, e := range events {
		n += e.Count
	}
	return n
}

// hitKey groups a flush's events per rule, subject and bucket.
type hitKey struct {
	rule    int
	subject string
	bucket  int64
}

// runRules adds the events to the rules' windows and raises the alerts.
func (s *Sink) runRules(ctx context.Context, events []Event) error {
	type hit struct {
		n  int64
		at time.Time
	}
	hits := map[hitKey]*hit{}
	var order []hitKey
	for ri, r := range s.o.Rules {
		bucket := r.Window / Buckets
		for _, e := range events {
			if !slices.Contains(r.Kinds, e.Kind) {
				continue
			}
			subject := r.Per(e)
			if subject == "" {
				continue
			}
			k := hitKey{ri, subject, e.Last.UnixNano() / int64(bucket)}
			h, ok := hits[k]
			if !ok {
				h = &hit{}
				hits[k] = h
				order = append(order, k)
			}
			h.n += int64(e.Count)
			if e.Last.After(h.at) {
				h.at = e.Last
			}
		}
	}
	for _, k := range order {
		r, h := s.o.Rules[k.rule], hits[k]
		count, fire, err := s.o.Backend.RuleHit(ctx, r.Name, k.subject, h.n, h.at, r.Window, int64(r.Limit))
		if err != nil {
			return err
		}
		if fire && s.o.OnAlert != nil {
			s.o.OnAlert(Alert{Rule: r.Name, Subject: k.subject, Count: count, Limit: r.Limit, Window: r.Window, Span: r.Window.String(), At: h.at.UTC()})
		}
	}
	return nil
}

// Buckets is how many buckets a rule's window is counted in: the window
// slides by a sixtieth of itself.
const Buckets = 60
