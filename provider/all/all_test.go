package all_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/all"
	"github.com/optin-gateway/optin-gateway/provider/bandwidth"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// TestDefinitions: every provider is listed once, under the name its
// webhook gives, with settings the configuration can fill.
func TestDefinitions(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range all.Providers {
		if seen[d.Name] {
			t.Errorf("%s is listed twice", d.Name)
		}
		seen[d.Name] = true
		if s := d.Settings(); s == nil || s == d.Settings() {
			t.Errorf("%s: Settings() = %p; want new settings every call", d.Name, s)
		}
	}
	for _, name := range []string{twilio.Name, telnyx.Name, vonage.Name, bandwidth.Name} {
		if !seen[name] {
			t.Errorf("%s is not listed", name)
		}
	}
}

// TestOptOutCodes: each provider's webhook reads its opt-out error code
// as one, and nothing else. Its sender reads refusals by the same code
// (SendError.OptOut; tested in the provider's package).
func TestOptOutCodes(t *testing.T) {
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := telnyx.New(base64.StdEncoding.EncodeToString(pub))
	if err != nil {
		t.Fatal(err)
	}
	vg, err := vonage.New("vonagetestsecret", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    provider.Provider
		code string
	}{
		{twilio.New("testtwiliotoken0123456789abcdef0", "https://optin.example.com"), twilio.ErrorOptedOut},
		{tx, telnyx.ErrorOptedOut},
		{vg, vonage.ErrorOptedOut},
	} {
		name := tc.p.Info().Name
		if !tc.p.OptOut(tc.code) {
			t.Errorf("%s: OptOut(%s) = false; want true", name, tc.code)
		}
		if tc.p.OptOut("0") {
			t.Errorf("%s: OptOut(0) = true; want false", name)
		}
	}
}
