// Package twilio is Twilio as an SMS provider: its inbound webhook (the
// form Twilio posts, X-Twilio-Signature, TwiML answers), its delivery
// status callback, its sender (twilio-go's REST client), its settings and
// its error codes.
package twilio

import (
	"regexp"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// Name names Twilio in routes, inbound messages and audit records.
const Name = "twilio"

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

// SignatureHeader carries Twilio's webhook signature.
const SignatureHeader = "X-Twilio-Signature"

// ErrorOptedOut is Twilio's error code for a send to a person who texted
// STOP to the sending number ("Attempt to send to unsubscribed
// recipient").
const ErrorOptedOut = "21610"

// errBadSignature is the answer to a request Twilio did not sign.
const errBadSignature = provider.SignatureError("invalid or missing X-Twilio-Signature")

// info is Twilio's webhook: a form, answered with TwiML. MessageSid is
// SM (SMS) or MM (MMS) and 32 hex digits.
var info = provider.Info{
	Name: Name, Form: true, Inline: true, ContentType: "text/xml; charset=utf-8",
	IDField: "MessageSid", FromField: "From", ToField: "To",
	MessageID:     regexp.MustCompile(`^(?:SM|MM)[0-9a-fA-F]{32}$`),
	MessageIDDesc: "SM or MM and 32 hex digits",
}

// Webhook is Twilio's inbound webhook and status callback. It checks
// X-Twilio-Signature against the configured public URL, never the Host
// the request came in on, with a fast signer that agrees with twilio-go's
// RequestValidator (the tests keep it as the reference).
type Webhook struct {
	signer    *signer
	publicURL string
}

// New returns Twilio's webhook for the auth token, signed against
// publicURL (without a trailing slash).
func New(authToken, publicURL string) *Webhook {
	return &Webhook{signer: newSigner(authToken, publicURL), publicURL: publicURL}
}

// Info describes Twilio's webhook.
func (w *Webhook) Info() provider.Info { return info }

// Verify reports whether X-Twilio-Signature signs the request URI (path
// and query, as received) under the public URL, with the POST body's
// parameters. A form with a repeated key never verifies: Twilio sends
// none on SMS webhooks, and the reference takes one value per key.
func (w *Webhook) Verify(r provider.Request) error {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" || !w.signer.valid(w.publicURL, r.URI, r.Form, sig) {
		return errBadSignature
	}
	return nil
}

// Parse reads MessageSid, From, To, Body and OptOutType (set when the
// number uses Twilio's Advanced Opt-Out).
func (w *Webhook) Parse(r provider.Request) (provider.Messages, error) {
	f := r.Form
	return provider.One(provider.Inbound{
		Message: optin.Inbound{MessageID: f.Get("MessageSid"), Text: f.Get("Body"), ProviderOptOut: f.Get("OptOutType")},
		From:    f.Get("From"), To: f.Get("To"),
	}), nil
}

// ParseStatus reads a status callback: MessageSid, MessageStatus,
// ErrorCode and From (the sending number).
func (w *Webhook) ParseStatus(r provider.Request) (provider.Status, error) {
	f := r.Form
	return provider.Status{
		ProviderMessageID: f.Get("MessageSid"), Status: optin.DeliveryStatus(f.Get("MessageStatus")),
		ErrorCode: f.Get("ErrorCode"), From: f.Get("From"),
	}, nil
}

// Render renders replies as a TwiML messaging response.
func (w *Webhook) Render(replies []string) ([]byte, error) { return messagesTwiML(replies), nil }

// OptOut reports whether code is ErrorOptedOut.
func (w *Webhook) OptOut(code string) bool { return optedOut(code) }

// optedOut reports whether code, of a status callback or a refused send,
// is ErrorOptedOut.
func optedOut(code string) bool { return code == ErrorOptedOut }
