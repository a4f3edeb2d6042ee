package redistest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestMain fails the package when goroutines outlive the tests: every
// server's waiter and every client must be gone after the cleanups.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		if err := waitGoroutines(before, 5*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func waitGoroutines(want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got := runtime.NumGoroutine()
		if got <= want {
			return nil
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			return fmt.Errorf("goroutine leak: got %d goroutines after the tests; want %d\n%s", got, want, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStartPing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)

	if got, err := rdb.Ping(t.Context()).Result(); err != nil || got != "PONG" {
		t.Fatalf("PING = %q, %v; want PONG, nil", got, err)
	}
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatalf("SplitHostPort(%q): %v", srv.Addr(), err)
	}
	if n, err := strconv.Atoi(port); host != "127.0.0.1" || err != nil || n <= 0 {
		t.Errorf("Addr() = %q; want 127.0.0.1:<port>", srv.Addr())
	}
	if got, want := srv.URL(), "redis://"+srv.Addr()+"/0"; got != want {
		t.Errorf("URL() = %q; want %q", got, want)
	}
	opt, err := redis.ParseURL(srv.URL())
	if err != nil || opt.Addr != srv.Addr() || opt.DB != 0 {
		t.Errorf("redis.ParseURL(%q) = %+v, %v; want Addr %s, DB 0", srv.URL(), opt, err, srv.Addr())
	}
	if fi, err := os.Stat(srv.Dir()); err != nil || !fi.IsDir() {
		t.Errorf("Stat(Dir() = %q) = %v; want a directory", srv.Dir(), err)
	}
}

// TestConfig checks that the server runs with the durability settings the
// gateway is deployed with, and that WithArgs adds to them.
func TestConfig(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t, redistest.WithArgs("--maxmemory", "10mb"))
	rdb := srv.Client(t)

	tests := []struct {
		param string
		want  string
	}{
		{"appendonly", "yes"},
		{"appendfsync", "always"},
		{"save", ""},
		{"bind", "127.0.0.1"},
		{"dir", srv.Dir()},
		{"maxmemory", strconv.Itoa(10 << 20)},
	}
	for _, tt := range tests {
		t.Run(tt.param, func(t *testing.T) {
			got, err := rdb.ConfigGet(t.Context(), tt.param).Result()
			if err != nil {
				t.Fatalf("CONFIG GET %s: %v", tt.param, err)
			}
			if got[tt.param] != tt.want {
				t.Errorf("CONFIG GET %s = %q; want %q", tt.param, got[tt.param], tt.want)
			}
		})
	}
}

func TestStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	addr := srv.Addr()
	writeKeys(t, rdb, 100)

	srv.Stop(t)
	checkDown(t, srv.Addr())
	srv.Stop(t) // stopping twice is harmless
	if _, err := os.Stat(filepath.Join(srv.Dir(), "appendonlydir")); err != nil {
		t.Errorf("append-only directory after Stop: %v", err)
	}

	srv.Restart(t)
	if got := srv.Addr(); got != addr {
		t.Errorf("Addr() after Restart = %q; want %q", got, addr)
	}
	checkKeys(t, rdb, 100) // the old client reconnects
	checkKeys(t, srv.Client(t), 100)

	srv.Restart(t) // restarting a running server stops it first
	checkKeys(t, rdb, 100)
}

func TestKillRestartKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	writeKeys(t, rdb, 200)
	if err := rdb.Incr(t.Context(), "counter").Err(); err != nil {
		t.Fatalf("INCR counter: %v", err)
	}

	srv.Kill(t)
	checkDown(t, srv.Addr())
	srv.Restart(t)

	checkKeys(t, rdb, 200)
	if got, err := rdb.Get(t.Context(), "counter").Result(); err != nil || got != "1" {
		t.Errorf("GET counter after Kill and Restart = %q, %v; want \"1\", nil", got, err)
	}
}

func TestParallelServersAreSeparate(t *testing.T) {
	t.Parallel()
	const n = 4
	servers := make([]*redistest.Server, n)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Go(func() { servers[i] = redistest.Start(t) })
	}
	wg.Wait()

	seen := map[string]bool{}
	for i, srv := range servers {
		if seen[srv.Addr()] {
			t.Errorf("server %d Addr() = %q; want an address no other server has", i, srv.Addr())
		}
		seen[srv.Addr()] = true
		if err := srv.Client(t).Set(t.Context(), "owner", i, 0).Err(); err != nil {
			t.Fatalf("server %d: SET owner: %v", i, err)
		}
	}
	for i, srv := range servers {
		got, err := srv.Client(t).Get(t.Context(), "owner").Result()
		if want := strconv.Itoa(i); err != nil || got != want {
			t.Errorf("server %d: GET owner = %q, %v; want %q, nil", i, got, err, want)
		}
	}
}

// fatalTB records a Fatalf and ends the calling goroutine, as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestStartWithoutBinaryFails(t *testing.T) {
	tests := []struct {
		name string
		bin  string // $REDIS_SERVER_BIN
		path string // $PATH
		want []string
	}{
		{
			name: "not in PATH",
			bin:  "",
			path: t.TempDir(),
			want: []string{"redis-server not found in PATH", "scripts/test", "apt-get install redis-server"},
		},
		{
			name: "bad REDIS_SERVER_BIN",
			bin:  filepath.Join(t.TempDir(), "no-such-redis-server"),
			path: os.Getenv("PATH"),
			want: []string{"REDIS_SERVER_BIN", "no-such-redis-server", "scripts/test", "apt-get install redis-server"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(redistest.BinEnv, tt.bin)
			t.Setenv("PATH", tt.path)
			tb := &fatalTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				redistest.Start(tb)
				t.Errorf("Start returned; want it to call Fatalf")
			}()
			<-done
			for _, w := range tt.want {
				if !strings.Contains(tb.msg, w) {
					t.Errorf("Start's Fatalf message = %q; want it to contain %q", tb.msg, w)
				}
			}
		})
	}
}

// checkDown checks that nothing listens on addr any more.
func checkDown(tb testing.TB, addr string) {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		tb.Fatalf("dial %s after the server stopped: connected; want an error", addr)
	}
}

// writeKeys sets key:0 … key:n-1; every SET is acknowledged before it
// returns.
func writeKeys(tb testing.TB, rdb *redis.Client, n int) {
	tb.Helper()
	ctx := context.Background()
	for i := range n {
		if err := rdb.Set(ctx, "key:"+strconv.Itoa(i), i, 0).Err(); err != nil {
			tb.Fatalf("SET key:%d: %v", i, err)
		}
	}
}

// checkKeys checks the keys that writeKeys wrote.
func checkKeys(tb testing.TB, rdb *redis.Client, n int) {
	tb.Helper()
	ctx := context.Background()
	if got, err := rdb.DBSize(ctx).Result(); err != nil || got < int64(n) {
		tb.Errorf("DBSIZE = %d, %v; want at least %d", got, err, n)
	}
	for i := range n {
		got, err := rdb.Get(ctx, "key:"+strconv.Itoa(i)).Result()
		if want := strconv.Itoa(i); err != nil || got != want {
			tb.Fatalf("GET key:%d = %q, %v; want %q, nil", i, got, err, want)
		}
	}
}

// ExampleStart shows a test that runs against its own redis-server. It is
// compiled, not run: a Server needs the *testing.T of a real test.
func ExampleStart() {
	testGreeting := func(t *testing.T) {
		srv := redistest.Start(t) // a private redis-server on a free port
		rdb := srv.Client(t)      // closed when the test ends
		if err := rdb.Set(t.Context(), "greeting", "hello", 0).Err(); err != nil {
			t.Fatalf("SET greeting: %v", err)
		}

		srv.Kill(t) // a crash: acknowledged writes are in the append-only file
		srv.Restart(t)

		if got, err := rdb.Get(t.Context(), "greeting").Result(); err != nil || got != "hello" {
			t.Errorf("GET greeting = %q, %v; want \"hello\", nil", got, err)
		}
		// store.Open(ctx, store.Options{URL: srv.URL(), ...}) takes the URL.
	}
	_ = testGreeting
}
