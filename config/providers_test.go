package config

import (
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/provider/telnyx"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

// twilioSettings returns c's Twilio settings, failing the test without.
func twilioSettings(tb testing.TB, c *Config) *twilio.Settings {
	tb.Helper()
	s, ok := c.Provider("twilio").(*twilio.Settings)
	if !ok {
		tb.Fatalf("Provider(twilio) = %v; want twilio settings", c.Provider("twilio"))
	}
	return s
}

// telnyxPub is an Ed25519 public key in Telnyx's format.
const telnyxPub = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=" // RFC 8032 test 1 public key

// TestNoProviderIsMandatory: a configuration with Telnyx alone loads,
// Twilio is not enabled, and the senders run (Telnyx's replies are
// queued); one with no provider at all is refused with a clear message.
func TestNoProviderIsMandatory(t *testing.T) {
	telnyxOnly := strings.Replace(base, `twilio: {auth_token: "testtwiliotoken0000000000000000000"}`, `telnyx: {public_key: "`+telnyxPub+`"}`, 1)
	c, err := Load(writeFile(t, "c.yaml", telnyxOnly), env(nil))
	if err != nil {
		t.Fatalf("Load(telnyx only) = %v", err)
	}
	if c.Provider("twilio") != nil || len(c.Providers) != 1 {
		t.Errorf("Providers = %+v; want telnyx alone", c.Providers)
	}
	if tx, ok := c.Provider("telnyx").(*telnyx.Settings); !ok || tx.PublicKey != telnyxPub {
		t.Errorf("Provider(telnyx) = %+v; want the public key", c.Provider("telnyx"))
	}
	if !c.Outbound.Sender {
		t.Errorf("Outbound.Sender = false; want on, Telnyx's replies are queued")
	}
	if !strings.Contains(c.String(), "twilio_auth_token=unset") {
		t.Errorf("String() = %q; want twilio_auth_token=unset", c.String())
	}
	// By the environment alone.
	noTwilio := strings.Replace(base, `twilio: {auth_token: "testtwiliotoken0000000000000000000"}`, "", 1)
	if _, err := Load(writeFile(t, "c.yaml", noTwilio), env(map[string]string{"OPTIN_TELNYX_PUBLIC_KEY": telnyxPub})); err != nil {
		t.Errorf("Load(OPTIN_TELNYX_PUBLIC_KEY only) = %v", err)
	}
	for _, tc := range []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"none", noTwilio, nil, "config: no SMS provider is configured"},
		{"a sender alone", noTwilio, map[string]string{"OPTIN_TELNYX_API_KEY": "KEYtelnyxtest0123456789"}, "config: no SMS provider is configured"},
		{"unknown provider", noTwilio + "plivo: {auth_id: x}\n", nil, "c.yaml: line 42: field plivo not found in type config.file"},
		{"unknown provider key", base + "telnyx: {publickey: x}\n", nil, "c.yaml: line 42: field publickey not found in type telnyx.Settings"},
		{"provider section not a mapping", base + "telnyx: [a]\n", nil, "c.yaml: line 42: want a mapping of settings"},
	} {
		if _, err := Load(writeFile(t, "c.yaml", tc.file), env(tc.env)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load() = %v; want an error containing %q", tc.name, err, tc.want)
		}
	}
}
