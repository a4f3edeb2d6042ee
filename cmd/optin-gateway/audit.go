package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/store"
)

// operator is what the operator subcommands share: the configuration of
// serve (--config and the environment), a logger and the store.
type operator struct {
	cfg     *config.Config
	log     *zap.Logger
	stopLog func() // flushes the log
	st      *store.Store
}

// openOperator parses args into fs (which already has the command's own
// flags) plus --config, loads the configuration as serve does and opens
// the store. The command needs a real Redis: the embedded one of serve
// lives in serve's process.
func openOperator(ctx context.Context, fs *flag.FlagSet, args []string, getenv func(string) string, stderr io.Writer) (*operator, error) {
	cfgPath := fs.String("config", "", "configuration file (YAML); the environment overrides it, as for serve")
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return nil, err
	}
	if cfg.Embedded() {
		return nil, fmt.Errorf("%s: needs Redis: set OPTIN_REDIS_URL (the embedded Redis lives inside serve)", fs.Name())
	}
	log, stopLog, err := newLogger(cfg.Log.Format, cfg.Log.Level, stderr)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, storeOptions(cfg, cfg.RedisURL, cfg.MasterKey))
	if err != nil {
		stopLog()
		return nil, fmt.Errorf("%s: %w", fs.Name(), err)
	}
	return &operator{cfg: cfg, log: log, stopLog: stopLog, st: st}, nil
}

func (o *operator) close() {
	defer o.stopLog()
	o.st.Close()
	_ = o.log.Sync()
}

// newArchiver returns the archiver of cfg's audit log, logging what it
// recovers from.
func newArchiver(cfg *config.Config, st *store.Store, log *zap.Logger) *store.Archiver {
	return st.NewArchiver(archiverOptions(cfg, log))
}

// archiverOptions are the archiver's options from cfg: a failed write of
// the log is logged once per change of state (OnState), not per attempt.
func archiverOptions(cfg *config.Config, log *zap.Logger) store.ArchiverOptions {
	return store.ArchiverOptions{
		Dir:          cfg.Audit.Dir,
		Retention:    cfg.Audit.Retention,
		SegmentBytes: cfg.Audit.SegmentBytes,
		LeaseTTL:     cfg.Audit.LeaseTTL,
		MaxLag:       cfg.Audit.MaxLag,
		OnState:      logArchiveState(log),
		OnError:      func(err error) { log.Warn("archiver", zap.Error(err)) },
		OnLease:      func(token int64) { log.Info("archiver lease taken", zap.Int64("fencing_token", token)) },
		OnRepair: func(segment string, n int) {
			log.Warn("archiver cut off a torn last record", zap.String("segment", segment), zap.Int("bytes", n))
		},
	}
}

// runArchive runs the archiver on its own until ctx is done.
func runArchive(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	o, err := openOperator(ctx, newFlagSet("archive", stderr), args, getenv, stderr)
	if err != nil {
		return err
	}
	defer o.close()
	o.log.Info("archiving", zap.String("dir", o.cfg.Audit.Dir), zap.Duration("retention", o.cfg.Audit.Retention))
	if err := newArchiver(o.cfg, o.st, o.log).Run(ctx); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

const auditUsage = `usage: optin-gateway audit <command> [flags]

commands:
  verify    check the whole hash chain; exit 1 naming the first bad record
  evidence  print one subscriber's consent record (--tenant T --phone P)
`

// runAudit runs the audit subcommands.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch command(args) {
	case "verify":
		return runAuditVerify(ctx, args[1:], getenv, stdout, stderr)
	case "evidence":
		return runAuditEvidence(ctx, args[1:], getenv, stdout, stderr)
	}
	return badCommand(stderr, auditUsage, "audit: ", args)
}

// runAuditVerify verifies the audit log and, when Redis answers, checks it
// against the head the archiver recorded there.
func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit verify", stderr)
	offline := fs.Bool("offline", false, "check the files only, not the head recorded in Redis")
	cfgPath := fs.String("config", "", "configuration file (YAML); the environment overrides it, as for serve")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	sum, err := store.VerifyLog(cfg.Audit.Dir)
	if err == nil && !*offline && !cfg.Embedded() {
		var st *store.Store
		st, err = store.Open(ctx, storeOptions(cfg, cfg.RedisURL, cfg.MasterKey))
		if err != nil {
			return fmt.Errorf("audit verify: the files verify (%d records, head %s) but Redis cannot be reached to check the head (use --offline to skip): %w", sum.Records, sum.HeadHash, err)
		}
		defer st.Close()
		sum, err = st.AuditLog(cfg.Audit.Dir).Verify(ctx)
	}
	if err != nil {
		return fmt.Errorf("audit verify %s: %w", cfg.Audit.Dir, err)
	}
	fmt.Fprintf(stdout, "ok: %d records in %d segments (records %d..%d), head %s\n",
		sum.Records, sum.Segments, sum.FirstSeq, sum.HeadSeq, sum.HeadHash)
	return nil
}

// runAuditEvidence prints one subscriber's consent record as JSON.
func runAuditEvidence(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit evidence", stderr)
	tenant := fs.String("tenant", "", "tenant id")
	number := fs.String("phone", "", "the subscriber's number, E.164")
	o, err := openOperator(ctx, fs, args, getenv, stderr)
	if err != nil {
		return err
	}
	defer o.close()
	if *tenant == "" || *number == "" {
		return usageError{"audit evidence: --tenant and --phone are required"}
	}
	p, err := phone.Parse(*number)
	if err != nil {
		return usageError{"audit evidence: --phone: " + err.Error()}
	}
	ev, err := o.st.AuditLog(o.cfg.Audit.Dir).Evidence(ctx, *tenant, p)
	if err != nil {
		return fmt.Errorf("audit evidence: %w", err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(ev)
}

// runRebuild restores every subscriber's consent state into an empty Redis
// from the audit log.
func runRebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := openOperator(ctx, newFlagSet("rebuild", stderr), args, getenv, stderr)
	if err != nil {
		return err
	}
	defer o.close()
	start := time.Now()
	stats, err := o.st.AuditLog(o.cfg.Audit.Dir).Rebuild(ctx)
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("rebuild: %w (stop the gateway and point OPTIN_REDIS_URL at an empty Redis)", err)
	}
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	fmt.Fprintf(stdout, "rebuilt %d subscribers (%d campaign states) from %d archived records and %d outbox events in %v\n",
		stats.Subscribers, stats.Enrollments, stats.Records, stats.Pending, time.Since(start).Round(time.Millisecond))
	return nil
}

// startArchiver runs a inside serve until ctx is done; the channel closes
// when it has stopped. A damaged log stops the archiver, not the gateway:
// the events wait in the outbox.
func startArchiver(ctx context.Context, a *store.Archiver, log *zap.Logger) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Run(ctx); err != nil {
			log.Error("archiver stopped; events stay in the outbox until it runs again", zap.Error(err))
		}
	}()
	return done
}
