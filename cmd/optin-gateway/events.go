package main

import (
	"context"
	"sync"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/events"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/store"
)

// startEvents runs the event webhooks' delivery workers when the
// configuration asks for them, until ctx is done; the returned function
// waits for them to stop.
func startEvents(ctx context.Context, cfg *config.Config, st *store.Store, metrics *gateway.Metrics, log *zap.Logger) (func(), error) {
	if !cfg.Events.Delivery {
		return func() {}, nil
	}
	e := cfg.Events
	w, err := events.New(events.Options{
		Queue:  st,
		Client: egressPolicy(cfg).Client(),
		Tuning: lanes.Tuning{
			MaxAttempts: e.MaxAttempts, BaseBackoff: e.BaseBackoff, MaxBackoff: e.MaxBackoff,
			Logger: log.Named("events"),
		},
		Timeout:  e.Timeout,
		OnResult: metrics.ObserveEventDelivery,
	})
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			log.Error("event delivery stopped", zap.Error(err))
		}
	})
	log.Info("event delivery running", zap.String("owner", w.Owner()))
	return wg.Wait, nil
}
