package optin

import (
	"fmt"
	"io"
)

// MaskedCode stands for a confirmation code in audit records and logs.
const MaskedCode = "••••••"

// GenerateCode returns n uniformly random decimal digits drawn from r
// (crypto/rand.Reader in production, a fixed stream in tests). Bytes of 250
// and above are rejected so that every digit is equally likely.
func GenerateCode(r io.Reader, n int) (string, error) {
	if n < MinCodeLength || n > MaxCodeLength {
		return "", fmt.Errorf("optin: code length %d is outside %d..%d", n, MinCodeLength, MaxCodeLength)
	}
	out := make([]byte, 0, n)
	var buf [16]byte
	for len(out) < n {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return "", fmt.Errorf("optin: generate code: %w", err)
		}
		for _, b := range buf {
			if b < 250 && len(out) < n {
				out = append(out, '0'+b%10)
			}
		}
	}
	return string(out), nil
}
