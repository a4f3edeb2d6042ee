package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/optin-gateway/optin-gateway/provider/vonage"
)

// TestVonageUnsignableParameters: a validly signed request whose
// parameters are rearranged so that the signed string stays the same, or
// that names a parameter twice, is refused with 403 and a reason that
// names no parameter; nothing reaches the state machine. The untouched
// request then goes through.
func TestVonageUnsignableParameters(t *testing.T) {
	method := vonage.SHA256
	h := newProviderHarness(t, method)
	join := vonageFixture(t, "0A0000000123ABCD1", "JOIN", h.clock.Now())
	join["keyword"] = "JOIN"
	signed := map[string]string{}
	for k, v := range join {
		signed[k] = v
	}
	signed["sig"] = vonage.Sign(h.vonageSecret, method, join)

	// merged moves keyword into the name of message-timestamp: the signed
	// string "&keyword=JOIN&message-timestamp=..." is the same.
	merged := func() url.Values {
		f := url.Values{}
		for k, v := range signed {
			f.Set(k, v)
		}
		f.Del("keyword")
		f.Del("message-timestamp")
		f.Set("keyword=JOIN&message-timestamp", signed["message-timestamp"])
		return f
	}
	post := func(ctype, body string) reply {
		req, err := http.NewRequest(http.MethodPost, h.http.URL+"/v1/webhooks/vonage/sms", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		return h.do(req)
	}
	const form, js = "application/x-www-form-urlencoded", "application/json"
	mergedJSON, _ := json.Marshal(func() map[string]string {
		m := map[string]string{}
		for k, vs := range merged() {
			m[k] = vs[0]
		}
		return m
	}())
	signedJSON, _ := json.Marshal(signed)
	for _, tc := range []struct {
		name, ctype, body, reason string
	}{
		{"merged keyword and message-timestamp", form, merged().Encode(), "unsignable parameter name"},
		{"merged, as JSON", js, string(mergedJSON), "unsignable parameter name"},
		{"a name with a space", form, "text+=x&" + url.Values(signedForm(signed)).Encode(), "unsignable parameter name"},
		{"a name outside ASCII", form, "t%C3%A9xt=x&" + url.Values(signedForm(signed)).Encode(), "unsignable parameter name"},
		{"an empty name", form, "=x&" + url.Values(signedForm(signed)).Encode(), "unsignable parameter name"},
		{"text repeated", form, url.Values(signedForm(signed)).Encode() + "&text=STOP", "repeated parameter"},
		{"text repeated in JSON", js, `{"text":"STOP",` + string(signedJSON)[1:], "repeated parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.ctype, tc.body)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, tc.reason) {
				t.Errorf("%d %s; want 403 %q", r.status, r.body, tc.reason)
			}
			if strings.Contains(r.body, "keyword") || strings.Contains(r.body, "text") {
				t.Errorf("answer %s names a parameter", r.body)
			}
		})
	}
	if s := h.states(person); s["deals"] != "none" {
		t.Fatalf("after the refused requests deals = %q; want none", s["deals"])
	}
	if r := post(form, url.Values(signedForm(signed)).Encode()); r.status != http.StatusOK {
		t.Fatalf("the signed JOIN as it was signed: %d %s; want 200", r.status, r.body)
	}
	if s := h.states(person); s["deals"] != "pending" {
		t.Errorf("after the signed JOIN deals = %q; want pending", s["deals"])
	}
}

// signedForm returns params as form values.
func signedForm(params map[string]string) map[string][]string {
	f := map[string][]string{}
	for k, v := range params {
		f[k] = []string{v}
	}
	return f
}
