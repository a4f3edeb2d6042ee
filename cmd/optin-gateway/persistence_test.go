package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/store/redistest"
)

// TestServeRedisWithoutAOF serves the gateway on a Redis that runs
// without AOF (in the default mode, refuse): /readyz answers 503 naming
// redis_persistence, the gauge reads 0, a JOIN gets 503 and a STOP is
// answered from the spool without touching Redis. Once AOF is turned on,
// /readyz answers 200 and the spooled STOP is applied.
func TestServeRedisWithoutAOF(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--appendonly", "no"))
	addr := freeAddr(t)
	dataDir := t.TempDir()
	cfgPath := writeFaultConfig(t, srv.URL(), dataDir, false)
	env := map[string]string{"OPTIN_ADDR": addr}
	logs := &syncBuffer{}
	_, _, stop := serveInBackground(t, cfgPath, func(k string) string { return env[k] }, logs)
	defer stop()
	base := "http://" + addr
	waitHTTP(t, base+"/healthz")

	status, body := get(t, base+"/readyz")
	if status != http.StatusServiceUnavailable || !strings.Contains(body, `"check":"redis_persistence"`) || !strings.Contains(body, "AOF off") {
		t.Errorf("readyz on a Redis without AOF = %d %s; want 503 naming redis_persistence and AOF off", status, body)
	}
	if _, m := getAuth(t, base+"/metrics"); !strings.Contains(m, "optin_redis_persistence_ok 0") {
		t.Errorf("metrics hold no optin_redis_persistence_ok 0")
	}

	const person, other = "+12125550123", "+12125550124"
	if code := postSMS(t, base, "SM"+strings.Repeat("a", 31)+"1", other, "JOIN"); code != http.StatusServiceUnavailable {
		t.Errorf("JOIN on a Redis without AOF = %d; want 503", code)
	}
	if code := postSMS(t, base, "SM"+strings.Repeat("b", 31)+"2", person, "STOP"); code != http.StatusOK {
		t.Fatalf("STOP on a Redis without AOF = %d; want 200 (spooled)", code)
	}
	if keys, err := srv.Client(t).Keys(context.Background(), "og:*:sub:*").Result(); err != nil || len(keys) > 0 {
		t.Errorf("Redis holds subscriber keys %v (%v) after the refused writes; want none", keys, err)
	}
	if fi, _ := os.ReadDir(filepath.Join(dataDir, "spool")); len(fi) == 0 {
		t.Errorf("spool directory empty after the STOP")
	}

	if err := srv.Client(t).ConfigSet(context.Background(), "appendonly", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	w := &webhookClient{url: base, client: http.DefaultClient}
	for deadline := time.Now().Add(30 * time.Second); ; {
		status, body = get(t, base+"/readyz")
		st := w.states(t, person)
		if status == http.StatusOK && strings.HasPrefix(st["deals"], "unsubscribed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30 s after AOF was turned on: readyz %d %s, state %v; want 200 and the spooled STOP applied", status, body, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop() // flushes the buffered log
	if !strings.Contains(logs.String(), gateway.OutcomeSpooled) {
		t.Errorf("log holds no %s after the STOP", gateway.OutcomeSpooled)
	}
	if n := strings.Count(logs.String(), "REDIS DOES NOT PERSIST"); n != 1 {
		t.Errorf("log holds %d lines of REDIS DOES NOT PERSIST; want 1 (one per change)", n)
	}
	if !strings.Contains(logs.String(), "redis persistence ok again") {
		t.Errorf("log does not say the persistence is ok again")
	}
}

// get GETs u and returns the status and the body.
func get(tb testing.TB, u string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return do(tb, req)
}

// getAuth is get with the operator's token.
func getAuth(tb testing.TB, u string) (int, string) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+faultAdmin)
	return do(tb, req)
}

// do sends req and returns the status and the body, failing the test
// when there is no response.
func do(tb testing.TB, req *http.Request) (int, string) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postSMS posts one signed Twilio inbound message and returns the status.
func postSMS(tb testing.TB, base, sid, from, body string) int {
	tb.Helper()
	form := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
		"From": {from}, "To": {faultBizNumber}, "Body": {body}, "NumMedia": {"0"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/webhooks/twilio/sms", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twilio.Sign(faultTwilio, faultPublicURL+"/v1/webhooks/twilio/sms", form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
