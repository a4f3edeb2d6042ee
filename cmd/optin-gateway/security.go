package main

import (
	"context"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/security"
	"github.com/optin-gateway/optin-gateway/store"
)

// startSecurity runs the security sink of cfg on st until ctx is done:
// alerts go to the log, optin_security_alerts_total and, when set,
// OPTIN_SECURITY_ALERT_URL. The returned func waits for it (and the
// alerts in flight) to end.
func startSecurity(ctx context.Context, cfg *config.Config, st *store.Store, metrics *gateway.Metrics, log *zap.Logger) (*security.Sink, func()) {
	sm := gateway.NewSecurityMetrics(metrics)
	notifier := &security.Notifier{URL: cfg.Security.AlertURL, Secret: cfg.Security.AlertSecret, Log: log}
	sink := security.NewSink(security.Options{
		Backend: st,
		Rules: security.Rules(security.Limits{
			SignatureFailuresPerMinute: cfg.Security.SignatureFailuresPerMinute,
			RevealsPerHour:             cfg.Security.RevealsPerHour,
			ErasuresPerHour:            cfg.Security.ErasuresPerHour,
		}),
		OnAlert: func(a security.Alert) {
			log.Warn("security alert", zap.String("rule", a.Rule), zap.String("subject", a.Subject),
				zap.Int64("count", a.Count), zap.Int("limit", a.Limit), zap.Duration("window", a.Window))
			sm.CountAlert(a.Rule)
			notifier.Notify(a)
		},
		OnDrop: sm.CountDropped,
		Log:    log,
	})
	done := make(chan struct{})
	go func() { defer close(done); sink.Run(ctx) }()
	return sink, func() { <-done; notifier.Wait() }
}
