package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// clusterSuite is the test that runs the end-to-end suite on a Redis
// Cluster; while it runs, clusterUnderTest is its cluster and newHarness
// gives its subtests harnesses on it.
const clusterSuite = "TestClusterEndToEnd"

var clusterUnderTest *redistest.Cluster

// newClusterHarness is a harness on cluster c, emptied first so that
// counts of keys and outbox events start at zero.
func newClusterHarness(tb testing.TB, c *redistest.Cluster) *harness {
	tb.Helper()
	rdb := c.Client(tb)
	if err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		return m.FlushAll(ctx).Err()
	}); err != nil {
		tb.Fatalf("flush cluster: %v", err)
	}
	h := newHarnessOn(tb, c.URL())
	h.rdb = rdb
	return h
}

// TestClusterEndToEnd runs the end-to-end tests over real HTTP on a Redis
// Cluster of three masters with one replica each, then kills a master
// under load and checks that its replica takes over and nothing
// acknowledged is lost.
func TestClusterEndToEnd(t *testing.T) {
	clusterUnderTest = redistest.StartCluster(t)
	defer func() { clusterUnderTest = nil }()
	for _, tt := range []struct {
		name string
		test func(*testing.T)
	}{
		{"WholeFlow", TestWholeFlow},
		{"StateTable", TestStateTable},
		{"CodeAttemptsAndExpiry", TestCodeAttemptsAndExpiry},
		{"StopScopes", TestStopScopes},
		{"ProviderHandlesOptOut", TestProviderHandlesOptOut},
		{"ShortCodeAndTenants", TestShortCodeAndTenants},
		{"RetriedMessageSid", TestRetriedMessageSid},
		{"ConcurrentCopiesOfOneMessage", TestConcurrentCopiesOfOneMessage},
		{"ConcurrentMessagesOneSubscriber", TestConcurrentMessagesOneSubscriber},
		{"RoundTripsPerMessage", TestRoundTripsPerMessage},
		{"WebhookURLWithQuery", TestWebhookURLWithQuery},
		{"RevocationsEndToEnd", TestRevocationsEndToEnd},
		{"RevokeAllScope", TestRevokeAllScope},
		{"BadInput", TestBadInput},
		{"AdminAPI", TestAdminAPI},
		{"MasterKilledUnderLoad", testMasterKilledUnderLoad},
	} {
		t.Run(tt.name, tt.test)
	}
}

// testMasterKilledUnderLoad sends JOINs from 60 numbers, 6 at a time,
// while the master of one outbox shard is killed and its replica
// promoted: every answer is 200 or 503, every 200 is on record afterwards,
// and once the cluster is ok again every message goes through.
func testMasterKilledUnderLoad(t *testing.T) {
	c := clusterUnderTest
	h := newHarness(t)
	const n, workers = 60, 6
	statuses := make([]int, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				form := inboundForm(newSid(), fmt.Sprintf("+1202555%04d", 100+i%100), shortCode, "JOIN")
				if i >= 100 {
					form.Set("To", bizNumber)
				}
				statuses[i] = h.post(form).status
			}
		})
	}
	victim := c.MasterOf(t, store.OutboxKey(0))
	var promoted *redistest.Server
	var failover time.Duration
	for i := range n {
		next <- i
		if i == n/3 {
			start := time.Now()
			promoted = c.KillMaster(t, victim)
			failover = time.Since(start)
		}
	}
	close(next)
	wg.Wait()

	ok, unavailable := 0, 0
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
			from := fmt.Sprintf("+1202555%04d", 100+i%100)
			if got := h.campaignState("other", from, "deals"); got != "pending" {
				t.Errorf("acknowledged JOIN from %s lost after the failover: %q; want pending", from, got)
			}
		case http.StatusServiceUnavailable:
			unavailable++
		default:
			t.Errorf("message %d: status %d; want 200 or 503", i, s)
		}
	}
	t.Logf("injected: SIGKILL of master %s under load, CLUSTER FAILOVER FORCE on %s (cluster ok after %v); %d of %d acknowledged, all on record; %d answered 503",
		victim.Addr(), promoted.Addr(), failover.Round(time.Millisecond), ok, n, unavailable)
	// After the failover, every subscriber can go on.
	for i := range 10 {
		h.sms(fmt.Sprintf("+1202555%04d", 100+i), shortCode, "HELP")
	}
}
