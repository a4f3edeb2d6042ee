package bandwidth_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/bandwidth"
)

func TestWebhook(t *testing.T) {
	p, err := bandwidth.New("bwcallback", "bw-password-0123")
	if err != nil {
		t.Fatal(err)
	}
	auth := func(user, pass string) provider.Request {
		req, _ := http.NewRequest(http.MethodPost, "/", nil)
		req.SetBasicAuth(user, pass)
		return provider.Request{Header: req.Header}
	}
	for _, tc := range []struct {
		name string
		r    provider.Request
		ok   bool
	}{
		{"credentials", auth("bwcallback", "bw-password-0123"), true},
		{"wrong password", auth("bwcallback", "bw-password-0124"), false},
		{"none", provider.Request{Header: http.Header{}}, false},
	} {
		var se provider.SignatureError
		if err := p.Verify(tc.r); (err == nil) != tc.ok || (err != nil && !errors.As(err, &se)) {
			t.Errorf("%s: Verify = %v; want ok %v or a SignatureError", tc.name, err, tc.ok)
		}
	}
	body := `[{"type":"message-delivered","to":"+12125550123","message":{"id":"1476207046829abcdef"}},
{"type":"message-received","to":"+12025550100","message":{"id":"14762070468292kw2fuqty55yp2b2","from":"+12125550123","text":"JOIN"}}]`
	msgs, err := p.Parse(provider.Request{Body: []byte(body)})
	if err != nil || msgs.Len() != 2 {
		t.Fatalf("Parse = %d messages, %v; want 2", msgs.Len(), err)
	}
	if !msgs.At(0).Skip {
		t.Errorf("Parse: message-delivered = %+v; want skipped", msgs.At(0))
	}
	if in := msgs.At(1); in.Message.Text != "JOIN" || in.From != "+12125550123" || in.To != "+12025550100" {
		t.Errorf("Parse: message-received = %+v; want the message", in)
	}
	var me provider.MalformedError
	if _, err := p.Parse(provider.Request{Body: []byte(`{}`)}); !errors.As(err, &me) {
		t.Errorf("Parse(an object) = %v; want a MalformedError", err)
	}
}
