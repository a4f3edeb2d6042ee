package twilio

import (
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Definition registers Twilio (provider/all).
var Definition = provider.Definition{Name: Name, Settings: func() provider.Settings { return new(Settings) }}

// Settings are Twilio's section of the configuration file and its
// environment variables. The auth token enables the webhooks
// (POST /v1/webhooks/twilio/sms and /status); the account SID, with an
// API key and secret or else the auth token, lets the senders send.
type Settings struct {
	AuthToken  string `yaml:"auth_token" env:"OPTIN_TWILIO_AUTH_TOKEN,secret"`
	AccountSid string `yaml:"account_sid" env:"OPTIN_TWILIO_ACCOUNT_SID"`
	APIKey     string `yaml:"api_key" env:"OPTIN_TWILIO_API_KEY"`
	APISecret  string `yaml:"api_secret" env:"OPTIN_TWILIO_API_SECRET,secret"`
}

// Check requires the API key and secret together, and the account SID
// when a number replies through the API.
func (s *Settings) Check(env provider.Env) error {
	if (s.APIKey == "") != (s.APISecret == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", env.NameOf(Name, "api_key"), env.NameOf(Name, "api_secret"))
	}
	if env.APINumbers > 0 && s.AccountSid == "" {
		return fmt.Errorf("config: %s: required when a number has reply_mode api; set it in the file or OPTIN_TWILIO_ACCOUNT_SID", env.NameOf(Name, "account_sid"))
	}
	if s.AccountSid != "" && s.APISecret == "" && s.AuthToken == "" {
		return fmt.Errorf("config: %s: the sender needs %s or %s", env.NameOf(Name, "account_sid"), env.NameOf(Name, "auth_token"), env.NameOf(Name, "api_secret"))
	}
	return nil
}

// Provider returns the webhook, or nil without an auth token.
func (s *Settings) Provider(env provider.Env) (provider.Provider, error) {
	if s.AuthToken == "" {
		return nil, nil
	}
	return New(s.AuthToken, env.PublicURL), nil
}

// Sender returns the sender, or nil without an account SID.
func (s *Settings) Sender(hc *http.Client) (provider.Sender, error) {
	if s.AccountSid == "" {
		return nil, nil
	}
	pw := s.APISecret
	if pw == "" {
		pw = s.AuthToken
	}
	return NewSender(SenderOptions{AccountSid: s.AccountSid, Username: s.APIKey, Password: pw, HTTPClient: hc})
}
