// Package phone parses the phone numbers that reach the gateway, with
// github.com/nyaruka/phonenumbers, into optin.Phone values in E.164.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/proto"

	"github.com/optin-gateway/optin-gateway/optin"
)

// ErrInvalid is returned for a string that is not a valid phone number.
var ErrInvalid = errors.New("invalid phone number")

// Parse returns s as an E.164 number. s must be in international form
// ("+12025550100"; spaces, dots, dashes and brackets are tolerated) and
// valid for its country. The error never repeats s, which may be personal
// data.
func Parse(s string) (optin.Phone, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "+") {
		return "", fmt.Errorf("%w: not in international (+) form", ErrInvalid)
	}
	if p, ok, valid := parseNANP(s); ok {
		if !valid {
			return "", fmt.Errorf("%w: not a valid number for its country", ErrInvalid)
		}
		return p, nil
	}
	n, err := phonenumbers.Parse(s, "")
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrInvalid, reason(err))
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("%w: not a valid number for its country", ErrInvalid)
	}
	return optin.Phone(phonenumbers.Format(n, phonenumbers.E164)), nil
}

// ParseBusiness is Parse for a business number, which may also be a short
// code: 3 to 8 digits without a "+".
func ParseBusiness(s string) (optin.Phone, error) {
	s = strings.TrimSpace(s)
	if IsShortCode(s) {
		return optin.Phone(s), nil
	}
	return Parse(s)
}

// IsShortCode reports whether s is a short code: 3 to 8 ASCII digits.
func IsShortCode(s string) bool {
	if len(s) < 3 || len(s) > 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// reason turns a phonenumbers error into words without the input.
func reason(err error) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "unknown country code"
	case errors.Is(err, phonenumbers.ErrNotANumber):
		return "not a number"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long"
	}
	return "unparseable"
}

// parseNANP is Parse's fast path for the commonest input, a North American
// number already in E.164 ("+1" and ten digits, the first 2-9), as every
// US and Canadian number reaches the gateway from Twilio. libphonenumber's
// Parse (a dozen regular expressions, some 11 µs) would only turn it into
// country code 1 and the ten digits, so they are built directly and only
// validity is asked of libphonenumber. ok is false for any other input,
// which takes the full path; TestParseNANPAgreesWithLibphonenumber checks
// that both paths agree.
func parseNANP(s string) (p optin.Phone, ok, valid bool) {
	if len(s) != 12 || s[0] != '+' || s[1] != '1' || s[2] < '2' || s[2] > '9' {
		return "", false, false
	}
	var national uint64
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false, false
		}
		national = national*10 + uint64(s[i]-'0')
	}
	n := &phonenumbers.PhoneNumber{}
	n.CountryCode = proto.Int32(1)
	n.NationalNumber = proto.Uint64(national)
	if !phonenumbers.IsValidNumber(n) {
		return "", true, false
	}
	return optin.Phone(s), true, true
}
