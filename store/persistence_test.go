package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/internal/recorder"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// persistLog records the states a store's persistence check reports.
type persistLog = recorder.Log[store.PersistenceState]

// openChecked opens a store on srv whose persistence is checked in mode;
// the periodic check is an hour apart, so only the start, a new
// connection and CheckPersistence ask.
func openChecked(t *testing.T, srv *redistest.Server, mode string) (*store.Store, *persistLog) {
	t.Helper()
	l := &persistLog{}
	st := openInstances(t, srv, 1, func(o *store.Options) {
		o.Persistence = store.PersistenceOptions{Mode: mode, Every: time.Hour, OnChange: l.Add}
	})[0].st
	return st, l
}

// join applies a JOIN of a new message id and returns Apply's error.
func join(t *testing.T, st *store.Store, sid string) error {
	t.Helper()
	sub, dec, in := decide(t, st, testNumber(t), sid, "JOIN")
	_, _, err := st.Apply(context.Background(), sub, dec, in, nil)
	return err
}

func mustCheck(t *testing.T, st *store.Store) store.PersistenceState {
	t.Helper()
	ps, err := st.CheckPersistence(context.Background())
	if err != nil {
		t.Fatalf("CheckPersistence: %v", err)
	}
	return ps
}

// TestPersistenceOK: on a Redis with AOF, appendfsync always and
// aof-load-truncated no the state is ok and writes are accepted.
func TestPersistenceOK(t *testing.T) {
	st, l := openChecked(t, redistest.Start(t), store.PersistenceRefuse)
	if ps, _ := st.Persistence(); !ps.OK || ps.Reason != "" || ps.Note != "" {
		t.Fatalf("Persistence() = %+v; want ok, no reason, no note", ps)
	}
	if err := join(t, st, "SM1"); err != nil {
		t.Fatalf("Apply with persistence ok: %v", err)
	}
	if err := erase(st); err != nil {
		t.Fatalf("Erase with persistence ok: %v", err)
	}
	if n := len(l.All()); n != 1 {
		t.Errorf("OnChange called %d times; want 1 (the first state)", n)
	}
}

func erase(st *store.Store) error {
	_, err := st.Erase(context.Background(), "demo", person, []string{"deals"}, "test", time.Now())
	return err
}

// TestPersistenceFsyncRefuse: appendfsync everysec in refuse mode makes
// Apply and Erase fail with ErrUnavailable, naming appendfsync; always
// again lets them through.
func TestPersistenceFsyncRefuse(t *testing.T) {
	srv := redistest.Start(t)
	st, _ := openChecked(t, srv, store.PersistenceRefuse)
	rdb := srv.Client(t)
	ctx := context.Background()
	if err := rdb.ConfigSet(ctx, "appendfsync", "everysec").Err(); err != nil {
		t.Fatal(err)
	}
	if ps := mustCheck(t, st); ps.OK || !strings.Contains(ps.Reason, "appendfsync everysec") {
		t.Fatalf("CheckPersistence after appendfsync everysec = %+v; want not ok naming appendfsync everysec", ps)
	}
	if err := join(t, st, "SM1"); !errors.Is(err, optin.ErrUnavailable) || !strings.Contains(err.Error(), "appendfsync") {
		t.Errorf("Apply with appendfsync everysec = %v; want ErrUnavailable naming appendfsync", err)
	}
	if err := erase(st); !errors.Is(err, optin.ErrUnavailable) {
		t.Errorf("Erase with appendfsync everysec = %v; want ErrUnavailable", err)
	}
	if err := rdb.ConfigSet(ctx, "appendfsync", "always").Err(); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, st)
	if err := join(t, st, "SM2"); err != nil {
		t.Errorf("Apply after appendfsync always again: %v", err)
	}
}

// TestPersistenceFsyncWarn: in warn mode the same writes go through and
// OnChange hears of the change once, however often it is checked.
func TestPersistenceFsyncWarn(t *testing.T) {
	srv := redistest.Start(t)
	st, l := openChecked(t, srv, store.PersistenceWarn)
	if err := srv.Client(t).ConfigSet(context.Background(), "appendfsync", "everysec").Err(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		mustCheck(t, st)
	}
	if err := join(t, st, "SM1"); err != nil {
		t.Errorf("Apply in warn mode with appendfsync everysec: %v", err)
	}
	got := l.All()
	if len(got) != 2 || !got[0].OK || got[1].OK {
		t.Errorf("OnChange states = %+v; want ok, then one not ok", got)
	}
}

// TestPersistenceRestart: after Redis restarts, the first write goes over
// a new connection and is checked first: the state reports the restart
// (a new run id); with aof-load-truncated no it is no truncated load.
func TestPersistenceRestart(t *testing.T) {
	srv := redistest.Start(t)
	st, l := openChecked(t, srv, store.PersistenceRefuse)
	before, _ := st.Persistence()
	srv.Restart(t)
	// The pool's old connection fails; the retry dials anew.
	if err := join(t, st, "SM1"); err != nil && !errors.Is(err, optin.ErrUnavailable) {
		t.Fatalf("Apply after restart: %v", err)
	}
	if err := join(t, st, "SM2"); err != nil {
		t.Fatalf("Apply after restart: %v", err)
	}
	after, _ := st.Persistence()
	if !after.OK || after.RunIDs[srv.Addr()] == before.RunIDs[srv.Addr()] {
		t.Errorf("Persistence() after restart = %+v; before %+v; want ok with a new run id", after, before)
	}
	var restarted bool
	for _, ps := range l.All() {
		restarted = restarted || ps.Restarted
		if ps.TruncatedLoad {
			t.Errorf("OnChange(%+v): TruncatedLoad with aof-load-truncated no", ps)
		}
	}
	if !restarted {
		t.Errorf("OnChange states %+v; want one with Restarted", l.All())
	}
}

// TestPersistenceNoAOF: a Redis started without AOF is refused.
func TestPersistenceNoAOF(t *testing.T) {
	st, _ := openChecked(t, redistest.Start(t, redistest.WithArgs("--appendonly", "no")), store.PersistenceRefuse)
	if ps, _ := st.Persistence(); ps.OK || !strings.Contains(ps.Reason, "AOF off") {
		t.Errorf("Persistence() without AOF = %+v; want not ok, AOF off", ps)
	}
	if err := join(t, st, "SM1"); !errors.Is(err, optin.ErrUnavailable) {
		t.Errorf("Apply without AOF = %v; want ErrUnavailable", err)
	}
}

// TestPersistenceTruncatedLoad: a Redis with aof-load-truncated yes is not
// ok, and when it restarts (here after its AOF's tail was cut, which it
// loads without an error) the state flags a truncated load.
func TestPersistenceTruncatedLoad(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--aof-load-truncated", "yes"))
	st, l := openChecked(t, srv, store.PersistenceWarn)
	if ps, _ := st.Persistence(); ps.OK || !strings.Contains(ps.Reason, "aof-load-truncated yes") {
		t.Errorf("Persistence() with aof-load-truncated yes = %+v; want not ok naming it", ps)
	}
	for _, sid := range []string{"SM1", "SM2", "SM3"} {
		if err := join(t, st, sid); err != nil {
			t.Fatalf("Apply in warn mode: %v", err)
		}
	}
	srv.Kill(t)
	incr, _ := filepath.Glob(filepath.Join(srv.Dir(), "appendonlydir", "*.incr.aof"))
	if len(incr) != 1 {
		t.Fatalf("incr AOF files %v; want one", incr)
	}
	fi, err := os.Stat(incr[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(incr[0], fi.Size()-7); err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	ps := mustCheck(t, st)
	if !ps.Restarted || !ps.TruncatedLoad {
		t.Errorf("CheckPersistence after a restart on a cut AOF = %+v; want Restarted and TruncatedLoad", ps)
	}
	var flagged int
	for _, s := range l.All() {
		if s.TruncatedLoad {
			flagged++
		}
	}
	if flagged != 1 {
		t.Errorf("OnChange told of %d truncated loads; want 1", flagged)
	}
}

// TestPersistenceConfigDenied: where CONFIG is renamed away or forbidden
// by an ACL, the state is judged from INFO alone and says so; without AOF
// it is still refused.
func TestPersistenceConfigDenied(t *testing.T) {
	t.Run("renamed", func(t *testing.T) {
		st, _ := openChecked(t, redistest.Start(t, redistest.WithArgs("--rename-command", "CONFIG", "")), store.PersistenceRefuse)
		if ps, _ := st.Persistence(); !ps.OK || !strings.Contains(ps.Note, "CONFIG GET denied") {
			t.Errorf("Persistence() with CONFIG renamed = %+v; want ok with a note that CONFIG GET was denied", ps)
		}
		if err := join(t, st, "SM1"); err != nil {
			t.Errorf("Apply with CONFIG renamed: %v", err)
		}
	})
	t.Run("acl", func(t *testing.T) {
		srv := redistest.Start(t, redistest.WithArgs("--appendonly", "no"))
		if err := srv.Client(t).Do(context.Background(), "ACL", "SETUSER", "default", "-config").Err(); err != nil {
			t.Fatal(err)
		}
		st, _ := openChecked(t, srv, store.PersistenceRefuse)
		ps, _ := st.Persistence()
		if ps.OK || !strings.Contains(ps.Note, "CONFIG GET denied") || !strings.Contains(ps.Reason, "AOF off") {
			t.Errorf("Persistence() with CONFIG forbidden, no AOF = %+v; want not ok (AOF off) with the note", ps)
		}
		if err := join(t, st, "SM1"); !errors.Is(err, optin.ErrUnavailable) {
			t.Errorf("Apply with CONFIG forbidden, no AOF = %v; want ErrUnavailable", err)
		}
	})
	t.Run("info too", func(t *testing.T) {
		srv := redistest.Start(t)
		if err := srv.Client(t).Do(context.Background(), "ACL", "SETUSER", "default", "-config", "-info").Err(); err != nil {
			t.Fatal(err)
		}
		st, _ := openChecked(t, srv, store.PersistenceRefuse)
		if ps, _ := st.Persistence(); ps.OK || !strings.Contains(ps.Reason, "INFO denied") {
			t.Errorf("Persistence() with INFO forbidden = %+v; want not ok, INFO denied", ps)
		}
		if err := join(t, st, "SM1"); !errors.Is(err, optin.ErrUnavailable) {
			t.Errorf("Apply with INFO forbidden = %v; want ErrUnavailable", err)
		}
	})
}

// TestPersistenceCluster: on a Redis Cluster every master is asked; one
// master with appendfsync everysec makes the state not ok, naming it.
func TestPersistenceCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: c.URL(), MasterKey: newKey(t), Shards: 16,
		Persistence: store.PersistenceOptions{Mode: store.PersistenceRefuse, Every: time.Hour}})
	if err != nil {
		t.Fatalf("Open(%s): %v", c.URL(), err)
	}
	t.Cleanup(func() { st.Close() })
	if ps, _ := st.Persistence(); !ps.OK || len(ps.RunIDs) != 3 {
		t.Fatalf("Persistence() on the cluster = %+v; want ok with three masters' run ids", ps)
	}
	if err := join(t, st, "SM1"); err != nil {
		t.Fatalf("Apply on the cluster: %v", err)
	}
	m := c.MasterOf(t, "{a}k")
	rdb := c.Client(t)
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		if n.Options().Addr == m.Addr() {
			return n.ConfigSet(ctx, "appendfsync", "everysec").Err()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ps := mustCheck(t, st); ps.OK || !strings.Contains(ps.Reason, m.Addr()+": appendfsync everysec") {
		t.Errorf("CheckPersistence with %s at everysec = %+v; want not ok naming it", m.Addr(), ps)
	}
	if err := join(t, st, "SM2"); !errors.Is(err, optin.ErrUnavailable) {
		t.Errorf("Apply with one master at everysec = %v; want ErrUnavailable", err)
	}
}
