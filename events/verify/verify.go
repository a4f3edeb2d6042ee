// Package verify checks the signature of an optin-gateway event webhook
// delivery. It is the example the README quotes (a test keeps the two
// equal): a business may copy it, or import it.
package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Verify checks header (Optin-Signature: t=<unix>,v1=<hex>) over body
// with the endpoint's secret, and refuses a time stamp more than 5
// minutes away from now.
func Verify(secret, header string, body []byte, now time.Time) error {
	f := map[string]string{}
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		f[k] = v
	}
	t, err := strconv.ParseInt(f["t"], 10, 64)
	if err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return errors.New("missing or stale timestamp")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(f["t"] + "." + string(body)))
	if sig, err := hex.DecodeString(f["v1"]); err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return errors.New("bad signature")
	}
	return nil
}
