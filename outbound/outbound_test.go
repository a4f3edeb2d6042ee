package outbound_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zaptest"

	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/internal/twiliofake"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// Fictional numbers (+1 NPA 555 01XX) only.
const (
	fastNumber = "+12025550100" // a high test rate, so the test runs in seconds
	slowNumber = "+12025550101" // a low rate, to show the limit holds
	tenant     = "demo"
	shards     = 4
)

// subscriberPhone returns the i-th test subscriber, i in 0..99.
func subscriberPhone(i int) optin.Phone { return optin.Phone(fmt.Sprintf("+1212555%04d", 100+i)) }

func testNumbers(tb testing.TB) map[string]*optin.Number {
	tb.Helper()
	c := optin.Campaign{
		ID: "deals", Name: "ACME Deals", Keywords: []string{"JOIN"}, Version: 1,
		Prompt: "Reply {code} to confirm ACME Deals.", Confirmation: "You're subscribed to ACME Deals.", Help: "ACME Deals help.",
	}.WithDefaults()
	nums := map[string]*optin.Number{}
	for _, e := range []string{fastNumber, slowNumber} {
		n := &optin.Number{Tenant: tenant, E164: e, Campaigns: []optin.Campaign{c}, StopReply: "You're unsubscribed."}
		if err := n.Validate(); err != nil {
			tb.Fatal(err)
		}
		nums[e] = n
	}
	return nums
}

// env is a real Redis, the store on it and a fake Twilio API.
type env struct {
	redis *redistest.Server
	rdb   *redis.Client
	st    *store.Store
	key   []byte
	pseud *store.Pseudonymizer
	fake  *twiliofake.Fake
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	e := &env{redis: redistest.Start(tb), fake: twiliofake.Start(tb), key: make([]byte, store.MasterKeySize)}
	if _, err := rand.Read(e.key); err != nil {
		tb.Fatal(err)
	}
	e.rdb = e.redis.Client(tb)
	e.st = openStore(tb, e.redis.URL(), e.key)
	var err error
	if e.pseud, err = store.NewPseudonymizer(e.key); err != nil {
		tb.Fatal(err)
	}
	return e
}

func openStore(tb testing.TB, url string, key []byte) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), store.Options{URL: url, MasterKey: key, Shards: shards})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

func newSid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "SM" + hex.EncodeToString(b)
}

// enqueue queues bodies from number to phone as the replies of one inbound
// message, through the store's apply script, and returns them.
func (e *env) enqueue(tb testing.TB, from string, to optin.Phone, bodies ...string) []optin.Reply {
	tb.Helper()
	sub := optin.Subscriber{Tenant: tenant, ID: e.pseud.Pseudonym(tenant, to)}
	in := optin.Inbound{Provider: "twilio", MessageID: newSid(), From: to, To: optin.Phone(from)}
	n := &optin.Number{Tenant: tenant, E164: from}
	replies := optin.RepliesFor(n, sub, in, bodies, time.Now())
	if _, _, err := e.st.ApplyQueued(context.Background(), sub, optin.Decision{}, in, []byte{}, replies); err != nil {
		tb.Fatalf("ApplyQueued: %v", err)
	}
	return replies
}

// sender returns a Twilio sender that talks to the fake at base.
func sender(tb testing.TB, base string) *twilio.Sender {
	tb.Helper()
	s, err := twilio.NewSender(twilio.SenderOptions{
		AccountSid: twiliofake.AccountSid, Password: twiliofake.AuthToken, HTTPClient: twiliofake.Client(base),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fastOptions are worker options for tests: short backoffs and leases.
func fastOptions(tb testing.TB, q outbound.Queue, base string, owner string) outbound.Options {
	return outbound.Options{
		Queue:   q,
		Senders: map[string]outbound.Sender{"twilio": sender(tb, base)},
		Numbers: testNumbers(tb),
		Rates:   map[string]float64{fastNumber: 400, slowNumber: 10},
		Tuning: lanes.Tuning{
			Owner:       owner,
			BaseBackoff: 2 * time.Millisecond,
			MaxBackoff:  20 * time.Millisecond,
			LeaseTTL:    3 * time.Second, // renewed every second: a worker stalled for 2 s on a loaded machine keeps its shards
			Poll:        10 * time.Millisecond,
			Logger:      zaptest.NewLogger(tb),
		},
	}
}

// run starts a worker until the test ends.
func run(tb testing.TB, o outbound.Options) {
	tb.Helper()
	w, err := outbound.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(ctx); err != nil {
			tb.Errorf("Run() = %v", err)
		}
	})
	tb.Cleanup(func() { cancel(); wg.Wait() })
}

// waitDrained waits until every shard's queue is empty and nothing is
// pending.
func (e *env) waitDrained(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := int64(0)
		for s := range shards {
			left += e.rdb.XLen(context.Background(), store.OutQueueKey(s)).Val()
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("queues still hold %d replies after %v (fake accepted %d)", left, timeout, len(e.fake.Accepted()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deadLetters returns the number of dead-lettered replies.
func (e *env) deadLetters(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	for s := range shards {
		n += e.rdb.XLen(context.Background(), store.OutDeadKey(s)).Val()
	}
	return n
}
