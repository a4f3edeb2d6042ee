package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/store"
)

// archiveHealthTTL is how long one read of the archive's health serves
// /readyz and /metrics.
const archiveHealthTTL = time.Second

// archiveHealth reads the audit archive's health from Redis, where the
// archiver records it (in serve or in `optin-gateway archive`), cached for
// archiveHealthTTL. A failed read keeps the last values.
type archiveHealth struct {
	st  *store.Store
	now func() time.Time

	mu  sync.Mutex
	at  time.Time
	h   store.ArchiveHealth
	err error
}

func (w *archiveHealth) read(ctx context.Context) (store.ArchiveHealth, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if !w.at.IsZero() && now.Sub(w.at) < archiveHealthTTL {
		return w.h, w.err
	}
	h, err := w.st.ArchiveHealth(ctx, now)
	w.at, w.err = now, err
	if err == nil {
		w.h = h
	}
	return w.h, w.err
}

// archiveChecks is the /readyz check audit_archive, failing while the
// archiver cannot write the log or the outbox's oldest event is older than
// audit.max_lag, and registers the archive's metrics on m.
func archiveChecks(cfg *config.Config, st *store.Store, m *gateway.Metrics) []gateway.ReadyCheck {
	w := &archiveHealth{st: st, now: time.Now}
	gateway.RegisterArchiveMetrics(m, func() gateway.ArchiveStatus {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		h, _ := w.read(ctx)
		return gateway.ArchiveStatus{Healthy: !h.Known || h.Healthy, WriteErrors: h.WriteErrors}
	})
	maxLag := cfg.Audit.MaxLag
	return []gateway.ReadyCheck{{Name: "audit_archive", Check: func(ctx context.Context) error {
		h, err := w.read(ctx)
		switch {
		case err != nil:
			return errors.New("archive state cannot be read from redis")
		case h.Known && !h.Healthy:
			return errors.New("archive cannot write: " + h.Reason)
		case h.Lag > maxLag:
			return fmt.Errorf("archive lags %s behind, limit %s", shortDuration(h.Lag.Round(time.Second)), shortDuration(maxLag))
		}
		return nil
	}}}
}

// shortDuration is d without zero minutes and seconds at its end: 5m,
// 1h, 7m12s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// logArchiveState logs each change of the archiver's state, once.
func logArchiveState(log *zap.Logger) func(store.ArchiveChange, store.ArchiveState) {
	return func(c store.ArchiveChange, s store.ArchiveState) {
		switch c {
		case store.ArchiveFailing:
			log.Error("audit archive cannot write; retrying with smaller batches and backoff, events wait in the outbox (/readyz: audit_archive)",
				zap.String("reason", s.Reason), zap.Int("limit", s.Limit))
		case store.ArchiveWriting:
			log.Info("audit archive writing again", zap.Int("limit", s.Limit))
		case store.ArchiveLagging:
			log.Error("audit archive lags behind (/readyz: audit_archive)", zap.Duration("lag", s.Lag), zap.Duration("max_lag", s.MaxLag))
		case store.ArchiveCaughtUp:
			log.Info("audit archive caught up", zap.Duration("lag", s.Lag), zap.Duration("max_lag", s.MaxLag))
		}
	}
}
