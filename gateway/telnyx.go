package gateway

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// Telnyx's webhook signature headers.
const (
	TelnyxSignatureHeader = "telnyx-signature-ed25519"
	TelnyxTimestampHeader = "telnyx-timestamp"
)

// Telnyx is the inbound webhook of Telnyx's Messaging API: JSON events
// signed with Ed25519 over "timestamp|body" under the account's public
// key. Telnyx takes no replies in the webhook's answer (it wants a 2xx
// within 2 seconds), so replies are queued.
type Telnyx struct {
	publicKey ed25519.PublicKey
	tolerance time.Duration
}

// NewTelnyx returns the Telnyx adapter for the base64 public key shown in
// Telnyx's portal.
func NewTelnyx(publicKeyB64 string) (*Telnyx, error) {
	k, err := base64.StdEncoding.DecodeString(publicKeyB64)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("gateway: telnyx public key: want base64 of %d bytes", ed25519.PublicKeySize)
	}
	return &Telnyx{publicKey: k, tolerance: DefaultTimestampTolerance}, nil
}

// Name returns "telnyx".
func (t *Telnyx) Name() string { return "telnyx" }

// Verify checks telnyx-signature-ed25519 (base64) over
// telnyx-timestamp + "|" + body, and that the timestamp (Unix seconds) is
// within five minutes of now.
func (t *Telnyx) Verify(h http.Header, _ string, body []byte, now time.Time) error {
	ts, sig := h.Get(TelnyxTimestampHeader), h.Get(TelnyxSignatureHeader)
	if ts == "" || sig == "" {
		return signatureError{"missing telnyx-signature-ed25519 or telnyx-timestamp"}
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(raw) != ed25519.SignatureSize {
		return signatureError{"invalid telnyx-signature-ed25519"}
	}
	msg := make([]byte, 0, len(ts)+1+len(body))
	msg = append(append(append(msg, ts...), '|'), body...)
	if !ed25519.Verify(t.publicKey, msg, raw) {
		return signatureError{"invalid telnyx-signature-ed25519"}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return signatureError{"invalid telnyx-timestamp"}
	}
	if d := now.Sub(time.Unix(sec, 0)); d > t.tolerance || d < -t.tolerance {
		return signatureError{"stale telnyx-timestamp"}
	}
	return nil
}

// telnyxEvent is the part of a Telnyx webhook the gateway reads.
type telnyxEvent struct {
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
func (t *Telnyx) Parse(_ http.Header, body []byte) ([]Inbound, error) {
	var ev telnyxEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, badRequest{"malformed JSON body"}
	}
	p := ev.Data.Payload
	switch ev.Data.EventType {
	case "message.received":
	case "message.sent", "message.finalized":
		st := &Status{ProviderMessageID: p.ID}
		if len(p.To) > 0 {
			st.Status = optin.DeliveryStatus(p.To[0].Status)
		}
		if len(p.Errors) > 0 {
			st.ErrorCode = p.Errors[0].Code
		}
		return []Inbound{{Status: st}}, nil
	default:
		return []Inbound{{Skip: true}}, nil
	}
	in := Inbound{From: p.From.PhoneNumber}
	in.Message.MessageID, in.Message.Text = p.ID, p.Text
	if len(p.To) > 0 {
		in.To = p.To[0].PhoneNumber
	}
	return []Inbound{in}, nil
}

// Render answers an empty 200: replies go on the outbound queue.
func (t *Telnyx) Render([]string) (string, []byte, bool, error) {
	return "text/plain; charset=utf-8", []byte{}, false, nil
}
