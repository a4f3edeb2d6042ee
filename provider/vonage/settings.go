package vonage

import (
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Definition registers Vonage (provider/all).
var Definition = provider.Definition{Name: Name, Settings: func() provider.Settings { return new(Settings) }}

// Settings are Vonage's section of the configuration file and its
// environment variables. The signature secret enables
// POST /v1/webhooks/vonage/sms, signed with the signature method; the API
// key and secret let the senders send Vonage's queued replies.
type Settings struct {
	SignatureSecret string `yaml:"signature_secret" env:"OPTIN_VONAGE_SIGNATURE_SECRET,secret"`
	SignatureMethod string `yaml:"signature_method" env:"OPTIN_VONAGE_SIGNATURE_METHOD"`
	APIKey          string `yaml:"api_key" env:"OPTIN_VONAGE_API_KEY"`
	APISecret       string `yaml:"api_secret" env:"OPTIN_VONAGE_API_SECRET,secret"`
}

// Check requires the API key and secret together and a known signature
// method.
func (s *Settings) Check(env provider.Env) error {
	if (s.APIKey == "") != (s.APISecret == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", env.NameOf(Name, "api_key"), env.NameOf(Name, "api_secret"))
	}
	switch s.SignatureMethod {
	case "", MD5Hash, MD5, SHA1, SHA256, SHA512:
	default:
		return fmt.Errorf("config: %s: must be md5hash, md5, sha1, sha256 or sha512", env.NameOf(Name, "signature_method"))
	}
	return nil
}

// Provider returns the webhook, or nil without a signature secret.
func (s *Settings) Provider(provider.Env) (provider.Provider, error) {
	if s.SignatureSecret == "" {
		return nil, nil
	}
	return New(s.SignatureSecret, s.SignatureMethod)
}

// Sender returns the sender, or nil without an API key.
func (s *Settings) Sender(hc *http.Client) (provider.Sender, error) {
	if s.APIKey == "" {
		return nil, nil
	}
	return NewSender(s.APIKey, s.APISecret, "", hc)
}
