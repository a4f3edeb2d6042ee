// Package bandwidth is Bandwidth's Messaging API v2 as an SMS provider:
// its inbound webhook (callbacks authenticated with HTTP basic auth) and
// its settings. It has no sender yet: replies queued for Bandwidth are
// dead-lettered as having no sender.
package bandwidth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"

	"github.com/optin-gateway/optin-gateway/provider"
)

// Name names Bandwidth in routes, inbound messages and audit records.
const Name = "bandwidth"

// info is Bandwidth's webhook: a JSON array, answered with an empty 200.
// message.id is a 13-digit millisecond time and lower-case letters and
// digits ("14762070468292kw2fuqty55yp2b2").
var info = provider.Info{
	Name: Name, ContentType: "text/plain; charset=utf-8",
	IDField: "message.id", FromField: "message.from", ToField: "to",
	MessageID:     regexp.MustCompile(`^[0-9]{13}[0-9a-z]{6,32}$`),
	MessageIDDesc: "13 digits and 6 to 32 lower-case letters or digits",
}

// Settings are the basic auth credentials of the messaging application's
// callback (Bandwidth's section of the configuration file, or the
// environment), which enable POST /v1/webhooks/bandwidth/sms.
type Settings struct {
	CallbackUser     string `yaml:"callback_user" env:"OPTIN_BANDWIDTH_CALLBACK_USER"`
	CallbackPassword string `yaml:"callback_password" env:"OPTIN_BANDWIDTH_CALLBACK_PASSWORD,secret"`
}

// Webhook is the inbound webhook of Bandwidth's Messaging API v2: a
// JSON array of events, authenticated with the HTTP basic auth credentials
// set on the messaging application's callback. Bandwidth signs nothing and
// sends no timestamp to check, so a replayed request is caught only by its
// message id (idempotency). Bandwidth takes no replies in the answer, so
// replies are queued.
type Webhook struct {
	userHash, passHash [sha256.Size]byte
}

// New returns Bandwidth's webhook for the callback's basic auth
// credentials.
func New(user, password string) (*Webhook, error) {
	if user == "" || password == "" {
		return nil, errors.New("bandwidth: callback user and password are required")
	}
	return &Webhook{userHash: sha256.Sum256([]byte(user)), passHash: sha256.Sum256([]byte(password))}, nil
}

// Info describes Bandwidth's webhook.
func (b *Webhook) Info() provider.Info { return info }

// Verify checks the basic auth credentials in constant time.
func (b *Webhook) Verify(r provider.Request) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Basic ")
	if !ok {
		return provider.SignatureError("missing basic auth credentials")
	}
	dec, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return provider.SignatureError("malformed basic auth credentials")
	}
	user, pass, _ := strings.Cut(string(dec), ":")
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(u[:], b.userHash[:])&subtle.ConstantTimeCompare(p[:], b.passHash[:]) != 1 {
		return provider.SignatureError("invalid basic auth credentials")
	}
	return nil
}

// event is the part of a Bandwidth callback event the gateway
// reads.
type event struct {
	Type    string `json:"type"`
	To      string `json:"to"`
	Message struct {
		ID        string `json:"id"`
		From      string `json:"from"`
		Text      string `json:"text"`
		Direction string `json:"direction"`
	} `json:"message"`
}

// Parse reads every message-received event of the array; delivery events
// (message-delivered, message-failed, …) are skipped.
func (b *Webhook) Parse(r provider.Request) (provider.Messages, error) {
	var evs []event
	if err := json.Unmarshal(r.Body, &evs); err != nil {
		return provider.Messages{}, provider.MalformedError("malformed JSON body: want an array of events")
	}
	out := make([]provider.Inbound, 0, len(evs))
	for _, ev := range evs {
		if ev.Type != "message-received" {
			out = append(out, provider.Inbound{Skip: true})
			continue
		}
		in := provider.Inbound{From: ev.Message.From, To: ev.To}
		in.Message.MessageID, in.Message.Text = ev.Message.ID, ev.Message.Text
		out = append(out, in)
	}
	return provider.Batch(out), nil
}

// Render answers an empty 200: replies go on the outbound queue.
func (b *Webhook) Render([]string) ([]byte, error) { return []byte{}, nil }

// OptOut reports false: Bandwidth's error codes are not read yet.
func (b *Webhook) OptOut(string) bool { return false }
