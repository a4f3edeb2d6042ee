package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Modes of PersistenceOptions.
const (
	// PersistenceRefuse fails consent writes with optin.ErrUnavailable
	// while Redis does not persist what it acknowledges.
	PersistenceRefuse = "refuse"
	// PersistenceWarn only reports it (OnChange) and writes on.
	PersistenceWarn = "warn"
)

// DefaultPersistenceEvery is how often the persistence is checked when
// PersistenceOptions.Every is 0.
const DefaultPersistenceEvery = 2 * time.Second

// PersistenceOptions configure the check of Redis's persistence
// (Options.Persistence).
type PersistenceOptions struct {
	// Mode is PersistenceRefuse, PersistenceWarn, or "" for no check.
	Mode string
	// Every is how often Redis is asked; DefaultPersistenceEvery when 0.
	// A new connection (a reconnect after a restart among them) makes the
	// next consent write ask first.
	Every time.Duration
	// OnChange, when set, is told of the first state and of every state
	// that differs from the one before it (OK, Reason or Note), and of
	// every restart of Redis. Calls do not overlap.
	OnChange func(PersistenceState)
}

// PersistenceState is what Redis said of its persistence.
type PersistenceState struct {
	// OK reports that Redis persists every write before acknowledging it:
	// AOF on, appendfsync always, the last AOF write and rewrite ok, not
	// loading, and aof-load-truncated no.
	OK bool
	// Reason says why not, "" when OK. It holds no data.
	Reason string
	// Note says what could not be verified (CONFIG GET denied: judged from
	// INFO alone), "" when everything was.
	Note string
	// RunIDs are the run ids of the Redis servers (one, or a cluster's
	// masters), by address.
	RunIDs map[string]string
	// Restarted reports that a server's run id changed since the check
	// before: Redis restarted and loaded its data from disk.
	Restarted bool
	// TruncatedLoad reports a restart of a Redis that would have loaded a
	// cut AOF tail without failing (aof-load-truncated yes, or unknown):
	// acknowledged writes may be gone, and nothing else will say so.
	TruncatedLoad bool
}

// persistence is the store's view of Redis's persistence.
type persistence struct {
	opts    PersistenceOptions
	dials   atomic.Uint64 // connections made
	checked atomic.Uint64 // dials as of the start of the last good check
	state   atomic.Pointer[PersistenceState]

	mu   sync.Mutex // one check at a time
	stop chan struct{}
	done chan struct{}
}

// uncounted marks the check's own commands: no message pays for them.
type uncounted struct{}

// persistDialer is the go-redis hook that counts new connections.
type persistDialer struct{ p *persistence }

func (h persistDialer) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err == nil {
			h.p.dials.Add(1)
		}
		return c, err
	}
}

func (h persistDialer) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h persistDialer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// startPersistence runs the first check and starts the periodic one.
func (s *Store) startPersistence(ctx context.Context, opts PersistenceOptions) error {
	if opts.Mode == "" {
		return nil
	}
	if opts.Mode != PersistenceRefuse && opts.Mode != PersistenceWarn {
		return fmt.Errorf("store: persistence mode %q: want %s or %s", opts.Mode, PersistenceRefuse, PersistenceWarn)
	}
	if opts.Every <= 0 {
		opts.Every = DefaultPersistenceEvery
	}
	p := &persistence{opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	s.persist = p
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		// A cluster client's own hooks see no dials: its nodes' do.
		c.OnNewNode(func(n *redis.Client) { n.AddHook(persistDialer{p}) })
		_ = c.ForEachShard(ctx, func(_ context.Context, n *redis.Client) error {
			n.AddHook(persistDialer{p})
			return nil
		})
	default:
		s.rdb.AddHook(persistDialer{p})
	}
	if _, err := s.CheckPersistence(ctx); err != nil {
		close(p.done) // no goroutine to wait for
		return err
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(opts.Every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			cctx, cancel := context.WithTimeout(context.Background(), opts.Every)
			_, _ = s.CheckPersistence(cctx)
			cancel()
		}
	}()
	return nil
}

func (s *Store) stopPersistence() {
	if p := s.persist; p != nil {
		select {
		case <-p.stop:
		default:
			close(p.stop)
			<-p.done
		}
	}
}

// Persistence returns the latest state of Redis's persistence, and false
// when it is not checked (Options.Persistence.Mode "").
func (s *Store) Persistence() (PersistenceState, bool) {
	if s.persist == nil {
		return PersistenceState{}, false
	}
	if st := s.persist.state.Load(); st != nil {
		return *st, true
	}
	return PersistenceState{Reason: "not checked yet"}, true
}

// CheckPersistence asks Redis (every master of a cluster) for its
// persistence now: INFO server and persistence, and CONFIG GET appendonly,
// appendfsync and aof-load-truncated in the same round trip. Where CONFIG
// is denied (renamed or forbidden by an ACL, as on managed Redis) it
// judges from INFO alone and says so in the state's Note. An unreachable
// Redis is an error wrapping optin.ErrUnavailable and leaves the state as
// it was.
func (s *Store) CheckPersistence(ctx context.Context) (PersistenceState, error) {
	p := s.persist
	if p == nil {
		return PersistenceState{}, errors.New("store: persistence not checked (no mode)")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.checkLocked(ctx)
}

func (s *Store) checkLocked(ctx context.Context) (PersistenceState, error) {
	p := s.persist
	dials := p.dials.Load()
	ctx = context.WithValue(ctx, uncounted{}, true)
	nodes := map[string]nodePersistence{}
	var mu sync.Mutex
	check := func(ctx context.Context, c *redis.Client) error {
		n, err := readNode(ctx, c)
		if err != nil {
			return err
		}
		mu.Lock()
		nodes[c.Options().Addr] = n
		mu.Unlock()
		return nil
	}
	var err error
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, check)
	case *redis.Client:
		err = check(ctx, c)
	default:
		err = fmt.Errorf("client %T", s.rdb)
	}
	if err != nil {
		return PersistenceState{}, translate("check persistence", err)
	}
	prev := p.state.Load()
	st := judge(prev, nodes)
	p.state.Store(&st)
	p.checked.Store(dials)
	if p.opts.OnChange != nil && (prev == nil || st.Restarted || prev.OK != st.OK || prev.Reason != st.Reason || prev.Note != st.Note) {
		p.opts.OnChange(st)
	}
	return st, nil
}

// nodePersistence is what one Redis server said.
type nodePersistence struct {
	info       map[string]string // INFO server and persistence fields
	config     map[string]string // nil when CONFIG GET was denied
	infoDenied bool              // INFO itself was denied
}

func readNode(ctx context.Context, c *redis.Client) (nodePersistence, error) {
	var info *redis.StringCmd
	var cfg []*redis.MapStringStringCmd
	_, err := c.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		info = pipe.Info(ctx, "server", "persistence")
		for _, k := range []string{"appendonly", "appendfsync", "aof-load-truncated"} {
			cfg = append(cfg, pipe.ConfigGet(ctx, k))
		}
		return nil
	})
	var re redis.Error
	switch err := info.Err(); {
	case errors.As(err, &re):
		// Forbidden by an ACL or renamed: nothing can be judged.
		return nodePersistence{info: map[string]string{}, infoDenied: true}, nil
	case err != nil:
		return nodePersistence{}, err
	}
	n := nodePersistence{info: parseInfo(info.Val()), config: map[string]string{}}
	for _, cmd := range cfg {
		if cmd.Err() != nil {
			if !errors.As(cmd.Err(), &re) {
				return nodePersistence{}, cmd.Err()
			}
			n.config = nil // unknown command (renamed) or NOPERM
			break
		}
		for k, v := range cmd.Val() {
			n.config[k] = v
		}
	}
	_ = err // the commands' own errors are judged above
	return n, nil
}

func parseInfo(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

// judge turns what the servers said into a state; prev is the state
// before (nil at the first check), for restarts.
func judge(prev *PersistenceState, nodes map[string]nodePersistence) PersistenceState {
	st := PersistenceState{OK: true, RunIDs: map[string]string{}}
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	var reasons, notes []string
	for _, addr := range addrs {
		n := nodes[addr]
		where := ""
		if len(nodes) > 1 {
			where = addr + ": "
		}
		if n.infoDenied {
			st.OK = false
			reasons = append(reasons, where+"INFO denied: the persistence cannot be checked")
			continue
		}
		st.RunIDs[addr] = n.info["run_id"]
		var bad []string
		if n.info["aof_enabled"] != "1" {
			bad = append(bad, "AOF off (appendonly no)")
		}
		if v := n.info["aof_last_write_status"]; v != "ok" && n.info["aof_enabled"] == "1" {
			bad = append(bad, "aof_last_write_status "+v)
		}
		if v := n.info["aof_last_bgrewrite_status"]; v != "ok" {
			bad = append(bad, "aof_last_bgrewrite_status "+v)
		}
		if n.info["loading"] == "1" {
			bad = append(bad, "loading its data set")
		}
		truncatedUnknown := true
		if n.config == nil {
			notes = append(notes, where+"CONFIG GET denied: judged from INFO alone; appendfsync and aof-load-truncated not verified")
		} else {
			if v := n.config["appendfsync"]; v != "always" {
				bad = append(bad, "appendfsync "+v+" (want always)")
			}
			switch n.config["aof-load-truncated"] {
			case "no":
				truncatedUnknown = false
			case "yes":
				bad = append(bad, "aof-load-truncated yes (a cut AOF tail would load without an error)")
			}
		}
		if prev != nil {
			if was, ok := prev.RunIDs[addr]; ok && was != n.info["run_id"] {
				st.Restarted = true
				if truncatedUnknown {
					st.TruncatedLoad = true
				}
			}
		}
		if len(bad) > 0 {
			st.OK = false
			reasons = append(reasons, where+strings.Join(bad, ", "))
		}
	}
	st.Reason = strings.Join(reasons, "; ")
	st.Note = strings.Join(notes, "; ")
	return st
}

// persistGate returns nil while consent writes may be acknowledged: no
// check, warn mode, or Redis persisting. A connection made since the last
// check (a reconnect, perhaps to a restarted Redis) is checked first.
func (s *Store) persistGate(ctx context.Context, op string) error {
	p := s.persist
	if p == nil || p.opts.Mode != PersistenceRefuse {
		return nil
	}
	st := p.state.Load()
	if st == nil || p.dials.Load() != p.checked.Load() {
		p.mu.Lock()
		var err error
		if p.dials.Load() != p.checked.Load() || p.state.Load() == nil {
			_, err = s.checkLocked(ctx)
		}
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("store: %s: %w", op, err)
		}
		st = p.state.Load()
	}
	if !st.OK {
		return fmt.Errorf("store: %s: redis does not persist what it acknowledges (%s): %w", op, st.Reason, optin.ErrUnavailable)
	}
	return nil
}

// persistAfter is persistGate after a write: the write may have gone over
// a connection made meanwhile, to a Redis not checked yet.
func (s *Store) persistAfter(ctx context.Context, op string, dialsBefore uint64) error {
	p := s.persist
	if p == nil || p.opts.Mode != PersistenceRefuse || p.dials.Load() == dialsBefore {
		return nil
	}
	return s.persistGate(ctx, op)
}

// persistDials returns the connections made so far, for persistAfter.
func (s *Store) persistDials() uint64 {
	if s.persist == nil {
		return 0
	}
	return s.persist.dials.Load()
}
