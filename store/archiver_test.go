package store

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/optin-gateway/optin-gateway/internal/recorder"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// newTestStore opens a store with the given number of shards on a private
// redis-server.
func newTestStore(tb testing.TB, shards int) (*Store, *redistest.Server) {
	tb.Helper()
	srv := redistest.Start(tb)
	key := make([]byte, MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	st, err := Open(context.Background(), Options{URL: srv.URL(), MasterKey: key, Shards: shards})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, srv
}

// testEvent returns the i-th event of a made-up stream of transitions.
func testEvent(i int) optin.Event {
	return optin.Event{
		ID:     fmt.Sprintf("twilio:SM%032d:deals:0", i),
		Tenant: "demo", Number: "+12025550100", Campaign: "deals", CampaignVersion: 1,
		Subscriber: fmt.Sprintf("%04x%028x", (i%97)*675, i%97), From: optin.StateNone, To: optin.StatePending, // 97 subscribers, spread over the shards
		At:     time.Date(2026, 1, 2, 3, 4, 5, i, time.UTC),
		Reason: optin.OutcomePrompted, Cause: optin.Cause{Provider: "twilio", MessageID: fmt.Sprintf("SM%032d", i), Words: "join"},
		Replies: []string{"Reply ****** to confirm ACME Deals. Up to 4 msg/mo. Msg&data rates may apply. Reply HELP for help, STOP to cancel."},
	}
}

// addEvents puts events from..to-1 into the outbox streams as apply.lua
// does, each in its subscriber's shard.
func addEvents(tb testing.TB, st *Store, from, to int) {
	tb.Helper()
	addEventsAs(tb, st, from, to, func(*optin.Event) {})
}

// addEventsAs is addEvents with each event changed by as first.
func addEventsAs(tb testing.TB, st *Store, from, to int, as func(*optin.Event)) {
	tb.Helper()
	ctx := context.Background()
	pipe := st.rdb.Pipeline()
	for i := from; i < to; i++ {
		ev := testEvent(i)
		as(&ev)
		b, err := json.Marshal(ev)
		if err != nil {
			tb.Fatal(err)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: OutboxKey(shardOf(ev.Subscriber, st.shards)), Values: []any{"e", string(b)}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		tb.Fatal(err)
	}
}

// outboxLen returns how many entries the outbox streams hold.
func outboxLen(tb testing.TB, st *Store) int64 {
	tb.Helper()
	var n int64
	for s := range st.shards + 1 { // and the config outbox
		l, err := st.rdb.XLen(context.Background(), outboxStream(s, st.shards)).Result()
		if err != nil {
			tb.Fatal(err)
		}
		n += l
	}
	return n
}

// runArchiver runs an archiver until the test ends or stop is called.
func runArchiver(tb testing.TB, st *Store, opts ArchiverOptions) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := st.NewArchiver(opts)
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		err = a.Run(ctx)
	}()
	var once sync.Once
	stop = func() error {
		once.Do(func() { cancel(); <-done })
		return err
	}
	tb.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor polls cond until it holds; it fails the test after a minute.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting for %s after a minute", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// archive runs an archiver until the outbox streams are empty and the log
// holds want records.
func archive(tb testing.TB, st *Store, opts ArchiverOptions, want uint64) LogSummary {
	tb.Helper()
	stop := runArchiver(tb, st, opts)
	waitFor(tb, "the archiver to drain the outbox", func() bool {
		sum, err := VerifyLog(opts.Dir)
		return err == nil && sum.Records >= want && outboxLen(tb, st) == 0
	})
	if err := stop(); err != nil {
		tb.Fatalf("archiver: %v", err)
	}
	sum, err := VerifyLog(opts.Dir)
	if err != nil {
		tb.Fatalf("VerifyLog after archiving: %v", err)
	}
	if sum.Records != want {
		tb.Fatalf("log holds %d records; want %d", sum.Records, want)
	}
	return sum
}

func testArchiverOptions(tb testing.TB) ArchiverOptions {
	return ArchiverOptions{
		Dir:          filepath.Join(tb.TempDir(), "audit"),
		LeaseTTL:     time.Second,
		PollInterval: 2 * time.Millisecond,
		OnError:      func(err error) { tb.Logf("archiver: %v", err) },
	}
}

func TestArchiverArchivesEveryEventOnce(t *testing.T) {
	st, _ := newTestStore(t, 4)
	opts := testArchiverOptions(t)
	addEvents(t, st, 0, 300)
	archive(t, st, opts, 300)
	// A second run finds nothing new and writes nothing twice.
	addEvents(t, st, 300, 310)
	sum := archive(t, st, opts, 310)
	ids := logEventIDs(t, opts.Dir)
	for i := range 310 {
		if got := ids[testEvent(i).ID]; got != 1 {
			t.Errorf("event %d is archived %d times; want 1", i, got)
		}
	}
	if sum.FirstSeq != 1 || sum.HeadSeq != 310 {
		t.Errorf("log spans records %d..%d; want 1..310", sum.FirstSeq, sum.HeadSeq)
	}
}

// logEventIDs counts the records of the log in dir per event id.
func logEventIDs(tb testing.TB, dir string) map[string]int {
	tb.Helper()
	ids := map[string]int{}
	if _, err := walkLog(dir, false, func(rec optin.AuditRecord, _ recordBody) error {
		ids[rec.Event.ID]++
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return ids
}

func TestArchiverRepairsTornRecordAndSkipsReplays(t *testing.T) {
	st, srv := newTestStore(t, 2)
	opts := testArchiverOptions(t)
	addEvents(t, st, 0, 50)

	// A crash between the fsync and the deletion.
	crashAfterFirstCommit(t, st, srv, opts)
	sum, err := VerifyLog(opts.Dir)
	if err != nil || sum.Records != 50 || outboxLen(t, st) != 50 {
		t.Fatalf("after the crash: log %d records (%v), outbox %d; want 50 archived and all 50 still in the outbox",
			sum.Records, err, outboxLen(t, st))
	}

	// And a crash in the middle of a write: half a record at the end.
	segs, err := listSegments(opts.Dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(opts.Dir, segName(segs[len(segs)-1])), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`0123456789abcdef {"seq":51,"prev":"`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := VerifyLog(opts.Dir); !isBreak(err, BreakTruncated) {
		t.Fatalf("VerifyLog with a torn record = %v; want a %s break", err, BreakTruncated)
	}

	addEvents(t, st, 50, 60)
	var repaired []string
	opts.OnRepair = func(seg string, _ int) { repaired = append(repaired, seg) }
	archive(t, st, opts, 60) // fails unless the 50 replayed entries are skipped
	for id, n := range logEventIDs(t, opts.Dir) {
		if n != 1 {
			t.Errorf("event %s is archived %d times; want 1", id, n)
		}
	}
	if len(repaired) != 1 {
		t.Errorf("repaired %v; want the torn record of one segment", repaired)
	}
}

func isBreak(err error, kind string) bool {
	var ce *ChainError
	return errors.As(err, &ce) && ce.Kind == kind
}

// leaseTokens records the fencing tokens an archiver takes (its
// OnLease).
type leaseTokens = recorder.Log[int64]

// crashAfterFirstCommit runs an archiver with opts until Redis goes away
// right after its first batch is fsync'd (a crash between the fsync and
// the deletion, so the batch's entries stay in the streams), then starts
// Redis again.
func crashAfterFirstCommit(tb testing.TB, st *Store, srv *redistest.Server, opts ArchiverOptions) {
	tb.Helper()
	crashed := make(chan struct{})
	var once sync.Once
	opts.OnCommit = func(Commit) { once.Do(func() { srv.Kill(tb); close(crashed) }) }
	stop := runArchiver(tb, st, opts)
	<-crashed
	if err := stop(); err != nil {
		tb.Fatal(err)
	}
	srv.Restart(tb)
}

func TestArchiverLeaseTakeover(t *testing.T) {
	st, _ := newTestStore(t, 2)
	opts := testArchiverOptions(t)
	var leases leaseTokens
	opts.OnLease = leases.Add
	stopFirst := runArchiver(t, st, opts)
	waitFor(t, "the first archiver's lease", func() bool { return len(leases.All()) == 1 })
	stopSecond := runArchiver(t, st, opts) // waits: lock and lease are held
	addEvents(t, st, 0, 20)
	waitFor(t, "20 records", func() bool {
		sum, err := VerifyLog(opts.Dir)
		return err == nil && sum.Records == 20
	})
	if n := len(leases.All()); n != 1 {
		t.Errorf("%d archivers took the lease while the first held it; want 1", n)
	}
	if err := stopFirst(); err != nil {
		t.Fatal(err)
	}
	addEvents(t, st, 20, 40)
	waitFor(t, "the second archiver to continue the chain", func() bool {
		sum, err := VerifyLog(opts.Dir)
		return err == nil && sum.Records == 40 && outboxLen(t, st) == 0
	})
	if err := stopSecond(); err != nil {
		t.Fatal(err)
	}
	if tokens := leases.All(); len(tokens) != 2 || tokens[1] <= tokens[0] {
		t.Errorf("fencing tokens = %v; want two, rising", tokens)
	}
}

// outboxToDelete adds n events to shard 0's outbox and returns its
// entries and the keys delete.lua takes for that shard.
func outboxToDelete(tb testing.TB, st *Store, n int) ([]redis.XMessage, []string) {
	tb.Helper()
	addEvents(tb, st, 0, n)
	msgs, err := st.rdb.XRange(context.Background(), OutboxKey(0), "-", "+").Result()
	if err != nil || len(msgs) != n {
		tb.Fatalf("outbox = %d entries, %v; want %d", len(msgs), err, n)
	}
	return msgs, []string{OutboxKey(0), outboxFenceKey(0), WebhookQueueKey(0)}
}

func TestDeleteIsFenced(t *testing.T) {
	st, _ := newTestStore(t, 1)
	ctx := context.Background()
	msgs, keys := outboxToDelete(t, st, 3)
	for i, tc := range []struct {
		name  string
		token int64
		want  int64
	}{
		{"first holder", 5, 1},
		{"newer holder", 7, 1},
		{"stale holder", 6, -1},
	} {
		got, err := deleteScript.Eval(ctx, st.rdb, keys, tc.token, 1, msgs[i].ID).Int64()
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s: delete with token %d = %d; want %d", tc.name, tc.token, got, tc.want)
		}
	}
	if n := outboxLen(t, st); n != 1 {
		t.Errorf("outbox holds %d entries; want the 1 the stale holder could not delete", n)
	}
}

func TestRetentionDeletesOldSegmentsAndKeepsChainVerifiable(t *testing.T) {
	st, _ := newTestStore(t, 1)
	opts := testArchiverOptions(t)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ticking := true
	opts.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if ticking {
			now = now.Add(10 * time.Minute) // every round is ten minutes later
		}
		return now
	}
	opts.SegmentAge = time.Hour
	opts.Retention = 1000 * time.Hour
	opts.Batch = 10
	addEvents(t, st, 0, 300) // 30 rounds: a segment every six
	archive(t, st, opts, 300)
	segs, _ := listSegments(opts.Dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments; want several", len(segs))
	}

	mu.Lock()
	ticking = false
	now = now.Add(2000 * time.Hour)
	mu.Unlock()
	addEvents(t, st, 300, 310)
	stop := runArchiver(t, st, opts)
	waitFor(t, "retention", func() bool {
		_, err := os.Stat(filepath.Join(opts.Dir, anchorName))
		return err == nil && outboxLen(t, st) == 0
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyLog(opts.Dir)
	if err != nil {
		t.Fatalf("VerifyLog after retention: %v", err)
	}
	left, _ := listSegments(opts.Dir)
	if left[0] == 1 || sum.FirstSeq == 1 {
		t.Errorf("after retention the log starts at segment %d, record %d; want the old segments gone", left[0], sum.FirstSeq)
	}
	if sum.HeadSeq != 310 {
		t.Errorf("head = record %d; want 310", sum.HeadSeq)
	}
}

func TestArchiverRefusesDamagedLog(t *testing.T) {
	st, _ := newTestStore(t, 1)
	opts := testArchiverOptions(t)
	addEvents(t, st, 0, 10)
	archive(t, st, opts, 10)
	path := filepath.Join(opts.Dir, segName(1))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[200] ^= 0x01 // inside record 1, not the last one
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	addEvents(t, st, 10, 11)
	err = st.NewArchiver(opts).Run(context.Background())
	var ce *ChainError
	if !errors.As(err, &ce) || ce.Seq != 1 || ce.Line != 1 {
		t.Fatalf("Run on a damaged log = %v; want a *ChainError at record 1, line 1", err)
	}
	if n := outboxLen(t, st); n != 1 {
		t.Errorf("outbox holds %d events after the refusal; want the 1 new one, kept", n)
	}
}

// TestArchiverKeepsDeliveryRecords checks that what became of a reply sent
// through a provider's API (outbox field "d") is archived whole beside the
// transitions (field "e"), and reads back as a delivery.
func TestArchiverKeepsDeliveryRecords(t *testing.T) {
	st, _ := newTestStore(t, 4)
	opts := testArchiverOptions(t)
	addEvents(t, st, 0, 3)
	ev := testEvent(0)
	d := optin.Delivery{
		Kind: "delivery", Tenant: ev.Tenant, Subscriber: ev.Subscriber, ReplyID: "twilio:SM1:r0", CausedBy: "SM1",
		Provider: "twilio", ProviderMessageID: "SM2", Status: optin.DeliveryDelivered, At: ev.At,
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: OutboxKey(shardOf(ev.Subscriber, st.shards)), Values: []any{"d", string(b)}}).Err(); err != nil {
		t.Fatal(err)
	}
	archive(t, st, opts, 4)
	var got []optin.Delivery
	if _, err := walkLog(opts.Dir, false, func(rec optin.AuditRecord, _ recordBody) error {
		if rec.Delivery != nil {
			got = append(got, *rec.Delivery)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != d {
		t.Fatalf("archived deliveries = %+v; want exactly %+v", got, d)
	}
}
