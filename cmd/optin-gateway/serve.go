package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/spool"
	"github.com/optin-gateway/optin-gateway/store"
)

// runServe runs the gateway until ctx is done (SIGTERM, SIGINT), then
// shuts it down gracefully: in-flight requests finish.
func runServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML); the environment overrides it")
	benchRoutes := fs.Bool("bench-routes", false, "serve the benchmark-only routes /bench/hello and /bench/baseline (never in production; also OPTIN_BENCH_ROUTES=true)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	cfg.BenchRoutes = cfg.BenchRoutes || *benchRoutes
	tuneGC(getenv)
	log, stopLog, err := newLogger(cfg.Log.Format, cfg.Log.Level, stderr)
	if err != nil {
		return err
	}
	defer stopLog()
	redisLog := log.Named("redis")
	store.SetLogger(func(msg string) { redisLog.Warn(msg) })

	redisURL, masterKey := cfg.RedisURL, cfg.MasterKey
	if cfg.Embedded() {
		m := miniredis.NewMiniRedis()
		m.ClockTTL(true)
		if err := m.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("serve: embedded redis: %w", err)
		}
		defer m.Close()
		redisURL = "redis://" + m.Addr()
		if masterKey == nil {
			if masterKey, err = embeddedMasterKey(cfg.DataDir); err != nil {
				return err
			}
		}
		log.Warn("EMBEDDED MODE: no OPTIN_REDIS_URL, so state lives in an in-process Redis that is lost on exit, " +
			"and the master key was generated under OPTIN_DATA_DIR. For trying the gateway out only: " +
			"set OPTIN_REDIS_URL and OPTIN_MASTER_KEY in production.")
	}

	metrics := gateway.NewMetrics()
	sopts := storeOptions(cfg, redisURL, masterKey)
	sopts.Observe = metrics.ObserveRedis
	sopts.Persistence = persistenceOptions(cfg, log, metrics)
	st, err := store.Open(ctx, sopts)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer st.Close()

	// Revocations that arrive while Redis is unreachable wait in a local
	// spool; the embedded Redis cannot be unreachable.
	var sp *spool.Spool
	var gwSpool gateway.Spool
	if !cfg.Embedded() {
		if sp, err = openSpool(cfg.DataDir, sopts); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		defer sp.Close()
		gwSpool = sp
	}
	if cfg.Audit.ArchiveInServe {
		actx, cancel := context.WithCancel(ctx)
		done := startArchiver(actx, newArchiver(cfg, st, log), log)
		defer func() { cancel(); <-done }()
	}

	modes, err := replyModes(cfg)
	if err != nil {
		return err
	}
	provs, err := providers(cfg)
	if err != nil {
		return err
	}
	// The file's tenants, campaigns and numbers bootstrap the
	// configuration store: written where absent, then the admin API owns them.
	if n, err := st.BootstrapConfig(ctx, cfg.ConfigSet(), time.Now()); err != nil {
		return fmt.Errorf("serve: bootstrap configuration: %w", err)
	} else if n > 0 {
		log.Info("configuration bootstrapped from the file", zap.Int("documents", n))
	}
	secCtx, stopSecurity := context.WithCancel(ctx)
	sink, waitSecurity := startSecurity(secCtx, cfg, st, metrics, log)
	defer func() { stopSecurity(); waitSecurity() }()
	srv, err := gateway.New(gateway.Options{
		PublicURL:  cfg.PublicURL,
		AdminToken: cfg.AdminToken,
		Numbers:    cfg.Numbers(),
		ReplyModes: modes,
		Store:      st,
		Providers:  provs,
		Logger:     log,
		Metrics:    metrics,
		HTTP: gateway.HTTPOptions{
			MaxBodyBytes:   cfg.MaxBodyBytes,
			RequestTimeout: cfg.RequestTimeout,
			Timeouts:       cfg.HTTP.HTTPTimeouts,
			TrustedProxies: cfg.TrustedProxies,
			AdminAddr:      cfg.HTTP.AdminAddr,
			BenchRoutes:    cfg.BenchRoutes,
		},
		Console: gateway.ConsoleOptions{
			Key:      consoleKey(cfg, masterKey),
			Sessions: st,
			Idle:     cfg.Console.IdleTimeout,
		},
		Services: gateway.Services{
			Audit:       st.AuditLog(cfg.Audit.Dir),
			Privacy:     st.AuditLog(cfg.Audit.Dir).WithRetention(cfg.Audit.Retention),
			Consent:     st,
			Config:      st,
			Webhooks:    st.WebhookAdmin(cfg.Audit.Dir),
			Egress:      egressPolicy(cfg),
			Security:    sink,
			Outbound:    st,
			Spool:       gwSpool,
			ReadyChecks: append(persistenceChecks(cfg, st), archiveChecks(cfg, st, metrics)...),
		},
	})
	if err != nil {
		return err
	}
	// The workers stop in the reverse order: the event workers, then the
	// senders.
	for _, start := range []func(context.Context, *config.Config, *store.Store, *gateway.Metrics, *zap.Logger) (func(), error){startSenders, startEvents} {
		wctx, stop := context.WithCancel(ctx)
		wait, err := start(wctx, cfg, st, metrics, log)
		if err != nil {
			stop()
			return err
		}
		defer func() { stop(); wait() }()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(cfg.Addr) }()
	replayCtx, stopReplay := context.WithCancel(ctx)
	replayed := make(chan struct{})
	go func() {
		defer close(replayed)
		if sp != nil {
			replaySpool(replayCtx, sp, srv, log)
		}
	}()
	defer func() { stopReplay(); <-replayed }()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { defer close(watched); watchBacklog(watchCtx, st, metrics) }()
	defer func() { stopWatch(); <-watched }()
	cfgCtx, stopCfg := context.WithCancel(ctx)
	cfgWatched := make(chan struct{})
	go func() { defer close(cfgWatched); srv.WatchConfig(cfgCtx, gateway.DefaultConfigPoll) }()
	defer func() { stopCfg(); <-cfgWatched }()
	webhooks := make([]string, 0, len(provs))
	for _, p := range provs {
		webhooks = append(webhooks, cfg.PublicURL+"/v1/webhooks/"+p.Info().Name+"/sms")
	}
	log.Info("serving",
		zap.String("addr", cfg.Addr),
		zap.String("admin_addr", cfg.HTTP.AdminAddr),
		zap.Strings("webhooks", webhooks),
		zap.Int("numbers", len(cfg.Numbers())),
		zap.Bool("embedded_redis", cfg.Embedded()),
		zap.Bool("bench_routes", cfg.BenchRoutes))
	if cfg.BenchRoutes {
		log.Warn("BENCHMARK ROUTES ON: /bench/hello and /bench/baseline are served; never in production")
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", zap.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return <-errc
}

// embeddedMasterKey reads the generated master key of the embedded mode
// from dataDir, creating it on first use (mode 0600).
func embeddedMasterKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, "master.key")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(key) != store.MasterKeySize {
			return nil, fmt.Errorf("serve: %s: not base64 of %d bytes", path, store.MasterKeySize)
		}
		return key, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("serve: read master key: %w", err)
	}
	key := make([]byte, store.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("serve: data dir: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("serve: write master key: %w", err)
	}
	return key, nil
}

// newLogger returns a zap logger: JSON for production, coloured console
// lines for development, buffered (logsink.go); stop flushes the buffer and
// stops its flushing goroutine.
func newLogger(format, level string, w io.Writer) (log *zap.Logger, stop func(), err error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, nil, fmt.Errorf("log level: %w", err)
	}
	var enc zapcore.Encoder
	switch format {
	case "console":
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		enc = zapcore.NewConsoleEncoder(ec)
	default:
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	ws := newLogSink(w)
	core := flushOnError{zapcore.NewCore(enc, ws, lvl), ws}
	stop = func() { _ = ws.Stop() }
	return zap.New(core, zap.ErrorOutput(zapcore.AddSync(w))), stop, nil
}

// backlogEvery is how often serve reads the workers' backlog for /metrics.
const backlogEvery = 5 * time.Second

// watchBacklog sets the archiver lag and outbound queue depth gauges from
// Redis every backlogEvery, until ctx ends. A failed read leaves them as
// they were: Redis being away shows in the Redis metrics already.
func watchBacklog(ctx context.Context, st *store.Store, m *gateway.Metrics) {
	t := time.NewTicker(backlogEvery)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		b, err := st.Backlog(rctx, time.Now())
		cancel()
		if err == nil {
			m.SetArchiverLag(b.ArchiveLag)
			m.SetOutboundQueueDepth(int(b.Queued))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// consoleKey is the key material of the support console's sessions: the
// master key, or the newest of OPTIN_MASTER_KEYS (a rotation then signs
// the agents out).
func consoleKey(cfg *config.Config, master []byte) []byte {
	if master == nil && len(cfg.MasterKeys) > 0 {
		return cfg.MasterKeys[0].Key
	}
	return master
}
