// Package redistest starts a real, private redis-server for tests.
//
// Each call to [Start] runs its own redis-server process on a free loopback
// port, in a private temporary directory, with the append-only file on and
// fsync'd on every write (appendonly yes, appendfsync always), exactly as the
// shipped docker-compose.yml runs Redis. The server is stopped when the test
// ends, so no process outlives the test binary's cleanup.
//
// The harness never skips: when redis-server cannot be found, [Start] fails
// the test and says how to install it (scripts/test does that for you).
//
//	srv := redistest.Start(t) // a private redis-server on a free port
//	rdb := srv.Client(t)
//
// [Server.Stop], [Server.Restart] and [Server.Kill] let a test check what
// survives a clean shutdown or a crash.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BinEnv is the environment variable that, when set, names the redis-server
// binary to run instead of the one found in PATH.
const BinEnv = "REDIS_SERVER_BIN"

const (
	startTimeout = 10 * time.Second // until the server answers PING
	stopTimeout  = 10 * time.Second // between SIGTERM and SIGKILL
	portAttempts = 5                // fresh ports tried when the server cannot bind
	logTail      = 4096             // bytes of the server log quoted in errors
	logName      = "redis-server.log"
)

// Option configures a Server started by Start.
type Option func(*Server)

// WithArgs adds command line arguments for redis-server, after the harness's
// own, so they can override them: WithArgs("--maxmemory", "10mb").
// The arguments are kept for every Restart.
func WithArgs(args ...string) Option {
	return func(s *Server) { s.extra = append(s.extra, args...) }
}

// Server is a redis-server process owned by one test.
//
// Its methods are safe for concurrent use. The port and the data directory
// stay the same for the Server's whole life, across Stop, Kill and Restart.
type Server struct {
	bin   string
	dir   string
	port  int
	extra []string
	// bus is the cluster bus port of a cluster node (0 otherwise). Redis's
	// default, port+10000, may not exist for a high ephemeral port.
	bus int

	mu   sync.Mutex
	proc *process // nil while stopped
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// Start starts a private redis-server on a free loopback port, in a new
// directory from tb.TempDir, and waits until it answers PING. The server runs
// with appendonly yes, appendfsync always, aof-load-truncated no (a cut
// AOF tail stops the server instead of loading) and no RDB snapshots.
//
// The binary is taken from $REDIS_SERVER_BIN, else from PATH. Start fails the
// test with tb.Fatalf (never skips) when there is no binary or the server
// does not answer within 10 seconds; the error quotes the server's log. The
// server is stopped (SIGTERM, then SIGKILL) by tb.Cleanup.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := findBinary()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := &Server{bin: bin, dir: tb.TempDir()}
	for _, o := range opts {
		o(s)
	}
	// Registered before the first process starts, so that even a failed
	// start leaves no process behind; it runs before TempDir's removal.
	tb.Cleanup(func() {
		if err := s.stop(syscall.SIGTERM); err != nil {
			tb.Errorf("redistest: %v", err)
		}
	})

	var errs []error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		s.port = port
		if s.bus != 0 {
			if s.bus, err = freePort(); err != nil {
				tb.Fatalf("redistest: %v", err)
			}
		}
		err = s.start()
		if err == nil {
			return s
		}
		errs = append(errs, err)
		if !errors.Is(err, errExited) {
			break // running but not answering: another port will not help
		}
	}
	tb.Fatalf("redistest: %v", errors.Join(errs...))
	return nil
}

// Addr returns the server's address, "127.0.0.1:port".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL returns the server's URL for database 0, "redis://127.0.0.1:port/0".
func (s *Server) URL() string {
	return "redis://" + s.Addr() + "/0"
}

// Dir returns the server's private data directory. It holds the
// append-only files (under appendonlydir) and the server's log.
func (s *Server) Dir() string {
	return s.dir
}

// Client returns a new go-redis client for the server, closed by tb.Cleanup.
// The client keeps working across Restart: it reconnects.
func (s *Server) Client(tb testing.TB) *redis.Client {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// Stop shuts the server down cleanly (SIGTERM; SIGKILL after 10 seconds) and
// waits for it to exit. The data directory and the port are kept for Restart.
// Stopping a stopped server does nothing.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	if err := s.stop(syscall.SIGTERM); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to
// exit. With appendfsync always, every write the server acknowledged is in
// the append-only file and comes back on Restart.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	if err := s.stop(syscall.SIGKILL); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
}

// Restart starts the server again on the same port with the same data
// directory, so the data in its append-only file comes back, and waits until
// it answers PING. A server still running is stopped first, cleanly.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.stop(syscall.SIGTERM); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	if err := s.start(); err != nil {
		tb.Fatalf("redistest: restart: %v", err)
	}
}

// errExited reports that redis-server exited before answering PING, most
// often because another process took its port.
var errExited = errors.New("redis-server exited before answering PING")

// start runs redis-server and waits until it answers PING. On error the
// process is gone.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return fmt.Errorf("start %s: already running", s.Addr())
	}

	logf, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start %s: %w", s.Addr(), err)
	}
	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--protected-mode", "no",
		"--daemonize", "no",
		"--dir", s.dir,
		"--appendonly", "yes",
		"--appendfsync", "always",
		"--aof-load-truncated", "no",
		"--save", "",
	}, s.extra...)
	if s.bus != 0 {
		args = append(args,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(s.bus),
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(int(clusterNodeTimeout/time.Millisecond)))
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	// An *os.File needs no copying goroutine; the child gets its own
	// descriptor, so ours can be closed as soon as it has started.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("start %s %s: %w", s.bin, s.Addr(), err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	if err := s.waitReady(p); err != nil {
		if !p.exited() {
			_ = p.end(syscall.SIGKILL, stopTimeout)
		}
		return fmt.Errorf("start %s: %w\n%s", s.Addr(), err, s.logTail())
	}
	s.proc = p
	return nil
}

// waitReady waits until the server answers PING, it exits, or startTimeout
// passes.
func (s *Server) waitReady(p *process) error {
	rdb := redis.NewClient(&redis.Options{
		Addr:            s.Addr(),
		DialTimeout:     250 * time.Millisecond,
		ReadTimeout:     time.Second,
		WriteTimeout:    time.Second,
		MaxRetries:      -1,
		PoolSize:        1,
		DisableIdentity: true,
	})
	defer rdb.Close()

	deadline := time.Now().Add(startTimeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = rdb.Ping(ctx).Err()
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", errExited, p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING after %v: %v", startTimeout, last)
		}
	}
}

// stop ends the running process, if any, with sig (SIGKILL after
// stopTimeout) and waits for it to exit.
func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	if err := p.end(sig, stopTimeout); err != nil {
		return fmt.Errorf("stop %s: %w\n%s", s.Addr(), err, s.logTail())
	}
	return nil
}

// end sends sig, waits up to timeout, then kills the process and waits for
// it. It reports an error only when the process could not be ended.
func (p *process) end(sig syscall.Signal, timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill after %v: %w", timeout, err)
	}
	<-p.done
	return nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (s *Server) logPath() string {
	return filepath.Join(s.dir, logName)
}

// logTail returns the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no redis-server log: %v)", err)
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	return "redis-server log (" + s.logPath() + "):\n" + strings.TrimRight(string(b), "\n")
}

// findBinary returns the redis-server to run: $REDIS_SERVER_BIN, else the
// one in PATH.
func findBinary() (string, error) {
	const help = "run the tests with scripts/test, which installs it, or install it with `apt-get install redis-server`"
	if bin := os.Getenv(BinEnv); bin != "" {
		path, err := exec.LookPath(bin)
		if err != nil {
			return "", fmt.Errorf("redis-server from $%s=%q: %w; %s", BinEnv, bin, err, help)
		}
		return path, nil
	}
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("redis-server not found in PATH (or set $%s): tests need a real redis-server; %s", BinEnv, help)
	}
	return path, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	return port, nil
}
