package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// privacyNPAs are the area codes of the privacy tests' people: none is a
// business number's, so a business number in clear (the events name it)
// never reads as a person's.
var privacyNPAs = []string{"212", "312", "415", "617", "718", "305", "404", "503", "206", "213"}

// privacyPhone is the i-th person (0..999) of the privacy tests:
// +1 NPA 555 01XX.
func privacyPhone(i int) string {
	return fmt.Sprintf("+1%s55501%02d", privacyNPAs[i/100], i%100)
}

func newMasterKey(tb testing.TB, id string) store.MasterKey {
	tb.Helper()
	k := store.MasterKey{ID: id, Key: make([]byte, store.MasterKeySize)}
	if _, err := rand.Read(k.Key); err != nil {
		tb.Fatal(err)
	}
	return k
}

// newPrivacyHarness is a harness on the Redis srv with the master keys
// keys (newest first) and pseudonym key pk, the audit log in dir behind
// the evidence, export and erasure routes. Opening a second one on the
// same Redis and directory is a restart of the gateway.
func newPrivacyHarness(tb testing.TB, srv *redistest.Server, dir string, pk []byte, keys ...store.MasterKey) *harness {
	tb.Helper()
	st, err := store.Open(context.Background(), store.Options{URL: srv.URL(), MasterKeys: keys, PseudonymKey: pk, Shards: 4})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	core, logs := observer.New(zapcore.DebugLevel)
	h := &harness{tb: tb, redis: srv, rdb: srv.Client(tb), store: st, logs: logs,
		clock: &clock{now: time.Now().UTC().Truncate(time.Millisecond)}}
	h.srv, err = gateway.New(gateway.Options{
		PublicURL: publicURL, TwilioAuthToken: twilioToken, AdminToken: adminToken,
		Numbers: testNumbers(tb), Store: st, Logger: testLogger(tb, core), Now: h.clock.Now,
		// An export reads the whole audit log of 1,000 people: give it the
		// time a loaded CI machine under the race detector needs.
		HTTP: gateway.HTTPOptions{RequestTimeout: time.Minute},
		Services: gateway.Services{
			Audit:   st.AuditLog(dir),
			Privacy: st.AuditLog(dir).WithRetention(store.DefaultRetention),
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	h.http = httptest.NewServer(h.srv.Handler())
	tb.Cleanup(h.http.Close)
	return h
}

// smsFrom sends text from phone to bizNumber and returns the replies; safe
// to call from several goroutines (errors, not Fatal).
func (h *harness) smsFrom(phone, text string) ([]string, error) {
	form := inboundForm(newSid(), phone, bizNumber, text)
	req, err := http.NewRequest(http.MethodPost, h.http.URL+webhookPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(twilioToken, publicURL+webhookPath, form))
	resp, err := h.http.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var doc struct {
		XMLName  xml.Name `xml:"Response"`
		Messages []string `xml:"Message"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sms %q from %s: status %d", text, optin.Phone(phone), resp.StatusCode)
	}
	if err := xml.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, fmt.Errorf("sms %q: reply is not TwiML: %w", text, err)
	}
	for _, m := range doc.Messages {
		suiteLog.sawReply(m)
	}
	return doc.Messages, nil
}

// personFlow runs person i through the whole flow: JOIN, a text that
// means nothing, the code; every third then opts out in words of their
// own. It returns the code used.
func personFlow(h *harness, i int) (string, error) {
	p := privacyPhone(i)
	msgs, err := h.smsFrom(p, "JOIN")
	if err != nil {
		return "", err
	}
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "Reply ") {
		return "", fmt.Errorf("person %d: JOIN got %q; want a prompt", i, msgs)
	}
	code := strings.Fields(msgs[0])[1]
	if _, err := h.smsFrom(p, fmt.Sprintf("zebrafish%d", i)); err != nil {
		return code, err
	}
	if msgs, err = h.smsFrom(p, code); err != nil {
		return code, err
	}
	if len(msgs) != 1 || msgs[0] != dealsConfirm {
		return code, fmt.Errorf("person %d: code got %q; want the confirmation", i, msgs)
	}
	if i%3 == 0 {
		if msgs, err = h.smsFrom(p, fmt.Sprintf("please stop now quokkapouch%d", i)); err != nil {
			return code, err
		}
		if len(msgs) != 1 || msgs[0] != stopReply {
			return code, fmt.Errorf("person %d: stop got %q; want the stop reply", i, msgs)
		}
	}
	return code, nil
}

// runFlows runs personFlow for people from..to-1 on workers goroutines and
// returns their codes.
func runFlows(tb testing.TB, h *harness, from, to, workers int) []string {
	tb.Helper()
	codes := make([]string, to-from)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := from + w; i < to; i += workers {
				code, err := personFlow(h, i)
				if err != nil {
					tb.Error(err)
					return
				}
				codes[i-from] = code
			}
		})
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return codes
}

// drainOutbox runs an archiver into dir until every outbox stream of h's
// Redis is empty.
func drainOutbox(tb testing.TB, h *harness, dir string) {
	tb.Helper()
	stop := startArchiver(tb, h, store.ArchiverOptions{Dir: dir, LeaseTTL: time.Second, PollInterval: time.Millisecond})
	defer stop()
	deadline := time.Now().Add(time.Minute)
	for {
		var n int64
		for shard := range h.store.Shards() {
			n += h.rdb.XLen(context.Background(), store.OutboxKey(shard)).Val()
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("outbox still holds %d entries a minute on", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// redisAtRest returns every key of rdb with its value read back by type,
// and, apart, every key's DUMP. DUMP may LZF-compress a long string: its
// bytes can hide nothing the values do not show, and its literal runs cut
// hex pseudonyms into short fragments, some all digits, that a six-digit
// code would match by chance (one run in a few dozen, with 1,000 codes).
// So codes are looked for in keys and values; numbers and texts in both.
func redisAtRest(tb testing.TB, rdb redis.UniversalClient) (values, dumps []byte) {
	tb.Helper()
	ctx := context.Background()
	var b, d bytes.Buffer
	iter := rdb.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		b.WriteString(k + "\n")
		d.WriteString(k + "\n")
		d.WriteString(rdb.Dump(ctx, k).Val())
		d.WriteString("\n")
		var v any
		switch rdb.Type(ctx, k).Val() {
		case "string":
			v = rdb.Get(ctx, k).Val()
		case "hash":
			v = rdb.HGetAll(ctx, k).Val()
		case "list":
			v = rdb.LRange(ctx, k, 0, -1).Val()
		case "set":
			v = rdb.SMembers(ctx, k).Val()
		case "zset":
			v = rdb.ZRange(ctx, k, 0, -1).Val()
		case "stream":
			v = rdb.XRange(ctx, k, "-", "+").Val()
		}
		fmt.Fprintf(&b, "%v\n", v)
	}
	if err := iter.Err(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes(), d.Bytes()
}

// filesAtRest returns every byte of every file under dir.
func filesAtRest(tb testing.TB, dir string) []byte {
	tb.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		b.WriteByte('\n')
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

var (
	// phoneSeparators are what national formats put between digits.
	phoneSeparators = strings.NewReplacer(" ", "", "(", "", ")", "", "-", "", ".", "")
	digitRun        = regexp.MustCompile(`[0-9]{10,11}`)
	// token is a word of data: a code counts as found only standing alone,
	// not inside base64, hex, a time stamp or a longer number.
	token = regexp.MustCompile(`[A-Za-z0-9+/=._:-]+`)
)

// findPersonal reports every phone number of phones (E.164, in any
// national format: digits only, (212) 555-0123, 212-555-0123, 212.555.0123),
// every code and every text of texts found in data, as "what (where)".
func findPersonal(data []byte, phones, codes, texts []string) []string {
	var found []string
	national := map[string]string{}
	for _, p := range phones {
		national[p[2:]] = p
	}
	// A number stands alone: ten digits, or eleven with the country code
	// (not a part of a longer number such as a time stamp).
	squeezed := []byte(phoneSeparators.Replace(string(data)))
	for _, loc := range digitRun.FindAllIndex(squeezed, -1) {
		run := squeezed[loc[0]:loc[1]]
		if (loc[0] > 0 && isDigit(squeezed[loc[0]-1])) || (loc[1] < len(squeezed) && isDigit(squeezed[loc[1]])) {
			continue
		}
		if len(run) == 11 && run[0] == '1' {
			run = run[1:]
		}
		if p, ok := national[string(run)]; ok {
			found = append(found, "number "+optin.Phone(p).String())
		}
	}
	isCode := map[string]bool{}
	for _, c := range codes {
		isCode[c] = true
	}
	for _, loc := range token.FindAllIndex(data, -1) {
		if w := strings.TrimRight(string(data[loc[0]:loc[1]]), ".:-"); isCode[w] {
			found = append(found, fmt.Sprintf("a code (in %q)", data[max(0, loc[0]-60):min(len(data), loc[1]+60)]))
		}
	}
	lower := bytes.ToLower(data)
	for _, t := range texts {
		if bytes.Contains(lower, []byte(strings.ToLower(t))) {
			found = append(found, fmt.Sprintf("text %q", t))
		}
	}
	return found
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// personalTexts are the texts people sent and were sent in personFlow.
var personalTexts = []string{"zebrafish", "quokkapouch", "to confirm ACME Deals", "You're subscribed to ACME", "You're unsubscribed from ACME"}

// TestNothingPersonalAtRest runs the whole flow for 1,000 people, then
// reads every key and value of Redis and every byte of the audit log, and
// finds none of their numbers in any common format, none of their codes
// and none of the texts they sent or were sent.
func TestNothingPersonalAtRest(t *testing.T) {
	srv := redistest.Start(t)
	dir := filepath.Join(t.TempDir(), "audit")
	k1 := newMasterKey(t, "k1")
	h := newPrivacyHarness(t, srv, dir, newMasterKey(t, "p").Key, k1)
	const people = 1000
	codes := runFlows(t, h, 0, people, 8)
	drainOutbox(t, h, dir)

	phones := make([]string, people)
	for i := range phones {
		phones[i] = privacyPhone(i)
	}
	// The check finds what it looks for: a planted number, code and text.
	planted := []byte("x (212) 555-0117 y \"code\":\"" + codes[17] + "\" Zebrafish17 +12125550118 z 2125550119,12125550120")
	if got := findPersonal(planted, phones, codes, personalTexts); len(got) != 6 {
		t.Fatalf("findPersonal(planted) = %q; want 4 numbers, a code and a text", got)
	}
	values, dumps := redisAtRest(t, h.rdb)
	got := findPersonal(values, phones, codes, personalTexts)
	got = append(got, findPersonal(dumps, phones, nil, personalTexts)...)
	if len(got) > 0 {
		t.Errorf("Redis holds %d personal data in clear, e.g. %q", len(got), got[:min(len(got), 5)])
	}
	audit := filesAtRest(t, dir)
	if len(audit) < people*100 {
		t.Fatalf("audit log is %d bytes; want the records of %d people", len(audit), people)
	}
	if got := findPersonal(audit, phones, codes, personalTexts); len(got) > 0 {
		t.Errorf("audit log holds %d personal data in clear, e.g. %q", len(got), got[:min(len(got), 5)])
	}
	// And yet it is all there, for the person who asks.
	x := h.export("demo", privacyPhone(3))
	if len(x.Received) != 2 || x.Received[0].Text != "join" || x.Received[1].Text != "please stop now quokkapouch3" || len(x.Sent) != 3 || x.Sent[2].Text != stopReply {
		t.Errorf("export of person 3: received %+v, sent %+v; want join and the stop words, and the prompt, confirmation and stop reply", x.Received, x.Sent)
	}
}

// export fetches the export document of phone under tenant.
func (h *harness) export(tenant, phone string) optin.Export {
	h.tb.Helper()
	return getJSON[optin.Export](h, "export", "/v1/tenants/"+tenant+"/subscribers/"+url.PathEscape(phone)+"/export", adminToken)
}

// exportCore is what an export says about a person, without the fields
// that depend on when it was made.
func exportCore(tb testing.TB, x optin.Export) string {
	tb.Helper()
	x.GeneratedAt, x.Retention = time.Time{}, nil
	b, err := json.Marshal(x)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestRotateUnderLoad rotates the master key while the webhook serves
// traffic, drops the old key, restarts, and finds every subscriber still
// readable: exports are the same before and after.
func TestRotateUnderLoad(t *testing.T) {
	srv := redistest.Start(t)
	dir := filepath.Join(t.TempDir(), "audit")
	pk := newMasterKey(t, "p").Key
	k1, k2 := newMasterKey(t, "k1"), newMasterKey(t, "k2")
	const before, during = 60, 60

	h1 := newPrivacyHarness(t, srv, dir, pk, k1)
	runFlows(t, h1, 0, before, 4)
	drainOutbox(t, h1, dir)
	want := map[int]string{}
	for i := range before {
		want[i] = exportCore(t, h1.export("demo", privacyPhone(i)))
	}

	// k2 is added as the newest key; the gateway serves while keys rotate.
	h2 := newPrivacyHarness(t, srv, dir, pk, k2, k1)
	ctx := context.Background()
	load := make(chan error, 1)
	go func() {
		var mu sync.Mutex
		var errs []error
		fail := func(err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}
		var wg sync.WaitGroup
		for w := range 2 { // new subscribers
			wg.Go(func() {
				for i := before + w; i < before+during; i += 2 {
					if _, err := personFlow(h2, i); err != nil {
						fail(err)
					}
				}
			})
		}
		wg.Go(func() {
			for i := range before { // old subscribers, their keys being re-wrapped
				if msgs, err := h2.smsFrom(privacyPhone(i), "HELP"); err != nil || len(msgs) != 1 {
					fail(fmt.Errorf("HELP from person %d during rotation: %q, %v", i, msgs, err))
				}
			}
		})
		wg.Wait()
		load <- errors.Join(errs...)
	}()
	var first store.RotateStats
	for {
		st, err := h2.store.Rotate(ctx)
		if err != nil {
			t.Fatalf("Rotate = %v", err)
		}
		if first.Scanned == 0 {
			first = st
		}
		if st.Failed > 0 {
			t.Fatalf("Rotate = %+v; want no failures", st)
		}
		select {
		case err := <-load:
			if err != nil {
				t.Fatal(err)
			}
			load = nil
		default:
		}
		if load == nil {
			break
		}
	}
	st, err := h2.store.Rotate(ctx)
	if err != nil || st.Rewrapped != 0 || st.Failed != 0 || st.Scanned != before+during {
		t.Fatalf("Rotate after the load = %+v, %v; want %d keys all under k2 already", st, err, before+during)
	}
	if first.Rewrapped == 0 {
		t.Errorf("first Rotate = %+v; want keys re-wrapped", first)
	}
	counts, err := h2.store.KeyStatus(ctx)
	if err != nil || len(counts) != 1 || counts["k2"] != before+during {
		t.Fatalf("KeyStatus = %v, %v; want every data key under k2", counts, err)
	}
	drainOutbox(t, h2, dir)

	// Restart with k2 only: k1 is gone.
	h3 := newPrivacyHarness(t, srv, dir, pk, k2)
	for i := range before + during {
		x := h3.export("demo", privacyPhone(i))
		if len(x.Received) == 0 || len(x.Sent) == 0 {
			t.Errorf("after rotation, person %d's export holds no texts: %+v", i, x)
		}
		for _, e := range x.Timeline {
			if e.Erased {
				t.Errorf("after rotation, person %d's event at %v reads as erased", i, e.At)
			}
		}
		if i >= before {
			continue
		}
		// The old subscribers' HELP changed nothing: their exports are the
		// same as before the rotation.
		if got := exportCore(t, x); got != want[i] {
			t.Errorf("person %d: export after rotation =\n%s\nwant\n%s", i, got, want[i])
		}
	}
	if _, err := h3.store.AuditLog(dir).Verify(ctx); err != nil {
		t.Errorf("audit verify after rotation = %v", err)
	}
}

// TestEraseSubscriber erases one person: their export is empty, the audit
// chain still verifies, their old records can no longer be decrypted, and
// a JOIN from the same number starts afresh.
func TestEraseSubscriber(t *testing.T) {
	srv := redistest.Start(t)
	dir := filepath.Join(t.TempDir(), "audit")
	h := newPrivacyHarness(t, srv, dir, newMasterKey(t, "p").Key, newMasterKey(t, "k1"))
	runFlows(t, h, 0, 4, 1) // person 3 opts out again
	drainOutbox(t, h, dir)
	gone, kept := privacyPhone(3), privacyPhone(2)
	keptBefore := exportCore(t, h.export("demo", kept))
	if x := h.export("demo", gone); len(x.Timeline) == 0 || len(x.Received) == 0 || x.ErasedAt != nil {
		t.Fatalf("export before erasure = %+v; want the person's timeline and texts", x)
	}

	path := "/v1/tenants/demo/subscribers/" + url.PathEscape(gone)
	req, _ := http.NewRequest(http.MethodDelete, h.http.URL+path, nil)
	if r := h.do(req); r.status != http.StatusUnauthorized {
		t.Errorf("DELETE without a token = %d; want 401", r.status)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if r := h.do(req); r.status != http.StatusOK || strings.TrimSpace(r.body) != `{"erased":true}` {
		t.Fatalf("DELETE subscriber = %d %s; want 200 {\"erased\":true}", r.status, r.body)
	}
	badReq, _ := http.NewRequest(http.MethodDelete, h.http.URL+"/v1/tenants/demo/subscribers/not-a-number", nil)
	badReq.Header.Set("Authorization", "Bearer "+adminToken)
	if r := h.do(badReq); r.status != http.StatusBadRequest {
		t.Errorf("DELETE of a malformed number = %d %s; want 400", r.status, r.body)
	}
	drainOutbox(t, h, dir)

	x := h.export("demo", gone)
	if len(x.Campaigns) != 0 || len(x.Timeline) != 0 || len(x.Received) != 0 || len(x.Sent) != 0 || x.ErasedAt == nil || x.ErasedRecords == 0 {
		t.Errorf("export after erasure = %+v; want nothing but when it was erased and how many records are kept", x)
	}
	if got := exportCore(t, h.export("demo", kept)); got != keptBefore {
		t.Errorf("another person's export changed with the erasure:\n%s\nwant\n%s", got, keptBefore)
	}
	if v := h.subscriber("demo", gone); v.Version != 0 {
		t.Errorf("lookup after erasure = version %d; want 0 (nothing held)", v.Version)
	}
	sum, err := h.store.AuditLog(dir).Verify(context.Background())
	if err != nil {
		t.Fatalf("audit verify after erasure = %v", err)
	}
	// The records stay in the chain, their texts sealed under a key that is
	// gone: nobody can read them any more.
	ev, err := h.store.AuditLog(dir).Evidence(context.Background(), "demo", optin.Phone(gone))
	if err != nil {
		t.Fatal(err)
	}
	var sealed, erasedEvents int
	for _, r := range ev.Records {
		switch {
		case r.Event.Reason == optin.OutcomeErased:
			erasedEvents++
		case !r.Event.Erased || r.Event.Cause.Words != "" || len(r.Event.Replies) != 0:
			t.Errorf("record %d after erasure = %+v; want it erased, without texts", r.Seq, r.Event)
		default:
			sealed++
		}
	}
	if sealed == 0 || erasedEvents != 1 || sum.Records < uint64(sealed+erasedEvents) {
		t.Errorf("evidence after erasure: %d unreadable records, %d erased events in a chain of %d; want some, one", sealed, erasedEvents, sum.Records)
	}
	raw := filesAtRest(t, dir)
	if !bytes.Contains(raw, []byte(`"reason":"erased"`)) {
		t.Error("the audit log holds no erased event")
	}

	// The same number texts again: a new subscriber.
	msgs := h.sms(gone, bizNumber, "JOIN")
	if len(msgs) != 1 || !strings.HasPrefix(msgs[0], "Reply ") {
		t.Fatalf("JOIN after erasure = %q; want a prompt", msgs)
	}
	h.sms(gone, bizNumber, codeIn(t, msgs[0]))
	x = h.export("demo", gone)
	if len(x.Campaigns) != 1 || x.Campaigns[0].State != optin.StateSubscribed || len(x.Received) != 1 || x.Received[0].Text != "join" || x.ErasedAt == nil {
		t.Errorf("export after a new JOIN = %+v; want subscribed to deals afresh, the one new JOIN", x)
	}
}
