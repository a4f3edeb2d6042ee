package main

import (
	"context"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/spool"
	"github.com/optin-gateway/optin-gateway/store"
)

const (
	// spoolReplayInterval is how often the replayer looks for spooled
	// revocations; with Redis back, one is applied within about this long.
	spoolReplayInterval = 200 * time.Millisecond
	// spoolReplayTimeout bounds the store calls of one record.
	spoolReplayTimeout = 5 * time.Second
)

// openSpool opens the revocation spool in dataDir/spool. It is encrypted
// under a key derived from the newest master key of opts, each line tagged
// with its id; older keys still open older lines.
func openSpool(dataDir string, opts store.Options) (*spool.Spool, error) {
	keys := make([]spool.Key, 0, len(opts.MasterKeys)+1)
	for _, k := range opts.MasterKeys {
		keys = append(keys, spool.Key{ID: k.ID, Key: k.Key})
	}
	if len(keys) == 0 {
		keys = append(keys, spool.Key{ID: store.DefaultKeyID, Key: opts.MasterKey})
	}
	return spool.OpenKeys(filepath.Join(dataDir, "spool"), keys)
}

// replaySpool applies spooled revocations through srv, every
// spoolReplayInterval, until ctx is done; also once at start, for what a
// previous run left. A record that fails (Redis still unreachable) is
// tried again on the next round; records are idempotent by message id.
func replaySpool(ctx context.Context, sp *spool.Spool, srv *gateway.Server, log *zap.Logger) {
	t := time.NewTicker(spoolReplayInterval)
	defer t.Stop()
	failing := false
	for {
		if pending, err := sp.Pending(); err != nil || pending {
			st, err := sp.Replay(func(rec []byte) error {
				rctx, cancel := context.WithTimeout(ctx, spoolReplayTimeout)
				defer cancel()
				return srv.ReplaySpooled(rctx, rec)
			})
			switch {
			case err != nil && !failing:
				log.Warn("spool: replay stopped, will retry", zap.Int("applied", st.Applied), zap.Error(err))
				failing = true
			case err == nil:
				log.Info("spool: replayed", zap.Int("applied", st.Applied), zap.Int("corrupt", st.Corrupt), zap.Int("torn", st.Torn))
				failing = false
			}
			if st.Corrupt > 0 {
				log.Error("spool: undecryptable lines skipped (another master key, or damaged)", zap.Int("corrupt", st.Corrupt))
			}
			if st.Torn > 0 {
				log.Warn("spool: torn tails skipped (writes cut short by a full disk or a crash, never acknowledged)", zap.Int("torn", st.Torn))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
