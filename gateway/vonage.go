package gateway

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
	"fmt"
	"hash"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/optin-gateway/optin-gateway/optin"
)

// The signature methods of Vonage's signed SMS webhooks, as named in its
// dashboard and SDKs.
const (
	VonageMD5Hash = "md5hash" // MD5 of the parameter string followed by the secret (the default)
	VonageMD5     = "md5"     // HMAC-MD5
	VonageSHA1    = "sha1"    // HMAC-SHA1
	VonageSHA256  = "sha256"  // HMAC-SHA256
	VonageSHA512  = "sha512"  // HMAC-SHA512
)

// Vonage is the inbound webhook of Vonage's SMS API with signed webhooks:
// the parameters (a form, or JSON with "POST-JSON") carry sig, a signature
// under the account's signature secret, and timestamp, which must be
// within five minutes of the gateway's clock. Vonage takes no replies in
// the webhook's answer, so replies are queued.
type Vonage struct {
	secret    []byte
	method    string
	tolerance time.Duration
}

// NewVonage returns the Vonage adapter for a signature secret and method
// ("" is md5hash).
func NewVonage(secret, method string) (*Vonage, error) {
	if secret == "" {
		return nil, fmt.Errorf("gateway: vonage signature secret is empty")
	}
	if method == "" {
		method = VonageMD5Hash
	}
	if vonageHash(method) == nil && method != VonageMD5Hash {
		return nil, fmt.Errorf("gateway: vonage signature method %q: want md5hash, md5, sha1, sha256 or sha512", method)
	}
	return &Vonage{secret: []byte(secret), method: method, tolerance: DefaultTimestampTolerance}, nil
}

func vonageHash(method string) func() hash.Hash {
	switch method {
	case VonageMD5:
		return md5.New
	case VonageSHA1:
		return sha1.New
	case VonageSHA256:
		return sha256.New
	case VonageSHA512:
		return sha512.New
	}
	return nil
}

// Name returns "vonage".
func (v *Vonage) Name() string { return "vonage" }

// SignVonage returns the sig of params by Vonage's documented algorithm:
// every parameter but sig, sorted by name, as "&name=value" with "&" and
// "=" in values replaced by "_"; then for md5hash the lower-case hex MD5
// of that string followed by the secret, for the others the hex HMAC of
// the string under the secret.
func SignVonage(secret, method string, params map[string]string) string {
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
	if method == VonageMD5Hash || method == "" {
		sum := md5.Sum([]byte(b.String() + secret))
		return hex.EncodeToString(sum[:])
	}
	mac := hmac.New(vonageHash(method), []byte(secret))
	mac.Write([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(mac.Sum(nil)))
}

// vonageParams reads the webhook's parameters from a form or JSON body.
// The signed string ("&name=value" for each) is unambiguous only if no
// name holds "&" or "=" and each name comes once: a name outside
// vonageName's set (the letters, digits, "-" and "_" of every name Vonage
// sends) is refused as unsignable, a name given twice as repeated, both
// as failed signatures (403) that name no parameter. Without this, a
// signed keyword=JOIN and message-timestamp=T, merged into the one
// parameter "keyword=JOIN&message-timestamp"=T, sign the same string.
func vonageParams(h http.Header, body []byte) (map[string]string, error) {
	ct, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if ct == "application/json" {
		return vonageJSON(body)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, badRequest{"malformed form body"}
	}
	out := make(map[string]string, len(form))
	for k, vs := range form {
		if !vonageName(k) {
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
	errUnsignableName = signatureError{"unsignable parameter name"}
	errRepeatedParam  = signatureError{"repeated parameter"}
)

// vonageJSON reads a "POST-JSON" body: one object whose members are read
// one by one, so that a repeated name is seen (encoding/json would keep
// the last silently). Strings, numbers and booleans are parameters; null,
// objects and arrays are not (they are neither signed nor read).
func vonageJSON(body []byte) (map[string]string, error) {
	malformed := badRequest{"malformed JSON body"}
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
		if !vonageName(k) {
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

// vonageName reports whether name can be signed unambiguously: 1 to 64
// ASCII letters, digits, "-" or "_" (so it holds no "&" or "=" and sorts
// the same bytewise as in Vonage's SDKs).
func vonageName(name string) bool {
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
func (v *Vonage) Verify(h http.Header, _ string, body []byte, now time.Time) error {
	params, err := vonageParams(h, body)
	if err != nil {
		return err
	}
	sig := strings.ToLower(params["sig"])
	if sig == "" {
		return signatureError{"missing sig"}
	}
	want := strings.ToLower(SignVonage(string(v.secret), v.method, params))
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return signatureError{"invalid sig"}
	}
	sec, err := strconv.ParseInt(params["timestamp"], 10, 64)
	if err != nil {
		return signatureError{"missing or invalid timestamp"}
	}
	if d := now.Sub(time.Unix(sec, 0)); d > v.tolerance || d < -v.tolerance {
		return signatureError{"stale timestamp"}
	}
	return nil
}

// Parse reads msisdn (the sender, without "+"), to, messageId and text;
// binary messages are skipped. A delivery receipt (it carries err-code;
// point the account's delivery receipt URL at the same route) becomes a
// status of messageId with its status and err-code.
func (v *Vonage) Parse(h http.Header, body []byte) ([]Inbound, error) {
	params, err := vonageParams(h, body)
	if err != nil {
		return nil, err
	}
	if code, ok := params["err-code"]; ok {
		st := &Status{ProviderMessageID: params["messageId"], Status: optin.DeliveryStatus(params["status"])}
		if code != "0" {
			st.ErrorCode = code
		}
		return []Inbound{{Status: st}}, nil
	}
	if params["type"] == "binary" {
		return []Inbound{{Skip: true}}, nil
	}
	in := Inbound{From: vonageNumber(params["msisdn"]), To: vonageNumber(params["to"])}
	in.Message.MessageID, in.Message.Text = params["messageId"], params["text"]
	return []Inbound{in}, nil
}

// vonageNumber turns Vonage's international format without "+" into
// E.164; short codes stay as they are.
func vonageNumber(s string) string {
	if len(s) > 8 && !strings.HasPrefix(s, "+") {
		return "+" + s
	}
	return s
}

// Render answers an empty 200: replies go on the outbound queue.
func (v *Vonage) Render([]string) (string, []byte, bool, error) {
	return "text/plain; charset=utf-8", []byte{}, false, nil
}
