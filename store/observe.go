package store

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// observer is a go-redis hook that times every round trip but the
// connection handshake (see roundTripCounter) for Options.Observe.
type observer func(op string, d time.Duration, failed bool)

// failed reports an error other than a miss.
func failed(err error) bool { return err != nil && !errors.Is(err, redis.Nil) }

func (o observer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (o observer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake(cmd) {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		o(cmd.Name(), time.Since(start), failed(err))
		return err
	}
}

func (o observer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if handshake(cmds...) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		o("pipeline", time.Since(start), failed(err))
		return err
	}
}
