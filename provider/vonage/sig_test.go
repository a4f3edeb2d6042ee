package vonage_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/optin-gateway/optin-gateway/provider"
	"github.com/optin-gateway/optin-gateway/provider/vonage"
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
	{"php inbound", vonage.MD5Hash, "my_secret_key_for_testing", "d2e7b1dc968737c5998ad624e02f90b7", vonageInbound2013},
	{"php inbound", vonage.MD5, "my_secret_key_for_testing", "DDEBD46008C2D4E93CCE578A332A52D5", vonageInbound2013},
	{"php inbound", vonage.SHA1, "my_secret_key_for_testing", "27D0D05C2876C7CB1720DBCDBA4D492E1E55C09A", vonageInbound2013},
	{"php inbound", vonage.SHA256, "my_secret_key_for_testing", "DDB8397C2B90AAC7F3882D306475C9A5058C92322EEF43C92B298B6E0FC0D330", vonageInbound2013},
	{"php inbound", vonage.SHA512, "my_secret_key_for_testing", "E0D3C650F8C9D1A5C174D10DDDBFB003E561F59B265616208B0487C5D819481CD3C311D59CF6165ECD1139622D5BA3A256C0D763AC4A9AD9144B5A426B94FE82", vonageInbound2013},
	{"php inbound with sig", vonage.MD5Hash, "my_secret_key_for_testing", "83c052a82906ec7c116e16f6d92f7eee", map[string]string{
		"message-timestamp": "2013-11-21 17:37:31", "messageId": "030000002A267DBB", "msisdn": "14843472194",
		"text": "One more time", "timestamp": "1385055451", "to": "14849970568", "type": "text",
		"sig": "83c052a82906ec7c116e16f6d92f7eee",
	}},
	{"php inbound with keyword and nonce", vonage.MD5Hash, "my_secret_key_for_testing", "ff933bf31c79ab3fc6a38d100191c48f", map[string]string{
		"keyword": "TESTINGS", "message-timestamp": "2017-04-04 23:05:22", "messageId": "0C00000027217D5B",
		"msisdn": "14843472194", "nonce": "c4ab6ed2-9bf5-48a0-af91-107e29bdd399", "sig": "ff933bf31c79ab3fc6a38d100191c48f",
		"text": "Testings", "timestamp": "1491347122", "to": "12192259404", "type": "text",
	}},
	{"php inbound with & and = in text", vonage.MD5Hash, "my_secret_key_for_testing", "e06d9763e3fd0b9c31beb5fc2fcb011c", map[string]string{
		"keyword": "TEST", "message-timestamp": "2017-04-04 22:57:47", "messageId": "0B00000042AC53BD",
		"msisdn": "14843472194", "nonce": "929d6744-bd28-42c8-b6cf-31d5b4f43732", "sig": "e06d9763e3fd0b9c31beb5fc2fcb011c",
		"text": "Test with & and =", "timestamp": "1491346667", "to": "12192259404", "type": "text",
	}},
	{"php inbound, empty secret", vonage.MD5Hash, "", "f0bfad43bd90cf1ea1f1525c18ba4dab", map[string]string{
		"message-timestamp": "2013-11-21 17:31:42", "messageId": "030000002A264B8B", "msisdn": "14843472194",
		"text": "Message test", "timestamp": "1385055102", "to": "14849970568", "type": "text",
		"sig": "f0bfad43bd90cf1ea1f1525c18ba4dab",
	}},
	{"php outbound", vonage.MD5Hash, "my_secret_key_for_testing", "17f5e3b22f778ec73464c01d180e9d0f", map[string]string{
		"api_key": "not_a_key", "from": "12192259404", "text": "Test&test=something", "timestamp": "1490638615", "to": "14843472194",
	}},
	{"php hmac outbound", vonage.MD5, "71efab63122f1d179f51c46bac838fb5", "51CDAFEBB4BBCE9525B195C1617CB8D2", vonagePHPOutbound},
	{"php hmac outbound", vonage.SHA1, "71efab63122f1d179f51c46bac838fb5", "0162AEC64BC183B2E1256545951FE5639DC98020", vonagePHPOutbound},
	{"php hmac outbound", vonage.SHA256, "71efab63122f1d179f51c46bac838fb5", "9FEC5EF6D0F2B3D2BB7558B6E4042569823CAB9EA0DD30503472B7B304601975", vonagePHPOutbound},
	{"php hmac outbound", vonage.SHA512, "71efab63122f1d179f51c46bac838fb5", "40BD12B9A4B6000AD1138EEFD24FFE9FBD72AEE13C3FA04B32BB69DBC256AD0A04A463B1A9AF6660D10F6E1E769EE14B9CFF6A635502E93AFCD0BFAB29F38F87", vonagePHPOutbound},
	// md5 -s "&a=alphabet&b=bananas&timestamp=2100abcde", as the Java test says.
	{"java", vonage.MD5Hash, "abcde", "7d43241108912b32cc315b48ce681acf", map[string]string{"a": "alphabet", "b": "bananas", "timestamp": "2100"}},
	{"java", vonage.SHA256, "abcde", "8d1b0428276b6a070578225914c3502cc0687a454dfbbbb370c76a14234cb546", map[string]string{"a": "alphabet", "b": "bananas", "timestamp": "2100"}},
	{"python", vonage.SHA256, "signature_secret", "280c4320703dbc98bfa22db676655ed2acfbfe8792b062ff7622e67f1183c287", map[string]string{"param1": "value1", "param2": "value2", "timestamp": "1234567890"}},
	{"python", vonage.MD5, "signature_secret", "724c2bf6ca423c36e20631b11d1c5753", map[string]string{"param1": "value1", "param2": "value2", "timestamp": "1234567890"}},
	{"python special characters", vonage.MD5, "signature_secret", "2bbf0abafb2c55e5af6231513896a2ac", map[string]string{"param1": "value&1", "param2": "value=2", "timestamp": "1234567890"}},
	{"python check_signature", vonage.MD5, "signature_secret", "655a4d0b7f064dff438defc52b012cf5", map[string]string{"param": "value", "timestamp": "1234567890"}},
}

var vonagePHPOutbound = map[string]string{
	"api_key": "fake_api_key", "to": "14155550100", "from": "AcmeInc", "text": "Test From Nexmo", "type": "text", "timestamp": "1540924779",
}

// TestVonageSDKVectors: Sign gives the signatures of Vonage's SDK
// tests, and each vector signed with a secret verifies as a webhook, as a
// form and as JSON, at its own timestamp.
func TestVonageSDKVectors(t *testing.T) {
	for _, v := range vonageVectors {
		t.Run(v.source+"/"+v.method, func(t *testing.T) {
			if got := vonage.Sign(v.secret, v.method, v.params); !strings.EqualFold(got, v.want) {
				t.Fatalf("Sign = %s; want %s", got, v.want)
			}
			if v.secret == "" {
				return // New refuses an empty secret
			}
			vg, err := vonage.New(v.secret, v.method)
			if err != nil {
				t.Fatal(err)
			}
			sec, _ := strconv.ParseInt(v.params["timestamp"], 10, 64)
			for _, asJSON := range []bool{false, true} {
				h, body := vonageBody(v.params, v.want, asJSON)
				if err := vg.Verify(provider.Request{Header: h, URI: "/v1/webhooks/vonage/sms", Body: body, Now: time.Unix(sec, 0)}); err != nil {
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

// TestSign checks the algorithm against the vector in Vonage's own
// Python SDK tests (md5hash) and HMACs computed with openssl.
func TestSign(t *testing.T) {
	params := map[string]string{"a": "1", "b": "2", "timestamp": "1461605396", "sig": "ignored"}
	for _, tc := range []struct{ method, want string }{
		{vonage.MD5Hash, "6af838ef94998832dbfc29020b564830"},
		{vonage.MD5, "C15C21CED558C93A226C305F58F902F2"},
		{vonage.SHA1, "3E19A4E6880FDC2C1426BFD0587C98B9532F0210"},
		{vonage.SHA256, "A321E824B9B816BE7C3F28859A31749A098713D39F613C80D455BBAFFAE1CD24"},
		{vonage.SHA512, "812A18F76680FA0FE1B8BD9EE1625466CEB1BD96242E4D050D2CFD9A7B40166C63ED26EC9702168781B6EDCF1633DB8FF95AF9341701004EEC3FCF9550572EE8"},
	} {
		if got := vonage.Sign("secret", tc.method, params); got != tc.want {
			t.Errorf("Sign(%s) = %s; want %s", tc.method, got, tc.want)
		}
	}
	// "&" and "=" in values are signed as "_".
	a := vonage.Sign("secret", vonage.MD5Hash, map[string]string{"text": "a&b=c"})
	b := vonage.Sign("secret", vonage.MD5Hash, map[string]string{"text": "a_b_c"})
	if a != b {
		t.Errorf("Sign with & and = = %s; want it equal to the one with _ (%s)", a, b)
	}
}
