package bandwidth

import (
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Check requires the user and the password together.
func (s *Settings) Check(env provider.Env) error {
	return env.BothOrNeither(Name, "callback_user", s.CallbackUser, "callback_password", s.CallbackPassword)
}

// Build returns the webhook when the credentials are set; Bandwidth has
// no sender yet.
func (s *Settings) Build(provider.Env, *http.Client) (provider.Provider, provider.Sender, error) {
	if s.CallbackUser == "" {
		return nil, nil, nil
	}
	p, err := New(s.CallbackUser, s.CallbackPassword)
	return p, nil, err
}
