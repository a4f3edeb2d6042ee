package config

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
)

// Outbound configures replies sent through providers' APIs: numbers with
// reply_mode "api" and the senders that drain their queue.
type Outbound struct {
	// ReplyModes are "twiml" or "api" by business number (E.164); a
	// number not listed replies in TwiML.
	ReplyModes map[string]string
	// Rates are sending rates in messages per second by business number;
	// a number not listed gets the default for its kind.
	Rates map[string]float64
	// TwilioAccountSid, with TwilioAPIKey and TwilioAPISecret or else the
	// auth token, authenticates REST calls to Twilio.
	TwilioAccountSid string
	TwilioAPIKey     string
	TwilioAPISecret  string
	// Sender runs the outbound senders in this process; default on when
	// any number replies through the API.
	Sender      bool
	MaxAttempts int           // sends per reply before it is dead-lettered; 0: the default
	BaseBackoff time.Duration // first retry's delay; 0: the default
	MaxBackoff  time.Duration // longest retry delay; 0: the default

	// TelnyxPublicKey (base64 Ed25519) enables POST /v1/webhooks/telnyx/sms.
	TelnyxPublicKey string
	// TelnyxAPIKey lets the senders send Telnyx's queued replies.
	TelnyxAPIKey string
	// VonageSignatureSecret enables POST /v1/webhooks/vonage/sms, signed
	// with VonageSignatureMethod (md5hash, md5, sha1, sha256, sha512).
	VonageSignatureSecret string
	VonageSignatureMethod string
	// VonageAPIKey and VonageAPISecret let the senders send Vonage's
	// queued replies.
	VonageAPIKey, VonageAPISecret string
	// BandwidthCallbackUser and BandwidthCallbackPassword, the basic auth
	// credentials of the messaging application's callback, enable
	// POST /v1/webhooks/bandwidth/sms.
	BandwidthCallbackUser, BandwidthCallbackPassword string
}

type fileBandwidth struct {
	CallbackUser     string `yaml:"callback_user"`
	CallbackPassword string `yaml:"callback_password"`
}

type fileTelnyx struct {
	PublicKey string `yaml:"public_key"`
	APIKey    string `yaml:"api_key"`
}

type fileVonage struct {
	SignatureSecret string `yaml:"signature_secret"`
	SignatureMethod string `yaml:"signature_method"`
	APIKey          string `yaml:"api_key"`
	APISecret       string `yaml:"api_secret"`
}

// fileOutbound is the outbound section of the YAML file.
type fileOutbound struct {
	Sender      *bool          `yaml:"sender"`
	MaxAttempts int            `yaml:"max_attempts"`
	BaseBackoff *time.Duration `yaml:"base_backoff"`
	MaxBackoff  *time.Duration `yaml:"max_backoff"`
}

// APINumbers returns how many numbers reply through the API.
func (o Outbound) APINumbers() int {
	n := 0
	for _, m := range o.ReplyModes {
		if m == "api" {
			n++
		}
	}
	return n
}

// loadOutbound fills c.Outbound from the file's twilio and outbound
// sections, the numbers' reply_mode and rate_limit, and the environment
// (OPTIN_TWILIO_ACCOUNT_SID, OPTIN_TWILIO_API_KEY, OPTIN_TWILIO_API_SECRET
// (or _FILE), OPTIN_OUTBOUND_SENDER).
func (c *Config) loadOutbound(f file, getenv func(string) string) error {
	o := Outbound{ReplyModes: map[string]string{}, Rates: map[string]float64{}, MaxAttempts: f.Outbound.MaxAttempts}
	for ti, t := range c.Tenants {
		for ni, n := range t.Numbers {
			np := fmt.Sprintf("tenants[%d].numbers[%d]", ti, ni)
			switch n.ReplyMode {
			case "", "twiml":
			case "api":
				o.ReplyModes[n.Number] = "api"
			default:
				return fmt.Errorf("config: %s.reply_mode: %q must be twiml or api", np, n.ReplyMode)
			}
			switch {
			case n.RateLimit < 0:
				return fmt.Errorf("config: %s.rate_limit: must not be negative", np)
			case n.RateLimit > 0:
				o.Rates[n.Number] = n.RateLimit
			}
		}
	}
	sid := setting{"twilio.account_sid", f.Twilio.AccountSid}
	key := setting{"twilio.api_key", f.Twilio.APIKey}
	secret := setting{"twilio.api_secret", f.Twilio.APISecret}
	sid.set(getenv, "OPTIN_TWILIO_ACCOUNT_SID")
	key.set(getenv, "OPTIN_TWILIO_API_KEY")
	if err := secret.setSecret(getenv, "OPTIN_TWILIO_API_SECRET"); err != nil {
		return err
	}
	o.TwilioAccountSid, o.TwilioAPIKey, o.TwilioAPISecret = sid.value, key.value, secret.value
	telnyxKey := setting{"telnyx.public_key", f.Telnyx.PublicKey}
	telnyxKey.set(getenv, "OPTIN_TELNYX_PUBLIC_KEY")
	telnyxAPIKey := setting{"telnyx.api_key", f.Telnyx.APIKey}
	if err := telnyxAPIKey.setSecret(getenv, "OPTIN_TELNYX_API_KEY"); err != nil {
		return err
	}
	o.TelnyxAPIKey = telnyxAPIKey.value
	vonageKey := setting{"vonage.api_key", f.Vonage.APIKey}
	vonageKey.set(getenv, "OPTIN_VONAGE_API_KEY")
	vonageAPISecret := setting{"vonage.api_secret", f.Vonage.APISecret}
	if err := vonageAPISecret.setSecret(getenv, "OPTIN_VONAGE_API_SECRET"); err != nil {
		return err
	}
	if (vonageKey.value == "") != (vonageAPISecret.value == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", vonageKey.name, vonageAPISecret.name)
	}
	o.VonageAPIKey, o.VonageAPISecret = vonageKey.value, vonageAPISecret.value
	bwUser := setting{"bandwidth.callback_user", f.Bandwidth.CallbackUser}
	bwUser.set(getenv, "OPTIN_BANDWIDTH_CALLBACK_USER")
	bwPass := setting{"bandwidth.callback_password", f.Bandwidth.CallbackPassword}
	if err := bwPass.setSecret(getenv, "OPTIN_BANDWIDTH_CALLBACK_PASSWORD"); err != nil {
		return err
	}
	if (bwUser.value == "") != (bwPass.value == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", bwUser.name, bwPass.name)
	}
	o.BandwidthCallbackUser, o.BandwidthCallbackPassword = bwUser.value, bwPass.value
	vonageSecret := setting{"vonage.signature_secret", f.Vonage.SignatureSecret}
	if err := vonageSecret.setSecret(getenv, "OPTIN_VONAGE_SIGNATURE_SECRET"); err != nil {
		return err
	}
	vonageMethod := setting{"vonage.signature_method", f.Vonage.SignatureMethod}
	vonageMethod.set(getenv, "OPTIN_VONAGE_SIGNATURE_METHOD")
	o.TelnyxPublicKey, o.VonageSignatureSecret, o.VonageSignatureMethod = telnyxKey.value, vonageSecret.value, vonageMethod.value
	if k, err := base64.StdEncoding.DecodeString(o.TelnyxPublicKey); o.TelnyxPublicKey != "" && (err != nil || len(k) != 32) {
		return fmt.Errorf("config: %s: must be base64 of a 32-byte Ed25519 public key, as shown in Telnyx's portal", telnyxKey.name)
	}
	switch o.VonageSignatureMethod {
	case "", "md5hash", "md5", "sha1", "sha256", "sha512":
	default:
		return fmt.Errorf("config: %s: must be md5hash, md5, sha1, sha256 or sha512", vonageMethod.name)
	}
	if (key.value == "") != (secret.value == "") {
		return fmt.Errorf("config: %s and %s: set both or neither", key.name, secret.name)
	}
	if o.APINumbers() > 0 && o.TwilioAccountSid == "" {
		return fmt.Errorf("config: %s: required when a number has reply_mode api; set it in the file or OPTIN_TWILIO_ACCOUNT_SID", sid.name)
	}
	o.Sender = o.APINumbers() > 0 || o.TelnyxPublicKey != "" || o.VonageSignatureSecret != "" || o.BandwidthCallbackUser != ""
	if f.Outbound.Sender != nil {
		o.Sender = *f.Outbound.Sender
	}
	if v := getenv("OPTIN_OUTBOUND_SENDER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: OPTIN_OUTBOUND_SENDER: must be true or false")
		}
		o.Sender = b
	}
	if o.MaxAttempts < 0 {
		return fmt.Errorf("config: outbound.max_attempts: must not be negative")
	}
	if err := setDurations(
		durationSetting{"outbound.base_backoff", f.Outbound.BaseBackoff, &o.BaseBackoff},
		durationSetting{"outbound.max_backoff", f.Outbound.MaxBackoff, &o.MaxBackoff},
	); err != nil {
		return err
	}
	c.Outbound = o
	return nil
}
