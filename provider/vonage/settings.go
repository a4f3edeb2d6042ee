package vonage

import (
	"fmt"
	"net/http"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Check requires the API key and secret together and a known signature
// method.
func (s *Settings) Check(env provider.Env) error {
	if err := env.BothOrNeither(Name, "api_key", s.APIKey, "api_secret", s.APISecret); err != nil {
		return err
	}
	if hashOf(s.SignatureMethod) == nil && s.SignatureMethod != MD5Hash && s.SignatureMethod != "" {
		return fmt.Errorf("config: %s: must be md5hash, md5, sha1, sha256 or sha512", env.NameOf(Name, "signature_method"))
	}
	return nil
}

// Build returns the webhook when the signature secret is set, and the
// sender when the API key and secret are.
func (s *Settings) Build(_ provider.Env, hc *http.Client) (p provider.Provider, sd provider.Sender, err error) {
	if s.SignatureSecret != "" {
		if p, err = New(s.SignatureSecret, s.SignatureMethod); err != nil {
			return nil, nil, err
		}
	}
	if s.APIKey != "" {
		sd, err = NewSender(s.APIKey, s.APISecret, "", hc)
	}
	return p, sd, err
}
