package twilio_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/twilio"
)

func TestWebhook(t *testing.T) {
	const tok, base, uri = "testtwiliotoken0123456789abcdef0", "https://optin.example.com", "/v1/webhooks/twilio/sms"
	var p provider.Provider = twilio.New(tok, base)
	form := url.Values{"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "From": {"+12125550123"}, "To": {"+12025550100"}, "Body": {"STOP"}, "OptOutType": {"STOP"}}
	req := func(sig string) provider.Request {
		return provider.Request{Header: http.Header{twilio.SignatureHeader: {sig}}, URI: uri, Form: form}
	}
	if err := p.Verify(req(twilio.Sign(tok, base+uri, form))); err != nil {
		t.Errorf("Verify(signed) = %v", err)
	}
	for _, sig := range []string{"", twilio.Sign(tok, "https://elsewhere.example.com"+uri, form), twilio.Sign("othertoken", base+uri, form)} {
		var se provider.SignatureError
		if err := p.Verify(req(sig)); !errors.As(err, &se) || err.Error() != "invalid or missing X-Twilio-Signature" {
			t.Errorf("Verify(%q) = %v; want the SignatureError", sig, err)
		}
	}
	msgs, err := p.Parse(req(""))
	if in := msgs.At(0); err != nil || msgs.Len() != 1 || in.Message.MessageID != form.Get("MessageSid") || in.Message.Text != "STOP" ||
		in.Message.ProviderOptOut != "STOP" || in.From != "+12125550123" || in.To != "+12025550100" {
		t.Errorf("Parse = %+v, %v; want the message", in, err)
	}
	if b, err := p.Render([]string{"a & b"}); err != nil || string(b) != `<?xml version="1.0" encoding="UTF-8"?><Response><Message>a &amp; b</Message></Response>` {
		t.Errorf("Render = %s, %v", b, err)
	}
	st, err := p.(provider.StatusProvider).ParseStatus(provider.Request{Form: url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "ErrorCode": {"21610"}, "From": {"+12025550100"}}})
	if err != nil || st.ProviderMessageID != "SM1" || st.Status != "failed" || st.ErrorCode != "21610" || st.From != "+12025550100" {
		t.Errorf("ParseStatus = %+v, %v", st, err)
	}
}
