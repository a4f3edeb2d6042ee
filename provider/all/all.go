// Package all lists every SMS provider the gateway can use. Adding a
// provider is its package under provider/ and one line here (see
// docs/providers.md).
package all

import (
	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/bandwidth"
	"github.com/optin-gateway/optin-gateway/provider/telnyx"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// Providers are the providers, each by its name and settings, in the
// order their webhooks are listed.
var Providers = []provider.Definition{
	provider.Define[twilio.Settings](twilio.Name),
	provider.Define[telnyx.Settings](telnyx.Name),
	provider.Define[vonage.Settings](vonage.Name),
	provider.Define[bandwidth.Settings](bandwidth.Name),
}
