package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/store"
)

// newAuditHarness is newHarness with the audit log in a temporary
// directory behind the evidence route.
func newAuditHarness(tb testing.TB) (*harness, string) {
	tb.Helper()
	h := newHarness(tb)
	dir := filepath.Join(tb.TempDir(), "audit")
	srv, err := gateway.New(gateway.Options{
		PublicURL:       publicURL,
		TwilioAuthToken: twilioToken,
		AdminToken:      adminToken,
		Numbers:         testNumbers(tb),
		Store:           h.store,
		Services:        gateway.Services{Audit: h.store.AuditLog(dir)},
		Now:             h.clock.Now,
		Logger:          testLogger(tb),
		HTTP:            gateway.HTTPOptions{RequestTimeout: 3 * time.Second},
	})
	if err != nil {
		tb.Fatal(err)
	}
	h.srv = srv
	h.http.Close()
	h.http = httptest.NewServer(srv.Handler())
	tb.Cleanup(h.http.Close)
	return h, dir
}

// startArchiver runs an archiver of h's store into dir until the test
// ends or stop is called.
func startArchiver(tb testing.TB, h *harness, opts store.ArchiverOptions) (stop func()) {
	tb.Helper()
	return runInBackground(tb, "archiver", h.store.NewArchiver(opts).Run)
}

// runInBackground runs run in a goroutine until the test ends or stop is
// called (once; later calls do nothing), which ends run's context, waits
// for it to return and fails the test, naming what, when it returned an
// error.
func runInBackground(tb testing.TB, what string, run func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("%s: %v", what, err)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}

func TestEvidence(t *testing.T) {
	h, dir := newAuditHarness(t)
	committed := make(chan store.Commit, 100)
	stop := startArchiver(t, h, store.ArchiverOptions{Dir: dir, LeaseTTL: time.Second, PollInterval: time.Millisecond,
		OnCommit: func(c store.Commit) { committed <- c }})
	code := codeIn(t, h.sms(person, bizNumber, "JOIN")[0])
	h.sms(person, bizNumber, code)
	h.sms(person, bizNumber, "STOP") // revokes deals and news: two events
	h.sms("+12125550124", bizNumber, "JOIN")
	for n := 0; n < 5; {
		n += (<-committed).Records
	}
	stop()
	h.sms(person, bizNumber, "NEWS") // not archived: the archiver is stopped

	sum, err := store.VerifyLog(dir)
	if err != nil {
		t.Fatalf("VerifyLog = %v", err)
	}
	r := h.get("/v1/tenants/demo/subscribers/"+url.PathEscape(person)+"/evidence", adminToken)
	if r.status != http.StatusOK {
		t.Fatalf("GET evidence = %d %s; want 200", r.status, r.body)
	}
	var ev optin.Evidence
	if err := json.Unmarshal([]byte(r.body), &ev); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rec := range ev.Records {
		got = append(got, rec.Event.Campaign+":"+rec.Event.From.String()+"→"+rec.Event.To.String())
		if len(rec.Hash) != 64 || len(rec.Prev) != 64 || rec.Seq == 0 {
			t.Errorf("record %+v lacks its place in the chain", rec)
		}
		if rec.Event.Subscriber != ev.Subscriber || rec.Event.Tenant != "demo" {
			t.Errorf("record of %s/%s in the evidence of demo/%s", rec.Event.Tenant, rec.Event.Subscriber, ev.Subscriber)
		}
	}
	want := "deals:none→pending deals:pending→subscribed deals:subscribed→unsubscribed news:none→unsubscribed"
	if strings.Join(got, " ") != want {
		t.Errorf("evidence records = %v; want %s", got, want)
	}
	if len(ev.Pending) != 1 || ev.Pending[0].Campaign != "news" || ev.Pending[0].To != optin.StatePending {
		t.Errorf("evidence pending = %+v; want the NEWS prompt", ev.Pending)
	}
	if ev.HeadSeq != sum.HeadSeq || ev.HeadHash != sum.HeadHash || ev.ChainRecords != 5 {
		t.Errorf("evidence head = %d %s of %d records; want %d %s of 5", ev.HeadSeq, ev.HeadHash, ev.ChainRecords, sum.HeadSeq, sum.HeadHash)
	}
	if len(ev.Records) > 0 && !strings.Contains(ev.Records[0].Event.Replies[0], optin.MaskedCode) {
		t.Errorf("prompt record replies = %q; want the exact prompt, code masked", ev.Records[0].Event.Replies)
	}

	// No plaintext subscriber number anywhere: not in the answer, not on disk.
	digits := strings.TrimPrefix(person, "+1")
	if strings.Contains(r.body, digits) {
		t.Errorf("evidence holds the plaintext number")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), digits) {
			t.Errorf("%s holds the plaintext number", filepath.Base(f))
		}
	}

	for _, tc := range []struct {
		name, path, token string
		want              int
	}{
		{"no token", "/v1/tenants/demo/subscribers/" + url.PathEscape(person) + "/evidence", "", http.StatusUnauthorized},
		{"unknown tenant", "/v1/tenants/nobody/subscribers/" + url.PathEscape(person) + "/evidence", adminToken, http.StatusNotFound},
		{"bad number", "/v1/tenants/demo/subscribers/12345/evidence", adminToken, http.StatusBadRequest},
	} {
		if r := h.get(tc.path, tc.token); r.status != tc.want {
			t.Errorf("%s: GET evidence = %d; want %d", tc.name, r.status, tc.want)
		}
	}
}
