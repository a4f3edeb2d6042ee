package redistest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestStartClusterAndFailover forms a cluster, writes keys over all three
// masters, kills the master of one and checks that its promoted replica
// serves every key that was replicated before the crash.
func TestStartClusterAndFailover(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := redistest.StartCluster(t)
	t.Logf("cluster of %d nodes formed in %v", len(c.Nodes()), time.Since(start).Round(time.Millisecond))
	if got, want := c.URL(), "redis+cluster://"+strings.Join(c.Addrs(), ","); got != want {
		t.Errorf("URL() = %q; want %q", got, want)
	}
	ctx := context.Background()
	rdb := c.Client(t)
	keys := []string{"{a}k", "{b}k", "{c}k", "{d}k", "{e}k", "{f}k"}
	masters := map[string]bool{}
	for _, k := range keys {
		if err := rdb.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		m := c.MasterOf(t, k)
		masters[m.Addr()] = true
		// WAIT makes the write reach the replica before the crash.
		if n, err := rdb.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
			t.Fatalf("WAIT 1 after SET %s = %d, %v; want 1", k, n, err)
		}
	}
	if len(masters) < 2 {
		t.Errorf("keys landed on %d masters; want them spread", len(masters))
	}
	victim := c.MasterOf(t, keys[0])
	start = time.Now()
	promoted := c.KillMaster(t, victim)
	t.Logf("killed master %s; replica %s promoted, cluster ok in %v", victim.Addr(), promoted.Addr(), time.Since(start).Round(time.Millisecond))
	if got := c.MasterOf(t, keys[0]); got != promoted {
		t.Errorf("MasterOf(%q) after failover = %s; want %s", keys[0], got.Addr(), promoted.Addr())
	}
	// A client learns the new layout on its next reload; a new one asks.
	after := c.Client(t)
	for _, k := range keys {
		got, err := after.Get(ctx, k).Result()
		if err != nil || got != k {
			t.Errorf("GET %s after failover = %q, %v; want %q", k, got, err, k)
		}
	}
}
