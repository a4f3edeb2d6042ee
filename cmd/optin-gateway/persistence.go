package main

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/store"
)

// persistenceOptions is the store's check of Redis's persistence in the
// mode of OPTIN_REDIS_PERSISTENCE, telling log and m of each change. The
// embedded Redis keeps nothing across a restart by design: not checked.
func persistenceOptions(cfg *config.Config, log *zap.Logger, m *gateway.Metrics) store.PersistenceOptions {
	if cfg.Embedded() {
		return store.PersistenceOptions{}
	}
	pm := gateway.NewPersistenceMetrics(m)
	log = log.Named("redis")
	mode := cfg.RedisPersistence
	var wasBad bool
	return store.PersistenceOptions{
		Mode: mode,
		OnChange: func(ps store.PersistenceState) {
			pm.SetOK(ps.OK)
			if ps.Restarted {
				log.Warn("redis restarted: it reloaded its data from disk", zap.Any("run_ids", ps.RunIDs))
			}
			if ps.TruncatedLoad {
				pm.CountTruncatedLoad()
				log.Error("REDIS RESTARTED WITH aof-load-truncated yes (or not readable): it may have loaded a cut AOF tail without an error, "+
					"so acknowledged consent writes may be gone; look for \"loaded anyway because aof-load-truncated is enabled\" in Redis's log "+
					"and see docs/operations.md, Redis persistence", zap.Any("run_ids", ps.RunIDs))
			}
			switch {
			case !ps.OK && mode == store.PersistenceRefuse:
				log.Error("REDIS DOES NOT PERSIST WHAT IT ACKNOWLEDGES: consent writes are refused (503; STOPs go to the spool) until it does",
					zap.String("reason", ps.Reason), zap.String("note", ps.Note), zap.String("mode", mode))
			case !ps.OK:
				log.Error("REDIS DOES NOT PERSIST WHAT IT ACKNOWLEDGES: carrying on (OPTIN_REDIS_PERSISTENCE=warn); acknowledged consent writes may be lost",
					zap.String("reason", ps.Reason), zap.String("note", ps.Note), zap.String("mode", mode))
			case wasBad:
				log.Info("redis persistence ok again", zap.String("note", ps.Note))
			case ps.Note != "":
				log.Warn("redis persistence judged from INFO alone", zap.String("note", ps.Note))
			}
			wasBad = !ps.OK
		},
	}
}

// persistenceChecks is the /readyz check redis_persistence: failing, in
// refuse mode, while Redis does not persist what it acknowledges.
func persistenceChecks(cfg *config.Config, st *store.Store) []gateway.ReadyCheck {
	if cfg.Embedded() || cfg.RedisPersistence != store.PersistenceRefuse {
		return nil
	}
	return []gateway.ReadyCheck{{Name: "redis_persistence", Check: func(context.Context) error {
		ps, _ := st.Persistence()
		if !ps.OK {
			return errors.New("redis does not persist what it acknowledges: " + ps.Reason)
		}
		return nil
	}}}
}
