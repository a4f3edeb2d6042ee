package gateway_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/internal/phone"
	"github.com/optin-gateway/optin-gateway/optin"
)

// consentAnswer mirrors the JSON of a consent check.
type consentAnswer struct {
	Phone      string          `json:"phone"`
	Subscriber string          `json:"subscriber"`
	Campaign   string          `json:"campaign"`
	Allowed    bool            `json:"allowed"`
	State      string          `json:"state"`
	Since      *time.Time      `json:"since"`
	Evidence   *string         `json:"evidence"`
	Campaigns  []consentAnswer `json:"campaigns"`
	Error      string          `json:"error"`
}

func (h *harness) consent(token, phone, campaign string) consentAnswer {
	h.tb.Helper()
	q := "/v1/tenants/demo/consent?phone=" + url.QueryEscape(phone)
	if campaign != "" {
		q += "&campaign=" + campaign
	}
	return getJSON[consentAnswer](h, "consent", q, token)
}

// getJSON GETs path with token, wants 200 (what names the document in a
// failure) and decodes the body as a T.
func getJSON[T any](h *harness, what, path, token string) T {
	h.tb.Helper()
	r := h.get(path, token)
	if r.status != http.StatusOK {
		h.tb.Fatalf("GET %s: status %d %s; want 200", what, r.status, r.body)
	}
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		h.tb.Fatal(err)
	}
	return v
}

// TestConsentCheck: allowed only when subscribed, with the time and the
// audit event of the transition (found by the evidence route); every
// campaign without ?campaign; one Redis round trip for one number and for
// a batch of 1,000; bad input named.
func TestConsentCheck(t *testing.T) {
	h := newAdminHarness(t)
	_, sender := h.token("demo", optin.RoleSender)
	h.sms(person, bizNumber, codeIn(t, h.sms(person, bizNumber, "JOIN")[0]))

	a := h.consent(sender, person, "deals")
	if !a.Allowed || a.State != "subscribed" || a.Since == nil || a.Evidence == nil || a.Campaign != "deals" {
		t.Fatalf("consent of a subscriber = %+v; want allowed, subscribed, since and evidence", a)
	}
	ev := h.get("/v1/tenants/demo/subscribers/"+url.PathEscape(person)+"/evidence", adminToken)
	if !strings.Contains(ev.body, `"id":"`+*a.Evidence+`"`) || !strings.Contains(ev.body, `"to":"subscribed"`) {
		t.Errorf("evidence %s does not hold the event %q", ev.body, *a.Evidence)
	}
	all := h.consent(sender, person, "")
	got := map[string]string{}
	for _, c := range all.Campaigns {
		got[c.Campaign] = fmt.Sprintf("%s %v", c.State, c.Allowed)
	}
	if got["deals"] != "subscribed true" || got["news"] != "none false" || len(got) != 2 {
		t.Errorf("consent without campaign = %v; want deals subscribed, news none", got)
	}
	// A literal "+" in the query reads as a space: accepted.
	if r := h.get("/v1/tenants/demo/consent?campaign=deals&phone="+person, sender); r.status != 200 || !strings.Contains(r.body, `"allowed":true`) {
		t.Errorf("consent with a literal +: %d %s", r.status, r.body)
	}
	h.sms(person, bizNumber, "STOP")
	if a := h.consent(sender, person, "deals"); a.Allowed || a.State != "unsubscribed" {
		t.Errorf("consent after STOP = %+v; want unsubscribed, not allowed", a)
	}

	// One round trip (the operator token needs no token lookup).
	before := h.store.RoundTrips()
	h.consent(adminToken, person, "deals")
	if n := h.store.RoundTrips() - before; n != 1 {
		t.Errorf("round trips of one consent check = %d; want 1", n)
	}
	phones := make([]string, 0, gateway.MaxConsentBatch)
	for i := range gateway.MaxConsentBatch - 1 {
		phones = append(phones, fictional(i))
	}
	phones = append(phones, "12025550199") // no +
	body, _ := json.Marshal(map[string]any{"phones": phones, "campaign": "deals"})
	before = h.store.RoundTrips()
	r := h.call("POST", "/v1/tenants/demo/consent/check", adminToken, string(body))
	if n := h.store.RoundTrips() - before; n != 1 {
		t.Errorf("round trips of a bulk check of %d numbers = %d; want 1", len(phones), n)
	}
	t.Logf("bulk consent check of %d numbers: %d Redis round trip", len(phones), h.store.RoundTrips()-before)
	var items struct{ Items []consentAnswer }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &items) != nil || len(items.Items) != len(phones) {
		t.Fatalf("bulk check: %d, %d items; want 200 and %d", r.status, len(items.Items), len(phones))
	}
	last := items.Items[len(phones)-1]
	if last.Allowed || !strings.Contains(last.Error, "international") || last.Phone != phones[len(phones)-1] {
		t.Errorf("malformed number in the batch = %+v; want not allowed, the error", last)
	}
	if it := items.Items[0]; it.Error != "" || it.State != "none" || it.Phone != phones[0] {
		t.Errorf("first item = %+v; want state none", it)
	}

	// Bad input.
	tooMany, _ := json.Marshal(map[string]any{"phones": make([]string, gateway.MaxConsentBatch+1)})
	for _, tc := range []struct{ method, path, body, field string }{
		{"POST", "/consent/check", string(tooMany), "phones"},
		{"POST", "/consent/check", `{"phones":[]}`, "phones"},
		{"POST", "/consent/check", `{"phones":["+12125550123"],"campaign":"vip"}`, "campaign"},
		{"GET", "/consent", "", "phone"},
		{"GET", "/consent?phone=%2B1212", "", "phone"},
		{"GET", "/consent?phone=%2B12125550123&campaign=nope", "", "campaign"},
		{"GET", "/campaigns/deals/subscribers?format=xml", "", "format"},
		{"GET", "/campaigns/deals/subscribers?cursor=zz", "", "cursor"},
	} {
		r := h.call(tc.method, "/v1/tenants/demo"+tc.path, sender, tc.body)
		if r.status != 400 || !strings.Contains(r.body, `"field":"`+tc.field+`"`) {
			t.Errorf("%s %s: %d %s; want 400 naming %s", tc.method, tc.path, r.status, r.body, tc.field)
		}
	}
	if r := h.get("/v1/tenants/demo/campaigns/nope/subscribers", sender); r.status != 404 || r.body != notFoundBody {
		t.Errorf("export of an unknown campaign: %d %s; want 404", r.status, r.body)
	}
	if r := h.get("/v1/tenants", sender); r.status != http.StatusForbidden {
		t.Errorf("GET /v1/tenants as sender: %d; want 403", r.status)
	}
}

// fictional returns the i-th fictional number +1 NPA 555 01XX of a valid
// NPA other than 202 (the suite's business numbers).
func fictional(i int) string {
	return fictionalNumbers(i + 1)[i]
}

var (
	fictionalOnce sync.Once
	fictionalAll  []string
)

func fictionalNumbers(n int) []string {
	fictionalOnce.Do(func() {
		for npa := 203; npa <= 989; npa++ {
			if _, err := phone.Parse(fmt.Sprintf("+1%d5550100", npa)); err != nil {
				continue
			}
			for xx := range 100 {
				fictionalAll = append(fictionalAll, fmt.Sprintf("+1%d55501%02d", npa, xx))
			}
		}
	})
	return fictionalAll[:n]
}

// TestConsentAfterErasure: an erased person answers "erased" (not
// allowed, the erasure's event as evidence) until they subscribe again by
// text; the suppression entry holds no number.
func TestConsentAfterErasure(t *testing.T) {
	h := newAdminHarness(t)
	_, sender := h.token("demo", optin.RoleSender)
	h.sms(person, bizNumber, codeIn(t, h.sms(person, bizNumber, "JOIN")[0]))
	if r := h.call("DELETE", "/v1/tenants/demo/subscribers/"+url.PathEscape(person), adminToken, ""); r.status != 200 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	for _, c := range []string{"deals", "news"} {
		a := h.consent(sender, person, c)
		if a.Allowed || a.State != "erased" || a.Evidence == nil || !strings.HasPrefix(*a.Evidence, "erase:") || a.Since == nil {
			t.Errorf("consent of %s after erasure = %+v; want erased with the erase event", c, a)
		}
	}
	if n := exportCount(t, h, sender, "deals"); n != 0 {
		t.Errorf("audience after erasure = %d; want 0", n)
	}
	keys, err := h.rdb.Keys(context.Background(), "og:*:supp:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("suppression keys = %q, %v; want one", keys, err)
	}
	vals, _ := h.rdb.HGetAll(context.Background(), keys[0]).Result()
	for k, v := range vals {
		if strings.Contains(v, "5550123") || strings.Contains(keys[0], "5550123") {
			t.Errorf("suppression entry %s %s=%s holds the number", keys[0], k, v)
		}
	}
	// Pending again: still erased for the other campaign, pending here.
	prompt := h.sms(person, bizNumber, "JOIN")[0]
	if a := h.consent(sender, person, "deals"); a.Allowed || a.State != "pending" {
		t.Errorf("consent while pending again = %+v; want pending", a)
	}
	if a := h.consent(sender, person, "news"); a.State != "erased" {
		t.Errorf("news while pending again on deals = %+v; want erased", a)
	}
	h.sms(person, bizNumber, codeIn(t, prompt))
	if a := h.consent(sender, person, "deals"); !a.Allowed || a.State != "subscribed" {
		t.Errorf("consent after subscribing again = %+v; want allowed", a)
	}
	if a := h.consent(sender, person, "news"); a.State != "none" {
		t.Errorf("news after subscribing again = %+v; want none (suppression cleared)", a)
	}
	if n := exportCount(t, h, sender, "deals"); n != 1 {
		t.Errorf("audience after subscribing again = %d; want 1", n)
	}
}

// exportCount returns how many members an NDJSON export gives.
func exportCount(tb testing.TB, h *harness, token, campaign string) int {
	tb.Helper()
	lines, _ := readExport(tb, h, token, "/v1/tenants/demo/campaigns/"+campaign+"/subscribers", 0, nil)
	return len(lines)
}

type exportLine struct {
	Phone, Subscriber, Evidence string
	Since                       time.Time
	End                         bool
	Count                       int
}

// readExport streams an NDJSON export, stopping after max members when
// max > 0; each is passed to each. It returns the members and the
// trailer.
func readExport(tb testing.TB, h *harness, token, path string, max int, each func()) ([]exportLine, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.http.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("GET %s: %d %s %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out []exportLine
	sc := bufio.NewScanner(resp.Body)
	ended := false
	for sc.Scan() {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			tb.Fatalf("line %q: %v", sc.Text(), err)
		}
		if l.End {
			if l.Count != len(out) {
				tb.Errorf("end line count %d; got %d lines", l.Count, len(out))
			}
			ended = true
			continue
		}
		out = append(out, l)
		if each != nil {
			each()
		}
		if max > 0 && len(out) == max {
			return out, ""
		}
	}
	if !ended {
		tb.Errorf("export %s has no end line", path)
	}
	return out, resp.Trailer.Get(gateway.AudienceEndTrailer)
}

// TestAudienceExport seeds 10,000 subscribers of deals through the store
// (the same Load, Decide and Apply as the webhook), streams the audience
// while sampling the heap, resumes from a cursor and reads the CSV form.
func TestAudienceExport(t *testing.T) {
	h := newAdminHarness(t)
	_, sender := h.token("demo", optin.RoleSender)
	const people = 10000
	numbers := fictionalNumbers(people)
	n := testNumbers(t)[bizNumber]
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			ctx := context.Background()
			for i := int(next.Add(1) - 1); i < people; i = int(next.Add(1) - 1) {
				for j, text := range []string{"JOIN", "123456"} {
					in := optin.Inbound{Provider: "twilio", MessageID: fmt.Sprintf("SMseed%06d%d", i, j), Text: text}
					sub, _, err := h.store.Load(ctx, "demo", optin.Phone(numbers[i]), []string{"deals", "news"}, in)
					if err == nil {
						_, _, err = h.store.Apply(ctx, sub, optin.Decide(sub, n, in, h.clock.Now(), "1234567890"), in, []byte("<Response/>"))
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("seeded %d subscribers in %v", people, time.Since(start).Round(time.Millisecond))

	// The heap, sampled while the export streams (GC kept tight so that
	// the figure is what is live, not garbage).
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	sample := func() {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	rows := 0
	start = time.Now()
	lines, trailer := readExport(t, h, sender, "/v1/tenants/demo/campaigns/deals/subscribers", 0, func() {
		if rows++; rows%250 == 0 {
			sample()
		}
	})
	took := time.Since(start)
	growth := float64(peak-min(peak, base)) / (1 << 20)
	t.Logf("export of %d subscribers: %v, heap in use %.1f MiB before, peak %.1f MiB during (+%.1f MiB)", len(lines), took.Round(time.Millisecond), float64(base)/(1<<20), float64(peak)/(1<<20), growth)
	if growth > 16 {
		t.Errorf("heap grew %.1f MiB during the export; want under 16 MiB (bounded by the batch)", growth)
	}
	if len(lines) != people || trailer != fmt.Sprintf("count=%d; without_number=0", people) {
		t.Fatalf("export: %d lines, trailer %q; want %d", len(lines), trailer, people)
	}
	want := map[string]bool{}
	for _, p := range numbers {
		want[p] = true
	}
	got := map[string]string{}
	for _, l := range lines {
		if !want[l.Phone] || got[l.Phone] != "" || l.Evidence == "" || l.Since.IsZero() {
			t.Fatalf("line %+v: unknown, repeated, or without evidence", l)
		}
		got[l.Phone] = l.Subscriber
	}

	// Resume after the 3,000th line: exactly the other 7,000.
	first, _ := readExport(t, h, sender, "/v1/tenants/demo/campaigns/deals/subscribers", 3000, nil)
	rest, _ := readExport(t, h, sender, "/v1/tenants/demo/campaigns/deals/subscribers?cursor="+first[len(first)-1].Subscriber, 0, nil)
	seen := map[string]bool{}
	for _, l := range append(first, rest...) {
		if seen[l.Phone] {
			t.Fatalf("%s given twice across the resume", l.Subscriber)
		}
		seen[l.Phone] = true
	}
	if len(first) != 3000 || len(rest) != people-3000 || len(seen) != people {
		t.Errorf("resume: %d + %d lines, %d distinct; want 3000 + %d, %d", len(first), len(rest), len(seen), people-3000, people)
	}

	// CSV, by Accept.
	req, _ := http.NewRequest(http.MethodGet, h.http.URL+"/v1/tenants/demo/campaigns/deals/subscribers", nil)
	req.Header.Set("Authorization", "Bearer "+sender)
	req.Header.Set("Accept", "text/csv")
	resp, err := h.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(recs) != people+1 || strings.Join(recs[0], ",") != "phone,subscriber,since,evidence" {
		t.Fatalf("CSV export: %v, %s, %d records; want a header and %d rows", err, resp.Header.Get("Content-Type"), len(recs), people)
	}
	if resp.Trailer.Get(gateway.AudienceEndTrailer) == "" {
		t.Error("CSV export without its end trailer")
	}
	for _, r := range recs[1:] {
		if got[r[0]] != r[1] {
			t.Fatalf("CSV row %q does not match the NDJSON export", r[:2])
		}
	}

	// One person leaves: the audience shrinks by one. Every export is in
	// the access log.
	h.sms(numbers[0], bizNumber, "STOP")
	if n := exportCount(t, h, sender, "deals"); n != people-1 {
		t.Errorf("audience after one STOP = %d; want %d", n, people-1)
	}
	acc := h.get("/v1/tenants/demo/access-log?limit=1000", adminToken)
	if c := strings.Count(acc.body, `"action":"audience_export"`); c != 5 || !strings.Contains(acc.body, `"campaign":"deals"`) || !strings.Contains(acc.body, `"role":"sender"`) {
		t.Errorf("access log holds %d audience exports; want 5 with the campaign and the sender's role: %.300s", c, acc.body)
	}
}
