package gateway_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/gateway"
)

// vonageVector is a signature published in the tests of one of Vonage's
// server SDKs.
type vonageVector struct {
	source, method, secret, want string
	params                       map[string]string
}

// vonageInbound2013 is the inbound message of Vonage's PHP SDK's
// signature tests, signed with every method.
var vonageInbound2013 = map[string]string{
	"message-timestamp": "2013-11-21 15:27:30",
	"messageId":         "020000001B0FE827",
	"msisdn":            "14843472194",
	"text":              "Test again",
	"timestamp":         "1385047698",
	"to":                "13239877404",
	"type":              "text",
}

// vonageVectors are copied from Vonage's SDK tests:
//   - php: Vonage/vonage-php-sdk-core test/Client/SignatureTest.php
//     (signatures() and hmacSignatureProvider());
//   - java: Vonage/vonage-java-sdk
//     src/test/java/com/vonage/client/auth/RequestSigningTest.java;
//   - python: Vonage/vonage-python-sdk http_client/tests/test_auth.py
//     (its v4 SDK signs with HMAC only; its default method is HMAC-MD5).
//
// The PHP SDK gives HMACs in upper case, the others in lower case: the
// comparison ignores case, as Vonage's own checks do.
var vonageVectors = []vonageVector{
	{"php inbound", gateway.VonageMD5Hash, "my_secret_key_for_testing", "d2e7b1dc968737c5998ad624e02f90b7", vonageInbound2013},
	{"php inbound", gateway.VonageMD5, "my_secret_key_for_testing", "DDEBD46008C2D4E93CCE578A332A52D5", vonageInbound2013},
	{"php inbound", gateway.VonageSHA1, "my_secret_key_for_testing", "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A", vonageInbound2013},
	{"php inbound", gateway.VonageSHA256, "my_secret_key_for_testing", "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330", vonageInbound2013},
	{"php inbound", gateway.VonageSHA512, "my_secret_key_for_testing", "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82", vonageInbound2013},
	{"php inbound with sig", gateway.VonageMD5Hash, "my_secret_key_for_testing", "83c052a82906ec7c116e16f6d92f7eee", map[string]string{
		"message-timestamp": "2013-11-21 17:37:31", "messageId": "030000002A267DBB", "msisdn": "14843472194",
		"text": "One more time", "timestamp": "1385055451", "to": "14849970568", "type": "text",
		"sig": "83c052a82906ec7c116e16f6d92f7eee",
	}},
	{"php inbound with keyword and nonce", gateway.VonageMD5Hash, "my_secret_key_for_testing", "ff933bf31c79ab3fc6a38d100191c48f", map[string]string{
		"keyword": "TESTINGS", "message-timestamp": "2017-04-04 23:05:22", "messageId": "0C00000027217D5B",
		"msisdn": "14843472194", "nonce": "c4ab6ed2-9bf5-48a0-af91-107e29bdd399", "sig": "ff933bf31c79ab3fc6a38d100191c48f",
		"text": "Testings", "timestamp": "1491347122", "to": "12192259404", "type": "text",
	}},
	{"php inbound with & and = in text", gateway.VonageMD5Hash, "my_secret_key_for_testing", "e06d9763e3fd0b9c31beb5fc2fcb011c", map[string]string{
		"keyword": "TEST", "message-timestamp": "2017-04-04 22:57:47", "messageId": "0B00000042AC53BD",
		"msisdn": "14843472194", "nonce": "929d6744-bd28-42c8-b6cf-31d5b4f43732", "sig": "e06d9763e3fd0b9c31beb5fc2fcb011c",
		"text": "Test with & and =", "timestamp": "1491346667", "to": "12192259404", "type": "text",
	}},
	{"php inbound, empty secret", gateway.VonageMD5Hash, "", "f0bfad43bd90cf1ea1f1525c18ba4dab", map[string]string{
		"message-timestamp": "2013-11-21 17:31:42", "messageId": "030000002A264B8B", "msisdn": "14843472194",
		"text": "Message test", "timestamp": "1385055102", "to": "14849970568", "type": "text",
		"sig": "f0bfad43bd90cf1ea1f1525c18ba4dab",
	}},
	{"php outbound", gateway.VonageMD5Hash, "my_secret_key_for_testing", "17f5e3b22f778ec73464c01d180e9d0f", map[string]string{
		"api_key": "not_a_key", "from": "12192259404", "text": "Test&test=something", "timestamp": "1490638615", "to": "14843472194",
	}},
	{"php hmac outbound", gateway.VonageMD5, "71efab63122f1d179f51c46bac838fb5", "51CDAFEBB4BBCE9525B195C1617CB8D2", vonagePHPOutbound},
	{"php hmac outbound", gateway.VonageSHA1, "71efab63122f1d179f51c46bac838fb5", "0162AEC64BC183B2E1256545951FE5639DC98020", vonagePHPOutbound},
	{"php hmac outbound", gateway.VonageSHA256, "71efab63122f1d179f51c46bac838fb5", "9FEC5EF6D0F2B3D2BB7558B6E4042569823CAB9EA0DD30503472B7B304601975", vonagePHPOutbound},
	{"php hmac outbound", gateway.VonageSHA512, "71efab63122f1d179f51c46bac838fb5", "40BD12B9A4B6000AD1138EEFD24FFE9FBD72AEE13C3FA04B32BB69DBC256AD0A04A463B1A9AF6660D10F6E1E769EE14B9CFF6A635502E93AFCD0BFAB29F38F87", vonagePHPOutbound},
	// md5 -s "&a=alphabet&b=bananas&timestamp=2100abcde", as the Java test says.
	{"java", gateway.VonageMD5Hash, "abcde", "7d43241108912b32cc315b48ce681acf", map[string]string{"a": "alphabet", "b": "bananas", "timestamp": "2100"}},
	{"java", gateway.VonageSHA256, "abcde", "8d1b0428276b6a070578225914c3502cc0687a454dfbbbb370c76a14234cb546", map[string]string{"a": "alphabet", "b": "bananas", "timestamp": "2100"}},
	{"python", gateway.VonageSHA256, "signature_secret", "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287", map[string]string{"param1": "value1", "param2": "value2", "timestamp": "1234567890"}},
	{"python", gateway.VonageMD5, "signature_secret", "724c2bf6ca423c36e20631b11d1c5753", map[string]string{"param1": "value1", "param2": "value2", "timestamp": "1234567890"}},
	{"python special characters", gateway.VonageMD5, "signature_secret", "2bbf0abafb2c55e5af6231513896a2ac", map[string]string{"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}},
	{"python check_signature", gateway.VonageMD5, "signature_secret", "655a4d0b7f064dff438defc52b012cf5", map[string]string{"param": "value", "timestamp": "1234567890"}},
}

var vonagePHPOutbound = map[string]string{
	"api_key": "fake_api_key", "to": "14155550100", "from": "AcmeInc", "text": "Test From Nexmo", "type": "text", "timestamp": "1540924779",
}

// TestVonageSDKVectors: SignVonage gives the signatures of Vonage's SDK
// tests, and each vector signed with a secret verifies as a webhook, as a
// form and as JSON, at its own timestamp.
func TestVonageSDKVectors(t *testing.T) {
	for _, v := range vonageVectors {
		t.Run(v.source+"/"+v.method, func(t *testing.T) {
			if got := gateway.SignVonage(v.secret, v.method, v.params); !strings.EqualFold(got, v.want) {
				t.Fatalf("SignVonage = %s; want %s", got, v.want)
			}
			if v.secret == "" {
				return // NewVonage refuses an empty secret
			}
			vg, err := gateway.NewVonage(v.secret, v.method)
			if err != nil {
				t.Fatal(err)
			}
			sec, _ := strconv.ParseInt(v.params["timestamp"], 10, 64)
			for _, asJSON := range []bool{false, true} {
				h, body := vonageBody(v.params, v.want, asJSON)
				if err := vg.Verify(h, "/v1/webhooks/vonage/sms", body, time.Unix(sec, 0)); err != nil {
					t.Errorf("Verify (json %v): %v", asJSON, err)
				}
			}
		})
	}
}

// vonageBody encodes params with sig as a form or as JSON.
func vonageBody(params map[string]string, sig string, asJSON bool) (http.Header, []byte) {
	p := map[string]string{}
	for k, v := range params {
		p[k] = v
	}
	p["sig"] = sig
	h := http.Header{}
	if asJSON {
		b, _ := json.Marshal(p)
		h.Set("Content-Type", "application/json")
		return h, b
	}
	f := url.Values{}
	for k, v := range p {
		f.Set(k, v)
	}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h, []byte(f.Encode())
}

// TestVonageUnsignableParameters: a validly signed request whose
// parameters are rearranged so that the signed string stays the same, or
// that names a parameter twice, is refused with 403 and a reason that
// names no parameter; nothing reaches the state machine. The untouched
// request then goes through.
func TestVonageUnsignableParameters(t *testing.T) {
	method := gateway.VonageSHA256
	h := newProviderHarness(t, method)
	join := vonageFixture(t, "0A0000000123ABCD1", "JOIN", h.clock.Now())
	join["keyword"] = "JOIN"
	signed := map[string]string{}
	for k, v := range join {
		signed[k] = v
	}
	signed["sig"] = gateway.SignVonage(h.vonageSecret, method, join)

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
