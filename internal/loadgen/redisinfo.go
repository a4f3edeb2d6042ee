package loadgen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RedisStats is what the load generator reads from Redis's INFO: commands
// called, by name, from the commandstats section (commands that scripts
// call are counted under their own names), and the read events the server
// processed (total_reads_processed: one per request or pipeline that
// arrives, that is one per round trip).
type RedisStats struct {
	Calls       map[string]int64
	Reads       int64
	Connections int64 // total_connections_received
}

// RedisInfo is a connection to Redis for INFO, spoken in RESP by hand so
// that the load generator needs no Redis client of its own.
type RedisInfo struct {
	conn net.Conn
	r    *bufio.Reader
}

// DialRedis connects to the Redis of a redis:// URL, authenticating when it
// holds a password.
func DialRedis(rawURL string) (*RedisInfo, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "redis" {
		return nil, fmt.Errorf("loadgen: redis url %q: want redis://host:port", rawURL)
	}
	conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
	if err != nil {
		return nil, fmt.Errorf("loadgen: redis: %w", err)
	}
	ri := &RedisInfo{conn: conn, r: bufio.NewReader(conn)}
	if pw, ok := u.User.Password(); ok {
		args := []string{"AUTH", pw}
		if name := u.User.Username(); name != "" {
			args = []string{"AUTH", name, pw}
		}
		if _, err := ri.do(args...); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return ri, nil
}

// ConfigGet returns the value of one configuration parameter.
func (ri *RedisInfo) ConfigGet(name string) (string, error) {
	reply, err := ri.do("CONFIG", "GET", name)
	if err != nil {
		return "", err
	}
	_, v, ok := strings.Cut(reply, "\n")
	if !ok {
		return "", fmt.Errorf("loadgen: redis CONFIG GET %s: no such parameter", name)
	}
	return v, nil
}

// FsyncStalls are what Redis's latency monitor saw of its AOF fsyncs
// (event aof-fsync-always) since the last ResetLatency: the longest, and in
// how many seconds the longest fsync took 10 ms or more. With appendfsync
// always every write waits for that fsync, and with it every reply of the
// same event-loop turn, so one slow fsync of a shared disk delays every
// request in flight.
type FsyncStalls struct {
	MaxMs         int64 `json:"max_ms"`
	SecondsOver10 int   `json:"seconds_over_10ms"`
}

// WatchFsync turns Redis's latency monitor on (threshold 1 ms) and clears
// what it recorded.
func (ri *RedisInfo) WatchFsync() error {
	if _, err := ri.do("CONFIG", "SET", "latency-monitor-threshold", "1"); err != nil {
		return err
	}
	_, err := ri.do("LATENCY", "RESET")
	return err
}

// Fsync returns the fsync stalls recorded since WatchFsync. Redis keeps one
// sample per second (the longest of that second), 160 at most.
func (ri *RedisInfo) Fsync() (FsyncStalls, error) {
	return parsed(ri, ParseLatencyHistory, "LATENCY", "HISTORY", "aof-fsync-always")
}

// ParseLatencyHistory reads LATENCY HISTORY's pairs of time stamp and
// milliseconds, as read joins them (one a line).
func ParseLatencyHistory(reply string) FsyncStalls {
	var st FsyncStalls
	f := strings.Fields(reply)
	for i := 1; i < len(f); i += 2 {
		ms, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			continue
		}
		st.MaxMs = max(st.MaxMs, ms)
		if ms >= 10 {
			st.SecondsOver10++
		}
	}
	return st
}

// Close closes the connection.
func (ri *RedisInfo) Close() error { return ri.conn.Close() }

// Stats reads INFO stats and commandstats in one round trip (Redis 7
// takes several sections).
func (ri *RedisInfo) Stats() (RedisStats, error) {
	return parsed(ri, ParseInfo, "INFO", "stats", "commandstats")
}

// parsed sends the command args and returns its reply read by parse.
func parsed[T any](ri *RedisInfo, parse func(string) T, args ...string) (T, error) {
	reply, err := ri.do(args...)
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(reply), nil
}

// ParseInfo reads the fields RedisStats needs from an INFO reply.
func ParseInfo(info string) RedisStats {
	st := RedisStats{Calls: map[string]int64{}}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "total_reads_processed:"):
			st.Reads, _ = strconv.ParseInt(strings.TrimPrefix(line, "total_reads_processed:"), 10, 64)
		case strings.HasPrefix(line, "total_connections_received:"):
			st.Connections, _ = strconv.ParseInt(strings.TrimPrefix(line, "total_connections_received:"), 10, 64)
		case strings.HasPrefix(line, "cmdstat_"):
			name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
			if !ok {
				continue
			}
			for _, kv := range strings.Split(rest, ",") {
				if v, ok := strings.CutPrefix(kv, "calls="); ok {
					st.Calls[name], _ = strconv.ParseInt(v, 10, 64)
				}
			}
		}
	}
	return st
}

// Sub returns the change from before to st: calls that did not change are
// left out.
func (st RedisStats) Sub(before RedisStats) RedisStats {
	d := RedisStats{Calls: map[string]int64{}, Reads: st.Reads - before.Reads, Connections: st.Connections - before.Connections}
	for k, v := range st.Calls {
		if dv := v - before.Calls[k]; dv != 0 {
			d.Calls[k] = dv
		}
	}
	return d
}

// do sends one command and returns its reply, a simple or bulk string.
func (ri *RedisInfo) do(args ...string) (string, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = ri.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := ri.conn.Write(b.Bytes()); err != nil {
		return "", fmt.Errorf("loadgen: redis %s: %w", args[0], err)
	}
	return ri.read(args[0])
}

// read reads one reply: a simple or bulk string, or an array of them
// joined with newlines.
func (ri *RedisInfo) read(cmd string) (string, error) {
	line, err := ri.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("loadgen: redis %s: %w", cmd, err)
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "*"):
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("loadgen: redis %s: bad reply %q", cmd, line)
		}
		parts := make([]string, 0, max(n, 0))
		for range n {
			p, err := ri.read(cmd)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "\n"), nil
	case strings.HasPrefix(line, "+"), strings.HasPrefix(line, ":"):
		return line[1:], nil
	case strings.HasPrefix(line, "-"):
		return "", fmt.Errorf("loadgen: redis %s: %s", cmd, line[1:])
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("loadgen: redis %s: bad reply %q", cmd, line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(ri.r, buf); err != nil {
			return "", fmt.Errorf("loadgen: redis %s: %w", cmd, err)
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("loadgen: redis %s: unexpected reply %q", cmd, line)
}
