package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// clusterNodeTimeout is cluster-node-timeout: how long a node may be
	// unreachable before the others count it as failing.
	clusterNodeTimeout = time.Second
	clusterTimeout     = 30 * time.Second // until a new cluster, or one after a failover, is ok
)

// Cluster is a Redis Cluster of private redis-server processes owned by one
// test: three masters, each with one replica.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts a Redis Cluster of three masters with one replica
// each: six private redis-server processes (see [Start]) with
// cluster-enabled yes, each on two free loopback ports (client and
// cluster bus), joined with `redis-cli --cluster create --cluster-replicas 1`.
// It waits until every node reports cluster_state:ok and every replica is
// in sync, and fails the test (never skips) when redis-server or redis-cli
// is missing or the cluster does not form within 30 seconds. The nodes are
// stopped by tb.Cleanup. opts apply to every node.
func StartCluster(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		tb.Fatalf("redistest: redis-cli not found in PATH: the cluster tests need it to create the cluster; install redis-tools (it comes with redis-server)")
	}
	c := &Cluster{nodes: make([]*Server, 6)}
	for i := range c.nodes {
		// Start calls tb.Fatalf, which must run on the test's goroutine:
		// start the nodes one by one, then wait for them together.
		c.nodes[i] = Start(tb, append([]Option{asClusterNode()}, opts...)...)
	}

	args := []string{"--cluster", "create"}
	for _, n := range c.nodes {
		args = append(args, n.Addr())
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(ctx); err != nil {
		tb.Fatalf("redistest: cluster: %v", err)
	}
	return c
}

// asClusterNode makes a Server a cluster node with its own bus port.
func asClusterNode() Option {
	return func(s *Server) { s.bus = -1 }
}

// Nodes returns the cluster's six nodes, running or not.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Addrs returns the nodes' addresses, "127.0.0.1:port".
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// URL returns the cluster's URL in the store's form,
// "redis+cluster://host:port,host:port,…", listing every node as a seed.
func (c *Cluster) URL() string {
	return "redis+cluster://" + strings.Join(c.Addrs(), ",")
}

// Client returns a new go-redis cluster client, closed by tb.Cleanup.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient {
	tb.Helper()
	rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// MasterOf returns the node that currently serves key's hash slot.
func (c *Cluster) MasterOf(tb testing.TB, key string) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, n := range c.running() {
		rdb := n.direct()
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			rdb.Close()
			continue
		}
		slots, err := rdb.ClusterSlots(ctx).Result()
		rdb.Close()
		if err != nil {
			continue
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				if m := c.byAddr(r.Nodes[0].Addr); m != nil {
					return m
				}
			}
		}
	}
	tb.Fatalf("redistest: no node serves the slot of %q", key)
	return nil
}

// KillMaster kills master with SIGKILL, as a crash would, has its replica
// take over (CLUSTER FAILOVER FORCE, as an operator or the cluster itself
// after cluster-node-timeout would) and waits until every running node
// reports cluster_state:ok again. It returns the promoted replica.
// With appendfsync always on both, every write the master acknowledged
// and the replica received survives; a write acknowledged by the master
// but not yet replicated can be lost, as with any Redis Cluster failover
// (WAIT narrows that window).
func (c *Cluster) KillMaster(tb testing.TB, master *Server) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	replica, err := c.replicaOf(ctx, master)
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	master.Kill(tb)
	rdb := replica.direct()
	defer rdb.Close()
	if err := rdb.ClusterFailover(ctx).Err(); err != nil {
		// A plain failover needs the old master's consent; it is dead.
		if err := rdb.Do(ctx, "CLUSTER", "FAILOVER", "FORCE").Err(); err != nil {
			tb.Fatalf("redistest: CLUSTER FAILOVER FORCE on %s: %v", replica.Addr(), err)
		}
	}
	for {
		role, err := rdb.Do(ctx, "ROLE").Slice()
		if err == nil && len(role) > 0 && role[0] == "master" {
			break
		}
		if ctx.Err() != nil {
			tb.Fatalf("redistest: %s did not become master: %v", replica.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.waitOK(ctx); err != nil {
		tb.Fatalf("redistest: after failover: %v", err)
	}
	return replica
}

// replicaOf returns the running node that replicates master.
func (c *Cluster) replicaOf(ctx context.Context, master *Server) (*Server, error) {
	rdb := master.direct()
	defer rdb.Close()
	id, err := rdb.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return nil, fmt.Errorf("CLUSTER MYID on %s: %w", master.Addr(), err)
	}
	for _, n := range c.running() {
		if n == master {
			continue
		}
		r := n.direct()
		nodes, err := r.ClusterNodes(ctx).Result()
		r.Close()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(nodes, "\n") {
			f := strings.Fields(line)
			if len(f) > 3 && strings.Contains(f[2], "myself") && strings.Contains(f[2], "slave") && f[3] == id {
				return n, nil
			}
		}
	}
	return nil, fmt.Errorf("no replica of %s", master.Addr())
}

// waitOK waits until every running node reports cluster_state:ok, agrees
// on who serves all 16384 slots, and every replica's link to its master
// is up.
func (c *Cluster) waitOK(ctx context.Context) error {
	var last string
	for {
		last = c.notOK(ctx)
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ok after %v: %s\n%s", clusterTimeout, last, c.nodes[0].logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// notOK returns why the cluster is not ok yet, or "".
func (c *Cluster) notOK(ctx context.Context) string {
	masters := ""
	for _, n := range c.running() {
		rdb := n.direct()
		info, err := rdb.ClusterInfo(ctx).Result()
		var repl string
		if err == nil {
			repl, err = rdb.Info(ctx, "replication").Result()
		}
		var shards string
		if err == nil {
			var slots []redis.ClusterSlot
			slots, err = rdb.ClusterSlots(ctx).Result()
			shards = slotOwners(slots)
		}
		rdb.Close()
		switch {
		case err != nil:
			return fmt.Sprintf("%s: %v", n.Addr(), err)
		case !strings.Contains(info, "cluster_state:ok"):
			return n.Addr() + ": cluster_state not ok"
		case strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up"):
			return n.Addr() + ": replica link down"
		case masters == "":
			masters = shards
		case shards != masters:
			return fmt.Sprintf("%s sees slots served by %s; others by %s", n.Addr(), shards, masters)
		}
	}
	return ""
}

// slotOwners describes who serves which slots, for comparing the views of
// two nodes.
func slotOwners(slots []redis.ClusterSlot) string {
	var b strings.Builder
	n := 0
	for _, s := range slots {
		n += s.End - s.Start + 1
		if len(s.Nodes) > 0 {
			fmt.Fprintf(&b, "%d-%d@%s ", s.Start, s.End, s.Nodes[0].Addr)
		}
	}
	if n != 16384 {
		return fmt.Sprintf("%d slots", n)
	}
	return b.String()
}

func (c *Cluster) running() []*Server {
	var out []*Server
	for _, n := range c.nodes {
		n.mu.Lock()
		up := n.proc != nil
		n.mu.Unlock()
		if up {
			out = append(out, n)
		}
	}
	return out
}

func (c *Cluster) byAddr(addr string) *Server {
	for _, n := range c.nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// direct returns a plain client of this one node; the caller closes it.
func (s *Server) direct() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr(), DisableIdentity: true, MaxRetries: -1})
}
