package telnyx

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Check requires the public key, when set, to be an Ed25519 key.
func (s *Settings) Check(env provider.Env) error {
	if k, err := base64.StdEncoding.DecodeString(s.PublicKey); s.PublicKey != "" && (err != nil || len(k) != ed25519.PublicKeySize) {
		return fmt.Errorf("config: %s: must be base64 of a 32-byte Ed25519 public key, as shown in Telnyx's portal", env.NameOf(Name, "public_key"))
	}
	return nil
}

// Build returns the webhook when the public key is set, and the sender
// when the API key is.
func (s *Settings) Build(_ provider.Env, hc *http.Client) (p provider.Provider, sd provider.Sender, err error) {
	if s.PublicKey != "" {
		if p, err = New(s.PublicKey); err != nil {
			return nil, nil, err
		}
	}
	if s.APIKey != "" {
		sd, err = NewSender(s.APIKey, "", hc)
	}
	return p, sd, err
}
