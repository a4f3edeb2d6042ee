package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/provider/telnyx"
)

// TestServeTelnyxOnly: a gateway configured with Telnyx alone (the
// example configuration without its twilio section, the public key in
// OPTIN_TELNYX_PUBLIC_KEY) starts, takes a signed Telnyx message through
// the state machine, refuses an unsigned one, and serves no Twilio route.
func TestServeTelnyxOnly(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(example), "\n") {
		if !strings.HasPrefix(line, "twilio:") {
			kept = append(kept, line)
		}
	}
	cfgPath := filepath.Join(t.TempDir(), "telnyx.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Join(kept, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	base := "http://" + addr
	env := map[string]string{
		"OPTIN_ADDR": addr, "OPTIN_PUBLIC_URL": base, "OPTIN_DATA_DIR": t.TempDir(), "OPTIN_LOG_FORMAT": "json",
		"OPTIN_TELNYX_PUBLIC_KEY": base64.StdEncoding.EncodeToString(pub), "OPTIN_ADMIN_TOKEN": faultAdmin,
	}
	logs, stop := startServe(t, cfgPath, env)

	join := fmt.Sprintf(`{"data":{"event_type":"message.received","id":"b301ed3f-1490-491f-995f-6e64e69674d4","payload":{"id":"7ee4241c-f127-47e5-9c34-3aac291f0001","direction":"inbound","text":"JOIN","from":{"phone_number":%q},"to":[{"phone_number":"+12025550100","status":"webhook_delivered"}]}}}`, "+12125550123")
	post := func(path, body string, sign bool) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if sign {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			req.Header.Set(telnyx.TimestampHeader, ts)
			req.Header.Set(telnyx.SignatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(priv, []byte(ts+"|"+body))))
		}
		return do(t, req)
	}
	if code, body := post("/v1/webhooks/telnyx/sms", join, false); code != http.StatusForbidden {
		t.Errorf("unsigned Telnyx JOIN: %d %s; want 403", code, body)
	}
	if code, body := post("/v1/webhooks/telnyx/sms", join, true); code != http.StatusOK || body != "" {
		t.Fatalf("signed Telnyx JOIN: %d %q; want 200 and an empty body (the prompt is queued)", code, body)
	}
	if code, _ := post("/v1/webhooks/twilio/sms", "From=%2B12125550123", false); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("Twilio's webhook without Twilio configured: %d; want no such route", code)
	}
	status, sub := getAuth(t, base+"/v1/tenants/demo/subscribers/"+url.PathEscape("+12125550123"))
	if status != http.StatusOK || !strings.Contains(sub, `"pending"`) {
		t.Errorf("subscriber after the Telnyx JOIN: %d %s; want pending", status, sub)
	}

	stop()
	if out := logs.String(); !strings.Contains(out, base+"/v1/webhooks/telnyx/sms") || strings.Contains(out, "/v1/webhooks/twilio/sms") {
		t.Errorf("serve's log does not list Telnyx's webhook alone:\n%s", out)
	}
}

// TestServeRefusesNoProvider: with no provider configured serve does not
// start and says why.
func TestServeRefusesNoProvider(t *testing.T) {
	example, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "none.yaml")
	if err := os.WriteFile(cfgPath, []byte(strings.Replace(string(example), "\ntwilio:", "\n# twilio:", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OPTIN_DATA_DIR": t.TempDir()}
	var logs syncBuffer
	err = run(context.Background(), []string{"serve", "--config", cfgPath}, func(k string) string { return env[k] }, &logs, &logs)
	if err == nil || !strings.Contains(err.Error(), "no SMS provider is configured") {
		t.Errorf("serve without a provider = %v; want no SMS provider is configured", err)
	}
}
