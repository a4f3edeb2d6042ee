package twilio

import (
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Check requires the account SID when a number replies through the API,
// with the auth token or an API secret, and the API key and secret
// together.
func (s *Settings) Check(env provider.Env) error {
	name := func(key string) string { return env.NameOf(Name, key) }
	switch {
	case env.APINumbers > 0 && s.AccountSid == "":
		return fmt.Errorf("config: %s: required when a number has reply_mode api; set it in the file or OPTIN_TWILIO_ACCOUNT_SID", name("account_sid"))
	case s.AccountSid != "" && s.APISecret == "" && s.AuthToken == "":
		return fmt.Errorf("config: %s: the sender needs %s or %s", name("account_sid"), name("auth_token"), name("api_secret"))
	}
	return env.BothOrNeither(Name, "api_key", s.APIKey, "api_secret", s.APISecret)
}

// Build returns the webhook when the auth token is set, and the sender
// when the account SID is (authenticated with the API key and secret, or
// else the auth token).
func (s *Settings) Build(env provider.Env, hc *http.Client) (provider.Provider, provider.Sender, error) {
	var p provider.Provider
	if s.AuthToken != "" {
		p = New(s.AuthToken, env.PublicURL)
	}
	if s.AccountSid == "" {
		return p, nil, nil
	}
	pw := s.APISecret
	if pw == "" {
		pw = s.AuthToken
	}
	sd, err := NewSender(SenderOptions{AccountSid: s.AccountSid, Username: s.APIKey, Password: pw, HTTPClient: hc})
	return p, sd, err
}
