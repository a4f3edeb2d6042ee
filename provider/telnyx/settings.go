package telnyx

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Definition registers Telnyx (provider/all).
var Definition = provider.Definition{Name: Name, Settings: func() provider.Settings { return new(Settings) }}

// Settings are Telnyx's section of the configuration file and its
// environment variables. The public key enables
// POST /v1/webhooks/telnyx/sms; the API key lets the senders send
// Telnyx's queued replies.
type Settings struct {
	PublicKey string `yaml:"public_key" env:"OPTIN_TELNYX_PUBLIC_KEY"`
	APIKey    string `yaml:"api_key" env:"OPTIN_TELNYX_API_KEY,secret"`
}

// Check requires the public key, when set, to be an Ed25519 key.
func (s *Settings) Check(env provider.Env) error {
	if k, err := base64.StdEncoding.DecodeString(s.PublicKey); s.PublicKey != "" && (err != nil || len(k) != ed25519.PublicKeySize) {
		return fmt.Errorf("config: %s: must be base64 of a 32-byte Ed25519 public key, as shown in Telnyx's portal", env.NameOf(Name, "public_key"))
	}
	return nil
}

// Provider returns the webhook, or nil without a public key.
func (s *Settings) Provider(provider.Env) (provider.Provider, error) {
	if s.PublicKey == "" {
		return nil, nil
	}
	return New(s.PublicKey)
}

// Sender returns the sender, or nil without an API key.
func (s *Settings) Sender(hc *http.Client) (provider.Sender, error) {
	if s.APIKey == "" {
		return nil, nil
	}
	return NewSender(s.APIKey, "", hc)
}
