package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestServeArchiveHealth runs serve on a real Redis, and the archiver as
// `optin-gateway archive` would, beside it, on a disk that is full: serve's
// /readyz answers 503 naming audit_archive and the reason, the metrics
// show it, and the archiver logs one line for the change however many
// writes fail. Once the disk has room, /readyz is 200 again, with one more
// line. An outbox event older than OPTIN_AUDIT_MAX_LAG fails /readyz too.
func TestServeArchiveHealth(t *testing.T) {
	srv := redistest.Start(t)
	addr := freeAddr(t)
	dataDir := t.TempDir()
	cfgPath := writeFaultConfig(t, srv.URL(), dataDir, false)
	env := map[string]string{"OPTIN_ADDR": addr, "OPTIN_AUDIT_MAX_LAG": "5m"}
	getenv := func(k string) string { return env[k] }
	ctx, _, stop := serveInBackground(t, cfgPath, getenv, io.Discard)
	defer stop()
	base := "http://" + addr
	waitHTTP(t, base+"/readyz")

	// The archiver, on a disk with no room left.
	cfg, err := config.Load(cfgPath, getenv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, storeOptions(cfg, cfg.RedisURL, cfg.MasterKey))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	logs := &syncBuffer{}
	log, stopLog, err := newLogger("json", "info", logs)
	if err != nil {
		t.Fatal(err)
	}
	var full atomic.Bool
	var failures atomic.Int64
	full.Store(true)
	opts := archiverOptions(cfg, log)
	opts.WriteSegment = func(f *os.File, b []byte) (int, error) {
		if full.Load() {
			failures.Add(1)
			return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.Write(b)
	}
	opts.Pause = func(ctx context.Context, d time.Duration) { time.Sleep(time.Millisecond) } // a fast clock
	actx, stopArchiver := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := st.NewArchiver(opts).Run(actx); err != nil {
			t.Errorf("archiver: %v", err)
		}
	}()
	defer func() { stopArchiver(); wg.Wait() }()

	if code := postSMS(t, base, "SM"+strings.Repeat("a", 31)+"1", "+12025550100", "JOIN"); code != http.StatusOK {
		t.Fatalf("JOIN = %d; want 200", code)
	}
	waitUntil(t, "20 failed writes", func() bool { return failures.Load() >= 20 })
	waitReady(t, base, http.StatusServiceUnavailable, `"check":"audit_archive"`, `"reason":"archive cannot write: no space left on device"`)
	_, m := getAuth(t, base+"/metrics")
	if !strings.Contains(m, "optin_archive_healthy 0") || strings.Contains(m, "optin_archive_write_errors_total 0\n") || !strings.Contains(m, "optin_archive_write_errors_total ") {
		t.Errorf("metrics on a full disk hold %q; want optin_archive_healthy 0 and write errors counted", grepLines(m, "optin_archive_"))
	}

	full.Store(false)
	waitReady(t, base, http.StatusOK, `"status":"ready"`)
	if _, m := getAuth(t, base+"/metrics"); !strings.Contains(m, "optin_archive_healthy 1") {
		t.Errorf("metrics once the disk has room hold %q; want optin_archive_healthy 1", grepLines(m, "optin_archive_"))
	}
	waitUntil(t, "optin_archiver_lag_seconds 0", func() bool {
		_, m := getAuth(t, base+"/metrics")
		return strings.Contains(m, "optin_archiver_lag_seconds 0\n")
	})
	stopArchiver()
	wg.Wait()
	stopLog()
	n := failures.Load()
	if got := strings.Count(logs.String(), "audit archive cannot write"); got != 1 {
		t.Errorf("%d log lines say the archive cannot write after %d failed writes; want 1:\n%s", got, n, logs)
	}
	if got := strings.Count(logs.String(), "audit archive writing again"); got != 1 {
		t.Errorf("%d log lines say the archive writes again; want 1:\n%s", got, logs)
	}
	if got := strings.Count(logs.String(), `"level":"warn"`); got != 0 {
		t.Errorf("%d warnings in the archiver's log; want the failed writes told once, as an error:\n%s", got, logs)
	}

	// An event ten minutes old, with no archiver running, in a shard
	// stream that has had no entry yet.
	old := fmt.Sprintf("%d-0", time.Now().Add(-10*time.Minute).UnixMilli())
	rdb := srv.Client(t)
	added := false
	for shard := range 4 {
		if rdb.XAdd(ctx, &redis.XAddArgs{Stream: store.OutboxKey(shard), ID: old, Values: []any{"e", "{}"}}).Err() == nil {
			added = true
			break
		}
	}
	if !added {
		t.Fatal("no shard stream took an entry ten minutes old")
	}
	waitReady(t, base, http.StatusServiceUnavailable, `"check":"audit_archive"`, `"reason":"archive lags 10m`, `behind, limit 5m"`)
	waitUntil(t, "optin_archiver_lag_seconds 60x (read every 5 s)", func() bool {
		_, m := getAuth(t, base+"/metrics")
		return strings.Contains(m, "optin_archiver_lag_seconds 60")
	})
}

// waitUntil polls cond for up to a minute.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting for %s after a minute", what)
		}
	}
}

// waitReady polls /readyz until it answers status with a body holding
// every one of want.
func waitReady(tb testing.TB, base string, status int, want ...string) {
	tb.Helper()
	var code int
	var body string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		code, body = get(tb, base+"/readyz")
		ok := code == status
		for _, w := range want {
			ok = ok && strings.Contains(body, w)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("readyz = %d %s; want %d holding %q", code, body, status, want)
		}
	}
}

// grepLines returns the lines of s that start with prefix.
func grepLines(s, prefix string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func TestShortDuration(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"},
		{7*time.Minute + 12*time.Second, "7m12s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{30 * time.Second, "30s"},
	} {
		if got := shortDuration(tc.d); got != tc.want {
			t.Errorf("shortDuration(%v) = %q; want %q", tc.d, got, tc.want)
		}
	}
}
