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

// Providers are the providers, in the order their webhooks are listed.
var Providers = []provider.Definition{
	twilio.Definition,
	telnyx.Definition,
	vonage.Definition,
	bandwidth.Definition,
}
