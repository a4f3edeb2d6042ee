package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

func TestParseClusterURL(t *testing.T) {
	tests := []struct {
		name, url string
		addrs     []string
		user      string
		pass      string
		tls       bool
		wantErr   string
	}{
		{name: "one seed", url: "redis+cluster://127.0.0.1:7000", addrs: []string{"127.0.0.1:7000"}},
		{name: "three seeds", url: "redis+cluster://a:7000,b:7001,c:7002/", addrs: []string{"a:7000", "b:7001", "c:7002"}},
		{name: "password and options", url: "redis+cluster://u:secretpw@a:7000,b:7001?dial_timeout=2s", addrs: []string{"a:7000", "b:7001"}, user: "u", pass: "secretpw"},
		{name: "tls", url: "rediss+cluster://a:7000", addrs: []string{"a:7000"}, tls: true},
		{name: "database 0", url: "redis+cluster://a:7000/0", addrs: []string{"a:7000"}},
		{name: "other database", url: "redis+cluster://u:secretpw@a:7000/3", wantErr: "only database 0"},
		{name: "seed without port", url: "redis+cluster://a:7000,b", wantErr: "host:port"},
		{name: "empty seed", url: "redis+cluster://a:7000,,b:1", wantErr: "host:port"},
		{name: "not a cluster url", url: "redis://a:7000", wantErr: "want redis+cluster://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			co, err := store.ParseClusterURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseClusterURL(%q) = %v; want an error saying %q", tt.url, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secretpw") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseClusterURL(%q) = %v; want nil", tt.url, err)
			}
			if fmt.Sprint(co.Addrs) != fmt.Sprint(tt.addrs) {
				t.Errorf("ParseClusterURL(%q).Addrs = %q; want %q", tt.url, co.Addrs, tt.addrs)
			}
			if co.Username != tt.user || co.Password != tt.pass {
				t.Errorf("ParseClusterURL(%q) user, password = %q, %q; want %q, %q", tt.url, co.Username, co.Password, tt.user, tt.pass)
			}
			if (co.TLSConfig != nil) != tt.tls {
				t.Errorf("ParseClusterURL(%q).TLSConfig = %v; want TLS %v", tt.url, co.TLSConfig, tt.tls)
			}
		})
	}
}

// clusterPhone is the i-th of 100 test numbers, +12025550100..+12025550199.
func clusterPhone(i int) optin.Phone { return optin.Phone(fmt.Sprintf("+120255501%02d", i%100)) }

// step loads phone's subscriber, decides text and applies it, retrying
// while the store is unavailable (a failover in progress) for up to wait.
func step(tb testing.TB, st *store.Store, n *optin.Number, p optin.Phone, sid, text string, wait time.Duration) (optin.Decision, int64) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		in := optin.Inbound{Provider: "twilio", MessageID: sid, Text: text}
		sub, stored, err := st.Load(ctx, n.Tenant, p, []string{"deals"}, in)
		var dec optin.Decision
		var v int64
		if err == nil && stored != nil {
			err = fmt.Errorf("message %s already processed", sid)
		}
		if err == nil {
			dec = optin.Decide(sub, n, in, now, "4839201234")
			v, _, err = st.Apply(ctx, sub, dec, in, []byte("r"))
		}
		cancel()
		if err == nil {
			return dec, v
		}
		if !errors.Is(err, optin.ErrUnavailable) || time.Now().After(deadline) {
			tb.Fatalf("%s %q for %s: %v", sid, text, p, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCluster runs the store on a Redis Cluster of three masters with a
// replica each: messages of many subscribers, spread over every master,
// go through Load and Apply in the same two round trips; duplicates and
// conflicts behave as on one Redis; then the master holding one
// subscriber is killed and its replica promoted, and every acknowledged
// (and replicated) transition is still there and the flow goes on.
func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: c.URL(), MasterKey: newKey(t), Shards: 16})
	if err != nil {
		t.Fatalf("Open(%s): %v", c.URL(), err)
	}
	t.Cleanup(func() { st.Close() })
	n := testNumber(t)
	const people = 30

	before := st.RoundTrips()
	codes := make([]string, people)
	for i := range people {
		dec, v := step(t, st, n, clusterPhone(i), fmt.Sprintf("SMjoin%02d", i), "JOIN", 0)
		if dec.Outcome != optin.OutcomePrompted || v != 1 {
			t.Fatalf("JOIN from %s = %v v%d; want prompted v1", clusterPhone(i), dec.Outcome, v)
		}
		codes[i] = dec.Next.Enrollment("deals").Code.Code
	}
	if got, want := st.RoundTrips()-before, uint64(people); got != want {
		t.Errorf("round trips for %d first messages = %d; want %d (Apply only: Load guesses a new subscriber)", people, got, want)
	}

	// The outbox streams of all 16 shards exist across the three masters.
	rdb := c.Client(t)
	masters := map[string]int{}
	for shard := range 16 {
		masters[c.MasterOf(t, store.OutboxKey(shard)).Addr()]++
	}
	if len(masters) != 3 {
		t.Errorf("16 shards on masters %v; want all three used", masters)
	}
	var events int64
	for shard := range 16 {
		events += rdb.XLen(ctx, store.OutboxKey(shard)).Val()
	}
	if events != people {
		t.Errorf("outbox events = %d; want %d", events, people)
	}

	// A retry changes nothing and gets the stored reply; a stale decision
	// is refused.
	in := optin.Inbound{Provider: "twilio", MessageID: "SMjoin00", Text: "JOIN"}
	sub, _, err := st.Load(ctx, n.Tenant, clusterPhone(0), []string{"deals"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, stored, err := st.Apply(ctx, sub, optin.Decide(sub, n, in, now, "1"), in, []byte("x")); !errors.Is(err, optin.ErrDuplicate) || string(stored) != "r" {
		t.Fatalf("Apply of a processed message = %q, %v; want the stored reply, ErrDuplicate", stored, err)
	}
	stale := sub
	stale.Version = 0
	in2 := optin.Inbound{Provider: "twilio", MessageID: "SMstale", Text: "STOP"}
	if _, _, err := st.Apply(ctx, stale, optin.Decide(stale, n, in2, now, "1"), in2, []byte("x")); !errors.Is(err, optin.ErrConflict) {
		t.Errorf("Apply on a stale version = %v; want ErrConflict", err)
	}

	// Confirm half of them; wait for the replicas, then crash the master
	// of person 0 and promote its replica.
	for i := range people / 2 {
		if dec, _ := step(t, st, n, clusterPhone(i), fmt.Sprintf("SMcode%02d", i), codes[i], 0); dec.Outcome != optin.OutcomeConfirmed {
			t.Fatalf("code from %s = %v; want confirmed", clusterPhone(i), dec.Outcome)
		}
	}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.Do(ctx, "WAIT", 1, 5000).Err()
	}); err != nil {
		t.Fatal(err)
	}
	victim := c.MasterOf(t, store.OutboxKey(0))
	var onVictim int64
	for shard := range 16 {
		if c.MasterOf(t, store.OutboxKey(shard)) == victim {
			onVictim += rdb.XLen(ctx, store.OutboxKey(shard)).Val()
		}
	}
	if onVictim == 0 {
		t.Fatalf("no subscriber on master %s; want some to lose their master", victim.Addr())
	}
	start := time.Now()
	promoted := c.KillMaster(t, victim)
	t.Logf("killed master %s (%d of %d transitions on it), promoted %s; cluster ok after %v",
		victim.Addr(), onVictim, events+people/2, promoted.Addr(), time.Since(start).Round(time.Millisecond))

	// Every subscriber is as acknowledged, the rest confirm now.
	start = time.Now()
	for i := range people {
		sub, _, err := lookupWithin(st, n.Tenant, clusterPhone(i), 10*time.Second)
		if err != nil {
			t.Fatalf("Lookup %s after failover: %v", clusterPhone(i), err)
		}
		want := optin.StatePending
		if i < people/2 {
			want = optin.StateSubscribed
		}
		if got := sub.Enrollment("deals").State; got != want {
			t.Errorf("%s after failover: %v; want %v", clusterPhone(i), got, want)
		}
	}
	t.Logf("all %d subscribers read back as acknowledged %v after the failover", people, time.Since(start).Round(time.Millisecond))
	for i := people / 2; i < people; i++ {
		if dec, _ := step(t, st, n, clusterPhone(i), fmt.Sprintf("SMcode%02d", i), codes[i], 10*time.Second); dec.Outcome != optin.OutcomeConfirmed {
			t.Errorf("code from %s after failover = %v; want confirmed", clusterPhone(i), dec.Outcome)
		}
	}
}

func lookupWithin(st *store.Store, tenant string, p optin.Phone, wait time.Duration) (optin.Subscriber, []optin.Event, error) {
	deadline := time.Now().Add(wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		sub, evs, err := st.Lookup(ctx, tenant, p)
		cancel()
		if err == nil || !errors.Is(err, optin.ErrUnavailable) || time.Now().After(deadline) {
			return sub, evs, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
