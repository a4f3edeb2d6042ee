package config

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/provider/telnyx"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

const apiNumber = `      - number: "+12025550100"
        campaigns: [deals, news]
        reply_mode: api
        rate_limit: 25`

const firstNumber = `      - number: "+12025550100"
        campaigns: [deals, news]`

func TestLoadOutbound(t *testing.T) {
	content := edit(t, firstNumber, apiNumber) + `outbound: {max_attempts: 5, base_backoff: 250ms, max_backoff: 30s}
`
	content = strings.Replace(content, `twilio: {auth_token: "testtwiliotoken0000000000000000000"}`,
		`twilio: {auth_token: "testtwiliotoken0000000000000000000", account_sid: "AC0123456789abcdef0123456789abcdef"}`, 1)
	c, err := Load(writeFile(t, "c.yaml", content), env(nil))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	o := c.Outbound
	if want := map[string]string{"+12025550100": "api"}; !maps.Equal(o.ReplyModes, want) {
		t.Errorf("ReplyModes = %v; want %v", o.ReplyModes, want)
	}
	if want := map[string]float64{"+12025550100": 25}; !maps.Equal(o.Rates, want) {
		t.Errorf("Rates = %v; want %v", o.Rates, want)
	}
	if !o.Sender || o.MaxAttempts != 5 || o.BaseBackoff != 250*time.Millisecond || o.MaxBackoff != 30*time.Second {
		t.Errorf("Outbound = %+v; want sender on, 5 attempts, 250ms..30s", o)
	}
	if sid := twilioSettings(t, c).AccountSid; sid != "AC0123456789abcdef0123456789abcdef" {
		t.Errorf("twilio AccountSid = %q", sid)
	}
	// The sender can be switched off per process.
	c, err = Load(writeFile(t, "c.yaml", content), env(map[string]string{"OPTIN_OUTBOUND_SENDER": "false"}))
	if err != nil || c.Outbound.Sender {
		t.Errorf("with OPTIN_OUTBOUND_SENDER=false: %v, sender %v; want off", err, c != nil && c.Outbound.Sender)
	}
	// No number in api mode: no sender, no account sid needed.
	c, err = Load(writeFile(t, "c.yaml", base), env(nil))
	if err != nil || c.Outbound.Sender || c.Outbound.APINumbers() != 0 {
		t.Errorf("base: %v, %+v; want no api numbers and no sender", err, c.Outbound)
	}
}

func TestLoadOutboundErrors(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		env           map[string]string
		want          string
	}{
		{"api without account sid", edit(t, firstNumber, apiNumber), nil, "twilio.account_sid: required"},
		{"unknown mode", edit(t, firstNumber, firstNumber+"\n        reply_mode: sms"), nil, `tenants[0].numbers[0].reply_mode: "sms" must be twiml or api`},
		{"negative rate", edit(t, firstNumber, firstNumber+"\n        rate_limit: -1"), nil, "tenants[0].numbers[0].rate_limit: must not be negative"},
		{"api key without secret", base, map[string]string{"OPTIN_TWILIO_API_KEY": "SK0123"}, "set both or neither"},
		{"bad sender flag", base, map[string]string{"OPTIN_OUTBOUND_SENDER": "maybe"}, "OPTIN_OUTBOUND_SENDER"},
		{"zero backoff", base + "outbound: {base_backoff: 0s}\n", nil, "outbound.base_backoff: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "c.yaml", tc.content), env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load() = %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadProviders(t *testing.T) {
	const pub = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" // RFC 8032 test 1 public key
	c, err := Load(writeFile(t, "c.yaml", base+"telnyx: {public_key: \""+pub+"\"}\n"), env(map[string]string{
		"OPTIN_VONAGE_SIGNATURE_SECRET": "vonagetestsecret", "OPTIN_VONAGE_SIGNATURE_METHOD": "sha256",
	}))
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	tx, _ := c.Provider("telnyx").(*telnyx.Settings)
	vg, _ := c.Provider("vonage").(*vonage.Settings)
	if tx == nil || vg == nil || tx.PublicKey != pub || vg.SignatureSecret != "vonagetestsecret" || vg.SignatureMethod != "sha256" {
		t.Errorf("providers = %+v; want the telnyx key and the vonage secret and method", c.Providers)
	}
	if strings.Contains(c.String(), "vonagetestsecret") {
		t.Errorf("String() = %q shows the vonage secret", c.String())
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"short telnyx key", map[string]string{"OPTIN_TELNYX_PUBLIC_KEY": "AAAA"}, "OPTIN_TELNYX_PUBLIC_KEY: must be base64 of a 32-byte"},
		{"unknown vonage method", map[string]string{"OPTIN_VONAGE_SIGNATURE_METHOD": "crc32"}, "OPTIN_VONAGE_SIGNATURE_METHOD: must be md5hash"},
		{"vonage key without secret", map[string]string{"OPTIN_VONAGE_API_KEY": "abcd1234"}, "set both or neither"},
		{"bandwidth user without password", map[string]string{"OPTIN_BANDWIDTH_CALLBACK_USER": "bw"}, "bandwidth.callback_password: set both or neither"},
	} {
		if _, err := Load(writeFile(t, "c.yaml", base), env(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load() = %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}
