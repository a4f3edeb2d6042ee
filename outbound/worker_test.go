package outbound_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/internal/twiliofake"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/store"
)

// checkExactlyOnceInOrder checks that the fake accepted every body of
// want exactly once and each subscriber's in queue order.
func checkExactlyOnceInOrder(t *testing.T, accepted []twiliofake.Message, want []optin.Reply) {
	t.Helper()
	count := map[string]int{}
	for _, m := range accepted {
		count[m.To+"|"+m.Body]++
	}
	for _, r := range want {
		if n := count[r.To.E164()+"|"+r.Body]; n != 1 {
			t.Errorf("reply %q to %v accepted %d times; want exactly once", r.Body, r.To, n)
		}
	}
	if len(accepted) != len(want) {
		t.Errorf("fake accepted %d messages; want %d", len(accepted), len(want))
	}
	// Order per subscriber: the position of each reply in the queue.
	pos := map[string]int{}
	for i, r := range want {
		pos[r.To.E164()+"|"+r.Body] = i
	}
	last := map[string]int{}
	for _, m := range accepted {
		p := pos[m.To+"|"+m.Body]
		if prev, ok := last[m.To]; ok && p < prev {
			t.Errorf("to %v: %q sent after a later reply; want queue order", optin.Phone(m.To), m.Body)
		}
		last[m.To] = p
	}
}

// rateOf returns the achieved rate of the messages from number: messages
// after the first divided by the time from the first to the last.
func rateOf(accepted []twiliofake.Message, from string) (float64, int) {
	var ts []time.Time
	for _, m := range accepted {
		if m.From == from {
			ts = append(ts, m.At)
		}
	}
	if len(ts) < 2 {
		return 0, len(ts)
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	return float64(len(ts)-1) / ts[len(ts)-1].Sub(ts[0]).Seconds(), len(ts)
}

// TestDeliverExactlyOnceUnderFailures queues 1,000 replies (100
// subscribers, 10 each; 950 from a fast number, 50 from a slow one) and
// lets two workers send them while the fake answers 429, 500 and "500
// after accepting" now and then. Each reply goes out exactly once, in
// order per subscriber, within each number's rate.
//
// Which requests fail goes by the fake's count of requests, so it moves
// with how the workers' lanes interleave; a reply fails at most three
// times, so that none runs out of its tries (MaxAttempts, 8) however they
// interleave on a slow machine.
func TestDeliverExactlyOnceUnderFailures(t *testing.T) {
	e := newEnv(t)
	tries := map[string]int{} // to and body → create requests; FailWith's fn runs under the fake's lock
	e.fake.FailWith(func(to, body string, attempt int) *twiliofake.Failure {
		k := to + "\x00" + body
		if tries[k]++; tries[k] > 3 {
			return nil
		}
		switch {
		case attempt%7 == 0:
			return &twiliofake.TooManyRequests
		case attempt%11 == 0:
			return &twiliofake.ServerError
		case attempt%13 == 0:
			f := twiliofake.ServerError
			f.Accept = true // accepted, then a 500: only a lookup can tell
			return &f
		}
		return nil
	})
	var want []optin.Reply
	for k := range 10 {
		for i := range 100 {
			from := fastNumber
			if i%20 == 0 {
				from = slowNumber // 5 subscribers, 50 replies: they would go far faster unthrottled
			}
			want = append(want, e.enqueue(t, from, subscriberPhone(i), fmt.Sprintf("reply %02d/%02d", i, k))...)
		}
	}
	start := time.Now()
	run(t, fastOptions(t, e.st, e.fake.URL(), "worker-a"))
	run(t, fastOptions(t, e.st, e.fake.URL(), "worker-b"))
	e.waitDrained(t, 2*time.Minute)
	took := time.Since(start)

	accepted := e.fake.Accepted()
	checkExactlyOnceInOrder(t, accepted, want)
	if n := e.deadLetters(t); n != 0 {
		t.Errorf("dead letters = %d; want 0", n)
	}
	t.Logf("1,000 replies in %v: %d create requests (%d refused or failed), %d lookups", took.Round(time.Millisecond),
		e.fake.Attempts(), e.fake.Attempts()-len(accepted), e.fake.Lists())
	for _, tc := range []struct {
		from  string
		limit float64
	}{{fastNumber, 400}, {slowNumber, 10}} {
		rate, n := rateOf(accepted, tc.from)
		t.Logf("sender %v: %d messages at %.1f msg/s (limit %.0f)", optin.Phone(tc.from), n, rate, tc.limit)
		// The limiter books slots one interval apart; the requests reach
		// the fake a little after their slots, so allow one interval of
		// jitter over the whole run, and 5%.
		interval := 1 / tc.limit
		if slack := float64(n-1) / (float64(n-1)/rate + interval); slack > tc.limit*1.05 {
			t.Errorf("sender %v: %.1f msg/s; want at most %.0f", optin.Phone(tc.from), rate, tc.limit)
		}
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failure twiliofake.Failure
		code    string
	}{
		{"invalid number", twiliofake.InvalidTo, "21211"},
		{"not a mobile number", twiliofake.Failure{Status: 400, Code: 21614}, "21614"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.FailWith(func(to, body string, attempt int) *twiliofake.Failure {
				if strings.HasPrefix(body, "bad") {
					return &tc.failure
				}
				return nil
			})
			want := e.enqueue(t, fastNumber, subscriberPhone(1), "bad one", "good one")
			run(t, fastOptions(t, e.st, e.fake.URL(), "worker-a"))
			e.waitDrained(t, 30*time.Second)
			if got := e.fake.Attempts(); got != 2 {
				t.Errorf("create requests = %d; want 2 (no retry of a permanent error)", got)
			}
			checkExactlyOnceInOrder(t, e.fake.Accepted(), want[1:])
			dead := e.rdb.XRange(context.Background(), store.OutDeadKey(shardOf(t, e, 1)), "-", "+").Val()
			if len(dead) != 1 || !strings.HasPrefix(fmt.Sprint(dead[0].Values["reason"]), tc.code) {
				t.Errorf("dead letters = %v; want one with reason %s", dead, tc.code)
			}
		})
	}
}

func TestRetriesEndInDeadLetter(t *testing.T) {
	e := newEnv(t)
	e.fake.FailWith(func(to, body string, attempt int) *twiliofake.Failure { return &twiliofake.TooManyRequests })
	e.enqueue(t, fastNumber, subscriberPhone(2), "never accepted")
	o := fastOptions(t, e.st, e.fake.URL(), "worker-a")
	o.MaxAttempts = 4
	var heard atomic.Int32
	o.OnDeadLetter = func(provider string) {
		if provider == "twilio" {
			heard.Add(1)
		}
	}
	run(t, o)
	e.waitDrained(t, 30*time.Second)
	if got := e.fake.Attempts(); got != 4 {
		t.Errorf("create requests = %d; want MaxAttempts = 4", got)
	}
	if got := e.deadLetters(t); got != 1 {
		t.Errorf("dead letters = %d; want 1", got)
	}
	// The dead letter leaves the queue before OnDeadLetter hears of it.
	for deadline := time.Now().Add(5 * time.Second); heard.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if got := heard.Load(); got != 1 {
		t.Errorf("OnDeadLetter heard %d twilio replies; want 1 (for optin_reply_failures_total)", got)
	}
}

// TestOptedOutAtProvider: a 21610 refusal moves the subscriber to
// unsubscribed with the provider as the cause, in the lookup and the
// outbox, and the reply is dead-lettered, not retried.
func TestOptedOutAtProvider(t *testing.T) {
	e := newEnv(t)
	e.fake.FailWith(func(to, body string, attempt int) *twiliofake.Failure { return &twiliofake.OptedOut })
	p := subscriberPhone(3)
	r := e.enqueue(t, fastNumber, p, "You're subscribed to ACME Deals.")
	run(t, fastOptions(t, e.st, e.fake.URL(), "worker-a"))
	e.waitDrained(t, 30*time.Second)
	if got := e.fake.Attempts(); got != 1 {
		t.Errorf("create requests = %d; want 1", got)
	}
	sub, events, err := e.st.Lookup(context.Background(), tenant, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := sub.Enrollment("deals").State; got != optin.StateUnsubscribed {
		t.Errorf("after 21610 deals = %v; want unsubscribed", got)
	}
	if len(events) != 1 || events[0].Reason != optin.OutcomeProviderOptOut ||
		events[0].Cause != (optin.Cause{Provider: "twilio", MessageID: r[0].ID, Signal: "21610"}) {
		t.Errorf("events = %+v; want one provider_opt_out caused by twilio 21610 on %s", events, r[0].ID)
	}
	outbox := e.rdb.XRange(context.Background(), store.OutboxKey(shardOf(t, e, 3)), "-", "+").Val()
	var kinds []string
	for _, m := range outbox {
		for k, v := range m.Values {
			switch {
			case k == "e" && strings.Contains(fmt.Sprint(v), `"reason":"provider_opt_out"`):
				kinds = append(kinds, "event")
			case k == "d" && strings.Contains(fmt.Sprint(v), `"status":"dead"`) && strings.Contains(fmt.Sprint(v), `"error_code":"21610"`):
				kinds = append(kinds, "delivery")
			}
		}
	}
	if strings.Join(kinds, ",") != "event,delivery" {
		t.Errorf("outbox = %v; want the provider_opt_out event, then the dead delivery with 21610", outbox)
	}
}

// shardOf finds the shard of test subscriber i by where its replies went.
func shardOf(tb testing.TB, e *env, i int) int {
	tb.Helper()
	id := e.pseud.Pseudonym(tenant, subscriberPhone(i))
	var v uint64
	fmt.Sscanf(id[:4], "%x", &v)
	return int(v) % shards
}

// TestSenderKilledMidSend runs a sender in a separate process (this test
// binary again), SIGKILLs it while the fake holds several accepted sends
// unanswered, and lets another worker take over: no queued reply is lost
// and none is sent twice.
func TestSenderKilledMidSend(t *testing.T) {
	e := newEnv(t)
	var want []optin.Reply
	for k := range 3 {
		for i := range 40 {
			want = append(want, e.enqueue(t, fastNumber, subscriberPhone(i), fmt.Sprintf("kill %02d/%d", i, k))...)
		}
	}
	const killAt = 30
	reached, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	seen := 0
	e.fake.OnCreate(func(twiliofake.Message) {
		mu.Lock()
		seen++
		n := seen
		mu.Unlock()
		if n >= killAt {
			once.Do(func() { close(reached) })
			<-release // accepted, but the sender never hears back
		}
	})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSenderProcess$", "-test.v")
	cmd.Env = append(os.Environ(),
		"OPTIN_TEST_SENDER=1", "OPTIN_TEST_REDIS="+e.redis.URL(), "OPTIN_TEST_FAKE="+e.fake.URL(),
		"OPTIN_TEST_KEY="+fmt.Sprintf("%x", e.key))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reached:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the sender process sent fewer than %d messages in 60s; output:\n%s", killAt, out)
	}
	time.Sleep(50 * time.Millisecond) // let more sends pile up, unanswered
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	inFlight := len(e.fake.Accepted())
	e.fake.OnCreate(nil)
	close(release)
	t.Logf("sender process killed with %d messages accepted, %d of them unanswered", inFlight, inFlight-killAt+1)

	run(t, fastOptions(t, e.st, e.fake.URL(), "worker-after-kill"))
	e.waitDrained(t, time.Minute)
	checkExactlyOnceInOrder(t, e.fake.Accepted(), want)
	if n := e.deadLetters(t); n != 0 {
		t.Errorf("dead letters = %d; want 0", n)
	}
}

// TestHelperSenderProcess is the sender process of TestSenderKilledMidSend;
// it runs only when that test starts it.
func TestHelperSenderProcess(t *testing.T) {
	if os.Getenv("OPTIN_TEST_SENDER") != "1" {
		t.Skip("runs only as the child process of TestSenderKilledMidSend")
	}
	var key []byte
	fmt.Sscanf(os.Getenv("OPTIN_TEST_KEY"), "%x", &key)
	st := openStore(t, os.Getenv("OPTIN_TEST_REDIS"), key)
	o := fastOptions(t, st, os.Getenv("OPTIN_TEST_FAKE"), "worker-killed")
	w, err := outbound.New(o)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Run(context.Background()) // until SIGKILL
}

func TestDefaultRate(t *testing.T) {
	for _, tc := range []struct {
		from string
		want float64
	}{
		{"+12025550100", outbound.DefaultLongCodeRate},
		{"+18005550100", outbound.DefaultTollFreeRate},
		{"+18885550100", outbound.DefaultTollFreeRate},
		{"55555", outbound.DefaultShortCodeRate},
		{"+447700900123", outbound.DefaultLongCodeRate},
	} {
		if got := outbound.DefaultRate(tc.from); got != tc.want {
			t.Errorf("DefaultRate(%q) = %v; want %v", tc.from, got, tc.want)
		}
	}
}

// TestUndecodableEntryIsDeadLettered: an entry no sender can read (here,
// its data key wrapped under another master key) goes to the dead letters
// instead of blocking its shard; the replies behind it are sent.
func TestUndecodableEntryIsDeadLettered(t *testing.T) {
	e := newEnv(t)
	otherKey := make([]byte, store.MasterKeySize)
	copy(otherKey, "a different master key, 32 bytes")
	other := openStore(t, e.redis.URL(), otherKey)
	p := subscriberPhone(7)
	sub := optin.Subscriber{Tenant: tenant, ID: e.pseud.Pseudonym(tenant, p)}
	in := optin.Inbound{Provider: "twilio", MessageID: newSid(), From: p, To: fastNumber}
	bad := optin.RepliesFor(testNumbers(t)[fastNumber], sub, in, []string{"sealed under another key"}, time.Now())
	if _, _, err := other.ApplyQueued(context.Background(), sub, optin.Decision{}, in, []byte{}, bad); err != nil {
		t.Fatal(err)
	}
	want := e.enqueue(t, fastNumber, subscriberPhone(8), "readable")
	run(t, fastOptions(t, e.st, e.fake.URL(), "worker-a"))
	e.waitDrained(t, 30*time.Second)
	checkExactlyOnceInOrder(t, e.fake.Accepted(), want)
	if n := e.deadLetters(t); n != 1 {
		t.Errorf("dead letters = %d; want 1", n)
	}
}

// TestSlowNumberHoldsUpOnlyItsSubscribers: replies behind a slow number's
// in the same shard do not wait for them; each subscriber has a line of
// its own.
func TestSlowNumberHoldsUpOnlyItsSubscribers(t *testing.T) {
	e := newEnv(t)
	slow := e.enqueue(t, slowNumber, subscriberPhone(0), "slow 1", "slow 2", "slow 3", "slow 4")
	var fast []optin.Reply
	for i := 1; i < 100; i++ {
		if shardOf(t, e, i) == shardOf(t, e, 0) {
			fast = append(fast, e.enqueue(t, fastNumber, subscriberPhone(i), fmt.Sprintf("fast %02d", i))...)
		}
	}
	o := fastOptions(t, e.st, e.fake.URL(), "worker-a")
	o.Rates[slowNumber] = 1 // four replies take at least 3 s
	o.Batch = 5             // the first read holds the slow replies and one fast one
	run(t, o)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, slowSent := 0, 0
		for _, m := range e.fake.Accepted() {
			if m.From == fastNumber {
				n++
			} else {
				slowSent++
			}
		}
		if n == len(fast) {
			if slowSent == len(slow) {
				t.Errorf("the %d fast replies went out only after all %d slow ones; want them not held up", n, len(slow))
			}
			t.Logf("%d fast replies sent while %d of %d slow ones were", n, slowSent, len(slow))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d fast replies sent in 30s", n, len(fast))
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.waitDrained(t, 30*time.Second)
	checkExactlyOnceInOrder(t, e.fake.Accepted(), append(slow, fast...))
}
