// Package events delivers subscribers' consent transitions (subscribed,
// unsubscribed, blocked by the provider, erased) to the businesses' own
// endpoints as signed JSON webhooks, at least once, in order per endpoint
// and subscriber, with exponential backoff and dead letters (README
// "Event webhooks").
package events

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"strconv"
	"time"
)

// Headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of
	// the secret over t + "." + body>".
	SignatureHeader = "Optin-Signature"
	// EventIDHeader repeats the event's id, the key to de-duplicate on.
	EventIDHeader = "Optin-Event-Id"
	// EventTypeHeader repeats the event's type.
	EventTypeHeader = "Optin-Event-Type"
	// AttemptHeader counts the tries of this delivery, from 1.
	AttemptHeader = "Optin-Attempt"
)

// Tolerance is how far from the receiver's clock a signature's time
// stamp may be; older (replayed) or newer deliveries are refused.
const Tolerance = 5 * time.Minute

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// NewSecret draws a signing secret from r: "whsec_" and 32 random bytes
// in base64url. The whole string is the HMAC key.
func NewSecret(r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 32)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Sign returns the SignatureHeader value of body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}
