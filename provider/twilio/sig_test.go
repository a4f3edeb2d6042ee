package twilio

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"

	"github.com/optin-gateway/optin-gateway/provider"
)

// referenceValid is twilio-go's validator under verify's contract: a key
// with several values never verifies, a key with none is absent.
func referenceValid(token, fullURL string, form url.Values, sig string) bool {
	params := make(map[string]string, len(form))
	for k, vs := range form {
		switch len(vs) {
		case 0:
			continue
		case 1:
			params[k] = vs[0]
		default:
			return false
		}
	}
	rv := client.NewRequestValidator(token)
	return rv.Validate(fullURL, params, sig)
}

// sigFor returns a signature of the kind mode asks for: as given (0), or
// a valid one over the URL as is (1), with its port (2), without it (3).
func sigFor(mode uint8, token, fullURL string, form url.Values, given string) string {
	switch mode % 4 {
	case 1:
		return Sign(token, fullURL, form)
	case 2:
		return Sign(token, addPort(fullURL), form)
	case 3:
		return Sign(token, removePort(fullURL), form)
	}
	return given
}

// agree checks the fast signer against the reference on one input, twice
// (the second call hits the URL cache).
func agree(tb testing.TB, token, base, uri, body, given string, mode uint8) {
	tb.Helper()
	form, err := url.ParseQuery(body)
	if err != nil {
		return
	}
	full := base + uri
	sig := sigFor(mode, token, full, form, given)
	want := referenceValid(token, full, form, sig)
	s := newSigner(token, base)
	for i := range 2 {
		if got := s.valid(base, uri, form, sig); got != want {
			tb.Fatalf("valid(%q, %q, %q, %q) call %d = %v; reference says %v", base, uri, body, sig, i+1, got, want)
		}
	}
}

const vectorBody = "Digits=1234&CallSid=CA1234567890ABCDE&To=%2B18005551212&Caller=%2B14158675309&From=%2B14158675309&ReasonConferenceEnded=test&Reason=Participant"

func TestSignerAgreesWithReference(t *testing.T) {
	const tok = "testtwiliotoken0123456789abcdef0"
	inbound := "MessageSid=SM0&From=%2B12125550123&To=%2B12025550100&Body=JOIN"
	tests := []struct {
		name, token, base, uri, body, sig string
		mode                              uint8
	}{
		{"published vector", "12345", "https://mycompany.com", "/myapp.php?foo=1&bar=2", vectorBody, "vOEb5UThFn24KEfnOFLQY2AE5FY=", 0},
		{"published vector, wrong sig", "12345", "https://mycompany.com", "/myapp.php?foo=1&bar=2", vectorBody, "vOEb5UThFn24KEfnOFLQY2AE5FZ=", 0},
		{"signed as is", tok, "https://optin.example.com", "/v1/webhooks/twilio/sms", inbound, "", 1},
		{"signed with default port", tok, "https://optin.example.com", "/v1/webhooks/twilio/sms", inbound, "", 2},
		{"port in public URL, signed without", tok, "https://optin.example.com:8443", "/v1/webhooks/twilio/sms", inbound, "", 3},
		{"port in public URL, signed with", tok, "http://127.0.0.1:8080", "/v1/webhooks/twilio/sms?x=%41", inbound, "", 1},
		{"query re-encoded by url.String", tok, "https://optin.example.com", "/a%2fb?q=a b", inbound, "", 2},
		{"repeated key", tok, "https://optin.example.com", "/", "a=1&a=2", "", 1},
		{"empty form", tok, "https://optin.example.com", "/", "", "", 1},
		{"empty signature", tok, "https://optin.example.com", "/", inbound, "", 0},
		{"short signature", tok, "https://optin.example.com", "/", inbound, "abc", 0},
		{"unparsable URL", tok, "ht tp://x", "/%zz", inbound, "", 1},
		{"IPv6 host", tok, "http://[::1]:8080", "/", inbound, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			agree(t, tt.token, tt.base, tt.uri, tt.body, tt.sig, tt.mode)
		})
	}
}

func TestTwilioSignerSignMatchesSign(t *testing.T) {
	form := url.Values{"b": {"2", "1"}, "a": {"x"}, "Body": {"STOP"}}
	s := newSigner("12345", "https://h")
	if got, want := s.sign("https://h/p", form), Sign("12345", "https://h/p", form); got != want {
		t.Fatalf("sign = %q; want %q", got, want)
	}
}

func TestSignerCacheIsBounded(t *testing.T) {
	s := newSigner("12345", "https://h")
	for i := range 3 * maxCachedURLs {
		s.valid("https://h", "/p?i="+strings.Repeat("x", i), url.Values{}, strings.Repeat("A", 28))
	}
	if got := len(s.urls); got > maxCachedURLs {
		t.Fatalf("len(urls) = %d; want at most %d", got, maxCachedURLs)
	}
}

// FuzzSigner proves the fast signer and twilio-go's validator agree
// on every input: go test -fuzz FuzzSigner ./provider/twilio/. The seed
// corpus runs with the normal tests.
func FuzzSigner(f *testing.F) {
	f.Add("12345", "https://mycompany.com", "/myapp.php?foo=1&bar=2", vectorBody, "vOEb5UThFn24KEfnOFLQY2AE5FY=", uint8(0))
	f.Add("tok", "https://optin.example.com", "/v1/webhooks/twilio/sms", "Body=STOP&From=%2B12125550123", "", uint8(1))
	f.Add("tok", "https://optin.example.com:443", "/v1/webhooks/twilio/sms", "Body=STOP", "", uint8(3))
	f.Add("tok", "http://localhost", "/x?y=%20", "Body=%E2%82%AC&a=", "", uint8(2))
	f.Add("tok", "http://[::1]:80", "/", "a=1&a=1", "", uint8(1))
	f.Add("", "", "", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, token, base, uri, body, sig string, mode uint8) {
		agree(t, token, base, uri, body, sig, mode)
	})
}

// BenchmarkVerify compares the reference validator with the fast
// signer on a real inbound STOP.
func BenchmarkVerify(b *testing.B) {
	const base, uri, tok = "https://optin.example.com", "/v1/webhooks/twilio/sms", "testtwiliotoken0123456789abcdef0"
	form := url.Values{
		"MessageSid": {"SM0123456789abcdef0123456789abcdef"}, "SmsSid": {"SM0123456789abcdef0123456789abcdef"},
		"SmsMessageSid": {"SM0123456789abcdef0123456789abcdef"}, "AccountSid": {"AC" + strings.Repeat("0", 32)},
		"MessagingServiceSid": {"MG" + strings.Repeat("0", 32)}, "From": {"+12125550123"}, "To": {"+12025550100"},
		"Body": {"STOP"}, "NumMedia": {"0"}, "NumSegments": {"1"}, "SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
		"FromCity": {"WASHINGTON"}, "FromState": {"DC"}, "FromZip": {"20001"}, "FromCountry": {"US"},
		"ToCity": {""}, "ToState": {"DC"}, "ToZip": {""}, "ToCountry": {"US"},
	}
	sig := Sign(tok, base+uri, form)
	b.Run("reference", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !referenceValid(tok, base+uri, form, sig) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		w := New(tok, base)
		r := provider.Request{Header: http.Header{SignatureHeader: {sig}}, URI: uri, Form: form}
		b.ReportAllocs()
		for b.Loop() {
			if w.Verify(r) != nil {
				b.Fatal("invalid")
			}
		}
	})
}
