package verify_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/events"
	"github.com/optin-gateway/optin-gateway/events/verify"
)

const secret = "whsec_testsecret0123456789abcdefghijklmnopqrstu"

// TestVerify: a signed delivery passes; a tampered body, a stale or
// future time stamp, another secret, a missing or malformed header fail.
func TestVerify(t *testing.T) {
	now := time.Date(2026, 12, 4, 7, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"twilio:SM1:deals:0","type":"subscribed","phone":"+12025550123"}`)
	sig := events.Sign([]byte(secret), now, body)
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		now                  time.Time
		ok                   bool
	}{
		{"valid", secret, sig, body, now, true},
		{"valid 4m59s later", secret, sig, body, now.Add(4*time.Minute + 59*time.Second), true},
		{"tampered body", secret, sig, []byte(strings.Replace(string(body), "0123", "0124", 1)), now, false},
		{"stale timestamp", secret, sig, body, now.Add(5*time.Minute + time.Second), false},
		{"timestamp from the future", secret, sig, body, now.Add(-6 * time.Minute), false},
		{"stale timestamp re-signed without the secret", secret, strings.Replace(sig, "t=", "t=1", 1), body, now, false},
		{"another secret", secret + "x", sig, body, now, false},
		{"no header", secret, "", body, now, false},
		{"no signature", secret, "t=" + sig[2:12], body, now, false},
	} {
		err := verify.Verify(tc.secret, tc.header, tc.body, tc.now)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Verify = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

// TestVerifyIsTheREADMEExample: the README quotes verify.go verbatim,
// from its imports on.
func TestVerifyIsTheREADMEExample(t *testing.T) {
	src, err := os.ReadFile("verify.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	code := string(src[strings.Index(string(src), "import ("):])
	if !strings.Contains(string(readme), "```go\n"+code+"```\n") {
		t.Errorf("README.md does not quote events/verify/verify.go (from \"import (\" on) verbatim in a go block")
	}
}

func ExampleVerify() {
	body := []byte(`{"id":"twilio:SM1:deals:0","type":"subscribed"}`)
	header := events.Sign([]byte(secret), time.Now(), body) // what the gateway sends as Optin-Signature
	if err := verify.Verify(secret, header, body, time.Now()); err != nil {
		panic(err)
	}
	// Output:
}
