package main

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestPersistenceFsyncModes: with appendfsync everysec, refuse mode makes
// the redis_persistence ready check fail naming it; warn mode passes it
// and logs one error line however often Redis is asked.
func TestPersistenceFsyncModes(t *testing.T) {
	for _, mode := range []string{config.PersistenceRefuse, config.PersistenceWarn} {
		t.Run(mode, func(t *testing.T) {
			srv := redistest.Start(t)
			cfg := &config.Config{RedisURL: srv.URL(), RedisPersistence: mode}
			core, logs := observer.New(zapcore.InfoLevel)
			popts := persistenceOptions(cfg, zap.New(core), gateway.NewMetrics())
			st, err := store.Open(context.Background(), store.Options{URL: srv.URL(), MasterKey: make([]byte, store.MasterKeySize), Persistence: popts})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			checks := persistenceChecks(cfg, st)
			if err := srv.Client(t).ConfigSet(context.Background(), "appendfsync", "everysec").Err(); err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if _, err := st.CheckPersistence(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			bad := logs.FilterMessageSnippet("REDIS DOES NOT PERSIST").All()
			if len(bad) != 1 || bad[0].Level != zapcore.ErrorLevel {
				t.Errorf("%d REDIS DOES NOT PERSIST lines (%v); want one, at error level", len(bad), bad)
			}
			switch mode {
			case config.PersistenceRefuse:
				if len(checks) != 1 || checks[0].Name != "redis_persistence" {
					t.Fatalf("ready checks %v; want redis_persistence", checks)
				}
				if err := checks[0].Check(context.Background()); err == nil || !strings.Contains(err.Error(), "appendfsync everysec") {
					t.Errorf("redis_persistence check = %v; want an error naming appendfsync everysec", err)
				}
			case config.PersistenceWarn:
				if len(checks) != 0 {
					t.Errorf("ready checks in warn mode %v; want none", checks)
				}
			}
		})
	}
}
