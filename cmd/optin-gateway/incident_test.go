package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/config"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestIncidentReport: a support token exports (reveals) 20 subscribers and
// checks the consent of 5 numbers, another token exports 3 others; the
// incident report of the first token lists exactly those 20, with their
// numbers when asked, its consent checks, and the 72-hour deadline from
// detection. The report of the master key lists every subscriber.
func TestIncidentReport(t *testing.T) {
	srv := redistest.Start(t)
	addr := freeAddr(t)
	cfgPath := writeFaultConfig(t, srv.URL(), t.TempDir(), true)
	env := map[string]string{"OPTIN_ADDR": addr}
	getenv := func(k string) string { return env[k] }
	ctx, done, stop := serveInBackground(t, cfgPath, getenv, io.Discard)
	defer stop()
	base := "http://" + addr
	waitHealthy(t, base, done)
	since := time.Now().UTC().Add(-time.Second)

	api := func(method, path, bearer string, body any) (int, []byte) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, base+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Optin-Reason", "ticket 4711")
		status, b := do(t, req)
		return status, []byte(b)
	}
	newToken := func(name string) (id, secret string) {
		status, b := api(http.MethodPost, "/v1/tenants/demo/tokens", faultAdmin, map[string]string{"role": "support", "name": name})
		var v struct{ ID, Token string }
		if err := json.Unmarshal(b, &v); err != nil || status != http.StatusCreated {
			t.Fatalf("POST tokens: %d %s", status, b)
		}
		return v.ID, v.Token
	}
	leakedID, leaked := newToken("leaked")
	_, other := newToken("other")

	wc := &webhookClient{url: base, client: http.DefaultClient, ok: map[string]bool{}}
	phones := faultPhones(t, 25)
	for _, p := range phones {
		if _, err := wc.send(ctx, p, "JOIN"); err != nil {
			t.Fatal(err)
		}
	}
	export := func(bearer, p string) string {
		status, b := api(http.MethodGet, "/v1/tenants/demo/subscribers/"+url.PathEscape(p)+"/export", bearer, nil)
		var v struct{ Subscriber, Phone string }
		if err := json.Unmarshal(b, &v); err != nil || status != http.StatusOK || v.Phone != p {
			t.Fatalf("export %s: %d %s", p, status, b)
		}
		return v.Subscriber
	}
	want := map[string]string{} // pseudonym → number
	for _, p := range phones[:20] {
		want[export(leaked, p)] = p
	}
	for _, p := range phones[20:23] {
		export(other, p)
	}
	if status, b := api(http.MethodPost, "/v1/tenants/demo/consent/check", leaked, map[string]any{"phones": phones[:5]}); status != http.StatusOK {
		t.Fatalf("consent check: %d %s", status, b)
	}

	detected := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	var rep incidentReport
	for deadline := time.Now().Add(15 * time.Second); ; { // the consent checks are flushed about once a second
		var out bytes.Buffer
		err := run(ctx, []string{"incident", "report", "--config", cfgPath, "--since", since.Format(time.RFC3339),
			"--token", leakedID, "--reveal", "--detected-at", detected.Format(time.RFC3339), "--format", "json"}, getenv, &out, io.Discard)
		if err != nil {
			t.Fatalf("incident report = %v", err)
		}
		rep = incidentReport{}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("incident report printed %q: %v", out.String(), err)
		}
		if len(rep.Tenants) == 1 && len(rep.Tenants[0].Other) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(rep.Tenants) != 1 || rep.Tenants[0].Tenant != "demo" {
		t.Fatalf("report tenants = %+v; want demo only", rep.Tenants)
	}
	got := map[string]string{}
	for _, s := range rep.Tenants[0].Subscribers {
		got[s.Subscriber] = s.Phone
		if len(s.Accesses) != 1 || s.Accesses[0].Action != "export" || s.Accesses[0].Actor != leakedID || s.Accesses[0].Reason != "ticket 4711" {
			t.Errorf("subscriber %s accesses = %+v; want the one export by %s", s.Subscriber, s.Accesses, leakedID)
		}
	}
	if rep.Subscribers != 20 || len(got) != 20 {
		t.Errorf("report lists %d subscribers; want the 20 exported", len(got))
	}
	for id, p := range want {
		if got[id] != p {
			t.Errorf("subscriber %s: number %q; want %s", id, got[id], p)
		}
	}
	if o := rep.Tenants[0].Other; len(o) != 1 || o[0].Action != "consent_check" || o[0].Count != 5 {
		t.Errorf("report's other accesses = %+v; want one consent_check of 5", o)
	}
	if !rep.NotifyBy.Equal(detected.Add(72*time.Hour)) || rep.HoursLeft < 69.5 || rep.HoursLeft > 70.5 {
		t.Errorf("deadline = %v, %.1f h left; want detection + 72 h, about 70 h left", rep.NotifyBy, rep.HoursLeft)
	}
	if rep.Events["export"] != 20 {
		t.Errorf("security events = %v; want export 20", rep.Events)
	}

	// The text form says the same for a person.
	var text bytes.Buffer
	if err := run(ctx, []string{"incident", "report", "--config", cfgPath, "--since", since.Format(time.RFC3339), "--token", leakedID}, getenv, &text, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Touched: 20 subscribers in 1 tenant(s).", "GDPR Art. 33", "consent_check by " + leakedID} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	if strings.Contains(text.String(), phones[0]) {
		t.Error("text report without --reveal holds a number")
	}

	// The master key opens every subscriber's data at rest.
	var out bytes.Buffer
	if err := run(ctx, []string{"incident", "report", "--config", cfgPath, "--key", config.SingleKeyID, "--format", "json"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var byKey incidentReport
	if err := json.Unmarshal(out.Bytes(), &byKey); err != nil || byKey.Subscribers != 25 {
		t.Errorf("report of the master key: %d subscribers, %v; want all 25", byKey.Subscribers, err)
	}

	// Bad flags are usage errors.
	for _, args := range [][]string{{"report"}, {"report", "--since", "yesterday"}, {"report", "--since", since.Format(time.RFC3339), "--token", "a", "--key", "b"}, {"list"}} {
		err := run(ctx, append(append([]string{"incident"}, args...), "--config", cfgPath), getenv, io.Discard, io.Discard)
		if slices.Contains(args, "list") {
			err = run(ctx, []string{"incident", "list"}, getenv, io.Discard, io.Discard)
		}
		if exitCode(err) != 2 {
			t.Errorf("incident %v = %v; want a usage error", args, err)
		}
	}
}
