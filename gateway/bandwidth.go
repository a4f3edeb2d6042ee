package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Bandwidth is the inbound webhook of Bandwidth's Messaging API v2: a
// JSON array of events, authenticated with the HTTP basic auth credentials
// set on the messaging application's callback. Bandwidth signs nothing and
// sends no timestamp to check, so a replayed request is caught only by its
// message id (idempotency). Bandwidth takes no replies in the answer, so
// replies are queued.
type Bandwidth struct {
	userHash, passHash [sha256.Size]byte
}

// NewBandwidth returns the Bandwidth adapter for the callback's basic
// auth credentials.
func NewBandwidth(user, password string) (*Bandwidth, error) {
	if user == "" || password == "" {
		return nil, errors.New("gateway: bandwidth callback user and password are required")
	}
	return &Bandwidth{userHash: sha256.Sum256([]byte(user)), passHash: sha256.Sum256([]byte(password))}, nil
}

// Name returns "bandwidth".
func (b *Bandwidth) Name() string { return "bandwidth" }

// Verify checks the basic auth credentials in constant time.
func (b *Bandwidth) Verify(h http.Header, _ string, _ []byte, _ time.Time) error {
	raw, ok := strings.CutPrefix(h.Get("Authorization"), "Basic ")
	if !ok {
		return signatureError{"missing basic auth credentials"}
	}
	dec, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return signatureError{"malformed basic auth credentials"}
	}
	user, pass, _ := strings.Cut(string(dec), ":")
	u, p := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
	if subtle.ConstantTimeCompare(u[:], b.userHash[:])&subtle.ConstantTimeCompare(p[:], b.passHash[:]) != 1 {
		return signatureError{"invalid basic auth credentials"}
	}
	return nil
}

// bandwidthEvent is the part of a Bandwidth callback event the gateway
// reads.
type bandwidthEvent struct {
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
func (b *Bandwidth) Parse(_ http.Header, body []byte) ([]Inbound, error) {
	var evs []bandwidthEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, badRequest{"malformed JSON body: want an array of events"}
	}
	out := make([]Inbound, 0, len(evs))
	for _, ev := range evs {
		if ev.Type != "message-received" {
			out = append(out, Inbound{Skip: true})
			continue
		}
		in := Inbound{From: ev.Message.From, To: ev.To}
		in.Message.MessageID, in.Message.Text = ev.Message.ID, ev.Message.Text
		out = append(out, in)
	}
	return out, nil
}

// Render answers an empty 200: replies go on the outbound queue.
func (b *Bandwidth) Render([]string) (string, []byte, bool, error) {
	return "text/plain; charset=utf-8", []byte{}, false, nil
}
