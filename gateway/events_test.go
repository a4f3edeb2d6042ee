package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/optin-gateway/optin-gateway/events"
	"github.com/optin-gateway/optin-gateway/events/verify"
	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/egress"
	"github.com/optin-gateway/optin-gateway/internal/lanes"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/outbound"
	"github.com/optin-gateway/optin-gateway/store"
)

// loopbackEgress allows the test endpoints, httptest servers on
// 127.0.0.1, which the default egress policy refuses.
var loopbackEgress = &egress.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

// newEventsHarness is an admin harness whose audit log in dir also backs
// the event webhooks' replay; its endpoints may be on loopback.
func newEventsHarness(tb testing.TB) (*harness, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "audit")
	h := newAdminHarness(tb, func(o *gateway.Options) {
		st := o.Store.(*store.Store)
		o.Services.Audit, o.Services.Privacy, o.Services.Webhooks = st.AuditLog(dir), st.AuditLog(dir).WithRetention(store.DefaultRetention), st.WebhookAdmin(dir)
		o.Services.Egress = loopbackEgress
	})
	return h, dir
}

// putWebhook creates endpoint id of demo posting to u for types (all when
// none) and returns its signing secret.
func (h *harness) putWebhook(id, u string, types ...optin.EventType) string {
	h.tb.Helper()
	body, _ := json.Marshal(map[string]any{"url": u, "events": types})
	r := h.call(http.MethodPut, "/v1/tenants/demo/webhooks/"+id, adminToken, string(body))
	if r.status != http.StatusCreated {
		h.tb.Fatalf("PUT webhook %s: %d %s; want 201", id, r.status, r.body)
	}
	var v struct{ Secret string }
	if err := json.Unmarshal([]byte(r.body), &v); err != nil || len(v.Secret) < 40 {
		h.tb.Fatalf("PUT webhook %s: secret %q, %v; want one", id, v.Secret, err)
	}
	return v.Secret
}

// startEventWorker runs a delivery worker on h's store until stop (or
// the test's end); fast retries, short time-outs and lease; endpoints on
// loopback allowed.
func startEventWorker(tb testing.TB, h *harness, maxAttempts int) (stop func()) {
	tb.Helper()
	return startEventWorkerWith(tb, h, maxAttempts, loopbackEgress.Client())
}

// startEventWorkerWith is startEventWorker delivering through client.
func startEventWorkerWith(tb testing.TB, h *harness, maxAttempts int, client *http.Client) (stop func()) {
	tb.Helper()
	core, _ := observer.New(zapcore.DebugLevel)
	w, err := events.New(events.Options{
		Queue: h.store, Client: client,
		Tuning: lanes.Tuning{
			MaxAttempts: maxAttempts, BaseBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond,
			LeaseTTL: 2 * time.Second, Poll: 10 * time.Millisecond, Logger: testLogger(tb, core),
		},
		// A second for a delivery, not less: a try that a loaded machine
		// makes slow must not read as the endpoint's fault (the broken
		// endpoint's dead letters must say "status 502").
		Timeout: time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return runInBackground(tb, "event worker", w.Run)
}

// business is a fake business endpoint: it checks every delivery's
// signature with the README's verify.Verify and records what it accepted.
// The first try of a delivery fails now and then: a 500 (not processed),
// or a time-out after processing it (so the gateway sends it again).
type business struct {
	secret string
	faults bool
	stall  time.Duration

	mu       sync.Mutex
	wire     int                  // requests received
	accepted []optin.WebhookEvent // processed, in arrival order (duplicates too)
	badSig   int
	badBody  int
	e500     int
	timeouts int
	firsts   int
}

func (b *business) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wire++
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if err := verify.Verify(b.secret, r.Header.Get(events.SignatureHeader), body, time.Now()); err != nil {
		b.badSig++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var ev optin.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.ID != r.Header.Get(events.EventIDHeader) || string(ev.Type) != r.Header.Get(events.EventTypeHeader) {
		b.badBody++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if b.faults && r.Header.Get(events.AttemptHeader) == "1" {
		b.firsts++
		switch b.firsts % 4 {
		case 1:
			b.e500++
			w.WriteHeader(http.StatusInternalServerError)
			return
		case 3:
			b.timeouts++
			b.accepted = append(b.accepted, ev)
			b.mu.Unlock()
			time.Sleep(b.stall) // past the gateway's time-out
			b.mu.Lock()
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	b.accepted = append(b.accepted, ev)
	w.WriteHeader(http.StatusNoContent)
}

// snapshot returns what the business accepted, and counts.
func (b *business) snapshot() (accepted []optin.WebhookEvent, wire, badSig, badBody int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.accepted), b.wire, b.badSig, b.badBody
}

// deliverable returns the events of tenant demo in the audit log in dir
// that the webhooks deliver, in chain order.
func deliverable(tb testing.TB, dir string) []optin.Event {
	tb.Helper()
	var out []optin.Event
	_, err := store.WalkLog(dir, func(rec optin.AuditRecord) error {
		if rec.Delivery != nil || rec.Config != nil || rec.Access != nil || rec.Event.Tenant != "demo" {
			return nil
		}
		if _, ok := optin.TypeOf(rec.Event); ok {
			out = append(out, rec.Event)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// queued returns how many deliveries wait in h's delivery streams.
func queued(h *harness) int64 {
	var n int64
	for shard := range h.store.Shards() {
		n += h.rdb.XLen(context.Background(), store.WebhookQueueKey(shard)).Val()
	}
	return n
}

// waitDelivered waits until the outbox and the delivery streams are empty
// and the business holds every deliverable event of the audit log at
// least min times; it returns those events.
func waitDelivered(tb testing.TB, h *harness, dir string, b *business, min int) []optin.Event {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var outbox int64
		for shard := range h.store.Shards() {
			outbox += h.rdb.XLen(context.Background(), store.OutboxKey(shard)).Val()
		}
		if outbox == 0 && queued(h) == 0 {
			want := deliverable(tb, dir)
			got, _, _, _ := b.snapshot()
			seen := map[string]int{}
			for _, ev := range got {
				seen[ev.ID]++
			}
			done := true
			for _, ev := range want {
				done = done && seen[ev.ID] >= min
			}
			if done {
				return want
			}
		}
		if time.Now().After(deadline) {
			got, wire, _, _ := b.snapshot()
			tb.Fatalf("30 s on: outbox %d, queued %d, %d deliveries accepted of %d requests; want every event of the audit log %d times", outbox, queued(h), len(got), wire, min)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventWebhooksExactlyOnce runs people through the whole flow while a
// fake business endpoint fails first tries with 500s and time-outs, and
// the delivery worker and the archiver are restarted in the middle; some
// are blocked by the provider, one is erased. Every transition arrives,
// after de-duplication by event id, exactly once, in order per subscriber,
// validly signed, with the person's number; duplicates on the wire are
// counted. A replay since the start sends every event again under the
// same ids; an endpoint that always fails gets dead letters without
// holding up the other.
func TestEventWebhooksExactlyOnce(t *testing.T) {
	start := time.Now().UTC()
	h, dir := newEventsHarness(t)
	biz := &business{faults: true, stall: 1500 * time.Millisecond} // past the worker's 1 s time-out
	srv := httptest.NewServer(biz)
	t.Cleanup(srv.Close)
	biz.mu.Lock()
	biz.secret = h.putWebhook("crm", srv.URL+"/hooks/optin")
	biz.mu.Unlock()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(broken.Close)
	h.putWebhook("broken", broken.URL, optin.EventErased, optin.EventBlocked)

	archOpts := store.ArchiverOptions{Dir: dir, LeaseTTL: 500 * time.Millisecond, PollInterval: 5 * time.Millisecond}
	stopArchiver := startArchiver(t, h, archOpts)
	stopWorker := startEventWorker(t, h, 4)

	const people = 30
	// The restart: the worker and the archiver stop once deliveries are
	// under way, while people keep texting; new ones take over (the
	// worker after the old lease expires, claiming what was in flight).
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, _, _, _ := biz.snapshot()
			if len(got) >= 5 || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		stopWorker()
		stopArchiver()
	}()
	runFlows(t, h, 0, people/2, 3)
	<-restarted
	runFlows(t, h, people/2, people, 3)
	startArchiver(t, h, archOpts)
	startEventWorker(t, h, 4)

	// Blocked by the provider (person 1 and 4), and one erasure (person 2).
	num := testNumbers(t)[bizNumber]
	for _, i := range []int{1, 4} {
		id := h.subscriber("demo", privacyPhone(i)).Subscriber
		if err := outbound.Reconcile(context.Background(), h.store, num, id, optin.Cause{Provider: "twilio", MessageID: "SM-blocked-" + strconv.Itoa(i), Signal: "21610"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	erased := privacyPhone(2)
	if r := h.call(http.MethodDelete, "/v1/tenants/demo/subscribers/"+url.PathEscape(erased), adminToken, ""); r.status != http.StatusOK {
		t.Fatalf("DELETE subscriber: %d %s", r.status, r.body)
	}
	erasedID := h.subscriber("demo", erased).Subscriber

	want := waitDelivered(t, h, dir, biz, 1)
	got, wire, badSig, badBody := biz.snapshot()
	if badSig != 0 || badBody != 0 {
		t.Errorf("%d deliveries with a bad signature, %d with a bad body; want none", badSig, badBody)
	}
	phoneOf := map[string]string{}
	for i := range people {
		phoneOf[h.subscriber("demo", privacyPhone(i)).Subscriber] = privacyPhone(i)
	}
	first := map[string]optin.WebhookEvent{}
	var order = map[string][]string{} // by subscriber, ids in first-arrival order
	for _, ev := range got {
		if _, dup := first[ev.ID]; dup {
			continue
		}
		first[ev.ID] = ev
		order[ev.Subscriber] = append(order[ev.Subscriber], ev.ID)
	}
	types := map[optin.EventType]int{}
	wantOrder := map[string][]string{}
	for _, ev := range want {
		wantOrder[ev.Subscriber] = append(wantOrder[ev.Subscriber], ev.ID)
		typ, _ := optin.TypeOf(ev)
		types[typ]++
		g, ok := first[ev.ID]
		if !ok {
			t.Errorf("event %s (%s) never arrived", ev.ID, typ)
			continue
		}
		if g.Type != typ || g.Tenant != "demo" || g.Campaign != ev.Campaign || !g.At.Equal(ev.At) {
			t.Errorf("event %s arrived as %+v; want type %s, campaign %s, at %v", ev.ID, g, typ, ev.Campaign, ev.At)
		}
		switch {
		case typ == optin.EventErased && g.Phone != "":
			t.Errorf("erased event %s carries a number; want none", ev.ID)
		case typ != optin.EventErased && g.Phone != phoneOf[ev.Subscriber] && !(ev.Subscriber == erasedID && g.Phone == ""):
			t.Errorf("event %s carries the wrong number (or none)", ev.ID)
		}
	}
	if len(first) != len(want) {
		t.Errorf("%d distinct events arrived; want the %d of the audit log", len(first), len(want))
	}
	for sub, ids := range wantOrder {
		if !slices.Equal(order[sub], ids) {
			t.Errorf("subscriber %s: events arrived in the order %v; want %v", sub, order[sub], ids)
		}
	}
	for _, typ := range optin.EventTypes {
		if types[typ] == 0 {
			t.Errorf("no %s event in the run; want every type", typ)
		}
	}
	biz.mu.Lock()
	e500, timeouts := biz.e500, biz.timeouts
	biz.mu.Unlock()
	if e500 == 0 || timeouts == 0 || len(got) == len(first) {
		t.Errorf("%d 500s, %d time-outs, %d accepted for %d events: want faults and duplicates on the wire", e500, timeouts, len(got), len(first))
	}
	t.Logf("%d events (%v) to %d subscribers: %d requests, %d injected 500s, %d time-outs, %d accepted: %d duplicates on the wire, none after de-duplication by id",
		len(want), types, len(wantOrder), wire, e500, timeouts, len(got), len(got)-len(first))

	// The endpoint that always fails: its deliveries are dead letters.
	r := h.call(http.MethodGet, "/v1/tenants/demo/webhooks/broken/dead-letters", adminToken, "")
	var dead struct{ Items []optin.WebhookDeadLetter }
	if err := json.Unmarshal([]byte(r.body), &dead); r.status != 200 || err != nil {
		t.Fatalf("GET dead-letters: %d %s", r.status, r.body)
	}
	if len(dead.Items) != types[optin.EventErased]+types[optin.EventBlocked] {
		t.Errorf("broken endpoint: %d dead letters; want %d (its erased and blocked events)", len(dead.Items), types[optin.EventErased]+types[optin.EventBlocked])
	}
	for _, d := range dead.Items {
		if d.Tries != 4 || d.Reason != "status 502" || (d.Type != optin.EventErased && d.Type != optin.EventBlocked) {
			t.Errorf("dead letter %+v; want 4 tries, status 502, erased or blocked", d)
		}
	}
	if r := h.call(http.MethodGet, "/v1/tenants/demo/webhooks/crm/dead-letters", adminToken, ""); r.body != `{"items":[]}`+"\n" {
		t.Errorf("crm dead letters = %s; want none", r.body)
	}

	// Replay since the start: every event again, under the same ids.
	biz.mu.Lock()
	biz.faults = false
	biz.mu.Unlock()
	r = h.call(http.MethodPost, "/v1/tenants/demo/webhooks/crm/replay", adminToken, fmt.Sprintf(`{"since":%q}`, start.Format(time.RFC3339Nano)))
	if r.status != http.StatusAccepted || r.body != fmt.Sprintf(`{"queued":%d}`+"\n", len(want)) {
		t.Errorf("POST replay: %d %s; want 202 {\"queued\":%d}", r.status, r.body, len(want))
	}
	waitDelivered(t, h, dir, biz, 2)
	again, _, _, _ := biz.snapshot()
	distinct := map[string]bool{}
	for _, ev := range again {
		distinct[ev.ID] = true
	}
	if len(distinct) != len(want) {
		t.Errorf("after the replay %d distinct events; want %d", len(distinct), len(want))
	}

	// Redis holds the numbers only sealed, deliveries and dead letters too.
	values, _ := redisAtRest(t, h.rdb)
	phones := make([]string, people)
	for i := range phones {
		phones[i] = privacyPhone(i)
	}
	if found := findPersonal(values, phones, nil, nil); len(found) > 0 {
		t.Errorf("Redis holds in clear: %v", found)
	}
}

// TestEventWebhookRoutes: create answers the secret once; GET, list and
// update never show it; validation; replay needs a time; delete drops the
// endpoint's queued deliveries.
func TestEventWebhookRoutes(t *testing.T) {
	h, _ := newEventsHarness(t)
	secret := h.putWebhook("crm", "https://crm.example.com/optin", optin.EventSubscribed)
	for _, p := range []string{"/v1/tenants/demo/webhooks/crm", "/v1/tenants/demo/webhooks"} {
		r := h.call(http.MethodGet, p, adminToken, "")
		if r.status != 200 || containsAny(r.body, secret, "secret", "k0.") {
			t.Errorf("GET %s = %d %s; want 200 without the secret", p, r.status, r.body)
		}
	}
	r := h.call(http.MethodPut, "/v1/tenants/demo/webhooks/crm", adminToken, `{"url":"https://crm.example.com/v2","events":["subscribed","erased"],"version":1}`)
	if r.status != 200 || containsAny(r.body, secret, "secret") || !containsAny(r.body, `"version":2`) {
		t.Errorf("PUT update = %d %s; want 200, version 2, no secret", r.status, r.body)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"url":"http://crm.example.com/x"}`, "url"},
		{`{"url":"ftp://crm.example.com/x"}`, "url"},
		{`{"url":"https://crm.example.com/x","events":["pending"]}`, "events"},
		{`{"url":"https://crm.example.com/x","version":7}`, "version"},
	} {
		r := h.call(http.MethodPut, "/v1/tenants/demo/webhooks/crm", adminToken, tc.body)
		if r.status/100 != 4 || !containsAny(r.body, `"field":"`+tc.field+`"`) {
			t.Errorf("PUT %s = %d %s; want 4xx, field %s", tc.body, r.status, r.body, tc.field)
		}
	}
	if r := h.call(http.MethodPost, "/v1/tenants/demo/webhooks/crm/replay", adminToken, `{"since":"yesterday"}`); r.status != 400 {
		t.Errorf("replay with a bad time = %d %s; want 400", r.status, r.body)
	}
	if r := h.call(http.MethodGet, "/v1/tenants/demo/webhooks/nope", adminToken, ""); r.status != 404 || r.body != notFoundBody {
		t.Errorf("GET unknown webhook = %d %s; want 404", r.status, r.body)
	}
	if r := h.call(http.MethodDelete, "/v1/tenants/demo/webhooks/crm", adminToken, ""); r.status != 204 {
		t.Errorf("DELETE = %d %s; want 204", r.status, r.body)
	}
	if r := h.call(http.MethodGet, "/v1/tenants/demo/webhooks", adminToken, ""); r.body != `{"items":[]}`+"\n" {
		t.Errorf("list after delete = %s; want none", r.body)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
