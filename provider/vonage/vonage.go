// Package vonage is Vonage's SMS API as an SMS provider: its signed
// inbound webhook and delivery receipts, its sender (POST /sms/json), its
// settings and its error codes.
package vonage

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
	"github.com/optin-gateway/optin-gateway/provider"
)

// The signature methods of Vonage's signed SMS webhooks, as named in its
// dashboard and SDKs.
const (
	MD5Hash = "md5hash" // MD5 of the parameter string followed by the secret (the default)
	MD5     = "md5"     // HMAC-MD5
	SHA1    = "sha1"    // HMAC-SHA1
	SHA256  = "sha256"  // HMAC-SHA256
	SHA512  = "sha512"  // HMAC-SHA512
)

// Name names Vonage in routes, inbound messages and audit records.
const Name = "vonage"

// ErrorOptedOut is the err-code of Vonage's delivery receipt saying the
// person asked not to receive messages from the sending number.
const ErrorOptedOut = "9"

// info is Vonage's webhook: a form or JSON, answered with an empty 200.
// messageId is 16 or more hex digits ("0A0000000123ABCD1"), or a UUID.
var info = provider.Info{
	Name: Name, ContentType: "text/plain; charset=utf-8",
	IDField: "messageId", FromField: "msisdn", ToField: "to",
	MessageID:     regexp.MustCompile(`^[0-9a-fA-F][0-9a-fA-F-]{14,38}[0-9a-fA-F]$`),
	MessageIDDesc: "16 to 40 hex digits and dashes",
}

// Settings are Vonage's section of the configuration file and its
// environment variables. The signature secret enables
// POST /v1/webhooks/vonage/sms, signed with the signature method; the API
// key and secret let the senders send.
type Settings struct {
	SignatureSecret string `yaml:"signature_secret" env:"OPTIN_VONAGE_SIGNATURE_SECRET,secret"`
	SignatureMethod string `yaml:"signature_method" env:"OPTIN_VONAGE_SIGNATURE_METHOD"`
	APIKey          string `yaml:"api_key" env:"OPTIN_VONAGE_API_KEY"`
	APISecret       string `yaml:"api_secret" env:"OPTIN_VONAGE_API_SECRET,secret"`
}

// Webhook is the inbound webhook of Vonage's SMS API with signed webhooks:
// the parameters (a form, or JSON with "POST-JSON") carry sig, a signature
// under the account's signature secret, and timestamp, which must be
// within five minutes of the gateway's clock. Vonage takes no replies in
// the webhook's answer, so replies are queued.
type Webhook struct {
	secret    []byte
	method    string
	tolerance time.Duration
}

// New returns Vonage's webhook for a signature secret and method ("" is
// md5hash).
func New(secret, method string) (*Webhook, error) {
	if secret == "" {
		return nil, errors.New("vonage: signature secret is empty")
	}
	if method == "" {
		method = MD5Hash
	}
	if hashOf(method) == nil && method != MD5Hash {
		return nil, fmt.Errorf("vonage: signature method %q: want md5hash, md5, sha1, sha256 or sha512", method)
	}
	return &Webhook{secret: []byte(secret), method: method, tolerance: provider.DefaultTimestampTolerance}, nil
}

func hashOf(method string) func() hash.Hash {
	switch method {
	case MD5:
		return md5.New
	case SHA1:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return nil
}

// Info describes Vonage's webhook.
func (v *Webhook) Info() provider.Info { return info }

// Sign returns the sig of params by Vonage's documented algorithm:
// every parameter but sig, sorted by name, as "&name=value" with "&" and
// "=" in values replaced by "_"; then for md5hash the lower-case hex MD5
// of that string followed by the secret, for the others the hex HMAC of
// the string under the secret.
func Sign(secret, method string, params map[string]string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("&")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(strings.NewReplacer("&", "_", "=", "_").Replace(params[k]))
	}
	if method == MD5Hash || method == "" {
		sum := md5.Sum([]byte(b.String() + secret))
		return hex.EncodeToString(sum[:])
	}
	mac := hmac.New(hashOf(method), []byte(secret))
	mac.Write([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
}

// readParams reads the webhook's parameters from a form or JSON body.
// The signed string ("&name=value" for each) is unambiguous only if no
// name holds "&" or "=" and each name comes once: a name outside
// signable's set (the letters, digits, "-" and "_" of every name Vonage
// sends) is refused as unsignable, a name given twice as repeated, both
// as failed signatures (403) that name no parameter. Without this, a
// signed keyword=JOIN and message-timestamp=T, merged into the one
// parameter "keyword=JOIN&message-timestamp"=T, sign the same string.
func readParams(h http.Header, body []byte) (map[string]string, error) {
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct == "application/json" {
		return jsonParams(body)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, provider.MalformedError("malformed form body")
	}
	out := make(map[string]string, len(form))
	for k, vs := range form {
		if !signable(k) {
			return nil, errUnsignableName
		}
		if len(vs) != 1 {
			return nil, errRepeatedParam
		}
		out[k] = vs[0]
	}
	return out, nil
}

// The refusals of parameters that cannot be signed unambiguously.
var (
	errUnsignableName = provider.SignatureError("unsignable parameter name")
	errRepeatedParam  = provider.SignatureError("repeated parameter")
)

// jsonParams reads a "POST-JSON" body: one object whose members are read
// one by one, so that a repeated name is seen (encoding/json would keep
// the last silently). Strings, numbers and booleans are parameters; null,
// objects and arrays are not (they are neither signed nor read).
func jsonParams(body []byte) (map[string]string, error) {
	malformed := provider.MalformedError("malformed JSON body")
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, malformed
	}
	out := map[string]string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed
		}
		k, _ := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, malformed
		}
		if !signable(k) {
			return nil, errUnsignableName
		}
		if seen[k] {
			return nil, errRepeatedParam
		}
		seen[k] = true
		switch v := v.(type) {
		case string:
			out[k] = v
		case float64:
			out[k] = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			out[k] = strconv.FormatBool(v)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed
	}
	return out, nil
}

// signable reports whether name can be signed unambiguously: 1 to 64
// ASCII letters, digits, "-" or "_" (so it holds no "&" or "=" and sorts
// the same bytewise as in Vonage's SDKs).
func signable(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Verify checks sig over the parameters and that timestamp (Unix seconds,
// signed with them) is within five minutes of now.
func (v *Webhook) Verify(r provider.Request) error {
	now := r.Now
	params, err := readParams(r.Header, r.Body)
	if err != nil {
		return err
	}
	sig := strings.ToLower(params["sig"])
	if sig == "" {
		return provider.SignatureError("missing sig")
	}
	want := strings.ToLower(Sign(string(v.secret), v.method, params))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return provider.SignatureError("invalid sig")
	}
	sec, err := strconv.ParseInt(params["timestamp"], 10, 64)
	if err != nil {
		return provider.SignatureError("missing or invalid timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > v.tolerance || d < -v.tolerance {
		return provider.SignatureError("stale timestamp")
	}
	return nil
}

// Parse reads msisdn (the sender, without "+"), to, messageId and text;
// binary messages are skipped. A delivery receipt (it carries err-code;
// point the account's delivery receipt URL at the same route) becomes a
// status of messageId with its status and err-code.
func (v *Webhook) Parse(r provider.Request) (provider.Messages, error) {
	params, err := readParams(r.Header, r.Body)
	if err != nil {
		return provider.Messages{}, err
	}
	if code, ok := params["err-code"]; ok {
		st := &provider.Status{ProviderMessageID: params["messageId"], Status: optin.DeliveryStatus(params["status"])}
		if code != "0" {
			st.ErrorCode = code
		}
		return provider.One(provider.Inbound{Status: st}), nil
	}
	if params["type"] == "binary" {
		return provider.One(provider.Inbound{Skip: true}), nil
	}
	in := provider.Inbound{From: e164(params["msisdn"]), To: e164(params["to"])}
	in.Message.MessageID, in.Message.Text = params["messageId"], params["text"]
	return provider.One(in), nil
}

// e164 turns Vonage's international format without "+" into
// E.164; short codes stay as they are.
func e164(s string) string {
	if len(s) > 8 && !strings.HasPrefix(s, "+") {
		return "+" + s
	}
	return s
}

// Render answers an empty 200: replies go on the outbound queue.
func (v *Webhook) Render([]string) ([]byte, error) { return []byte{}, nil }

// OptOut reports whether code is ErrorOptedOut.
func (v *Webhook) OptOut(code string) bool { return code == ErrorOptedOut }
