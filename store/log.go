package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// SetLogger sends go-redis's own diagnostics (failed dials, pool events),
// which it otherwise prints to standard error, to log instead. It sets a
// process-wide logger: call it once, before Open. The lines name addresses
// and errors, never a key or a value.
func SetLogger(log func(msg string)) {
	redis.SetLogger(printf(log))
}

type printf func(msg string)

func (f printf) Printf(_ context.Context, format string, v ...any) { f(fmt.Sprintf(format, v...)) }
