// Package store keeps the gateway's state in Redis: subscribers, pending
// codes, idempotency records and the audit outbox. go-redis types never
// leave this package; its failures come back as the optin sentinels.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Defaults of Options.
const (
	DefaultShards         = 16
	DefaultIdempotencyTTL = 48 * time.Hour
	DefaultHistoryLen     = 100
)

// Options configure a Store.
type Options struct {
	// URL is a redis:// or rediss:// URL of one Redis, or a
	// redis+cluster:// (rediss+cluster:// for TLS) URL of a Redis Cluster
	// listing one or more seed nodes: redis+cluster://host:port,host:port.
	// See ParseURL.
	URL string
	// MasterKey is one 32-byte master key (id DefaultKeyID) when
	// MasterKeys is empty, and the pseudonym key when PseudonymKey is.
	MasterKey []byte
	// MasterKeys are the master keys, newest first: the newest wraps new
	// data keys, every one unwraps what it wrapped (see Rotate).
	MasterKeys []MasterKey
	// PseudonymKey is the 32-byte key subscribers' pseudonyms derive from;
	// MasterKey when nil. It never rotates: pseudonyms must stay stable.
	PseudonymKey []byte
	// Shards is how many outbox streams (and hash slots) subscribers are
	// spread over. It must not change once data exists.
	Shards int
	// IdempotencyTTL is how long a provider message id is remembered.
	IdempotencyTTL time.Duration
	// HistoryLen is how many events per subscriber stay in Redis for the
	// support view.
	HistoryLen int
	// Observe, when set, is told of every round trip to Redis (handshakes
	// left out): op is the command name or "pipeline", failed whether it
	// returned an error other than a miss. It must be fast and safe for
	// concurrent use; gateway.Metrics.ObserveRedis is one.
	Observe func(op string, d time.Duration, failed bool)
	// SubscriberCache is about how many subscribers' read sets (state,
	// wrapped data key, sealed codes: as Redis holds them) the store keeps
	// in memory so that a message is decided without a read (see Load):
	// DefaultSubscriberCache when 0, none when negative (every Load reads
	// Redis). The cache takes 1 KiB of off-heap memory per subscriber of
	// it (at least 64 MiB once full; an entry is ~460 bytes).
	SubscriberCache int
	// SubscriberCacheIdle is how long an unused entry of the cache is
	// kept; DefaultSubscriberCacheIdle when 0.
	SubscriberCacheIdle time.Duration
	// Persistence checks that Redis persists what it acknowledges
	// (persistence.go); its zero value checks nothing.
	Persistence PersistenceOptions
}

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	rdb        redis.UniversalClient
	pseudonyms *Pseudonymizer
	shards     int
	idemTTL    time.Duration
	historyLen int
	roundTrips atomic.Uint64
	keys       *Keyring
	cache      *subscriberCache
	persist    *persistence // nil: not checked
}

// Open connects to Redis at opts.URL and checks that it answers.
func Open(ctx context.Context, opts Options) (*Store, error) {
	rdb, err := newClient(opts.URL)
	if err != nil {
		return nil, err
	}
	pk := opts.PseudonymKey
	if pk == nil {
		pk = opts.MasterKey
	}
	p, err := NewPseudonymizer(pk)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	masters := opts.MasterKeys
	if len(masters) == 0 {
		masters = []MasterKey{{ID: DefaultKeyID, Key: opts.MasterKey}}
	}
	keys, err := NewKeyring(masters)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s := &Store{
		rdb:        rdb,
		pseudonyms: p,
		shards:     cmp(opts.Shards, DefaultShards),
		idemTTL:    cmp(opts.IdempotencyTTL, DefaultIdempotencyTTL),
		historyLen: cmp(opts.HistoryLen, DefaultHistoryLen),
		keys:       keys,
	}
	s.rdb.AddHook(instrument{n: &s.roundTrips, observe: opts.Observe})
	if err := s.Ping(ctx); err != nil {
		s.rdb.Close()
		return nil, err
	}
	// Loading the script now spares the first webhook an EVALSHA miss.
	if err := applyScript.Load(ctx, s.rdb).Err(); err != nil {
		s.rdb.Close()
		return nil, translate("load script", err)
	}
	s.cache = newSubscriberCache(opts.SubscriberCache, opts.SubscriberCacheIdle)
	if err := s.startPersistence(ctx, opts.Persistence); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func cmp[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Close closes the connections to Redis.
func (s *Store) Close() error {
	s.stopPersistence()
	s.cache.close()
	return s.rdb.Close()
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	return translate("ping", s.rdb.Ping(ctx).Err())
}

// Shards returns the number of outbox shards.
func (s *Store) Shards() int { return s.shards }

// RoundTrips returns how many round trips to Redis the store has made: one
// per command or pipeline.
func (s *Store) RoundTrips() uint64 { return s.roundTrips.Load() }

// translate maps Redis and network failures to the optin sentinels.
func translate(op string, err error) error {
	var netErr net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return fmt.Errorf("store: %s: %w", op, optin.ErrNotFound)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("store: %s: %w", op, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		isLoading(err):
		return fmt.Errorf("store: %s: %w: %w", op, optin.ErrUnavailable, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// isLoading reports a Redis that is up but still loading its data set, or
// otherwise unable to serve (LOADING, MASTERDOWN, TRYAGAIN, CLUSTERDOWN).
func isLoading(err error) bool {
	var re redis.Error
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, p := range []string{"LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY"} {
		if len(msg) >= len(p) && msg[:len(p)] == p {
			return true
		}
	}
	return false
}

// handshake reports whether every command of cmds is part of a
// connection's opening handshake.
func handshake(cmds ...redis.Cmder) bool {
	for _, c := range cmds {
		switch c.Name() {
		case "hello", "auth", "select", "client":
		default:
			return false
		}
	}
	return len(cmds) > 0
}
