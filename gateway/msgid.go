package gateway

import (
	"regexp"

	"github.com/optin-gateway/optin-gateway/provider"
)

// otherMessageID is the shape of the message ids of a provider that
// states none (provider.Info.MessageID).
var (
	otherMessageID     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)
	otherMessageIDDesc = "1 to 64 letters, digits, '.', '_', ':' or '-'"
)

// maxMessageID bounds every id before a pattern sees it.
const maxMessageID = 64

// checkMessageID returns a 400 unless id has the shape of the provider's
// message ids (info.MessageID, checked before an id is logged, stored or
// used as an idempotency key: a signed request cannot put 5,000
// characters or a phone number there); its error never repeats the id.
func checkMessageID(info *provider.Info, id string) error {
	re, desc := info.MessageID, info.MessageIDDesc
	if re == nil {
		re, desc = otherMessageID, otherMessageIDDesc
	}
	if len(id) > maxMessageID || !re.MatchString(id) {
		return badRequest{"malformed " + info.Name + " message id: want " + desc}
	}
	return nil
}
