package store

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// instrument is the store's one go-redis hook: it counts a round trip per
// command and per pipeline and, when observe is set (Options.Observe),
// times it. The handshake go-redis runs once on each new connection
// (HELLO, AUTH, SELECT, CLIENT SETINFO) is left out: no message pays for it.
type instrument struct {
	n       *atomic.Uint64
	observe func(op string, d time.Duration, failed bool)
}

// failed reports an error other than a miss.
func failed(err error) bool { return err != nil && !errors.Is(err, redis.Nil) }

func (h instrument) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h instrument) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.around(ctx, cmd.Name(), []redis.Cmder{cmd}, func() error { return next(ctx, cmd) })
	}
}

func (h instrument) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.around(ctx, "pipeline", cmds, func() error { return next(ctx, cmds) })
	}
}

// around runs one round trip, counting and timing it unless it is part of
// a handshake.
func (h instrument) around(ctx context.Context, op string, cmds []redis.Cmder, do func() error) error {
	if handshake(cmds...) || ctx.Value(uncounted{}) != nil {
		return do()
	}
	h.n.Add(1)
	if h.observe == nil {
		return do()
	}
	start := time.Now()
	err := do()
	h.observe(op, time.Since(start), failed(err))
	return err
}
