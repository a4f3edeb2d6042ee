// Package telnyx is Telnyx as an SMS provider: its inbound webhook (JSON
// events signed with Ed25519), its sender (POST /v2/messages), its
// settings and its error codes.
package telnyx

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// Name names Telnyx in routes, inbound messages and audit records.
const Name = "telnyx"

// Telnyx's webhook signature headers.
const (
	SignatureHeader = "telnyx-signature-ed25519"
	TimestampHeader = "telnyx-timestamp"
)

// ErrorOptedOut is Telnyx's error code for a send blocked because the
// person texted STOP ("Blocked due to STOP message").
const ErrorOptedOut = "40300"

// info is Telnyx's webhook: JSON, answered with an empty 200.
// data.payload.id is a UUID.
var info = provider.Info{
	Name: Name, ContentType: "text/plain; charset=utf-8",
	IDField: "data.payload.id", FromField: "data.payload.from.phone_number", ToField: "data.payload.to[0].phone_number",
	MessageID:     regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`),
	MessageIDDesc: "a UUID",
}

// Settings are Telnyx's section of the configuration file and its
// environment variables: the public key enables
// POST /v1/webhooks/telnyx/sms, the API key lets the senders send.
type Settings struct {
	PublicKey string `yaml:"public_key" env:"OPTIN_TELNYX_PUBLIC_KEY"`
	APIKey    string `yaml:"api_key" env:"OPTIN_TELNYX_API_KEY,secret"`
}

// Webhook is the inbound webhook of Telnyx's Messaging API: JSON events
// signed with Ed25519 over "timestamp|body" under the account's public
// key. Telnyx takes no replies in the webhook's answer (it wants a 2xx
// within 2 seconds), so replies are queued.
type Webhook struct {
	publicKey ed25519.PublicKey
	tolerance time.Duration
}

// New returns Telnyx's webhook for the base64 public key shown in
// Telnyx's portal.
func New(publicKeyB64 string) (*Webhook, error) {
	k, err := base64.StdEncoding.DecodeString(publicKeyB64)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("telnyx: public key: want base64 of %d bytes", ed25519.PublicKeySize)
	}
	return &Webhook{publicKey: k, tolerance: provider.DefaultTimestampTolerance}, nil
}

// Info describes Telnyx's webhook.
func (t *Webhook) Info() provider.Info { return info }

// Verify checks telnyx-signature-ed25519 (base64) over
// telnyx-timestamp + "|" + body, and that the timestamp (Unix seconds) is
// within five minutes of now.
func (t *Webhook) Verify(r provider.Request) error {
	body, now := r.Body, r.Now
	ts, sig := r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader)
	if ts == "" || sig == "" {
		return provider.SignatureError("missing telnyx-signature-ed25519 or telnyx-timestamp")
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return provider.SignatureError("invalid telnyx-signature-ed25519")
	}
	msg := make([]byte, 0, len(ts)+1+len(body))
	msg = append(append(append(msg, ts...), '|'), body...)
	if !ed25519.Verify(t.publicKey, msg, raw) {
		return provider.SignatureError("invalid telnyx-signature-ed25519")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return provider.SignatureError("invalid telnyx-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > t.tolerance || d < -t.tolerance {
		return provider.SignatureError("stale telnyx-timestamp")
	}
	return nil
}

// event is the part of a Telnyx webhook the gateway reads.
type event struct {
	Data struct {
		EventType string `json:"event_type"`
		Payload   struct {
			ID        string `json:"id"`
			Direction string `json:"direction"`
			Text      string `json:"text"`
			From      struct {
				PhoneNumber string `json:"phone_number"`
			} `json:"from"`
			To []struct {
				PhoneNumber string `json:"phone_number"`
				Status      string `json:"status"`
			} `json:"to"`
			Errors []struct {
				Code string `json:"code"`
			} `json:"errors"`
		} `json:"payload"`
	} `json:"data"`
}

// Parse reads a message.received event, and the delivery status of
// message.sent and message.finalized (the recipient's status, e.g.
// delivered or delivery_failed, and the first error code); other events
// are skipped.
func (t *Webhook) Parse(r provider.Request) (provider.Messages, error) {
	var ev event
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		return provider.Messages{}, provider.MalformedError("malformed JSON body")
	}
	p := ev.Data.Payload
	switch ev.Data.EventType {
	case "message.received":
	case "message.sent", "message.finalized":
		st := &provider.Status{ProviderMessageID: p.ID}
		if len(p.To) > 0 {
			st.Status = optin.DeliveryStatus(p.To[0].Status)
		}
		if len(p.Errors) > 0 {
			st.ErrorCode = p.Errors[0].Code
		}
		return provider.One(provider.Inbound{Status: st}), nil
	default:
		return provider.One(provider.Inbound{Skip: true}), nil
	}
	in := provider.Inbound{From: p.From.PhoneNumber}
	in.Message.MessageID, in.Message.Text = p.ID, p.Text
	if len(p.To) > 0 {
		in.To = p.To[0].PhoneNumber
	}
	return provider.One(in), nil
}

// Render answers an empty 200: replies go on the outbound queue.
func (t *Webhook) Render([]string) ([]byte, error) { return []byte{}, nil }

// OptOut reports whether code is ErrorOptedOut.
func (t *Webhook) OptOut(code string) bool { return optedOut(code) }

// optedOut reports whether code, of a delivery status or a refused send,
// is ErrorOptedOut.
func optedOut(code string) bool { return code == ErrorOptedOut }
