package store

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/optin-gateway/optin-gateway/optin"
)

// putTestWebhook stores endpoint id of tenant demo wanting types.
func putTestWebhook(tb testing.TB, st *Store, id string, types ...optin.EventType) {
	tb.Helper()
	sealed, err := st.SealWebhookSecret("demo", id, "whsec_test")
	if err != nil {
		tb.Fatal(err)
	}
	b, _ := json.Marshal(optin.WebhookDoc{ID: id, Tenant: "demo", URL: "https://crm.example.com/" + id, Events: types, Secret: sealed})
	if err := st.ConfigPut(context.Background(), optin.ConfigRef{Object: optin.ObjectWebhook, Tenant: "demo", ID: id}, nil, b, nil); err != nil {
		tb.Fatal(err)
	}
}

// addConfirmations puts events from..to-1 into the outbox as
// confirmations (deliverable: pending → subscribed).
func addConfirmations(tb testing.TB, st *Store, from, to int) {
	tb.Helper()
	addEventsAs(tb, st, from, to, func(ev *optin.Event) {
		ev.ID += ":c"
		ev.From, ev.To, ev.Reason = optin.StatePending, optin.StateSubscribed, optin.OutcomeConfirmed
	})
}

// announced returns the event ids in the delivery streams, by endpoint,
// with how often each is there.
func announced(tb testing.TB, st *Store) map[string]map[string]int {
	tb.Helper()
	out := map[string]map[string]int{}
	for shard := range st.shards {
		msgs, err := st.rdb.XRange(context.Background(), WebhookQueueKey(shard), "-", "+").Result()
		if err != nil {
			tb.Fatal(err)
		}
		for _, m := range msgs {
			var e webhookEntry
			if err := json.Unmarshal([]byte(m.Values["w"].(string)), &e); err != nil {
				tb.Fatal(err)
			}
			if e.Event.Sealed != "" || e.Event.Cause.Words != "" || len(e.Event.Replies) > 0 {
				tb.Errorf("delivery %s holds texts: %+v", e.Event.ID, e.Event)
			}
			if out[e.Endpoint] == nil {
				out[e.Endpoint] = map[string]int{}
			}
			out[e.Endpoint][e.Event.ID]++
		}
	}
	return out
}

// TestArchiverAnnouncesEachEventOnce: the archiver announces every
// deliverable event once per endpoint that wants it, none that is not
// deliverable, and none twice after a crash between the fsync and the
// deletion (the replayed entries are announced with their deletion).
func TestArchiverAnnouncesEachEventOnce(t *testing.T) {
	st, srv := newTestStore(t, 2)
	opts := testArchiverOptions(t)
	putTestWebhook(t, st, "all")
	putTestWebhook(t, st, "stops", optin.EventUnsubscribed)
	addEvents(t, st, 0, 20)        // prompts: not delivered
	addConfirmations(t, st, 0, 30) // delivered

	crashAfterFirstCommit(t, st, srv, opts)
	if got := announced(t, st); len(got) != 0 {
		t.Fatalf("after a crash before the deletion: %v announced; want nothing yet", got)
	}
	addConfirmations(t, st, 30, 40)
	archive(t, st, opts, 20+40)
	got := announced(t, st)
	if len(got["stops"]) != 0 || len(got["all"]) != 40 {
		t.Errorf("announced %d to all, %d to stops; want 40 and 0", len(got["all"]), len(got["stops"]))
	}
	for id, n := range got["all"] {
		if n != 1 {
			t.Errorf("event %s announced %d times; want once", id, n)
		}
	}
}

// TestDeleteAnnouncesOnlyWhatItDeletes: delete.lua announces an entry
// only with the call that deletes it.
func TestDeleteAnnouncesOnlyWhatItDeletes(t *testing.T) {
	st, _ := newTestStore(t, 1)
	ctx := context.Background()
	msgs, keys := outboxToDelete(t, st, 2)
	for i, want := range []int64{2, 0} {
		n, err := deleteScript.Eval(ctx, st.rdb, keys, 1, 2, msgs[0].ID, msgs[1].ID, 1, "first", 2, "second").Int64()
		if err != nil || n != want {
			t.Fatalf("delete %d = %d, %v; want %d", i, n, err, want)
		}
	}
	if n := st.rdb.XLen(ctx, WebhookQueueKey(0)).Val(); n != 2 {
		t.Errorf("delivery stream holds %d entries; want the 2 of the first call", n)
	}
}
