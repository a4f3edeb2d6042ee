package lanes

import (
	"crypto/rand"
	"encoding/hex"
	randv2 "math/rand/v2"
	"time"

	"go.uber.org/zap"
)

// Tuning is what every kind of delivery sets the same way: who works,
// how often an entry is tried and how far apart, and how much is read at
// once. A zero field takes the kind's default (see WithDefaults).
type Tuning struct {
	// Owner names the worker in leases and the consumer group; unique
	// among running workers. Default: the prefix and random hex.
	Owner       string
	MaxAttempts int           // tries of an entry before it is dead-lettered
	BaseBackoff time.Duration // delay after the first failed try; doubles per try
	MaxBackoff  time.Duration // longest delay between tries
	LeaseTTL    time.Duration // how long a shard's lease lasts unrenewed
	Poll        time.Duration // idle wait between reads of an empty stream
	Batch       int           // entries per read
	MaxInFlight int           // entries read and not done, per shard
	Logger      *zap.Logger
	Now         func() time.Time
	// Jitter returns a random duration in [0, d); default math/rand/v2.
	Jitter func(d time.Duration) time.Duration
}

// WithDefaults returns t with every zero field taken from def, Owner
// defaulting to prefix and 12 random hex digits, Logger to a no-op, Now
// to time.Now and Jitter to math/rand/v2.
func (t Tuning) WithDefaults(def Tuning, prefix string) Tuning {
	if t.Owner == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		t.Owner = prefix + hex.EncodeToString(b)
	}
	pick(&t.MaxAttempts, def.MaxAttempts)
	pick(&t.BaseBackoff, def.BaseBackoff)
	pick(&t.MaxBackoff, def.MaxBackoff)
	pick(&t.LeaseTTL, def.LeaseTTL)
	pick(&t.Poll, def.Poll)
	pick(&t.Batch, def.Batch)
	pick(&t.MaxInFlight, def.MaxInFlight)
	if t.Logger == nil {
		t.Logger = zap.NewNop()
	}
	if t.Now == nil {
		t.Now = time.Now
	}
	if t.Jitter == nil {
		t.Jitter = func(d time.Duration) time.Duration { return randv2.N(d) }
	}
	return t
}

func pick[N int | time.Duration](v *N, def N) {
	if *v <= 0 {
		*v = def
	}
}

// Backoff is the delay after the tries-th failed try: BaseBackoff doubled
// per try, capped at MaxBackoff, the upper half drawn at random ("equal
// jitter"), so that retries spread out but never come early.
func (t *Tuning) Backoff(tries int) time.Duration {
	d := t.BaseBackoff << min(max(tries-1, 0), 30)
	if d > t.MaxBackoff || d <= 0 {
		d = t.MaxBackoff
	}
	return d/2 + t.Jitter(d/2+1)
}
