package telnyx_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
)

const received = `{"data":{"event_type":"message.received","payload":{"id":"7ee4241c-f127-47e5-9c34-3aac291f0001","text":"JOIN","from":{"phone_number":"+12125550123"},"to":[{"phone_number":"+12025550100"}]}}}`

// signed returns a request carrying body signed with key at ts.
func signed(key ed25519.PrivateKey, ts time.Time, body string) provider.Request {
	t := strconv.FormatInt(ts.Unix(), 10)
	h := http.Header{}
	h.Set(telnyx.TimestampHeader, t)
	h.Set(telnyx.SignatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(key, []byte(t+"|"+body))))
	return provider.Request{Header: h, URI: "/v1/webhooks/telnyx/sms", Body: []byte(body), Now: ts}
}

func TestWebhook(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	var p provider.Provider
	if p, err = telnyx.New(base64.StdEncoding.EncodeToString(pub)); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	stale := signed(priv, now.Add(-6*time.Minute), received)
	stale.Now = now
	for _, tc := range []struct {
		name string
		r    provider.Request
		ok   bool
	}{
		{"signed", signed(priv, now, received), true},
		{"another key", signed(other, now, received), false},
		{"stale", stale, false},
		{"unsigned", provider.Request{Header: http.Header{}, Body: []byte(received), Now: now}, false},
	} {
		var se provider.SignatureError
		if err := p.Verify(tc.r); (err == nil) != tc.ok || (err != nil && !errors.As(err, &se)) {
			t.Errorf("%s: Verify = %v; want ok %v or a SignatureError", tc.name, err, tc.ok)
		}
	}
	msgs, err := p.Parse(signed(priv, now, received))
	if err != nil || msgs.Len() != 1 {
		t.Fatalf("Parse = %d messages, %v; want 1", msgs.Len(), err)
	}
	if in := msgs.At(0); in.Message.MessageID != "7ee4241c-f127-47e5-9c34-3aac291f0001" || in.Message.Text != "JOIN" || in.From != "+12125550123" || in.To != "+12025550100" {
		t.Errorf("Parse = %+v; want the message", in)
	}
	if msgs, _ := p.Parse(provider.Request{Body: []byte(`{"data":{"event_type":"message.finalized","payload":{"id":"x","to":[{"status":"delivered"}],"errors":[{"code":"40300"}]}}}`)}); msgs.At(0).Status == nil || msgs.At(0).Status.ErrorCode != "40300" {
		t.Errorf("Parse(message.finalized) = %+v; want a status with 40300", msgs.At(0))
	}
	var me provider.MalformedError
	if _, err := p.Parse(provider.Request{Body: []byte("{")}); !errors.As(err, &me) {
		t.Errorf("Parse(malformed) = %v; want a MalformedError", err)
	}
	if b, err := p.Render([]string{"hi"}); err != nil || len(b) != 0 || p.Info().Inline {
		t.Errorf("Render = %q, %v, inline %v; want an empty answer, replies queued", b, err, p.Info().Inline)
	}
}
