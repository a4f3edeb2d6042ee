package gateway

import (
	"regexp"
)

// messageIDFormat is the shape of one provider's message ids.
type messageIDFormat struct {
	re   *regexp.Regexp
	desc string // for the 400's error
}

// messageIDFormats are the providers' documented message id formats. An
// id is checked against its provider's before it is logged, stored or
// used as an idempotency key: a signed request cannot put 5,000
// characters or a phone number there.
var messageIDFormats = map[string]messageIDFormat{
	// MessageSid: SM (SMS) or MM (MMS) and 32 hex digits.
	ProviderTwilio: {regexp.MustCompile(`^(?:SM|MM)[0-9a-fA-F]{32}$`), "SM or MM and 32 hex digits"},
	// data.payload.id: a UUID.
	"telnyx": {regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`), "a UUID"},
	// messageId: 16 or more hex digits ("0A0000000123ABCD1"), or a UUID.
	"vonage": {regexp.MustCompile(`^[0-9a-fA-F][0-9a-fA-F-]{14,38}[0-9a-fA-F]$`), "16 to 40 hex digits and dashes"},
	// message.id: a 13-digit millisecond time and lower-case letters and
	// digits ("14762070468292kw2fuqty55yp2b2").
	"bandwidth": {regexp.MustCompile(`^[0-9]{13}[0-9a-z]{6,32}$`), "13 digits and 6 to 32 lower-case letters or digits"},
}

// otherMessageID is the format of a provider without one of its own.
var otherMessageID = messageIDFormat{regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`), "1 to 64 letters, digits, '.', '_', ':' or '-'"}

// maxMessageID bounds every id before a pattern sees it.
const maxMessageID = 64

// checkMessageID returns a 400 unless id has provider's format; its error
// never repeats the id.
func checkMessageID(provider, id string) error {
	f, ok := messageIDFormats[provider]
	if !ok {
		f = otherMessageID
	}
	if len(id) > maxMessageID || !f.re.MatchString(id) {
		return badRequest{"malformed " + provider + " message id: want " + f.desc}
	}
	return nil
}
