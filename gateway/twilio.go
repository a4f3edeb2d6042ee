package gateway

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/optin-gateway/optin-gateway/optin"
)

// ProviderTwilio names Twilio in inbound messages and audit records.
const ProviderTwilio = "twilio"

// TwilioSignatureHeader carries Twilio's webhook signature.
const TwilioSignatureHeader = "X-Twilio-Signature"

// twilioVerifier checks X-Twilio-Signature against the configured public
// URL, never the Host the request came in on. Its fast signer
// (twiliosig.go) agrees with twilio-go's RequestValidator, which the tests
// keep as the reference.
type twilioVerifier struct {
	signer    *twilioSigner
	publicURL string
}

func newTwilioVerifier(token, publicURL string) *twilioVerifier {
	return &twilioVerifier{signer: newTwilioSigner(token, publicURL), publicURL: publicURL}
}

// verify reports whether sig signs the request URI (path and query, as
// received) under the public URL, with the POST body's parameters form.
// A form with a repeated key never verifies: Twilio sends none on SMS
// webhooks, and the reference takes one value per key.
func (v *twilioVerifier) verify(requestURI string, form url.Values, sig string) bool {
	if sig == "" {
		return false
	}
	return v.signer.valid(v.publicURL, requestURI, form, sig)
}

// SignTwilio returns the X-Twilio-Signature that Twilio sends with a POST of
// form to fullURL, by its documented algorithm: HMAC-SHA1 under the auth
// token over the URL followed by each parameter's name and value, in name
// order (a repeated name's values sorted), base64. The send subcommand, the
// load generator and the tests sign with it.
func SignTwilio(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// handleTwilioInbound is Twilio's incoming-message webhook. It checks the
// signature, runs the message through the state machine and answers with
// the replies as TwiML. A retried MessageSid gets the first answer again.
func (s *Server) handleTwilioInbound(c echo.Context) error {
	req := c.Request()
	if err := readForm(req); err != nil {
		return err
	}
	logFields(c, zap.String("provider", ProviderTwilio))
	if !s.twilio.verify(req.URL.RequestURI(), req.PostForm, req.Header.Get(TwilioSignatureHeader)) {
		s.signatureFailure(c, ProviderTwilio)
		return errBadSignature
	}
	markAuthenticated(c)
	form := req.PostForm
	in := optin.Inbound{
		Provider:       ProviderTwilio,
		MessageID:      form.Get("MessageSid"),
		Text:           form.Get("Body"),
		ProviderOptOut: form.Get("OptOutType"),
	}
	rawFrom, rawTo := form.Get("From"), form.Get("To")
	switch {
	case in.MessageID == "":
		return badRequest{"missing MessageSid"}
	case rawFrom == "":
		return badRequest{"missing From"}
	case rawTo == "":
		return badRequest{"missing To"}
	}
	if err := checkMessageID(ProviderTwilio, in.MessageID); err != nil {
		return err
	}
	logFields(c, zap.String("message_id", in.MessageID))
	from, err := s.phones.parse(rawFrom)
	if err != nil {
		return badRequest{"From: " + err.Error()}
	}
	to, err := s.phones.parseBusiness(rawTo)
	if err != nil {
		return badRequest{"To: " + err.Error()}
	}
	logFields(c, zap.Stringer("from", from), zap.Stringer("to", to))
	num, ok := s.snap().numbers[to.E164()]
	if !ok {
		return unknownNumber{"To"}
	}
	reply, outcome, err := s.processOrSpool(req.Context(), num, from, in, renderTwiML)
	if err != nil {
		return err
	}
	logFields(c, zap.String("tenant", num.Tenant), zap.String("outcome", outcome))
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", reply)
}

// renderTwiML renders replies as a TwiML messaging response.
func renderTwiML(replies []string) ([]byte, error) {
	return messagesTwiML(replies), nil
}
