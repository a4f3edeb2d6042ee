package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const exampleConfig = "../../config/example.yaml"

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeEmbeddedWalkThrough runs the README's walk-through: serve the
// example configuration on the embedded Redis, then text JOIN, the code
// and STOP with the send subcommand.
func TestServeEmbeddedWalkThrough(t *testing.T) {
	addr := freeAddr(t)
	dataDir := t.TempDir()
	env := map[string]string{
		"OPTIN_ADDR":       addr,
		"OPTIN_PUBLIC_URL": "http://" + addr,
		"OPTIN_DATA_DIR":   dataDir,
		"OPTIN_LOG_FORMAT": "json",
	}
	getenv := func(k string) string { return env[k] }
	logs, stop := startServe(t, exampleConfig, env)
	send := func(text string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"send", "--config", exampleConfig, "--from", "+12125550123", text}, getenv, &out, &errOut); err != nil {
			t.Fatalf("send %q: %v %s", text, err, errOut.String())
		}
		return strings.TrimSpace(out.String())
	}
	prompt := send("JOIN")
	f := strings.Fields(prompt)
	if len(f) < 2 || f[0] != "Reply" {
		t.Fatalf("send JOIN printed %q; want the prompt with its code", prompt)
	}
	code := f[1]
	if got := send(code); !strings.HasPrefix(got, "You're subscribed to ACME Deals") {
		t.Fatalf("send <code> printed %q; want the confirmation", got)
	}
	if got := send("STOP"); !strings.HasPrefix(got, "You're unsubscribed") {
		t.Fatalf("send STOP printed %q; want the stop reply", got)
	}
	if got := send("hello"); got != "(no reply)" {
		t.Fatalf("send hello printed %q; want (no reply)", got)
	}

	stop()
	out := logs.String()
	if !strings.Contains(out, "EMBEDDED MODE") {
		t.Errorf("serve's log does not announce the embedded mode:\n%s", out)
	}
	for _, secret := range []string{"2125550123", code, "ACME Deals"} {
		if strings.Contains(out, secret) {
			t.Errorf("serve's log holds %q (a number, code or message text):\n%s", secret, out)
		}
	}
	fi, err := os.Stat(filepath.Join(dataDir, "master.key"))
	if err != nil {
		t.Fatalf("embedded master key: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode = %v; want 0600", fi.Mode().Perm())
	}
}

// startServe runs serve with the configuration file cfgPath and the
// environment env until it is healthy at env's OPTIN_ADDR. stop ends its
// context (as SIGTERM does) and waits for serve to return nil, a graceful
// shutdown; the test's end stops it too.
func startServe(tb testing.TB, cfgPath string, env map[string]string) (logs *syncBuffer, stop func()) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	logs = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfgPath}, func(k string) string { return env[k] }, logs, logs)
	}()
	waitHealthy(tb, "http://"+env["OPTIN_ADDR"], done)
	return logs, func() { tb.Helper(); stopServe(tb, cancel, done) }
}

// serveInBackground runs serve with the configuration file cfgPath and
// getenv, its log to logs, without waiting for it to be healthy. done
// receives what serve returns; stop (once, later calls do nothing) ends
// ctx, serve's context, and fails the test when serve returned an error.
func serveInBackground(tb testing.TB, cfgPath string, getenv func(string) string, logs io.Writer) (ctx context.Context, done <-chan error, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, []string{"serve", "--config", cfgPath}, getenv, io.Discard, logs) }()
	stopped := false
	return ctx, served, func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-served; err != nil {
				tb.Errorf("serve = %v", err)
			}
		}
	}
}

// stopServe ends serve's context and waits for serve to return nil.
func stopServe(tb testing.TB, cancel context.CancelFunc, done <-chan error) {
	tb.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			tb.Fatalf("serve after its context ended = %v; want nil (graceful shutdown)", err)
		}
	case <-time.After(20 * time.Second):
		tb.Fatal("serve did not return 20 s after its context ended")
	}
}

// waitHealthy polls base/healthz until it answers 200, failing when serve
// returns first.
func waitHealthy(tb testing.TB, base string, done <-chan error) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			tb.Fatalf("serve returned before it was healthy: %v", err)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatal("serve not healthy after 20 s")
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no command", nil, 2},
		{"unknown command", []string{"frobnicate"}, 2},
		{"send without from", []string{"send", "--config", exampleConfig, "JOIN"}, 2},
		{"send with a bad from", []string{"send", "--config", exampleConfig, "--from", "12345", "JOIN"}, 2},
		{"serve with a bad flag", []string{"serve", "--nope"}, 2},
		{"serve with a missing file", []string{"serve", "--config", "does-not-exist.yaml"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, func(string) string { return "" }, &out, &errOut)
			if err == nil {
				t.Fatalf("run(%q) = nil; want an error", tt.args)
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("run(%q) exit code = %d (%v); want %d", tt.args, got, err, tt.code)
			}
		})
	}
}

func TestServeRefusesInvalidConfig(t *testing.T) {
	env := map[string]string{"OPTIN_MASTER_KEY": "not-base64"}
	var logs bytes.Buffer
	err := run(context.Background(), []string{"serve", "--config", exampleConfig}, func(k string) string { return env[k] }, &logs, &logs)
	if err == nil || !strings.Contains(err.Error(), "OPTIN_MASTER_KEY") {
		t.Fatalf("serve with a bad OPTIN_MASTER_KEY = %v; want an error naming it", err)
	}
}
