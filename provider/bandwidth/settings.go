package bandwidth

import (
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Definition registers Bandwidth (provider/all).
var Definition = provider.Definition{Name: Name, Settings: func() provider.Settings { return new(Settings) }}

// Settings are Bandwidth's section of the configuration file and its
// environment variables: the basic auth credentials of the messaging
// application's callback enable POST /v1/webhooks/bandwidth/sms.
type Settings struct {
	CallbackUser     string `yaml:"callback_user" env:"OPTIN_BANDWIDTH_CALLBACK_USER"`
	CallbackPassword string `yaml:"callback_password" env:"OPTIN_BANDWIDTH_CALLBACK_PASSWORD,secret"`
}

// Check requires the user and the password together.
func (s *Settings) Check(env provider.Env) error {
	if (s.CallbackUser == "") != (s.CallbackPassword == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", env.NameOf(Name, "callback_user"), env.NameOf(Name, "callback_password"))
	}
	return nil
}

// Provider returns the webhook, or nil without credentials.
func (s *Settings) Provider(provider.Env) (provider.Provider, error) {
	if s.CallbackUser == "" {
		return nil, nil
	}
	return New(s.CallbackUser, s.CallbackPassword)
}

// Sender returns nil: Bandwidth has no sender yet.
func (s *Settings) Sender(*http.Client) (provider.Sender, error) { return nil, nil }
